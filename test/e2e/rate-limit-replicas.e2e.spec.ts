import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { signLocalToken } from '../../src/auth/local-issuer.js';
import { freePort } from '../utils/free-port.js';
import { json } from '../utils/http.js';
import { ensureBuilt, startServerProcess, type ServerProcess } from '../utils/server-process.js';
import { startRedisServer } from '../utils/redis-server.js';
import { makeTempDir } from '../utils/temp-dir.js';

/*
 * The per-client limit of replicas behind a load balancer: two compiled server processes (each its own SQLite
 * database and local issuer, as the limit keys on the verified client, not on the token), one Redis.
 */

const LIMIT = 10;
const SEARCH = '/fhir/DocumentReference?patient.identifier=9434765919';

const processes = new Set<ServerProcess>();
const cleanups: (() => Promise<void>)[] = [];

/** A server process on a fresh data folder, and a token of the one client every test uses, signed by its issuer. */
async function replica(env: Record<string, string>): Promise<{ server: ServerProcess; token: string }> {
  const dir = await makeTempDir('rate-limit-replica');
  cleanups.push(() => dir.remove());
  const server = await startServerProcess({
    PORT: String(await freePort()),
    HOST: '127.0.0.1',
    DATA_DIR: dir.path,
    DATABASE_URL: `sqlite:${path.join(dir.path, 'registry.db')}`,
    BLOB_STORE: `file:${path.join(dir.path, 'blobs')}`,
    RATE_LIMIT_PER_MINUTE: String(LIMIT),
    RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '100000',
    LOG_LEVEL: 'warn',
    ...env,
  });
  processes.add(server);
  const token = await signLocalToken(dir.path, {
    issuer: 'urn:fhir-document-registry:local',
    audience: 'urn:fhir-document-registry',
    subject: 'replica-test',
    clientId: 'replica-client',
    organization: 'RTG',
    scope: 'system/*.cruds',
    expiresInSeconds: 600,
  });
  return { server, token };
}

/** Sends `count` searches, turn about over `replicas`; the statuses, and the first 429 answer. */
async function spread(replicas: { server: ServerProcess; token: string }[], count: number) {
  const statuses: number[] = [];
  let throttled: Response | undefined;
  for (let i = 0; i < count; i += 1) {
    const { server, token } = replicas[i % replicas.length];
    const response = await fetch(`${server.baseUrl}${SEARCH}`, { headers: { authorization: `Bearer ${token}` } });
    statuses.push(response.status);
    if (response.status === 429 && !throttled) {
      throttled = response;
    } else {
      await response.arrayBuffer();
    }
  }
  return { statuses, throttled };
}

describe('the per-client rate limit across replicas (compiled server)', () => {
  beforeAll(() => ensureBuilt(), 240_000);

  afterEach(async () => {
    await Promise.all([...processes].map((server) => server.kill('SIGKILL')));
    processes.clear();
    await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
  });

  it('counts one client once over two processes sharing Redis: the limit in total, not twice it', async () => {
    // a key prefix of this test's own, so that parallel tests never share a count
    const shared = { QUEUE_PREFIX: `test-rate-limit-${randomUUID()}`, RATE_LIMIT_STORE: 'redis' };
    const replicas = await Promise.all([replica(shared), replica(shared)]);
    const { statuses, throttled } = await spread(replicas, 3 * LIMIT);
    expect(statuses.filter((s) => s === 200)).toHaveLength(LIMIT);
    expect(statuses.slice(LIMIT).every((s) => s === 429)).toBe(true);
    expect(throttled!.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(Number(throttled!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(throttled!.headers.get('content-type')).toMatch(/fhir\+json/);
    expect(await json(throttled!)).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'throttled' }] });
  }, 120_000);

  it('keeps serving while the configured Redis is unreachable, each process counting alone', async () => {
    // a port nothing listens on
    const unreachable = { REDIS_URL: `redis://127.0.0.1:${await freePort()}`, RATE_LIMIT_STORE: 'redis' };
    const replicas = await Promise.all([replica(unreachable), replica(unreachable)]);
    const { statuses, throttled } = await spread(replicas, 3 * LIMIT);
    // no 500: each process allows the limit on its own while the shared count cannot be kept
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    expect(statuses.filter((s) => s === 200)).toHaveLength(2 * LIMIT);
    expect(await json(throttled!)).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'throttled' }] });
    for (const { server } of replicas) {
      const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text();
      const fallbacks = Number(/^registry_rate_limit_fallbacks_total (\d+)/m.exec(metrics)?.[1]);
      expect(fallbacks).toBeGreaterThanOrEqual(LIMIT);
      // said once per outage, not once per request
      expect(server.output().match(/Rate limit store unreachable/g)).toHaveLength(1);
    }
  }, 120_000);

  it('keeps serving when Redis dies under it, and shares the count again once it is back', async () => {
    const redis = await startRedisServer();
    cleanups.push(() => redis.stop());
    const env = {
      REDIS_URL: redis.url,
      QUEUE_PREFIX: `test-rate-limit-${randomUUID()}`,
      RATE_LIMIT_STORE: 'redis',
      // the limiter says at info when Redis is back
      LOG_LEVEL: 'info',
    };
    const replicas = await Promise.all([replica(env), replica(env)]);
    expect((await spread(replicas, 4)).statuses).toEqual([200, 200, 200, 200]);

    await redis.stop();
    // each process now counts alone, from zero: its limit, and not one 500
    const during = await spread(replicas, 2 * LIMIT);
    expect(during.statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    expect(during.statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(LIMIT);

    // a restarted Redis (empty, no persistence) is used again: one count for both, from zero
    await redis.start();
    const deadline = Date.now() + 30_000;
    while (!replicas.every(({ server }) => /Rate limit store is back/.test(server.output())) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const after = await spread(replicas, 3 * LIMIT);
    expect(after.statuses.filter((s) => s === 200)).toHaveLength(LIMIT);
  }, 120_000);
});
