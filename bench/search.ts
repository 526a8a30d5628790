import path from 'node:path';
import { aDischargeSummaryR4 } from '../test/fixtures/documents.js';
import type { Knobs } from './knobs.js';
import { clientPool, closedLoop, type Round, summarize, type Summary } from './load.js';
import { type Child, DIST, freePort, startChild } from './processes.js';
import { HOT_MATCHES, HOT_NHS_NUMBERS, loadRows, QUERY_DATE, ResourceTemplate } from './search-data.js';
import { createStore, type Dialect, startSystem, type Store, type SystemServer } from './system.js';

const NHS = 'https://fhir.nhs.uk/Id/nhs-number';

export interface SearchResult {
  dialect: Dialect;
  /** DocumentReference rows per data set, and how long loading each took. */
  sizes: { rows: number; loadSeconds: number }[];
  /** `system-<rows>` and `raw-<rows>` for each size. */
  servers: Record<string, Summary>;
  rounds: Record<string, Round[]>;
}

export function searchQuery(i: number): string {
  const patient = encodeURIComponent(`${NHS}|${HOT_NHS_NUMBERS[i % HOT_NHS_NUMBERS.length]}`);
  return `patient.identifier=${patient}&date=ge${QUERY_DATE}&_sort=-date&_count=20`;
}

/**
 * A fresh store with the schema (the system runs its migrations) and one document submitted over HTTP; its
 * DocumentReference, as the system stored it, becomes the template of every loaded row.
 */
export async function prepareStore(dialect: Dialect, rows: number): Promise<{ store: Store; loadSeconds: number }> {
  const store = await createStore(dialect, `search-${rows}`);
  try {
    const system = await startSystem({ name: `schema-${dialect}`, store });
    let template: ResourceTemplate;
    try {
      template = await templateFrom(system);
    } finally {
      await system.stop();
    }
    const loadSeconds = await loadRows(store, 0, rows, template);
    return { store, loadSeconds };
  } catch (error) {
    await store.drop();
    throw error;
  }
}

async function templateFrom(system: SystemServer): Promise<ResourceTemplate> {
  const nhs = '9434765919';
  const token = await system.token('RTG');
  const submitted = await fetch(`${system.child.origin}/fhir/Bundle`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json', prefer: 'return=minimal' },
    body: JSON.stringify(aDischargeSummaryR4({ nhsNumber: nhs })),
  });
  await submitted.arrayBuffer();
  if (submitted.status !== 201) {
    throw new Error(`template submission answered ${submitted.status}`);
  }
  const bundleId = String(submitted.headers.get('location')).split('/').pop() ?? '';
  const found = await fetch(
    `${system.child.origin}/fhir/DocumentReference?patient.identifier=${encodeURIComponent(`${NHS}|${nhs}`)}`,
    { headers: { authorization: `Bearer ${token}` } },
  );
  const bundle = (await found.json()) as { entry?: { resource: Record<string, unknown> }[] };
  const resource = bundle.entry?.[0]?.resource;
  if (!resource) {
    throw new Error('the template document was not found by search');
  }
  return new ResourceTemplate(resource, bundleId, nhs);
}

interface Page {
  total?: number;
  entry?: { resource?: { id?: string } }[];
}

/** The system and the raw handler must answer the same page, or the comparison means nothing. */
async function sameAnswer(system: string, systemHeaders: Record<string, string>, raw: string): Promise<void> {
  const [a, b] = await Promise.all([
    fetch(system, { headers: systemHeaders }).then((r) => r.json() as Promise<Page>),
    fetch(raw).then((r) => r.json() as Promise<Page>),
  ]);
  const ids = (page: Page) => (page.entry ?? []).map((e) => e.resource?.id).join(',');
  if (a.total !== b.total || ids(a) !== ids(b) || a.total !== HOT_MATCHES) {
    throw new Error(
      `system and raw SQL disagree (or miss the ${HOT_MATCHES} expected matches): system total ${a.total} [${ids(a)}], raw total ${b.total} [${ids(b)}]`,
    );
  }
}

/**
 * ITI-67 search at each data set size of one dialect: the system and the raw-SQL handler, alternating
 * system-small, raw-small, system-large, raw-large, ... for `knobs.rounds` rounds after a warm-up.
 */
export async function runSearch(knobs: Knobs, dialect: Dialect, log: (line: string) => void): Promise<SearchResult> {
  const sizes = knobs.searchSizes[dialect];
  const stores: Store[] = [];
  const children: { stop(): Promise<void> }[] = [];
  try {
    const loaded: { rows: number; loadSeconds: number }[] = [];
    for (const rows of sizes) {
      const { store, loadSeconds } = await prepareStore(dialect, rows);
      stores.push(store);
      loaded.push({ rows, loadSeconds });
      log(`search ${dialect}: loaded ${rows} DocumentReferences in ${loadSeconds.toFixed(1)} s`);
    }
    const raw: Child = await startChild({
      name: `raw-${dialect}`,
      script: path.join(DIST, 'bench', 'raw-search-server.js'),
      port: await freePort(),
      readyPath: '/ready',
      env: { DIALECT: dialect, DATABASES: stores.map((s) => s.location).join(',') },
    });
    children.push(raw);
    const targets: {
      name: string;
      cpuMicros: () => number;
      path: string;
      headers: Record<string, string>;
      origin: string;
    }[] = [];
    for (const [i, store] of stores.entries()) {
      const system = await startSystem({ name: `system-${dialect}-${sizes[i]}`, store });
      children.push(system);
      const headers = { authorization: `Bearer ${await system.token('RTG', 'system/DocumentReference.rs')}` };
      await sameAnswer(
        `${system.child.origin}/fhir/DocumentReference?${searchQuery(7)}`,
        headers,
        `${raw.origin}/${i}/DocumentReference?${searchQuery(7)}`,
      );
      targets.push({
        name: `system-${sizes[i]}`,
        cpuMicros: () => system.child.cpuMicros(),
        path: '/fhir/DocumentReference',
        headers,
        origin: system.child.origin,
      });
      targets.push({
        name: `raw-${sizes[i]}`,
        cpuMicros: () => raw.cpuMicros(),
        path: `/${i}/DocumentReference`,
        headers: {},
        origin: raw.origin,
      });
    }
    const pools = new Map(targets.map((t) => [t.name, clientPool(t.origin, knobs.concurrency)]));
    const rounds: Record<string, Round[]> = Object.fromEntries(targets.map((t) => [t.name, []]));
    let sent = 0;
    const once = (target: (typeof targets)[number], count: number) =>
      closedLoop({
        pool: pools.get(target.name)!,
        concurrency: knobs.concurrency,
        count,
        expected: 200,
        cpuMicros: target.cpuMicros,
        request: (i) => ({ method: 'GET', path: `${target.path}?${searchQuery(sent + i)}`, headers: target.headers }),
      });
    try {
      for (const target of targets) {
        await once(target, Math.max(50, Math.floor(knobs.searchRequests / 4)));
      }
      for (let r = 0; r < knobs.rounds; r += 1) {
        for (const target of targets) {
          const measured = await once(target, knobs.searchRequests);
          sent += knobs.searchRequests;
          rounds[target.name].push(measured);
          log(
            `  round ${r + 1} ${dialect} ${target.name}: ${measured.rate.toFixed(0)} req/s, p50 ${measured.p50Ms.toFixed(1)} ms, ` +
              `p99 ${measured.p99Ms.toFixed(1)} ms, ${measured.cpuMicrosPerRequest.toFixed(0)} CPU-us/req`,
          );
        }
      }
    } finally {
      await Promise.all([...pools.values()].map((pool) => pool.close()));
    }
    return {
      dialect,
      sizes: loaded,
      rounds,
      servers: Object.fromEntries(Object.entries(rounds).map(([name, list]) => [name, summarize(list)])),
    };
  } finally {
    for (const child of children) {
      await child.stop().catch(() => undefined);
    }
    for (const store of stores) {
      await store.drop().catch(() => undefined);
    }
  }
}
