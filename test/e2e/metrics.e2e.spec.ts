import { randomUUID } from 'node:crypto';
import type { DataSource, QueryRunner } from 'typeorm';
import { DataSource as DataSourceToken } from 'typeorm';
import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { BACKENDS, startTestApp, type TestApp } from '../utils/test-app.js';
import { subscribeUntilActive } from '../utils/subscriptions.js';
import { startWebhookReceiver, type WebhookReceiver } from '../utils/webhook-receiver.js';

const FHIR_JSON = 'application/fhir+json';

async function scrape(t: TestApp, authorization?: string): Promise<string> {
  const response = await fetch(`${t.baseUrl}/metrics`, { headers: authorization ? { authorization } : {} });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return response.text();
}

/** The value of one sample, e.g. `registry_objects{kind="document"}`; undefined when the series is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function storeDocument(t: TestApp): Promise<Response> {
  const document = aDischargeSummaryR4({
    identifier: { system: 'https://tools.ietf.org/html/rfc4122', value: randomUUID() },
  });
  const response = await t.fetch('/fhir/Bundle', {
    method: 'POST',
    headers: { 'content-type': FHIR_JSON, prefer: 'return=minimal' },
    body: JSON.stringify(document),
  });
  expect(response.status).toBe(201);
  return response;
}

/** Records every SQL statement the app's DataSource runs until `stop()` is called. */
function recordStatements(dataSource: DataSource): { statements: string[]; stop(): void } {
  const statements: string[] = [];
  const original = dataSource.driver.createQueryRunner.bind(dataSource.driver);
  // the SQLite driver hands out one shared runner: wrap each runner once
  const wrapped = new WeakSet<QueryRunner>();
  let recording = true;
  dataSource.driver.createQueryRunner = (mode) => {
    const runner: QueryRunner = original(mode);
    if (wrapped.has(runner)) {
      return runner;
    }
    wrapped.add(runner);
    const query = runner.query.bind(runner);
    runner.query = ((sql: string, ...rest: unknown[]) => {
      if (recording) {
        statements.push(sql);
      }
      return (query as (...args: unknown[]) => Promise<unknown>)(sql, ...rest);
    }) as QueryRunner['query'];
    return runner;
  };
  return {
    statements,
    stop: () => {
      recording = false;
      dataSource.driver.createQueryRunner = original;
    },
  };
}

/** Variables that point another app at `app`'s database and blob store. */
function sameStores(app: TestApp): Record<string, string> {
  const { database, blobStore, dataDir, s3 } = app.config;
  return {
    DATA_DIR: dataDir,
    DATABASE_URL: database.kind === 'sqlite' ? `sqlite:${database.file}` : database.url,
    ...(blobStore.kind === 'file'
      ? { BLOB_STORE: `file:${blobStore.directory}` }
      : {
          BLOB_STORE: `s3://${blobStore.bucket}/${blobStore.prefix}`,
          S3_ENDPOINT: s3.endpoint ?? '',
          S3_REGION: s3.region,
          S3_FORCE_PATH_STYLE: String(s3.forcePathStyle),
        }),
  };
}

describe.each(BACKENDS)('GET /metrics on %s + %s', (database, blobStore) => {
  let receiver: WebhookReceiver;
  let open: TestApp;
  let guarded: TestApp;
  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    open = await startTestApp(database, blobStore, {
      SUBSCRIPTION_ENDPOINT_ALLOWLIST: '127.0.0.1,localhost',
      OUTBOX_POLL_MS: '100',
    });
    // api only: no relay runs SQL of its own, and the outbox is left unrouted
    guarded = await startTestApp(database, blobStore, { METRICS_TOKEN: 'scrape-me', APP_ROLES: 'api' });
  });
  afterAll(async () => {
    await open?.close();
    await guarded?.close();
    await receiver?.close();
  });

  it('counts stored documents and their bytes as they are written', async () => {
    const before = await scrape(open);
    const documents = sample(before, 'registry_objects{kind="document"}') ?? Number.NaN;
    const bytes = sample(before, 'registry_bytes{kind="document"}') ?? Number.NaN;
    expect(documents).toBeGreaterThanOrEqual(0);

    await storeDocument(open);
    const after = await scrape(open);
    expect(sample(after, 'registry_objects{kind="document"}')).toBe(documents + 1);
    expect(sample(after, 'registry_bytes{kind="document"}')).toBeGreaterThan(bytes + 100);
    expect(sample(after, 'registry_stored_objects_total{kind="document"}')).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'registry_group_commits_total')).toBeGreaterThanOrEqual(1);
  });

  it('counts a restarted process from the database, not from zero', async () => {
    // the guarded app stores one document; a second app on the same files starts by counting them
    await storeDocument(guarded);
    const held = sample(await scrape(guarded, 'Bearer scrape-me'), 'registry_objects{kind="document"}');
    expect(held).toBeGreaterThanOrEqual(1);
    // started as sqlite + file so that it makes no database or bucket of its own; sameStores points it at guarded's
    const restarted = await startTestApp('sqlite', 'file', {
      ...sameStores(guarded),
      APP_ROLES: 'api',
      METRICS_TOKEN: 'scrape-me',
    });
    try {
      const text = await scrape(restarted, 'Bearer scrape-me');
      expect(sample(text, 'registry_objects{kind="document"}')).toBe(held);
      expect(sample(text, 'registry_stored_objects_total{kind="document"}')).toBeUndefined();
    } finally {
      // removes only the temp dir startTestApp made for it, not guarded's stores
      await restarted.close();
    }
  });

  it('times HTTP requests by route template and status, never by raw URL', async () => {
    const id = randomUUID();
    const missing = await open.fetch(`/fhir/Bundle/${id}`);
    expect(missing.status).toBe(404);
    const text = await scrape(open);
    expect(text).toMatch(/^http_requests_total\{method="POST",route="\/fhir\/Bundle",status="201"\} [1-9]/m);
    expect(text).toMatch(/^http_requests_total\{method="GET",route="\/fhir\/Bundle\/:id",status="404"\} 1$/m);
    expect(text).toMatch(
      /^http_request_duration_seconds_bucket\{le="0\.5",method="POST",route="\/fhir\/Bundle",status="201"\} [1-9]/m,
    );
    expect(text).toMatch(/^http_request_duration_seconds_count\{method="POST",route="\/fhir\/Bundle",status="201"\}/m);
    expect(text).not.toContain(id);
  });

  it('shows a notification delivered: attempts by outcome, commit-to-2xx latency, subscriptions and the queue', async () => {
    const path = `/metrics-${randomUUID()}`;
    await subscribeUntilActive(open, receiver, path, `DocumentReference?custodian.identifier=RTG`);
    const before = await scrape(open);
    const sent = sample(before, 'registry_delivery_attempts_total{type="event-notification",outcome="success"}') ?? 0;
    const timed = sample(before, 'registry_notification_delivery_seconds_count') ?? 0;

    await storeDocument(open);
    await receiver.waitFor(path, (requests) => requests.length >= 1); // the event (a classic subscription has no handshake)
    let text = '';
    for (let i = 0; i < 50; i++) {
      text = await scrape(open);
      if ((sample(text, 'registry_notification_delivery_seconds_count') ?? 0) > timed) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(sample(text, 'registry_delivery_attempts_total{type="event-notification",outcome="success"}')).toBe(
      sent + 1,
    );
    // a classic R4 subscription has no handshake
    expect(sample(text, 'registry_delivery_attempts_total{type="handshake",outcome="success"}')).toBeUndefined();
    expect(sample(text, 'registry_notification_delivery_seconds_count')).toBe(timed + 1);
    expect(sample(text, 'registry_notification_delivery_seconds_bucket{le="+Inf"}')).toBe(timed + 1);
    expect(sample(text, 'registry_subscriptions{status="active"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'registry_subscriptions{status="off"}')).toBe(0);
    expect(sample(text, 'registry_queue_jobs{state="waiting"}')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'registry_outbox_pending')).toBe(0);
    expect(sample(text, 'registry_outbox_oldest_age_seconds')).toBe(0);
  });

  it('reports the unrouted outbox and its oldest age where no worker routes it', async () => {
    const pending = sample(await scrape(guarded, 'Bearer scrape-me'), 'registry_outbox_pending') ?? Number.NaN;
    await storeDocument(guarded);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const text = await scrape(guarded, 'Bearer scrape-me');
    expect(sample(text, 'registry_outbox_pending')).toBe(pending + 1);
    expect(sample(text, 'registry_outbox_oldest_age_seconds')).toBeGreaterThan(0.2);
  });

  it('includes the process metrics of prom-client', async () => {
    const text = await scrape(open);
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes']) {
      expect(text).toMatch(new RegExp(`^${name} \\d`, 'm'));
    }
  });

  it('reads no document table on a scrape: two indexed queries (outbox, subscriptions) and nothing else', async () => {
    for (let i = 0; i < 3; i++) {
      await storeDocument(guarded);
    }
    const recorder = recordStatements(guarded.app.get(DataSourceToken));
    try {
      await scrape(guarded, 'Bearer scrape-me');
    } finally {
      recorder.stop();
    }
    expect(recorder.statements).toHaveLength(2);
    expect(recorder.statements.join('\n')).not.toMatch(/document_bundle|"binary"|document_reference|audit_event/);
    expect(recorder.statements.join('\n')).toMatch(/FROM notification_outbox WHERE routed_at IS NULL/);
  });

  it('takes the static METRICS_TOKEN bearer when one is set', async () => {
    const without = await fetch(`${guarded.baseUrl}/metrics`);
    expect(without.status).toBe(401);
    expect((await without.json()) as { resourceType: string }).toMatchObject({ resourceType: 'OperationOutcome' });
    const wrong = await fetch(`${guarded.baseUrl}/metrics`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    await scrape(guarded, 'Bearer scrape-me');
  });
});

describe('a worker-only process (APP_ROLES=worker)', () => {
  let worker: TestApp;
  beforeAll(async () => {
    worker = await startTestApp('sqlite', 'file', { APP_ROLES: 'worker' });
  });
  afterAll(async () => {
    await worker?.close();
  });

  it('serves its own health and metrics, where its delivery counters live', async () => {
    expect((await fetch(`${worker.baseUrl}/health/live`)).status).toBe(200);
    expect((await fetch(`${worker.baseUrl}/health/ready`)).status).toBe(200);
    const text = await scrape(worker);
    expect(text).toMatch(/^# TYPE registry_delivery_attempts_total counter$/m);
    expect(text).toMatch(/^# TYPE registry_notification_delivery_seconds histogram$/m);
    expect(text).toMatch(/^registry_outbox_pending 0$/m);
  });

  it('answers 404 to the FHIR API and the queue dashboard, which are the api role', async () => {
    for (const path of ['/fhir/metadata', '/fhir/DocumentReference?patient.identifier=x', '/admin/queues']) {
      const response = await worker.fetch(path);
      expect([path, response.status]).toEqual([path, 404]);
      expect(((await response.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
    }
  });
});
