import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { freePort } from './free-port.js';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const MAIN = path.join(ROOT, 'dist', 'src', 'main.js');

export interface ServerProcess {
  readonly baseUrl: string;
  readonly pid: number;
  /** Everything the process wrote to stdout and stderr so far (for failure messages). */
  output(): string;
  /** Sends `signal` (SIGKILL by default) and waits until the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** How the process ended: resolves once it has exited. */
  exit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function newestMtime(directory: string): number {
  let newest = 0;
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const full = path.join(directory, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

/** Runs `npm run build` unless dist/src/main.js is newer than every file under src/ and scripts/. */
export function ensureBuilt(): void {
  let built = 0;
  try {
    built = statSync(MAIN).mtimeMs;
  } catch {
    // not built yet
  }
  if (built > Math.max(newestMtime(path.join(ROOT, 'src')), newestMtime(path.join(ROOT, 'scripts')))) {
    return;
  }
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'pipe', timeout: 180_000 });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve();
  }
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Starts the compiled server (`node dist/src/main.js`) with `env` added to this process's environment and
 * waits until GET /health/ready answers 200. Needs PORT and HOST in `env`; call ensureBuilt() first. A worker-only
 * process (APP_ROLES=worker) gets a free PORT of its own (it serves only /health and /metrics there): it counts as
 * started once it logs that it runs, so it needs LOG_LEVEL info or debug.
 */
export async function startServerProcess(env: Record<string, string>, timeoutMs = 60_000): Promise<ServerProcess> {
  const workerOnly = env.APP_ROLES?.trim() === 'worker';
  if (workerOnly && !['info', 'debug'].includes(env.LOG_LEVEL ?? 'info')) {
    throw new Error('A worker-only process is seen to start by its log: give it LOG_LEVEL info or debug');
  }
  // jest's --experimental-vm-modules is not meant for the server
  const { NODE_OPTIONS: _ignored, ...inherited } = process.env;
  // a worker-only process serves /health and /metrics on PORT too: never the port of the api beside it
  const own = workerOnly ? { PORT: String(await freePort()) } : {};
  const child = spawn(process.execPath, [MAIN], {
    cwd: ROOT,
    env: { ...inherited, ...env, ...own },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const server: ServerProcess = {
    baseUrl: `http://${env.HOST}:${env.PORT}`,
    pid: child.pid ?? -1,
    output: () => output,
    exit: async () => {
      await exited(child);
      return { code: child.exitCode, signal: child.signalCode };
    },
    kill: async (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
      }
      await exited(child);
    },
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`Server exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output}`);
    }
    if (workerOnly) {
      if (/FHIR registry worker running/.test(output)) {
        return server;
      }
    } else {
      try {
        const response = await fetch(`${server.baseUrl}/health/ready`);
        await response.arrayBuffer();
        if (response.status === 200) {
          return server;
        }
      } catch {
        // not listening yet
      }
    }
    if (Date.now() > deadline) {
      await server.kill();
      throw new Error(`Server was not ready within ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
