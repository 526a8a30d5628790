import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { createTestDatabase, type TestDatabase } from '../utils/postgres.js';
import { startRedisServer, type TestRedis } from '../utils/redis-server.js';
import { startS3, type TestS3 } from '../utils/start-s3.js';
import { startTcpProxy, type TcpProxy } from '../utils/tcp-proxy.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';

interface Indicator {
  status: 'up' | 'down' | 'degraded';
  [key: string]: unknown;
}
interface HealthBody {
  status: 'ok' | 'error' | 'degraded' | 'shutting_down';
  info: Record<string, Indicator>;
  error: Record<string, Indicator>;
  details: Record<string, Indicator>;
}

/** GET a health endpoint: its status, terminus body and how long it took. */
async function probe(t: TestApp, path: string): Promise<{ status: number; body: HealthBody; millis: number }> {
  const started = performance.now();
  const response = await fetch(`${t.baseUrl}${path}`);
  const body = (await response.json()) as HealthBody;
  return { status: response.status, body, millis: performance.now() - started };
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) {
      return value;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('GET /health (SQLite, files, a Redis of its own)', () => {
  let redis: TestRedis;
  let t: TestApp;
  beforeAll(async () => {
    redis = await startRedisServer();
    // api only: no relay routes the outbox, so a stored document's event stays unrouted
    t = await startTestApp('sqlite', 'file', {
      REDIS_URL: redis.url,
      APP_ROLES: 'api',
      OUTBOX_LAG_THRESHOLD_SECONDS: '1',
    });
  });
  afterAll(async () => {
    await t?.close();
    await redis?.stop();
  });

  it('answers live without a token, in terminus shape', async () => {
    const live = await probe(t, '/health/live');
    expect(live.status).toBe(200);
    expect(live.body).toEqual({ status: 'ok', info: {}, error: {}, details: {} });
  });

  it('is ready with every dependency up, each with its state', async () => {
    const ready = await probe(t, '/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('ok');
    expect(ready.body.error).toEqual({});
    for (const name of ['database', 'blobStore', 'redis', 'outbox']) {
      expect([name, ready.body.details[name]?.status]).toEqual([name, 'up']);
    }
    expect(ready.body.details.outbox).toMatchObject({ depth: 0, oldestAgeSeconds: 0, thresholdSeconds: 1 });
  });

  it('reports Redis down as degraded and stays ready, then recovers', async () => {
    await redis.stop();
    try {
      const ready = await until(
        () => probe(t, '/health/ready'),
        (r) => r.body.details.redis?.status === 'degraded',
      );
      expect(ready.status).toBe(200);
      expect(ready.body.status).toBe('degraded');
      expect(ready.body.details.redis).toMatchObject({ status: 'degraded', message: expect.any(String) });
      expect(ready.body.details.database.status).toBe('up');
      expect(ready.millis).toBeLessThan(2000);
    } finally {
      await redis.start();
    }
    const back = await until(
      () => probe(t, '/health/ready'),
      (r) => r.body.status === 'ok',
    );
    expect(back.body.details.redis.status).toBe('up');
  });

  it('reports an outbox event older than OUTBOX_LAG_THRESHOLD_SECONDS as degraded, still 200', async () => {
    const stored = await t.fetch('/fhir/Bundle', {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' },
      body: JSON.stringify(aDischargeSummaryR4()),
    });
    expect(stored.status).toBe(201);
    const ready = await until(
      () => probe(t, '/health/ready'),
      (r) => r.body.details.outbox?.status === 'degraded',
    );
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('degraded');
    expect(ready.body.details.outbox).toMatchObject({ status: 'degraded', depth: 1, thresholdSeconds: 1 });
    expect(ready.body.details.outbox.oldestAgeSeconds).toBeGreaterThan(1);
  });
});

describe('GET /health/ready when PostgreSQL or S3 goes away', () => {
  let database: TestDatabase;
  let s3: TestS3;
  let postgresProxy: TcpProxy;
  let s3Proxy: TcpProxy;
  let t: TestApp;
  beforeAll(async () => {
    database = await createTestDatabase();
    s3 = await startS3();
    const databaseUrl = new URL(database.url);
    postgresProxy = await startTcpProxy(Number(databaseUrl.port || 5432));
    databaseUrl.hostname = '127.0.0.1';
    databaseUrl.port = String(postgresProxy.port);
    s3Proxy = await startTcpProxy(Number(new URL(s3.endpoint).port));
    t = await startTestApp('postgres', 's3', {
      DATABASE_URL: databaseUrl.toString(),
      BLOB_STORE: `s3://${s3.bucket}/blobs`,
      S3_ENDPOINT: `http://127.0.0.1:${s3Proxy.port}`,
    });
  });
  afterAll(async () => {
    await t?.close();
    await postgresProxy?.close();
    await s3Proxy?.close();
    await s3?.stop();
    await database?.drop();
  });

  it('answers 503 within 2 s while the database is unreachable, and 200 again once it is back', async () => {
    expect((await probe(t, '/health/ready')).status).toBe(200);
    await postgresProxy.cut();
    try {
      const down = await until(
        () => probe(t, '/health/ready'),
        (r) => r.status === 503,
      );
      expect(down.status).toBe(503);
      expect(down.body.status).toBe('error');
      expect(down.body.error.database).toMatchObject({ status: 'down', message: expect.any(String) });
      expect(down.body.details.blobStore.status).toBe('up');
      expect(down.millis).toBeLessThan(2000);
    } finally {
      await postgresProxy.restore();
    }
    const back = await until(
      () => probe(t, '/health/ready'),
      (r) => r.status === 200,
    );
    expect(back.status).toBe(200);
    expect(back.body.details.database.status).toBe('up');
  });

  it('answers 503 within 2 s when the database and the blob store accept connections but never answer', async () => {
    await postgresProxy.stall();
    await s3Proxy.stall();
    try {
      // the first probe may still see the dropped pooled connection fail at once
      const hung = await until(
        () => probe(t, '/health/ready'),
        (r) =>
          /timeout/.test(String(r.body.error.database?.message)) &&
          /timeout/.test(String(r.body.error.blobStore?.message)),
      );
      expect(hung.status).toBe(503);
      expect(hung.body.error.database.message).toMatch(/timeout/);
      expect(hung.body.error.blobStore.message).toMatch(/timeout/);
      expect(hung.millis).toBeLessThan(2000);
    } finally {
      await postgresProxy.restore();
      await s3Proxy.restore();
    }
    const back = await until(
      () => probe(t, '/health/ready'),
      (r) => r.status === 200,
    );
    expect(back.status).toBe(200);
  });

  it('answers 503 within 2 s while the blob store is unreachable, and 200 again once it is back', async () => {
    await s3Proxy.cut();
    try {
      const down = await until(
        () => probe(t, '/health/ready'),
        (r) => r.status === 503,
      );
      expect(down.status).toBe(503);
      expect(down.body.error.blobStore).toMatchObject({ status: 'down', message: expect.any(String) });
      expect(down.body.details.database.status).toBe('up');
      expect(down.millis).toBeLessThan(2000);
    } finally {
      await s3Proxy.restore();
    }
    const back = await until(
      () => probe(t, '/health/ready'),
      (r) => r.status === 200,
    );
    expect(back.status).toBe(200);
  });
});
