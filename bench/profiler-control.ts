/**
 * Preloaded (--import) into a server to profile: a control port on loopback (BENCH_PROFILER_PORT) where
 * POST /start starts V8's CPU profiler (the one behind node --cpu-prof) and POST /stop writes BENCH_PROFILE_FILE
 * and exits, so boot and warm-up stay out of the profile. (Signals would not do: Nest's shutdown hooks take SIGUSR2.)
 *
 * Between start and stop it also times every better-sqlite3 prepare and statement execution by SQL text (written
 * to BENCH_PROFILE_FILE.sql.json): async code hides which statement a sample belongs to, this does not.
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Session } from 'node:inspector/promises';
import { createRequire } from 'node:module';

interface Timing {
  calls: number;
  ms: number;
}

const timings = new Map<string, Timing>();
let timing = false;

/** Statements by kind and table: the VALUES lists of multi-row inserts vary, their targets do not. */
function statementKey(sql: string): string {
  const text = sql.replace(/\s+/g, ' ').trim();
  const table = /^(?:INSERT(?: OR \w+)? INTO|UPDATE|DELETE FROM)\s+"?(\w+)"?/i.exec(text);
  if (table) {
    return `${text.split(' ')[0].toUpperCase()} ${table[1]}`;
  }
  const from = /^SELECT .*? FROM "?(\w+)"?/i.exec(text);
  return from ? `SELECT ... FROM ${from[1]}${/COUNT\(/i.test(text) ? ' (count)' : ''}` : text.slice(0, 48);
}

function timed<T>(key: string, run: () => T): T {
  if (!timing) {
    return run();
  }
  const started = process.hrtime.bigint();
  try {
    return run();
  } finally {
    const entry = timings.get(key) ?? { calls: 0, ms: 0 };
    entry.calls += 1;
    entry.ms += Number(process.hrtime.bigint() - started) / 1e6;
    timings.set(key, entry);
  }
}

interface Statement {
  run(...args: unknown[]): unknown;
  all(...args: unknown[]): unknown;
  get(...args: unknown[]): unknown;
}

type Prepare = (this: unknown, sql: string, ...rest: unknown[]) => Statement;

/** Wraps the native prepare, which both Database#prepare and db.transaction()'s BEGIN/COMMIT go through. */
function timePrepare(target: { prepare: Prepare }): void {
  const prepare = target.prepare;
  target.prepare = function (this: unknown, sql: string, ...rest: unknown[]): Statement {
    const key = statementKey(sql);
    const statement = timed(`prepare: ${key}`, () => prepare.call(this, sql, ...rest));
    for (const method of ['run', 'all', 'get'] as const) {
      const original = statement[method].bind(statement);
      statement[method] = (...args: unknown[]) => timed(key, () => original(...args));
    }
    return statement;
  };
}

try {
  const require = createRequire(import.meta.url);
  const Database = require('better-sqlite3') as { prototype: { prepare: Prepare } };
  const { cppdb } = require('better-sqlite3/lib/util') as { cppdb: symbol };
  const prepare = Database.prototype.prepare;
  let patched = false;
  Database.prototype.prepare = function (this: unknown, sql: string, ...rest: unknown[]): Statement {
    if (!patched) {
      patched = true;
      timePrepare(Object.getPrototypeOf((this as Record<symbol, object>)[cppdb]) as { prepare: Prepare });
    }
    return prepare.call(this, sql, ...rest);
  };
} catch {
  // no better-sqlite3 here: nothing to time
}

const session = new Session();
session.connect();

async function start(): Promise<void> {
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 500 });
  await session.post('Profiler.start');
  timing = true;
}

async function stop(): Promise<void> {
  timing = false;
  const { profile } = await session.post('Profiler.stop');
  const file = process.env.BENCH_PROFILE_FILE ?? 'server.cpuprofile';
  writeFileSync(file, JSON.stringify(profile));
  writeFileSync(`${file}.sql.json`, JSON.stringify(Object.fromEntries(timings)));
}

const control = createServer((request, response) => {
  const action =
    request.url === '/start' ? start() : request.url === '/stop' ? stop() : Promise.reject(new Error('404'));
  action.then(
    () => {
      response.writeHead(200).end();
      if (request.url === '/stop') {
        response.once('finish', () => process.exit(0));
      }
    },
    (error: unknown) => response.writeHead(500).end(String(error)),
  );
});
control.listen(Number(process.env.BENCH_PROFILER_PORT), '127.0.0.1');
control.unref();
