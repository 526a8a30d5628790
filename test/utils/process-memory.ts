import { readFileSync, writeFileSync } from 'node:fs';

/** VmRSS and VmHWM (the peak RSS since start or since the last reset) of a process, in bytes, from /proc (Linux). */
export function residentMemory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (!match) {
      throw new Error(`/proc/${pid}/status has no ${field}`);
    }
    return Number(match[1]) * 1024;
  };
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

/**
 * Watches another process's peak RSS from outside: nothing runs in that process and no GC is forced anywhere.
 * Writing 5 to /proc/<pid>/clear_refs resets VmHWM to the current RSS; `stop()` returns how far the peak rose above
 * the RSS at the start. It counts memory the process touched, garbage not yet collected included.
 */
export function watchPeakRss(pid: number): { readonly startRss: number; stop(): number } {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
  const { rss: startRss } = residentMemory(pid);
  return { startRss, stop: () => Math.max(0, residentMemory(pid).peak - startRss) };
}
