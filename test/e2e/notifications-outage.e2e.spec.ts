import { randomUUID } from 'node:crypto';
import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { json } from '../utils/http.js';
import { startRedisServer, type TestRedis } from '../utils/redis-server.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';
import { subscribeUntilActive } from '../utils/subscriptions.js';
import { startWebhookReceiver, type WebhookReceiver } from '../utils/webhook-receiver.js';

const FHIR_JSON = 'application/fhir+json';
const NHS = 'https://fhir.nhs.uk/Id/nhs-number';

describe('notifications while Redis is down', () => {
  let redis: TestRedis;
  let receiver: WebhookReceiver;
  let t: TestApp;

  beforeAll(async () => {
    redis = await startRedisServer();
    receiver = await startWebhookReceiver();
    t = await startTestApp('sqlite', 'file', {
      REDIS_URL: redis.url,
      SUBSCRIPTION_ENDPOINT_ALLOWLIST: '127.0.0.1,localhost',
      DELIVERY_BACKOFF_BASE_MS: '50',
      OUTBOX_POLL_MS: '100',
    });
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
    await redis?.stop();
  });

  it('accepts documents during the outage and delivers every notification exactly once when Redis returns', async () => {
    const path = `/outage-${randomUUID()}`;
    await subscribeUntilActive(
      t,
      receiver,
      path,
      `DocumentReference?custodian.identifier=RTG&patient.identifier=${NHS}|9434765919`,
      'outage test',
    );

    await redis.stop();
    for (let i = 0; i < 3; i++) {
      const document = aDischargeSummaryR4({
        identifier: { system: 'https://tools.ietf.org/html/rfc4122', value: randomUUID() },
      });
      const response = await t.fetch('/fhir/Bundle', {
        method: 'POST',
        headers: { 'content-type': FHIR_JSON },
        body: JSON.stringify(document),
      });
      expect(response.status).toBe(201);
    }
    const ready = await fetch(`${t.baseUrl}/health/ready`);
    expect(ready.status).toBe(200);
    expect((await json(ready)).details.redis.status).toBe('degraded');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(receiver.at(path)).toHaveLength(0);

    await redis.start();
    await receiver.waitFor(path, (r) => r.length >= 3, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const events = receiver.at(path);
    expect(events).toHaveLength(3);
    expect(new Set(events.map((r) => r.headers['webhook-id'])).size).toBe(3);
    expect(new Set(events.map((r) => JSON.parse(r.body).id)).size).toBe(3);
    expect((await json(await fetch(`${t.baseUrl}/health/ready`))).details.redis.status).toBe('up');
  });
});
