import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Samples live heapUsed + arrayBuffers every `intervalMs` (default 250 ms); `stop()` returns the peak growth over the start.
 * Each sample follows a full GC (a few tens of ms under jest, hence not more often): V8 lets up to 64 MiB of dead ArrayBuffers pile up before collecting them, which
 * would measure the garbage collector's laziness instead of what the store holds on to.
 */
export function sampleMemory(intervalMs = 250): { stop(): number } {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const measure = (): number => {
    gc();
    const usage = process.memoryUsage();
    return usage.heapUsed + usage.arrayBuffers;
  };
  const baseline = measure();
  let peak = baseline;
  const timer = setInterval(() => {
    peak = Math.max(peak, measure());
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, measure()) - baseline;
    },
  };
}
