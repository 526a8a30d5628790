/**
 * Aggregates a V8 .cpuprofile (node --cpu-prof): self time by function, by file and by package, and total
 * (inclusive) time of this project's functions. `node dist/bench/cpuprofile-summary.js FILE [TOP]` prints it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Entry {
  name: string;
  ms: number;
  /** Share of busy time: everything but (idle). */
  percent: number;
}

export interface ProfileSummary {
  wallMs: number;
  busyMs: number;
  byFunction: Entry[];
  byFile: Entry[];
  byPackage: Entry[];
  /** This project's own functions (src/), by time on the stack (self + callees). */
  inclusiveProject: Entry[];
  /**
   * Every sample charged to the innermost project function on its stack (its own code and the libraries it
   * called), or to the library at the top when no project frame is on the stack (framework code, and the tails
   * of async functions such as a transaction's COMMIT after `await`).
   */
  byProjectCaller: Entry[];
}

const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

/** A path relative to the project (`src/registry/x.js`), a package name, or a Node built-in. */
function fileOf(url: string): string {
  if (!url) {
    return '(native)';
  }
  if (url.startsWith('node:')) {
    return url;
  }
  const file = url.startsWith('file://') ? new URL(url).pathname : url;
  const modules = file.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    return file.slice(modules + '/node_modules/'.length);
  }
  const dist = file.lastIndexOf('/dist/');
  return dist >= 0 ? file.slice(dist + '/dist/'.length) : path.basename(file);
}

function packageOf(frame: CallFrame): string {
  if (SPECIAL.has(frame.functionName) && !frame.url) {
    return frame.functionName;
  }
  const file = fileOf(frame.url);
  if (file === '(native)') {
    return '(native)';
  }
  if (file.startsWith('node:')) {
    return 'node: built-ins';
  }
  if (file.startsWith('src/')) {
    // the project's own code, per top-level module (src/audit, src/registry, ...)
    return file.split('/').slice(0, 2).join('/');
  }
  if (file.startsWith('bench/') || file.startsWith('test/')) {
    return file.split('/')[0];
  }
  const parts = file.split('/');
  return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
}

function functionOf(frame: CallFrame): string {
  if (SPECIAL.has(frame.functionName) && !frame.url) {
    return frame.functionName;
  }
  return `${frame.functionName || '(anonymous)'} ${fileOf(frame.url)}:${frame.lineNumber + 1}`;
}

function top(totals: Map<string, number>, busyMs: number, count: number): Entry[] {
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, ms]) => ({ name, ms, percent: (100 * ms) / busyMs }));
}

export function summarizeProfile(profile: CpuProfile, count = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) {
      parent.set(child, node.id);
    }
  }
  // native code (a driver's C++, a built-in) is charged to the JavaScript that called it; the bench's own
  // statement-timing wrappers (profiler-control) are looked through
  const callerOf = (id: number): CallFrame | undefined => {
    for (let at = parent.get(id); at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      if (frame.url && !fileOf(frame.url).startsWith('bench/')) {
        return frame;
      }
    }
    return undefined;
  };
  // a sample's time is the interval until the next sample
  const selfMs = new Map<number, number>();
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i += 1) {
    const ms = (i + 1 < timeDeltas.length ? timeDeltas[i + 1] : 0) / 1000;
    selfMs.set(samples[i], (selfMs.get(samples[i]) ?? 0) + ms);
  }
  const functions = new Map<string, number>();
  const files = new Map<string, number>();
  const packages = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const callers = new Map<string, number>();
  let idleMs = 0;
  let wallMs = 0;
  for (const [id, ms] of selfMs) {
    const node = byId.get(id)!;
    wallMs += ms;
    if (node.callFrame.functionName === '(idle)') {
      idleMs += ms;
      continue;
    }
    const add = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + ms);
    const frame = node.callFrame;
    const caller = !frame.url && !SPECIAL.has(frame.functionName) ? callerOf(id) : undefined;
    if (caller) {
      add(functions, `${frame.functionName || '(anonymous)'} [native] from ${functionOf(caller)}`);
      add(files, `${fileOf(caller.url)} [native]`);
      add(packages, `${packageOf(caller)} [native]`);
    } else {
      add(functions, functionOf(frame));
      add(files, SPECIAL.has(frame.functionName) ? frame.functionName : fileOf(frame.url));
      add(packages, packageOf(frame));
    }
    // each project function once per stack, however deep it recurses
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame;
      if (fileOf(frame.url).startsWith('src/')) {
        const name = functionOf(frame);
        if (seen.size === 0) {
          add(callers, name);
        }
        if (!seen.has(name)) {
          seen.add(name);
          add(inclusive, name);
        }
      }
    }
    if (seen.size === 0) {
      add(callers, `(no project frame) ${caller ? `${packageOf(caller)} [native]` : packageOf(frame)}`);
    }
  }
  const busyMs = wallMs - idleMs;
  return {
    wallMs,
    busyMs,
    byFunction: top(functions, busyMs, count),
    byFile: top(files, busyMs, count),
    byPackage: top(packages, busyMs, count),
    inclusiveProject: top(inclusive, busyMs, count),
    byProjectCaller: top(callers, busyMs, count),
  };
}

export function formatProfile(title: string, summary: ProfileSummary): string {
  const table = (heading: string, entries: Entry[]) =>
    [
      `  ${heading}`,
      ...entries.map((e) => `    ${e.ms.toFixed(0).padStart(7)} ms ${e.percent.toFixed(1).padStart(5)}%  ${e.name}`),
    ].join('\n');
  return [
    `${title}: ${summary.busyMs.toFixed(0)} ms busy of ${summary.wallMs.toFixed(0)} ms sampled (percentages of busy time)`,
    table('self time by package / module', summary.byPackage),
    table('self time by file', summary.byFile),
    table('self time by function', summary.byFunction),
    table('total time (self + callees) of project functions', summary.inclusiveProject),
    table('all time charged to the innermost project function on the stack', summary.byProjectCaller),
  ].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node dist/bench/cpuprofile-summary.js FILE.cpuprofile [TOP]');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  console.log(formatProfile(path.basename(file), summarizeProfile(profile, Number(process.argv[3] ?? 25))));
}
