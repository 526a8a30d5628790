import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Samples live heapUsed + arrayBuffers at most every `intervalMs` (default 250 ms); `stop()` returns the peak growth
 * over the start. Each sample follows a full GC: V8 lets up to 64 MiB of dead ArrayBuffers pile up before collecting
 * them, which would measure the garbage collector's laziness instead of what the store holds on to. A full GC of a
 * long-lived jest process with a large heap can take hundreds of milliseconds, so the next sample waits at least four
 * times as long as the last one took: sampling never takes more than a fifth of the time the transfer has.
 */
export function sampleMemory(intervalMs = 250): { stop(): number } {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const measure = (): { bytes: number; tookMs: number } => {
    const started = performance.now();
    gc();
    const usage = process.memoryUsage();
    return { bytes: usage.heapUsed + usage.arrayBuffers, tookMs: performance.now() - started };
  };
  const first = measure();
  const baseline = first.bytes;
  let peak = baseline;
  let timer: NodeJS.Timeout | undefined;
  const schedule = (tookMs: number) => {
    timer = setTimeout(
      () => {
        const sample = measure();
        peak = Math.max(peak, sample.bytes);
        schedule(sample.tookMs);
      },
      Math.max(intervalMs, 4 * tookMs),
    );
  };
  schedule(first.tookMs);
  return {
    stop() {
      clearTimeout(timer);
      return Math.max(peak, measure().bytes) - baseline;
    },
  };
}
