import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The compiled tree: dist/ (bench/ and src/ side by side). */
export const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const MAIN = path.join(DIST, 'src', 'main.js');

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly origin: string;
  /** User + system CPU of the whole process (all threads) so far, in microseconds, from /proc/<pid>/stat. */
  cpuMicros(): number;
  output(): string;
  /** SIGTERM (or `signal`) and wait for the exit; SIGKILL after 20 s. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Resolves when the process has exited. */
  exited(): Promise<void>;
}

export { freePort } from '../test/utils/free-port.js';

export function cpuMicrosOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15, in clock ticks
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve();
  }
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Starts `node [nodeArgs] script` with `env` and waits until `GET origin + readyPath` answers 200. The child
 * keeps its own CPU accounting, so the load generator in this process never counts against it.
 */
export async function startChild(options: {
  name: string;
  script: string;
  port: number;
  env: Record<string, string>;
  readyPath: string;
  nodeArgs?: string[];
  timeoutMs?: number;
}): Promise<Child> {
  const { NODE_OPTIONS: _ignored, ...inherited } = process.env;
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), options.script], {
    cwd: path.dirname(DIST),
    env: { ...inherited, ...options.env, PORT: String(options.port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-20_000);
  };
  child.once('exit', (code, signal) => {
    if (!stopping && code !== 0) {
      process.stderr.write(`${options.name} exited unexpectedly (${code ?? signal}):\n${output}\n`);
    }
  });
  let stopping = false;
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const origin = `http://127.0.0.1:${options.port}`;
  const handle: Child = {
    name: options.name,
    pid: child.pid ?? -1,
    origin,
    cpuMicros: () => cpuMicrosOf(child.pid ?? -1),
    output: () => output,
    exited: () => exited(child),
    stop: async (signal = 'SIGTERM') => {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        await exited(child);
        clearTimeout(timer);
      }
    },
  };
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${options.name} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output}`);
    }
    try {
      const response = await fetch(`${origin}${options.readyPath}`);
      await response.arrayBuffer();
      if (response.status === 200) {
        return handle;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await handle.stop('SIGKILL');
      throw new Error(`${options.name} was not ready in time:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Node arguments that preload the CPU profiler with its control port (see profiler-control.ts). */
export function profilerArgs(): string[] {
  return ['--import', pathToFileURL(path.join(DIST, 'bench', 'profiler-control.js')).href];
}
