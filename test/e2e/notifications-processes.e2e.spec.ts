import { randomUUID } from 'node:crypto';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { localSigningKeyPath, loadOrCreateLocalSigningKey, signLocalToken } from '../../src/auth/local-issuer.js';
import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { freePort } from '../utils/free-port.js';
import { json } from '../utils/http.js';
import { createTestDatabase, type TestDatabase } from '../utils/postgres.js';
import { ensureBuilt, startServerProcess, type ServerProcess } from '../utils/server-process.js';
import { makeTempDir } from '../utils/temp-dir.js';
import { startWebhookReceiver, type ReceivedWebhook, type WebhookReceiver } from '../utils/webhook-receiver.js';

const FHIR_JSON = 'application/fhir+json';
const GP_CRITERIA = 'DocumentReference?recipient=https://fhir.nhs.uk/Id/ods-organization-code|Y12345';

/** The server processes and temp resources a test started; afterEach releases them even when the test fails. */
const processes = new Set<ServerProcess>();
const cleanups: (() => Promise<void>)[] = [];

async function start(env: Record<string, string>): Promise<ServerProcess> {
  const server = await startServerProcess({ ...env, PORT: String(await freePort()), HOST: '127.0.0.1' });
  processes.add(server);
  return server;
}

async function kill(server: ServerProcess): Promise<void> {
  await server.kill('SIGKILL');
  processes.delete(server);
}

/** A token from the local issuer whose key lives in `dataDir` (the server's defaults for issuer and audience). */
function tokenFor(dataDir: string, org: string): Promise<string> {
  return signLocalToken(dataDir, {
    issuer: 'urn:fhir-document-registry:local',
    audience: 'urn:fhir-document-registry',
    subject: 'process-test',
    organization: org,
    scope: 'system/*.cruds',
    expiresInSeconds: 600,
  });
}

async function subscribeGp(server: ServerProcess, token: string, endpoint: string): Promise<string> {
  const response = await fetch(`${server.baseUrl}/fhir/Subscription`, {
    method: 'POST',
    headers: { 'content-type': FHIR_JSON, authorization: `Bearer ${token}` },
    body: JSON.stringify({
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'Tell the GP about new documents',
      criteria: GP_CRITERIA,
      channel: { type: 'rest-hook', endpoint, payload: FHIR_JSON },
    }),
  });
  const body = await json(response);
  expect([response.status, body.status]).toEqual([201, 'active']); // classic R4: no handshake
  return body.id as string;
}

async function waitUntilActive(server: ServerProcess, token: string, id: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const resource = await json(
      await fetch(`${server.baseUrl}/fhir/Subscription/${id}`, { headers: { authorization: `Bearer ${token}` } }),
    );
    if (resource.status === 'active') {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(`Subscription/${id} is ${resource.status}, expected active`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Submits a discharge summary (GP Y12345, custodian RTG) and returns the stored Bundle's id. */
async function submit(server: ServerProcess, token: string): Promise<string> {
  const response = await fetch(`${server.baseUrl}/fhir/Bundle`, {
    method: 'POST',
    headers: { 'content-type': FHIR_JSON, authorization: `Bearer ${token}` },
    body: JSON.stringify(
      aDischargeSummaryR4({ identifier: { system: 'https://tools.ietf.org/html/rfc4122', value: randomUUID() } }),
    ),
  });
  await response.arrayBuffer();
  expect(response.status).toBe(201);
  const location = response.headers.get('location') ?? '';
  expect(location).toMatch(/\/Bundle\/[0-9a-f-]{36}$/);
  return location.split('/').pop()!;
}

/** Event notifications (rest-hook PUTs of the DocumentReference) with the Bundle id their DocumentReference points at. */
function events(requests: ReceivedWebhook[]): { webhookId: string; bundleId: string }[] {
  return requests
    .filter((r) => r.method === 'PUT')
    .map((r) => {
      const resource = JSON.parse(r.body);
      expect(resource.resourceType).toBe('DocumentReference');
      return {
        webhookId: String(r.headers['webhook-id']),
        bundleId: String(resource.content[0].attachment.url).split('/').pop()!,
      };
    });
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('notifications across server processes (compiled server)', () => {
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    ensureBuilt();
    receiver = await startWebhookReceiver();
  }, 240_000);

  afterEach(async () => {
    await Promise.all([...processes].map((server) => server.kill('SIGKILL')));
    processes.clear();
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup();
    }
  }, 60_000);

  afterAll(async () => {
    await receiver?.close();
  });

  const baseEnv = () => ({
    QUEUE_PREFIX: `test-processes-${randomUUID()}`,
    SUBSCRIPTION_ENDPOINT_ALLOWLIST: '127.0.0.1,localhost',
    DELIVERY_BACKOFF_BASE_MS: '50',
    OUTBOX_POLL_MS: '100',
    LOG_LEVEL: 'error',
  });

  it('delivers exactly once a document accepted just before the server was killed with SIGKILL', async () => {
    const dataDir = await makeTempDir('registry-crash');
    cleanups.push(() => dataDir.remove());
    const env = {
      ...baseEnv(),
      DATA_DIR: dataDir.path,
      DATABASE_URL: `sqlite:${path.join(dataDir.path, 'registry.db')}`,
      BLOB_STORE: `file:${path.join(dataDir.path, 'blobs')}`,
    };
    const hook = `/crash-${randomUUID()}`;

    // The subscription is set up by a full server first, so the api-only process below starts with it in place.
    const setup = await start(env);
    const gp = await tokenFor(dataDir.path, 'Y12345');
    const rtg = await tokenFor(dataDir.path, 'RTG');
    const subscriptionId = await subscribeGp(setup, gp, receiver.url(hook));
    await waitUntilActive(setup, gp, subscriptionId);
    await kill(setup);

    // An api-only process has no relay and no queue consumer, so nothing can deliver before the SIGKILL:
    // the notification can only come from the outbox row committed with the document.
    const api = await start({ ...env, APP_ROLES: 'api' });
    const bundleId = await submit(api, rtg);
    await kill(api);
    expect(events(receiver.at(hook))).toEqual([]);

    await start(env); // default roles: api,worker, same data dir and database
    await receiver.waitFor(hook, (requests) => events(requests).length >= 1, 30_000);
    await settle(2_000); // a duplicate would arrive within this
    const delivered = events(receiver.at(hook));
    expect(delivered).toEqual([{ webhookId: expect.any(String), bundleId }]);
  }, 180_000);

  it('two processes on one PostgreSQL database deliver each of 10 documents exactly once', async () => {
    const database: TestDatabase = await createTestDatabase();
    cleanups.push(() => database.drop());
    const dirs = [await makeTempDir('registry-pg-a'), await makeTempDir('registry-pg-b')];
    cleanups.push(async () => {
      await Promise.all(dirs.map((d) => d.remove()));
    });
    // Both processes must accept the same tokens: the second gets a copy of the first one's local signing key.
    await loadOrCreateLocalSigningKey(dirs[0].path);
    await mkdir(path.dirname(localSigningKeyPath(dirs[1].path)), { recursive: true, mode: 0o700 });
    await copyFile(localSigningKeyPath(dirs[0].path), localSigningKeyPath(dirs[1].path));
    const shared = { ...baseEnv(), DATABASE_URL: database.url };
    const servers: ServerProcess[] = [];
    // One after the other, so the two do not run the migrations at the same moment.
    for (const dir of dirs) {
      servers.push(
        await start({ ...shared, DATA_DIR: dir.path, BLOB_STORE: `file:${path.join(dirs[0].path, 'blobs')}` }),
      );
    }
    const gp = await tokenFor(dirs[0].path, 'Y12345');
    const rtg = await tokenFor(dirs[1].path, 'RTG');
    const hook = `/two-${randomUUID()}`;
    const subscriptionId = await subscribeGp(servers[0], gp, receiver.url(hook));
    await waitUntilActive(servers[1], gp, subscriptionId);

    const bundleIds = await Promise.all(Array.from({ length: 10 }, (_, i) => submit(servers[i % 2], rtg)));
    expect(new Set(bundleIds).size).toBe(10);
    await receiver.waitFor(hook, (requests) => events(requests).length >= 10, 40_000);
    await settle(2_000); // a duplicate would arrive within this
    const delivered = events(receiver.at(hook));
    expect(delivered).toHaveLength(10);
    expect(new Set(delivered.map((e) => e.webhookId)).size).toBe(10);
    expect(delivered.map((e) => e.bundleId).sort()).toEqual([...bundleIds].sort());
  }, 180_000);
});
