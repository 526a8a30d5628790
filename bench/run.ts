/**
 * `npm run bench`: figures as ratios measured in one run (machines are noisy; absolute numbers are printed
 * for context only). Starts the compiled server in-process on temp directories, SQLite + files, API role only.
 *  1. Document ingest throughput with SQLITE_SYNCHRONOUS=NORMAL versus the durable default FULL.
 *  2. ITI-67 search latency (patient + type + date) with 20 000 other DocumentReferences versus almost none:
 *     the indexes should keep the ratio near 1.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DataSource } from 'typeorm';
import { signLocalToken } from '../src/auth/local-issuer.js';
import { createApp } from '../src/bootstrap.js';
import { loadConfig } from '../src/config/app-config.js';
import { DocumentReferenceRepository } from '../src/registry/document-reference.repository.js';
import { aDischargeSummaryR4 } from '../test/fixtures/documents.js';

const NHS = 'https://fhir.nhs.uk/Id/nhs-number';

/** NHS numbers with a valid modulus 11 check digit, for distinct patients. */
function nhsNumber(seed: number): string {
  for (let n = seed; ; n += 1) {
    const body = String(900000000 + (n % 99999999)).padStart(9, '0');
    const sum = [...body].reduce((total, digit, i) => total + Number(digit) * (10 - i), 0);
    const check = 11 - (sum % 11);
    if (check !== 10) {
      return `${body}${check === 11 ? 0 : check}`;
    }
  }
}

async function startServer(env: Record<string, string>) {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'registry-bench-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const config = loadConfig({
    PORT: String(port),
    DATA_DIR: dataDir,
    DATABASE_URL: `sqlite:${path.join(dataDir, 'registry.db')}`,
    BLOB_STORE: `file:${path.join(dataDir, 'blobs')}`,
    APP_ROLES: 'api',
    LOG_LEVEL: 'error',
    RATE_LIMIT_PER_MINUTE: '1000000',
    ...env,
  });
  const app = await createApp(config);
  await app.listen(port, '127.0.0.1');
  const token = await signLocalToken(dataDir, {
    issuer: config.auth.issuer,
    audience: config.auth.audience,
    subject: 'bench',
    organization: 'RTG',
    scope: 'system/*.cruds',
    expiresInSeconds: 3600,
  });
  return {
    app,
    url: `${config.baseUrl}/fhir`,
    headers: { authorization: `Bearer ${token}` },
    close: async () => {
      await app.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function ingest(synchronous: 'FULL' | 'NORMAL', documents: number, concurrency: number): Promise<number> {
  const server = await startServer({ SQLITE_SYNCHRONOUS: synchronous });
  try {
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < documents) {
          const i = next++;
          const body = JSON.stringify(
            aDischargeSummaryR4({
              identifier: { system: 'urn:bench', value: `${synchronous}-${i}` },
              nhsNumber: nhsNumber(i),
            }),
          );
          const response = await fetch(`${server.url}/Bundle`, {
            method: 'POST',
            headers: { ...server.headers, 'content-type': 'application/fhir+json', prefer: 'return=minimal' },
            body,
          });
          if (response.status !== 201) {
            throw new Error(`submission ${i} answered ${response.status}: ${await response.text()}`);
          }
        }
      }),
    );
    return documents / ((performance.now() - started) / 1000);
  } finally {
    await server.close();
  }
}

async function medianSearchMs(url: string, headers: Record<string, string>, rounds: number): Promise<number> {
  const query = `${url}/DocumentReference?patient.identifier=${encodeURIComponent(`${NHS}|9434765919`)}&type=${encodeURIComponent('http://snomed.info/sct|373942005')}&date=ge2024-01-01&_count=20`;
  const times: number[] = [];
  for (let i = 0; i < rounds; i += 1) {
    const started = performance.now();
    const response = await fetch(query, { headers });
    await response.arrayBuffer();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

async function searchScaling(others: number): Promise<{ small: number; large: number }> {
  const server = await startServer({});
  try {
    for (let i = 0; i < 20; i += 1) {
      await fetch(`${server.url}/Bundle`, {
        method: 'POST',
        headers: { ...server.headers, 'content-type': 'application/fhir+json', prefer: 'return=minimal' },
        body: JSON.stringify(aDischargeSummaryR4({ identifier: { system: 'urn:bench', value: `patient-${i}` } })),
      });
    }
    const small = await medianSearchMs(server.url, server.headers, 200);
    const repository = server.app.get(DocumentReferenceRepository);
    const dataSource = server.app.get(DataSource);
    const now = new Date();
    await dataSource.transaction(async (manager) => {
      for (let i = 0; i < others; i += 1) {
        await repository.save(manager, {
          resource: {
            resourceType: 'DocumentReference',
            id: `bench-${i}`,
            meta: { versionId: '1', lastUpdated: now.toISOString() },
            status: 'current',
            type: { coding: [{ system: 'http://snomed.info/sct', code: '373942005' }] },
            subject: { identifier: { system: NHS, value: nhsNumber(i + 1000) } },
            date: new Date(Date.UTC(2024, i % 12, 1 + (i % 28))).toISOString(),
          },
          patientNhsNumber: nhsNumber(i + 1000),
          custodianOds: 'RTG',
          bundleId: null,
        });
      }
    });
    const large = await medianSearchMs(server.url, server.headers, 200);
    return { small, large };
  } finally {
    await server.close();
  }
}

async function main(): Promise<void> {
  const documents = 300;
  const full = await ingest('FULL', documents, 8);
  const normal = await ingest('NORMAL', documents, 8);
  console.log(
    `ingest: FULL ${full.toFixed(0)} docs/s, NORMAL ${normal.toFixed(0)} docs/s, NORMAL/FULL = ${(normal / full).toFixed(2)}`,
  );
  const others = 20_000;
  const { small, large } = await searchScaling(others);
  console.log(
    `search patient+type+date: ${small.toFixed(2)} ms with 20 documents, ${large.toFixed(2)} ms with ${others} more, ` +
      `ratio = ${(large / small).toFixed(2)}`,
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
