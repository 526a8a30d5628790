import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Pool } from 'undici';
import { type DocumentKind, r4JsonKind, stu3XmlKind } from './documents.js';
import type { Knobs } from './knobs.js';
import { clientPool, closedLoop, type Round, summarize, type Summary } from './load.js';
import { type Child, DIST, freePort, startChild } from './processes.js';
import { createStore, dropQueueKeys, REDIS_URL, startSystem, type SystemServer } from './system.js';

export function documentKind(name: string, run: string): DocumentKind {
  const match = /^(r4-json|stu3-xml)-(\d+)k$/.exec(name);
  if (!match) {
    throw new Error(`BENCH_INGEST_KINDS: unknown kind "${name}" (r4-json-40k, stu3-xml-200k, ...)`);
  }
  const bytes = Number(match[2]) * 1000;
  return match[1] === 'r4-json' ? r4JsonKind(bytes, run) : stu3XmlKind(bytes, run);
}

/** One server the ingest rounds alternate over. */
interface Target {
  readonly name: string;
  readonly cpuMicros: () => number;
  readonly pool: Pool;
  readonly headers: (kind: DocumentKind) => Record<string, string>;
  /** Documents sent so far: identifiers never repeat within one server. */
  sent: number;
  stop(): Promise<void>;
}

export interface IngestKindResult {
  kind: string;
  bytes: number;
  docsPerRound: number;
  servers: Record<string, Summary>;
  rounds: Record<string, Round[]>;
}

async function systemTarget(name: string, dialect: 'sqlite' | 'postgres', concurrency: number): Promise<Target> {
  const store = await createStore(dialect, `ingest-${dialect}`);
  let system: SystemServer;
  try {
    system = await startSystem({ name, store });
  } catch (error) {
    await store.drop();
    throw error;
  }
  const tokens = new Map<string, string>();
  for (const org of ['RTG', 'RX4']) {
    tokens.set(org, await system.token(org));
  }
  const pool = clientPool(system.child.origin, concurrency);
  return {
    name,
    cpuMicros: () => system.child.cpuMicros(),
    pool,
    headers: (kind) => ({ authorization: `Bearer ${tokens.get(kind.custodianOds)}` }),
    sent: 0,
    stop: async () => {
      await pool.close();
      await system.stop();
      await store.drop();
    },
  };
}

async function bareTarget(name: string, script: string, env: Record<string, string>, concurrency: number) {
  const directory = await mkdtemp(path.join(tmpdir(), `registry-bench-${name}-`));
  const prefix = `bench-${name}-${Date.now()}`;
  let child: Child;
  try {
    child = await startChild({
      name,
      script: path.join(DIST, 'bench', script),
      port: await freePort(),
      readyPath: '/ready',
      env: { FLOOR_DIR: directory, REDIS_URL, QUEUE_PREFIX: prefix, ...env },
    });
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
  const pool = clientPool(child.origin, concurrency);
  const target: Target = {
    name,
    cpuMicros: () => child.cpuMicros(),
    pool,
    headers: () => ({}),
    sent: 0,
    stop: async () => {
      await pool.close();
      await child.stop();
      await dropQueueKeys(prefix).catch(() => undefined);
      await rm(directory, { recursive: true, force: true });
    },
  };
  return target;
}

async function round(target: Target, kind: DocumentKind, count: number, concurrency: number): Promise<Round> {
  const first = target.sent;
  target.sent += count;
  const headers = {
    ...target.headers(kind),
    'content-type': kind.contentType,
    prefer: 'return=minimal',
  };
  return closedLoop({
    pool: target.pool,
    concurrency,
    count,
    expected: 201,
    cpuMicros: target.cpuMicros,
    request: (i) => ({ method: 'POST', path: '/fhir/Bundle', headers, body: kind.body(first + i) }),
  });
}

/**
 * Ingest at `concurrency` for each document kind: the system on SQLite and on PostgreSQL, the bare floor and
 * (40 KB R4 JSON only) Medplum's router, in alternating rounds, each server warmed by one unmeasured round first.
 */
export async function runIngest(knobs: Knobs, log: (line: string) => void): Promise<IngestKindResult[]> {
  const run = randomBytes(4).toString('hex');
  const kinds = knobs.ingestKinds.map((name) => documentKind(name, run));
  const targets: Target[] = [];
  const medplumKinds = new Set(['r4-json-40k']);
  try {
    for (const dialect of knobs.dialects) {
      targets.push(await systemTarget(`system-${dialect}`, dialect, knobs.concurrency));
    }
    targets.push(await bareTarget('floor', 'floor-server.js', {}, knobs.concurrency));
    const medplum =
      knobs.medplum && kinds.some((k) => medplumKinds.has(k.name))
        ? await bareTarget('medplum', 'medplum-server.js', {}, knobs.concurrency)
        : undefined;
    if (medplum) {
      targets.push(medplum);
    }
    const results: IngestKindResult[] = [];
    for (const kind of kinds) {
      const count = kind.bytes > 100_000 ? knobs.ingestDocsLarge : knobs.ingestDocsSmall;
      const active = targets.filter((t) => t !== medplum || medplumKinds.has(kind.name));
      log(
        `ingest ${kind.name} (${kind.bytes} bytes): ${count} documents per round, ${active.map((t) => t.name).join(', ')}`,
      );
      for (const target of active) {
        await round(target, kind, Math.max(16, Math.floor(count / 4)), knobs.concurrency);
      }
      const rounds: Record<string, Round[]> = Object.fromEntries(active.map((t) => [t.name, []]));
      for (let r = 0; r < knobs.rounds; r += 1) {
        for (const target of active) {
          const measured = await round(target, kind, count, knobs.concurrency);
          rounds[target.name].push(measured);
          log(
            `  round ${r + 1} ${target.name}: ${measured.rate.toFixed(1)} docs/s, p50 ${measured.p50Ms.toFixed(1)} ms, ` +
              `p99 ${measured.p99Ms.toFixed(1)} ms, ${measured.cpuMicrosPerRequest.toFixed(0)} CPU-us/doc`,
          );
        }
      }
      results.push({
        kind: kind.name,
        bytes: kind.bytes,
        docsPerRound: count,
        rounds,
        servers: Object.fromEntries(Object.entries(rounds).map(([name, list]) => [name, summarize(list)])),
      });
    }
    return results;
  } finally {
    for (const target of targets) {
      await target.stop().catch((error: unknown) => log(`stopping ${target.name}: ${String(error)}`));
    }
  }
}
