import { randomBytes, randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { aNhsNumber } from '../fixtures/nhs-number.js';
import { json } from '../utils/http.js';
import { BACKENDS, startTestApp, type TestApp } from '../utils/test-app.js';
import { startWebhookReceiver, type ReceivedWebhook, type WebhookReceiver } from '../utils/webhook-receiver.js';

const FHIR_JSON = 'application/fhir+json';
const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
const SECRET_URL = 'urn:fhir-document-registry:webhook-secret';
const DISCHARGE = 'http://snomed.info/sct|373942005';

const aSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

function aClassicSubscription(
  endpoint: string,
  criteria: string,
  options: { payload?: boolean; secret?: string } = {},
) {
  return {
    resourceType: 'Subscription',
    status: 'requested',
    reason: 'Tell the GP about new discharge summaries',
    criteria,
    ...(options.secret ? { extension: [{ url: SECRET_URL, valueString: options.secret }] } : {}),
    channel: {
      type: 'rest-hook',
      endpoint,
      ...(options.payload === false ? {} : { payload: FHIR_JSON }),
      header: ['X-Subscriber-Key: abc123'],
    },
  };
}

function aBackportSubscription(
  t: TestApp,
  endpoint: string,
  filter: string,
  content: 'empty' | 'id-only' | 'full-resource',
  options: { secret?: string; heartbeatSeconds?: number } = {},
) {
  return {
    resourceType: 'Subscription',
    meta: { profile: [`${BACKPORT}/backport-subscription`] },
    status: 'requested',
    reason: 'Documents for one patient',
    criteria: `${t.fhirUrl}/SubscriptionTopic/document-available`,
    _criteria: { extension: [{ url: `${BACKPORT}/backport-filter-criteria`, valueString: filter }] },
    ...(options.secret ? { extension: [{ url: SECRET_URL, valueString: options.secret }] } : {}),
    channel: {
      ...(options.heartbeatSeconds
        ? { extension: [{ url: `${BACKPORT}/backport-heartbeat-period`, valueUnsignedInt: options.heartbeatSeconds }] }
        : {}),
      type: 'rest-hook',
      endpoint,
      payload: FHIR_JSON,
      _payload: { extension: [{ url: `${BACKPORT}/backport-payload-content`, valueCode: content }] },
    },
  };
}

async function subscribe(t: TestApp, body: unknown, org = 'RTG'): Promise<Response> {
  return t.fetch('/fhir/Subscription', {
    method: 'POST',
    org,
    headers: { 'content-type': FHIR_JSON },
    body: JSON.stringify(body),
  });
}

async function submit(
  t: TestApp,
  nhsNumber: string,
  options: { gpOds?: string; type?: { system: string; code: string } } = {},
) {
  const document = aDischargeSummaryR4({
    identifier: { system: 'https://tools.ietf.org/html/rfc4122', value: randomUUID() },
    nhsNumber,
    ...(options.gpOds ? { gpOds: options.gpOds } : {}),
    ...(options.type ? { type: options.type } : {}),
  });
  const response = await t.fetch('/fhir/Bundle', {
    method: 'POST',
    headers: { 'content-type': FHIR_JSON },
    body: JSON.stringify(document),
  });
  expect(response.status).toBe(201);
  return response;
}

async function documentReferenceIdFor(t: TestApp, nhsNumber: string): Promise<string[]> {
  const found = await json(
    await t.fetch(`/fhir/DocumentReference?patient.identifier=${encodeURIComponent(`${NHS}|${nhsNumber}`)}`),
  );
  return (found.entry ?? []).map((e: { resource: { id: string } }) => e.resource.id);
}

async function waitForStatus(t: TestApp, id: string, status: string, org = 'RTG', timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const resource = await json(await t.fetch(`/fhir/Subscription/${id}`, { org }));
    if (resource.status === status) {
      return resource;
    }
    if (Date.now() > deadline) {
      throw new Error(`Subscription/${id} is ${resource.status}, expected ${status}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const statusParameters = (request: ReceivedWebhook) => {
  const bundle = JSON.parse(request.body);
  expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'history' });
  const parameters = bundle.entry[0].resource;
  const value = (name: string) => parameters.parameter.find((p: { name: string }) => p.name === name);
  return { bundle, parameters, value };
};

describe.each(BACKENDS)('notifications on %s with %s blobs', (database, blobStore) => {
  let t: TestApp;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    t = await startTestApp(database, blobStore, {
      SUBSCRIPTION_ENDPOINT_ALLOWLIST: '127.0.0.1,localhost',
      // these tests subscribe RTG to one patient's documents wherever they are held (see subscription-disclosure)
      SUBSCRIPTION_PATIENT_WIDE_ORGS: 'RTG',
      DELIVERY_BACKOFF_BASE_MS: '50',
      DELIVERY_FAILURES_BEFORE_ERROR: '3',
      OUTBOX_POLL_MS: '100',
      HEARTBEAT_CHECK_SECONDS: '1',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
    });
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  it('starts a classic subscription active with no handshake, then PUTs each matching DocumentReference once under the endpoint as service base (R4 rest-hook)', async () => {
    const nhsNumber = aNhsNumber();
    const secret = aSecret();
    const path = `/classic-${randomUUID()}`;
    const created = await subscribe(
      t,
      aClassicSubscription(
        receiver.url(path),
        `DocumentReference?patient.identifier=${NHS}|${nhsNumber}&type=${DISCHARGE}`,
        { secret },
      ),
    );
    expect(created.status).toBe(201);
    const subscription = await json(created);
    // R4 defines no handshake: the server checked the endpoint when it accepted the subscription
    expect(subscription.status).toBe('active');

    await submit(t, nhsNumber);
    await submit(t, aNhsNumber()); // another patient: no notification
    await submit(t, nhsNumber, { type: { system: 'http://snomed.info/sct', code: '419891008' } }); // other type
    const requests = await receiver.waitFor(path, (r) => r.length >= 1);
    const [ids] = [await documentReferenceIdFor(t, nhsNumber)];
    const notification = requests[0];
    const resource = JSON.parse(notification.body);
    expect(resource.resourceType).toBe('DocumentReference');
    expect(ids).toContain(resource.id);
    expect(notification.method).toBe('PUT');
    expect(notification.url).toBe(`${path}/DocumentReference/${resource.id}`);
    expect(resource.type.coding[0].code).toBe('373942005');
    expect(notification.headers['content-type']).toBe(FHIR_JSON);
    expect(notification.headers['x-subscriber-key']).toBe('abc123');
    const verified = new Webhook(secret).verify(notification.body, {
      'webhook-id': String(notification.headers['webhook-id']),
      'webhook-timestamp': String(notification.headers['webhook-timestamp']),
      'webhook-signature': String(notification.headers['webhook-signature']),
    });
    expect(verified).toMatchObject({ resourceType: 'DocumentReference', id: resource.id });
    expect(() =>
      new Webhook(aSecret()).verify(notification.body, {
        'webhook-id': String(notification.headers['webhook-id']),
        'webhook-timestamp': String(notification.headers['webhook-timestamp']),
        'webhook-signature': String(notification.headers['webhook-signature']),
      }),
    ).toThrow();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.at(path)).toHaveLength(1);
  });

  it('sends an empty POST with no Content-Type for a classic subscription without payload, and generates a secret shown only once', async () => {
    const nhsNumber = aNhsNumber();
    const path = `/empty-${randomUUID()}`;
    const created = await subscribe(
      t,
      aClassicSubscription(receiver.url(path), `DocumentReference?patient.identifier=${NHS}|${nhsNumber}`, {
        payload: false,
      }),
    );
    expect(created.status).toBe(201);
    const subscription = await json(created);
    const secret = subscription.extension.find((e: { url: string }) => e.url === SECRET_URL).valueString;
    expect(secret).toMatch(/^whsec_/);
    const read = await json(await t.fetch(`/fhir/Subscription/${subscription.id}`));
    expect(JSON.stringify(read)).not.toContain(secret);
    expect(subscription.status).toBe('active');
    await submit(t, nhsNumber);
    const [notification] = await receiver.waitFor(path, (r) => r.length >= 1);
    expect(notification.method).toBe('POST');
    expect(notification.url).toBe(path);
    expect(notification.body).toBe('');
    expect(notification.headers['content-type']).toBeUndefined();
    expect(() => new Webhook(secret).verify('', notification.headers as Record<string, string>)).not.toThrow();
  });

  it.each(['empty', 'id-only', 'full-resource'] as const)(
    'sends backport %s notification Bundles with gap-free event numbers',
    async (content) => {
      const nhsNumber = aNhsNumber();
      const path = `/backport-${content}-${randomUUID()}`;
      const created = await subscribe(
        t,
        aBackportSubscription(
          t,
          receiver.url(path),
          `DocumentReference?patient.identifier=${NHS}|${nhsNumber}`,
          content,
        ),
      );
      expect(created.status).toBe(201);
      const subscription = await json(created);
      const [handshake] = await receiver.waitFor(path, (r) => r.length >= 1);
      const hs = statusParameters(handshake);
      expect(hs.value('type').valueCode).toBe('handshake');
      expect(hs.value('status').valueCode).toBe('requested');
      expect(hs.value('events-since-subscription-start').valueString).toBe('0');
      expect(hs.value('topic').valueCanonical).toBe(`${t.fhirUrl}/SubscriptionTopic/document-available`);
      expect(hs.parameters.meta.profile).toEqual([`${BACKPORT}/backport-subscription-status-r4`]);
      await waitForStatus(t, subscription.id, 'active');

      await submit(t, nhsNumber);
      await submit(t, nhsNumber);
      const requests = await receiver.waitFor(path, (r) => r.length >= 3);
      const ids = await documentReferenceIdFor(t, nhsNumber);
      const numbers = requests.slice(1).map((request) => {
        const { bundle, value, parameters } = statusParameters(request);
        expect(value('type').valueCode).toBe('event-notification');
        expect(value('subscription').valueReference.reference).toBe(`${t.fhirUrl}/Subscription/${subscription.id}`);
        const event = parameters.parameter.find((p: { name: string }) => p.name === 'notification-event');
        const part = (name: string) => event.part.find((p: { name: string }) => p.name === name);
        const focus = part('focus');
        if (content === 'empty') {
          expect(focus).toBeUndefined();
          expect(bundle.entry).toHaveLength(1);
        } else {
          expect(ids.map((id) => `${t.fhirUrl}/DocumentReference/${id}`)).toContain(focus.valueReference.reference);
        }
        if (content === 'full-resource') {
          expect(bundle.entry).toHaveLength(2);
          expect(bundle.entry[1]).toMatchObject({
            resource: { resourceType: 'DocumentReference' },
            request: { method: 'POST' },
          });
        } else {
          expect(bundle.entry).toHaveLength(1);
        }
        expect(value('events-since-subscription-start').valueString).toBe(part('event-number').valueString);
        return Number(part('event-number').valueString);
      });
      expect(numbers.sort()).toEqual([1, 2]);

      const events = await json(
        await t.fetch(`/fhir/Subscription/${subscription.id}/$events?eventsSinceNumber=2&eventsUntilNumber=2`),
      );
      const replayed = events.entry[0].resource.parameter.filter(
        (p: { name: string }) => p.name === 'notification-event',
      );
      expect(replayed).toHaveLength(1);
      expect(replayed[0].part[0]).toEqual({ name: 'event-number', valueString: '2' });
      expect(events.entry[0].resource.parameter.find((p: { name: string }) => p.name === 'type').valueCode).toBe(
        'query-event',
      );
    },
  );

  it('retries a failing endpoint with backoff: error after 3 failures, active after the delivery that succeeds', async () => {
    const nhsNumber = aNhsNumber();
    const path = `/flaky-${randomUUID()}`;
    const created = await subscribe(
      t,
      aClassicSubscription(receiver.url(path), `DocumentReference?patient.identifier=${NHS}|${nhsNumber}`),
    );
    const subscription = await json(created);
    await waitForStatus(t, subscription.id, 'active');
    receiver.failNext(path, 3);
    await submit(t, nhsNumber);
    await waitForStatus(t, subscription.id, 'error');
    const failed = await json(await t.fetch(`/fhir/Subscription/${subscription.id}`));
    expect(failed.error).toContain('HTTP 503');
    const events = await receiver.waitFor(path, (r) => r.some((x) => x.status === 200));
    await waitForStatus(t, subscription.id, 'active');
    expect(events.map((r) => r.status)).toEqual([503, 503, 503, 200]);
    expect(events.every((r) => r.method === 'PUT')).toBe(true);
    expect(new Set(events.map((r) => r.headers['webhook-id'])).size).toBe(1);
    const bundle = await json(await t.fetch(`/fhir/Subscription/${subscription.id}/$status`));
    // the Backport IG's $status: a searchset Bundle holding the SubscriptionStatus Parameters
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 1 });
    expect(bundle.entry).toHaveLength(1);
    const status = bundle.entry[0].resource;
    expect(status.meta.profile).toEqual([expect.stringMatching(/backport-subscription-status-r4$/)]);
    expect(bundle.entry[0].search).toEqual({ mode: 'match' });
    // a classic (criteria) subscription has no topic to name
    expect(status.parameter.some((p: { name: string }) => p.name === 'topic')).toBe(false);
    const attempts = status.parameter.filter((p: { name: string }) => p.name === 'delivery-attempt');
    expect(attempts).toHaveLength(4); // 3 failures + 1 success (no handshake for a classic subscription)
    const codes = attempts.map(
      (a: { part: { name: string; valueInteger?: number }[] }) =>
        a.part.find((p) => p.name === 'status-code')?.valueInteger,
    );
    expect(codes.sort()).toEqual([200, 503, 503, 503]);
  });

  it("keeps the client's meta.profile on a created Subscription, under the server's versionId and lastUpdated", async () => {
    const profile = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription';
    const body = {
      ...aBackportSubscription(t, receiver.url('/profile-kept'), 'DocumentReference?recipient=RTG', 'id-only'),
      meta: { profile: [profile], versionId: '99', lastUpdated: '2000-01-01T00:00:00Z' },
    };
    const created = await subscribe(t, body);
    expect(created.status).toBe(201);
    const { id } = await json(created);
    const read = await json(await t.fetch(`/fhir/Subscription/${id}`));
    expect(read.meta.profile).toEqual([profile]);
    expect(read.meta.versionId).toBe('1');
    expect(read.meta.lastUpdated).not.toBe('2000-01-01T00:00:00Z');
    expect((await t.fetch(`/fhir/Subscription/${id}`, { method: 'DELETE' })).status).toBeLessThan(300);
  });

  it('refuses endpoints that are not https or resolve to private addresses (422)', async () => {
    const criteria = `DocumentReference?patient.identifier=${NHS}|9434765919`;
    for (const endpoint of [
      'http://example.org/hook',
      'https://10.1.2.3/hook',
      'https://169.254.169.254/latest',
      'https://[::1]/hook',
      'https://[fd00:ec2::254]/',
    ]) {
      const response = await subscribe(t, aClassicSubscription(endpoint, criteria));
      expect(response.status).toBe(422);
      const outcome = await json(response);
      expect(outcome.issue[0].code).toBe('business-rule');
      expect(outcome.issue[0].diagnostics).toMatch(/https|non-public|not a public/);
    }
  });

  it('lets only the owning organisation read, change, delete or query a subscription (403)', async () => {
    const created = await json(
      await subscribe(
        t,
        aClassicSubscription(receiver.url(), `DocumentReference?patient.identifier=${NHS}|9434765919`),
      ),
    );
    for (const [method, suffix] of [
      ['GET', ''],
      ['DELETE', ''],
      ['GET', '/$status'],
      ['GET', '/$events'],
    ] as const) {
      const response = await t.fetch(`/fhir/Subscription/${created.id}${suffix}`, { method, org: 'Y12345' });
      expect([method, suffix, response.status]).toEqual([method, suffix, 403]);
      expect((await json(response)).issue[0].diagnostics).toContain('only the organisation that created');
    }
    const put = await t.fetch(`/fhir/Subscription/${created.id}`, {
      method: 'PUT',
      org: 'Y12345',
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify({
        ...aClassicSubscription(receiver.url(), `DocumentReference?patient.identifier=${NHS}|9434765919`),
        id: created.id,
      }),
    });
    expect(put.status).toBe(403);
    const mine = await json(await t.fetch('/fhir/Subscription', { org: 'Y12345' }));
    expect(mine.entry ?? []).toHaveLength(0);
    expect((await t.fetch(`/fhir/Subscription/${created.id}`)).status).toBe(200);
  });

  it("notifies the registered GP through a recipient criterion, and refuses another organisation's code (403)", async () => {
    const foreign = await subscribe(
      t,
      aClassicSubscription(receiver.url(), 'DocumentReference?recipient=Y12345'),
      'RTG',
    );
    expect(foreign.status).toBe(403);
    const nhsNumber = aNhsNumber();
    const path = `/gp-${randomUUID()}`;
    const created = await subscribe(
      t,
      aBackportSubscription(
        t,
        receiver.url(path),
        `DocumentReference?recipient=https://fhir.nhs.uk/Id/ods-organization-code|Y12345&patient.identifier=${NHS}|${nhsNumber}`,
        'id-only',
      ),
      'Y12345',
    );
    expect(created.status).toBe(201);
    const subscription = await json(created);
    await waitForStatus(t, subscription.id, 'active', 'Y12345');
    await submit(t, nhsNumber, { gpOds: 'Y12345' });
    await submit(t, nhsNumber, { gpOds: 'A99999' });
    const requests = await receiver.waitFor(path, (r) => r.length >= 2);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.at(path)).toHaveLength(2);
    expect(statusParameters(requests[1]).value('type').valueCode).toBe('event-notification');
  });

  it('updates a subscription: off stops notifications, a rotated secret signs the next ones', async () => {
    const nhsNumber = aNhsNumber();
    const path = `/rotate-${randomUUID()}`;
    const body = aClassicSubscription(receiver.url(path), `DocumentReference?patient.identifier=${NHS}|${nhsNumber}`);
    const subscription = await json(await subscribe(t, body));
    await waitForStatus(t, subscription.id, 'active');
    const put = (changes: object) =>
      t.fetch(`/fhir/Subscription/${subscription.id}`, {
        method: 'PUT',
        headers: { 'content-type': FHIR_JSON },
        body: JSON.stringify({ ...body, id: subscription.id, ...changes }),
      });
    expect((await put({ status: 'off' })).status).toBe(200);
    await submit(t, nhsNumber);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(receiver.at(path)).toHaveLength(0);
    const secret = aSecret();
    const updated = await put({ status: 'requested', extension: [{ url: SECRET_URL, valueString: secret }] });
    expect((await json(updated)).meta.versionId).toBe('3');
    await waitForStatus(t, subscription.id, 'active');
    await submit(t, nhsNumber);
    const requests = await receiver.waitFor(path, (r) => r.length >= 1);
    const last = requests[requests.length - 1];
    expect(() => new Webhook(secret).verify(last.body, last.headers as Record<string, string>)).not.toThrow();
    expect((await t.fetch(`/fhir/Subscription/${subscription.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await t.fetch(`/fhir/Subscription/${subscription.id}`)).status).toBe(404);
  });

  it('sends heartbeats on the backport heartbeat period', async () => {
    const path = `/heartbeat-${randomUUID()}`;
    const subscription = await json(
      await subscribe(
        t,
        aBackportSubscription(
          t,
          receiver.url(path),
          `DocumentReference?patient.identifier=${NHS}|${aNhsNumber()}`,
          'id-only',
          { heartbeatSeconds: 1 },
        ),
      ),
    );
    await waitForStatus(t, subscription.id, 'active');
    const requests = await receiver.waitFor(path, (r) => r.length >= 2, 8000);
    expect(statusParameters(requests[1]).value('type').valueCode).toBe('heartbeat');
  });

  it('serves the SubscriptionTopic without a token', async () => {
    const response = await fetch(`${t.fhirUrl}/SubscriptionTopic/document-available`);
    expect(response.status).toBe(200);
    expect(await json(response)).toMatchObject({
      resourceType: 'SubscriptionTopic',
      url: `${t.fhirUrl}/SubscriptionTopic/document-available`,
    });
  });
});
