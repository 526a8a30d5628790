/**
 * `npm run bench`: the measurements issue 8 ("one write path, group-committed") is judged by. Every server runs as
 * a child process (its CPU read from /proc, the load generator stays in this process); ratios come from one run
 * of alternating rounds (medians over rounds), absolute numbers are context. See bench/README.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { type BlobMemoryResult, runBlobMemory } from './blob-memory.js';
import { formatProfile } from './cpuprofile-summary.js';
import { type IngestKindResult, runIngest } from './ingest.js';
import { readKnobs } from './knobs.js';
import type { Summary } from './load.js';
import { type NotifyResult, runNotify } from './notify.js';
import { DIST } from './processes.js';
import { profileIngest, profileSearch, type ProfileResult } from './profile.js';
import { runSearch, type SearchResult } from './search.js';

interface Ratio {
  name: string;
  value: number;
  target: string;
  met: boolean;
}

const atLeast = (name: string, value: number, target: number): Ratio => ({
  name,
  value,
  target: `>= ${target}`,
  met: value >= target,
});
const atMost = (name: string, value: number, target: number, unit = ''): Ratio => ({
  name,
  value,
  target: `<= ${target}${unit}`,
  met: value <= target,
});

function serverTable(title: string, unit: string, servers: Record<string, Summary>): string {
  const lines = [
    title,
    `  ${'server'.padEnd(18)} ${unit.padStart(9)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'CPU-us'.padStart(9)}`,
  ];
  for (const [name, s] of Object.entries(servers)) {
    lines.push(
      `  ${name.padEnd(18)} ${s.rate.toFixed(1).padStart(9)} ${s.p50Ms.toFixed(1).padStart(9)} ${s.p99Ms.toFixed(1).padStart(9)} ${s.cpuMicrosPerRequest.toFixed(0).padStart(9)}`,
    );
  }
  return lines.join('\n');
}

function ingestRatios(result: IngestKindResult): Ratio[] {
  const s = result.servers;
  const ratios: Ratio[] = [];
  if (s['system-sqlite'] && s.floor) {
    ratios.push(atLeast(`ingest ${result.kind} SQLite / floor`, s['system-sqlite'].rate / s.floor.rate, 0.8));
  }
  if (s['system-postgres'] && s.floor) {
    ratios.push(atLeast(`ingest ${result.kind} PostgreSQL / floor`, s['system-postgres'].rate / s.floor.rate, 0.5));
  }
  if (s['system-sqlite'] && s.medplum) {
    ratios.push(atLeast(`ingest ${result.kind} SQLite / Medplum`, s['system-sqlite'].rate / s.medplum.rate, 1.5));
  }
  if (s['system-postgres'] && s.medplum) {
    ratios.push(atLeast(`ingest ${result.kind} PostgreSQL / Medplum`, s['system-postgres'].rate / s.medplum.rate, 1.5));
  }
  return ratios;
}

function searchRatios(result: SearchResult): Ratio[] {
  const s = result.servers;
  const ratios: Ratio[] = [];
  for (const { rows } of result.sizes) {
    const system = s[`system-${rows}`];
    const raw = s[`raw-${rows}`];
    ratios.push(atLeast(`search ${result.dialect} ${rows} rps system / raw`, system.rate / raw.rate, 0.5));
    ratios.push(atMost(`search ${result.dialect} ${rows} p99 system / raw`, system.p99Ms / raw.p99Ms, 3));
  }
  const sizes = result.sizes.map((x) => x.rows).sort((a, b) => a - b);
  if (sizes.length >= 2) {
    const small = sizes[0];
    const large = sizes[sizes.length - 1];
    ratios.push(
      atMost(
        `search ${result.dialect} p99 ${large} / p99 ${small} (system)`,
        s[`system-${large}`].p99Ms / s[`system-${small}`].p99Ms,
        1.5,
      ),
    );
    // the raw handler's scaling, for context: what the indexes alone give
    const raw = s[`raw-${large}`].p99Ms / s[`raw-${small}`].p99Ms;
    ratios.push({
      name: `search ${result.dialect} p99 ${large} / p99 ${small} (raw SQL)`,
      value: raw,
      target: 'context',
      met: true,
    });
  }
  return ratios;
}

function notifyRatios(result: NotifyResult): Ratio[] {
  return [
    atMost('notify submit-to-webhook p50', result.submitToWebhook.p50Ms, 10, ' ms'),
    atMost('notify submit-to-webhook p99', result.submitToWebhook.p99Ms, 50, ' ms'),
  ];
}

const MiB = 1024 * 1024;
const mib = (bytes: number) => bytes / MiB;

function blobMemoryTable(results: BlobMemoryResult[]): string {
  const lines = [
    `BLOB MEMORY (${mib(results[0]?.bytes ?? 0)} MiB through each store, its own process, live = heapUsed + arrayBuffers after a full GC)`,
    `  ${'store'.padEnd(28)} ${'put MiB'.padStart(8)} ${'open MiB'.padStart(9)} ${'RSS MiB'.padStart(8)} ${'put s'.padStart(6)} ${'open s'.padStart(7)} ${'samples'.padStart(8)}`,
  ];
  for (const r of results) {
    const store = r.kind === 'file' ? 'file' : `s3 (${mib(r.partSize ?? 0)} MiB parts, queue ${r.queueSize})`;
    lines.push(
      `  ${store.padEnd(28)} ${mib(r.putGrowthBytes).toFixed(1).padStart(8)} ${mib(r.openGrowthBytes).toFixed(1).padStart(9)} ${mib(r.putPeakRssGrowthBytes).toFixed(1).padStart(8)} ${r.putSeconds.toFixed(1).padStart(6)} ${r.openSeconds.toFixed(1).padStart(7)} ${String(r.samples).padStart(8)}`,
    );
  }
  return lines.join('\n');
}

function blobMemoryRatio(result: BlobMemoryResult): Ratio {
  return atMost(
    `blob-memory ${result.kind} put live growth MiB`,
    mib(result.putGrowthBytes),
    mib(result.targetBytes),
    ' MiB',
  );
}

function formatRatios(ratios: Ratio[]): string {
  return [
    'RATIOS (medians of alternating rounds)',
    ...ratios.map(
      (r) =>
        `  ${r.name.padEnd(52)} ${r.value.toFixed(2).padStart(8)}  target ${r.target.padEnd(10)} ${r.target === 'context' ? '' : r.met ? 'met' : 'MISSED'}`,
    ),
  ].join('\n');
}

async function main(): Promise<void> {
  const knobs = readKnobs();
  const started = new Date();
  const loadAtStart = loadavg();
  const log = (line: string) => console.log(line);
  log(
    `bench ${knobs.quick ? '(BENCH_QUICK) ' : ''}on ${cpus().length} CPUs, node ${process.version}, load ${loadAtStart
      .map((l) => l.toFixed(2))
      .join(' ')}; ${knobs.rounds} rounds, concurrency ${knobs.concurrency}`,
  );
  const report: string[] = [];
  const ratios: Ratio[] = [];
  const results: {
    ingest?: IngestKindResult[];
    search?: SearchResult[];
    notify?: NotifyResult;
    profiles?: ProfileResult[];
    blobMemory?: BlobMemoryResult[];
  } = {};

  if (knobs.sections.has('ingest')) {
    results.ingest = await runIngest(knobs, log);
    for (const kind of results.ingest) {
      report.push(
        serverTable(
          `INGEST ${kind.kind} (${kind.bytes} bytes, concurrency ${knobs.concurrency})`,
          'docs/s',
          kind.servers,
        ),
      );
      ratios.push(...ingestRatios(kind));
    }
  }
  if (knobs.sections.has('search')) {
    results.search = [];
    for (const dialect of knobs.dialects) {
      const result = await runSearch(knobs, dialect, log);
      results.search.push(result);
      const loads = result.sizes.map((s) => `${s.rows} rows loaded in ${s.loadSeconds.toFixed(0)} s`).join(', ');
      report.push(
        serverTable(`SEARCH ${dialect} (${loads}; concurrency ${knobs.concurrency})`, 'req/s', result.servers),
      );
      ratios.push(...searchRatios(result));
    }
  }
  if (knobs.sections.has('notify')) {
    const notify = await runNotify(knobs, log);
    results.notify = notify;
    report.push(
      `NOTIFY ${notify.documents} documents at ${notify.rate}/s, ${notify.subscriptions} subscriptions (SQLite, api+worker): ` +
        `${notify.delivered} delivered; submit-to-webhook p50 ${notify.submitToWebhook.p50Ms.toFixed(1)} ms, ` +
        `p99 ${notify.submitToWebhook.p99Ms.toFixed(1)} ms, max ${notify.submitToWebhook.maxMs.toFixed(1)} ms; ` +
        `submit (201) p50 ${notify.submit.p50Ms.toFixed(1)} ms, p99 ${notify.submit.p99Ms.toFixed(1)} ms`,
    );
    ratios.push(...notifyRatios(notify));
  }
  if (knobs.sections.has('blob-memory')) {
    results.blobMemory = await runBlobMemory(knobs, log);
    report.push(blobMemoryTable(results.blobMemory));
    ratios.push(...results.blobMemory.map(blobMemoryRatio));
  }
  if (knobs.sections.has('profile')) {
    results.profiles = [];
    for (const run of [profileIngest, profileSearch]) {
      const result = await run(knobs);
      results.profiles.push(result);
      log(`profile ${result.name}: ${result.file}`);
    }
  }

  const finished = new Date();
  const minutes = (finished.getTime() - started.getTime()) / 60_000;
  console.log(`\n${'='.repeat(100)}\n${report.join('\n\n')}\n\n${formatRatios(ratios)}`);
  for (const profile of results.profiles ?? []) {
    console.log(
      `\n${formatProfile(
        `PROFILE ${profile.name} (${profile.round.requests} requests, ${profile.round.rate.toFixed(0)}/s under the profiler)`,
        profile.summary,
      )}`,
    );
    if (profile.sql.length > 0) {
      const total = profile.sql.reduce((sum, t) => sum + t.ms, 0);
      console.log(
        [
          `  time inside SQLite (better-sqlite3 calls, main thread): ${(total / profile.round.requests).toFixed(2)} ms per request, ` +
            `${((100 * total) / profile.summary.busyMs).toFixed(1)}% of busy time`,
          ...profile.sql
            .slice(0, 15)
            .map(
              (t) =>
                `    ${t.msPerRequest.toFixed(3).padStart(7)} ms/req ${t.callsPerRequest.toFixed(2).padStart(6)} calls/req  ${t.statement}`,
            ),
        ].join('\n'),
      );
    }
  }
  console.log(`\nbench took ${minutes.toFixed(1)} minutes`);

  const directory = path.join(path.dirname(DIST), 'bench', 'results');
  mkdirSync(directory, { recursive: true });
  const file =
    knobs.out ??
    path.join(directory, `${started.toISOString().replace(/[:.]/g, '-')}${knobs.quick ? '-quick' : ''}.json`);
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        startedAt: started.toISOString(),
        minutes,
        machine: { cpus: cpus().length, node: process.version, loadAverageAtStart: loadAtStart },
        knobs: { ...knobs, sections: [...knobs.sections] },
        ratios,
        ...results,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`results: ${file}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
