import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';
import { subscribeUntilActive } from '../utils/subscriptions.js';
import { startWebhookReceiver, type WebhookReceiver } from '../utils/webhook-receiver.js';

const FHIR_JSON = 'application/fhir+json';
const NHS = 'https://fhir.nhs.uk/Id/nhs-number';

/**
 * A delivery job can vanish while its event is still undelivered: Bull fails (and, with removeOnFail, deletes) a job
 * whose worker was killed twice during it, and a Redis can lose its data. The crash suite found such an event was
 * never offered again; now the relay queues it again after DELIVERY_REOFFER_MS.
 */
describe('a notification whose delivery job was lost', () => {
  let receiver: WebhookReceiver;
  let t: TestApp;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    t = await startTestApp('sqlite', 'file', {
      SUBSCRIPTION_ENDPOINT_ALLOWLIST: '127.0.0.1,localhost',
      DELIVERY_BACKOFF_BASE_MS: '50',
      OUTBOX_POLL_MS: '100',
      DELIVERY_REOFFER_MS: '500',
    });
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  it('is queued again and delivered, under the same webhook-id', async () => {
    const path = `/reoffer-${randomUUID()}`;
    const id = await subscribeUntilActive(
      t,
      receiver,
      path,
      `DocumentReference?custodian.identifier=RTG&patient.identifier=${NHS}|9434765919`,
      'reoffer test',
    );

    const document = aDischargeSummaryR4({
      identifier: { system: 'https://tools.ietf.org/html/rfc4122', value: randomUUID() },
    });
    const submitted = await t.fetch('/fhir/Bundle', {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify(document),
    });
    expect(submitted.status).toBe(201);
    const [first] = await receiver.waitFor(path, (r) => r.length >= 1, 10_000);

    // the job is gone (removed on completion) and the event reads as undelivered: exactly what a lost job leaves
    const dataSource = t.app.get(DataSource);
    const deliveredAt = async () =>
      (
        await dataSource.query<{ delivered_at: number | null }[]>(
          'SELECT delivered_at FROM subscription_event WHERE subscription_id = ?',
          [id],
        )
      )[0]?.delivered_at ?? null;
    // the worker records the delivery just after the receiver answered: wait for it, or it would undo the reset
    for (let i = 0; (await deliveredAt()) === null; i++) {
      expect(i).toBeLessThan(200);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    await dataSource.query('UPDATE subscription_event SET delivered_at = NULL WHERE subscription_id = ?', [id]);

    const requests = await receiver.waitFor(path, (r) => r.length >= 2, 15_000);
    expect(requests[1].headers['webhook-id']).toBe(first.headers['webhook-id']);
    // recorded once the receiver has answered, a moment after it saw the request
    for (let i = 0; (await deliveredAt()) === null; i++) {
      expect(i).toBeLessThan(200);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    // queued again once, not once per relay pass
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(receiver.at(path)).toHaveLength(2);
  });
});
