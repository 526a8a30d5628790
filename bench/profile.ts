import { mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { type CpuProfile, type ProfileSummary, summarizeProfile } from './cpuprofile-summary.js';
import { documentKind } from './ingest.js';
import type { Knobs } from './knobs.js';
import { clientPool, closedLoop, type Round } from './load.js';
import { freePort, profilerArgs } from './processes.js';
import { prepareStore, searchQuery } from './search.js';
import { createStore, type Store, startSystem, type SystemServer } from './system.js';

export interface ProfileResult {
  name: string;
  file: string;
  /** The profiled window's throughput (slower than unprofiled runs: the sampler costs a little). */
  round: Round;
  summary: ProfileSummary;
  /** Time inside better-sqlite3 per statement (prepare and execution), over the profiled window. */
  sql: SqlTiming[];
}

export interface SqlTiming {
  statement: string;
  calls: number;
  ms: number;
  callsPerRequest: number;
  msPerRequest: number;
}

function sqlTimings(file: string, requests: number): SqlTiming[] {
  let raw: Record<string, { calls: number; ms: number }> = {};
  try {
    raw = JSON.parse(readFileSync(`${file}.sql.json`, 'utf8')) as typeof raw;
  } catch {
    return [];
  }
  return Object.entries(raw)
    .map(([statement, t]) => ({
      statement,
      calls: t.calls,
      ms: t.ms,
      callsPerRequest: t.calls / requests,
      msPerRequest: t.ms / requests,
    }))
    .sort((a, b) => b.ms - a.ms);
}

const PROFILE_DIR = process.env.BENCH_PROFILE_DIR ?? path.join(tmpdir(), 'registry-bench-profiles');

/**
 * Runs `load` against the system under V8's CPU profiler: boot and a warm-up first, then only the measured
 * window is sampled (the profiler is started and stopped over its control port, see profiler-control.ts).
 */
async function profiled(
  name: string,
  store: Store,
  warmUp: (system: SystemServer) => Promise<unknown>,
  load: (system: SystemServer) => Promise<Round>,
): Promise<ProfileResult> {
  mkdirSync(PROFILE_DIR, { recursive: true });
  const file = path.join(PROFILE_DIR, `${name}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`);
  const controlPort = await freePort();
  const control = async (action: 'start' | 'stop') => {
    const response = await fetch(`http://127.0.0.1:${controlPort}/${action}`, { method: 'POST' });
    if (response.status !== 200) {
      throw new Error(`profiler ${action} answered ${response.status}: ${await response.text()}`);
    }
  };
  const system = await startSystem({
    name: `profile-${name}`,
    store,
    nodeArgs: profilerArgs(),
    env: { BENCH_PROFILE_FILE: file, BENCH_PROFILER_PORT: String(controlPort) },
  });
  try {
    await warmUp(system);
    await control('start');
    const round = await load(system);
    await control('stop');
    await system.child.exited();
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    return { name, file, round, summary: summarizeProfile(profile, 25), sql: sqlTimings(file, round.requests) };
  } finally {
    await system.stop();
  }
}

/** Ingest of 40 KB R4 JSON on SQLite + files at the bench's concurrency. */
export async function profileIngest(knobs: Knobs): Promise<ProfileResult> {
  const kind = documentKind('r4-json-40k', randomBytes(4).toString('hex'));
  const store = await createStore('sqlite', 'profile-ingest');
  let sent = 0;
  const send = (system: SystemServer, count: number) =>
    system.token(kind.custodianOds).then(async (token) => {
      const pool = clientPool(system.child.origin, knobs.concurrency);
      const headers = { authorization: `Bearer ${token}`, 'content-type': kind.contentType, prefer: 'return=minimal' };
      const first = sent;
      sent += count;
      try {
        return await closedLoop({
          pool,
          concurrency: knobs.concurrency,
          count,
          expected: 201,
          cpuMicros: () => system.child.cpuMicros(),
          request: (i) => ({ method: 'POST', path: '/fhir/Bundle', headers, body: kind.body(first + i) }),
        });
      } finally {
        await pool.close();
      }
    });
  try {
    return await profiled(
      'ingest-sqlite',
      store,
      (system) => send(system, Math.max(32, Math.floor(knobs.profileDocs / 4))),
      (system) => send(system, knobs.profileDocs),
    );
  } finally {
    await store.drop();
  }
}

/** The ITI-67 search on SQLite at `knobs.profileSearchSize` DocumentReferences. */
export async function profileSearch(knobs: Knobs): Promise<ProfileResult> {
  const { store } = await prepareStore('sqlite', knobs.profileSearchSize);
  let sent = 0;
  const search = (system: SystemServer, count: number) =>
    system.token('RTG', 'system/DocumentReference.rs').then(async (token) => {
      const pool = clientPool(system.child.origin, knobs.concurrency);
      const first = sent;
      sent += count;
      try {
        return await closedLoop({
          pool,
          concurrency: knobs.concurrency,
          count,
          expected: 200,
          cpuMicros: () => system.child.cpuMicros(),
          request: (i) => ({
            method: 'GET',
            path: `/fhir/DocumentReference?${searchQuery(first + i)}`,
            headers: { authorization: `Bearer ${token}` },
          }),
        });
      } finally {
        await pool.close();
      }
    });
  try {
    return await profiled(
      `search-sqlite-${knobs.profileSearchSize}`,
      store,
      (system) => search(system, Math.max(100, Math.floor(knobs.profileSearches / 4))),
      (system) => search(system, knobs.profileSearches),
    );
  } finally {
    await store.drop();
  }
}
