import { randomBytes, randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { parseFhirXml } from '../../src/format/fhir-xml.js';
import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { aNhsNumber } from '../fixtures/nhs-number.js';
import { json } from '../utils/http.js';
import { BACKENDS, startTestApp, type TestApp } from '../utils/test-app.js';
import { startWebhookReceiver, type ReceivedWebhook, type WebhookReceiver } from '../utils/webhook-receiver.js';

const FHIR_JSON = 'application/fhir+json';
const FHIR_XML = 'application/fhir+xml';
const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';
const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
const SECRET_URL = 'urn:fhir-document-registry:webhook-secret';
/** The GP practice that subscribes to what is addressed to it. */
const PRACTICE = 'Y12345';
const FOR_PRACTICE = `DocumentReference?recipient=${ODS}|${PRACTICE}`;

const aSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

type Entry = { fullUrl: string; resource: Record<string, any> };

/** The body parsed as JSON once its Standard Webhooks signature checks out (the library throws if it does not). */
function verified(secret: string, request: ReceivedWebhook, options?: { jsonParse: boolean }): unknown {
  const headers = {
    'webhook-id': String(request.headers['webhook-id']),
    'webhook-timestamp': String(request.headers['webhook-timestamp']),
    'webhook-signature': String(request.headers['webhook-signature']),
  };
  return new Webhook(secret).verify(request.body, headers, options);
}

describe.each(BACKENDS)('message-channel notifications on %s with %s blobs', (database, blobStore) => {
  let t: TestApp;
  let receiver: WebhookReceiver;
  let topic: string;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    t = await startTestApp(database, blobStore, {
      SUBSCRIPTION_ENDPOINT_ALLOWLIST: '127.0.0.1,localhost',
      DELIVERY_BACKOFF_BASE_MS: '50',
      OUTBOX_POLL_MS: '100',
      HEARTBEAT_CHECK_SECONDS: '1',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
    });
    topic = `${t.fhirUrl}/SubscriptionTopic/document-available`;
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  const subscribe = (body: unknown) =>
    t.fetch('/fhir/Subscription', {
      method: 'POST',
      org: PRACTICE,
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify(body),
    });

  function aMessageSubscription(endpoint: string, secret: string, payload: string | undefined = FHIR_JSON) {
    return {
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'Documents addressed to the practice, as FHIR messages',
      criteria: FOR_PRACTICE,
      extension: [{ url: SECRET_URL, valueString: secret }],
      channel: { type: 'message', endpoint, ...(payload ? { payload } : {}), header: ['X-Practice-Key: k1'] },
    };
  }

  /** Submits a discharge summary from RTG addressed to `gpOds`; returns the stored DocumentReference's id. */
  async function submit(gpOds: string): Promise<string> {
    const identifier = { system: 'https://tools.ietf.org/html/rfc4122', value: randomUUID() };
    const response = await t.fetch('/fhir/Bundle', {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify(aDischargeSummaryR4({ identifier, nhsNumber: aNhsNumber(), custodianOds: 'RTG', gpOds })),
    });
    expect(response.status).toBe(201);
    const found = await json(
      await t.fetch(
        `/fhir/DocumentReference?identifier=${encodeURIComponent(`${identifier.system}|${identifier.value}`)}`,
      ),
    );
    expect(found.entry).toHaveLength(1);
    return found.entry[0].resource.id as string;
  }

  async function waitForStatus(id: string, status: string): Promise<Record<string, any>> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const resource = await json(await t.fetch(`/fhir/Subscription/${id}`, { org: PRACTICE }));
      if (resource.status === status) {
        return resource;
      }
      if (Date.now() > deadline) {
        throw new Error(`Subscription/${id} is ${resource.status}, expected ${status}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it('POSTs one signed message Bundle to {endpoint}/$process-message: MessageHeader first, focus the stored DocumentReference', async () => {
    const secret = aSecret();
    const path = `/gp-${randomUUID()}/fhir`;
    const created = await subscribe(aMessageSubscription(receiver.url(path), secret));
    expect(created.status).toBe(201);
    const subscription = await json(created);
    // a classic (criteria) subscription: R4 has no handshake, so it is active at once, whatever the channel
    expect(subscription.status).toBe('active');
    expect(subscription.channel.type).toBe('message');

    const id = await submit(PRACTICE);
    await submit('A99999'); // addressed to another practice: no message
    const operation = `${path}/$process-message`;
    const [request] = await receiver.waitFor(operation, (r) => r.length >= 1);
    expect(request.method).toBe('POST');
    expect(request.url).toBe(operation);
    expect(request.headers['content-type']).toBe(FHIR_JSON);
    expect(request.headers['x-practice-key']).toBe('k1');
    expect(verified(secret, request)).toMatchObject({ resourceType: 'Bundle', type: 'message' });
    expect(() => verified(aSecret(), request)).toThrow();

    const bundle = JSON.parse(request.body);
    expect(bundle.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Date(bundle.timestamp).getTime()).toBeGreaterThan(Date.now() - 60_000);
    const [header, document, ...rest] = bundle.entry as Entry[];
    expect(rest).toEqual([]);
    expect(header.resource).toMatchObject({
      resourceType: 'MessageHeader',
      id: request.headers['webhook-id'],
      eventUri: topic,
      source: { endpoint: t.fhirUrl },
      destination: [{ endpoint: receiver.url(path), receiver: { identifier: { system: ODS, value: PRACTICE } } }],
      focus: [{ reference: `${t.fhirUrl}/DocumentReference/${id}` }],
    });
    expect(header.fullUrl).toBe(`urn:uuid:${header.resource.id}`);
    expect(document.fullUrl).toBe(`${t.fhirUrl}/DocumentReference/${id}`);
    expect(document.resource).toMatchObject({ resourceType: 'DocumentReference', id });
    const stored = await json(await t.fetch(`/fhir/DocumentReference/${id}`, { org: PRACTICE }));
    expect(document.resource.meta.versionId).toBe(stored.meta.versionId);

    // what the message revealed is audited as for rest-hook: subtype notify, naming the receiving practice
    const audit = await json(
      await t.fetch(`/fhir/AuditEvent?entity=DocumentReference/${id}`, { scope: 'system/AuditEvent.rs admin' }),
    );
    const notify = (audit.entry ?? [])
      .map((e: { resource: any }) => e.resource)
      .filter((e: any) => e.subtype.some((c: { code: string }) => c.code === 'notify'));
    expect(notify).toHaveLength(1);
    expect(notify[0].entity.map((e: any) => e.what?.reference)).toContain(`Subscription/${subscription.id}`);

    // the event counts as delivered like any other: the recipient's delivery Task moves to notified
    const notified = `/fhir/Task?owner=${PRACTICE}&focus=DocumentReference/${id}&business-status=notified`;
    for (let i = 0; ((await json(await t.fetch(notified, { org: PRACTICE }))).entry ?? []).length === 0; i++) {
      expect(i).toBeLessThan(200);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.at(operation)).toHaveLength(1);
    expect(receiver.at(path)).toHaveLength(0);
  });

  it('retries a message the endpoint answered 500, with the same webhook-id and MessageHeader id, and records both attempts', async () => {
    const secret = aSecret();
    const path = `/flaky-${randomUUID()}`;
    const operation = `${path}/$process-message`;
    const subscription = await json(await subscribe(aMessageSubscription(receiver.url(path), secret)));
    receiver.failNext(operation, 1, 500);
    const id = await submit(PRACTICE);
    const requests = await receiver.waitFor(operation, (r) => r.some((x) => x.status === 200));
    expect(requests.map((r) => r.status)).toEqual([500, 200]);
    expect(new Set(requests.map((r) => r.headers['webhook-id'])).size).toBe(1);
    const bundles = requests.map((r) => JSON.parse(r.body));
    expect(bundles[0].entry[0].resource.id).toBe(bundles[1].entry[0].resource.id);
    expect(bundles[0].id).not.toBe(bundles[1].id);
    for (const [i, request] of requests.entries()) {
      expect(verified(secret, request)).toBeTruthy();
      expect(bundles[i].entry[0].resource.focus).toEqual([{ reference: `${t.fhirUrl}/DocumentReference/${id}` }]);
    }
    await waitForStatus(subscription.id, 'active');
    const status = (await json(await t.fetch(`/fhir/Subscription/${subscription.id}/$status`, { org: PRACTICE })))
      .entry[0].resource;
    const attempts = status.parameter
      .filter((p: { name: string }) => p.name === 'delivery-attempt')
      .map((a: { part: { name: string; valueInteger?: number; valueString?: string }[] }) => ({
        code: a.part.find((p) => p.name === 'status-code')?.valueInteger,
        webhookId: a.part.find((p) => p.name === 'webhook-id')?.valueString,
      }));
    expect(attempts.map((a: { code: number }) => a.code).sort()).toEqual([200, 500]);
    expect(attempts.every((a: { webhookId: string }) => a.webhookId === requests[0].headers['webhook-id'])).toBe(true);
  });

  it('shakes hands with a topic-based message subscription, then sends id-only messages carrying the SubscriptionStatus', async () => {
    const secret = aSecret();
    const path = `/topic-${randomUUID()}`;
    const operation = `${path}/$process-message`;
    const created = await subscribe({
      resourceType: 'Subscription',
      meta: { profile: [`${BACKPORT}/backport-subscription`] },
      status: 'requested',
      reason: 'Documents addressed to the practice, topic-based',
      criteria: topic,
      _criteria: { extension: [{ url: `${BACKPORT}/backport-filter-criteria`, valueString: FOR_PRACTICE }] },
      extension: [{ url: SECRET_URL, valueString: secret }],
      channel: {
        type: 'message',
        endpoint: receiver.url(path),
        payload: FHIR_JSON,
        _payload: { extension: [{ url: `${BACKPORT}/backport-payload-content`, valueCode: 'id-only' }] },
      },
    });
    expect(created.status).toBe(201);
    const subscription = await json(created);
    const [handshake] = await receiver.waitFor(operation, (r) => r.length >= 1);
    const shake = JSON.parse(handshake.body);
    expect(shake.type).toBe('message');
    expect(shake.entry[0].resource.eventCoding).toEqual({
      system: 'http://hl7.org/fhir/subscription-notification-type',
      code: 'handshake',
    });
    expect(shake.entry[1].resource.meta.profile).toEqual([`${BACKPORT}/backport-subscription-status-r4`]);
    await waitForStatus(subscription.id, 'active');

    const id = await submit(PRACTICE);
    const requests = await receiver.waitFor(operation, (r) => r.length >= 2);
    expect(verified(secret, requests[1])).toBeTruthy();
    const bundle = JSON.parse(requests[1].body);
    const entries = bundle.entry as Entry[];
    // id-only: the DocumentReference is named, not included
    expect(entries.map((e) => e.resource.resourceType)).toEqual(['MessageHeader', 'Parameters']);
    const [header, status] = entries;
    expect(header.resource.eventUri).toBe(topic);
    expect(header.resource.focus).toEqual([
      { reference: `${t.fhirUrl}/DocumentReference/${id}` },
      { reference: status.fullUrl },
    ]);
    const parameter = (name: string) => status.resource.parameter.find((p: { name: string }) => p.name === name);
    expect(parameter('type').valueCode).toBe('event-notification');
    expect(parameter('subscription').valueReference.reference).toBe(`${t.fhirUrl}/Subscription/${subscription.id}`);
    const event = parameter('notification-event').part;
    expect(event).toEqual(
      expect.arrayContaining([
        { name: 'event-number', valueString: '1' },
        { name: 'focus', valueReference: { reference: `${t.fhirUrl}/DocumentReference/${id}` } },
      ]),
    );
  });

  it('shakes hands again when a topic-based subscription moves from rest-hook to message, then sends heartbeats as messages', async () => {
    const path = `/switch-${randomUUID()}`;
    const operation = `${path}/$process-message`;
    const body = {
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'Switching channels',
      criteria: topic,
      _criteria: { extension: [{ url: `${BACKPORT}/backport-filter-criteria`, valueString: FOR_PRACTICE }] },
      channel: {
        extension: [{ url: `${BACKPORT}/backport-heartbeat-period`, valueUnsignedInt: 1 }],
        type: 'rest-hook',
        endpoint: receiver.url(path),
        payload: FHIR_JSON,
      },
    };
    const subscription = await json(await subscribe(body));
    await waitForStatus(subscription.id, 'active');
    expect(receiver.at(path)[0]).toMatchObject({ method: 'POST' });
    const put = await t.fetch(`/fhir/Subscription/${subscription.id}`, {
      method: 'PUT',
      org: PRACTICE,
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify({ ...body, id: subscription.id, channel: { ...body.channel, type: 'message' } }),
    });
    expect(put.status).toBe(200);
    // the same endpoint, but a channel not yet heard from: requested until the handshake message lands
    expect((await json(put)).status).toBe('requested');
    const events = (requests: ReceivedWebhook[]) =>
      requests.map((r) => JSON.parse(r.body).entry[0].resource.eventCoding?.code as string);
    const messages = await receiver.waitFor(operation, (r) => events(r).includes('heartbeat'), 15_000);
    expect(events(messages).slice(0, 2)).toEqual(['handshake', 'heartbeat']);
    await waitForStatus(subscription.id, 'active');
  });

  it('sends the message as FHIR XML when the payload asks for application/fhir+xml', async () => {
    const secret = aSecret();
    const path = `/xml-${randomUUID()}/$process-message`; // an endpoint may name the operation itself
    const created = await subscribe(aMessageSubscription(receiver.url(path), secret, FHIR_XML));
    expect(created.status).toBe(201);
    const id = await submit(PRACTICE);
    const [request] = await receiver.waitFor(path, (r) => r.length >= 1);
    expect(request.headers['content-type']).toBe(FHIR_XML);
    expect(request.body).toMatch(/^<\?xml[^>]*\?><Bundle xmlns="http:\/\/hl7.org\/fhir">/);
    // the library parses JSON after checking the signature; an XML body is checked alone
    expect(() => verified(secret, request, { jsonParse: false })).not.toThrow();
    expect(() => verified(aSecret(), request, { jsonParse: false })).toThrow('No matching signature');
    const bundle = parseFhirXml(Buffer.from(request.body)) as Record<string, any>;
    expect(bundle.type).toBe('message');
    expect(bundle.entry[0].resource.resourceType).toBe('MessageHeader');
    expect(bundle.entry[0].resource.focus).toEqual([{ reference: `${t.fhirUrl}/DocumentReference/${id}` }]);
    expect(bundle.entry[1].resource).toMatchObject({ resourceType: 'DocumentReference', id });
  });

  it('refuses channel types it does not offer and message payloads that are not FHIR, with an OperationOutcome', async () => {
    const base = aMessageSubscription(receiver.url('/refused'), aSecret());
    for (const [channel, status] of [
      [{ ...base.channel, type: 'websocket' }, 422],
      [{ ...base.channel, type: 'email', endpoint: 'mailto:gp@example.org' }, 422],
      [{ ...base.channel, payload: 'text/plain' }, 422],
      [{ type: 'message' }, 400],
    ] as const) {
      const response = await subscribe({ ...base, channel });
      const outcome = await json(response);
      expect([channel, response.status, outcome.resourceType]).toEqual([channel, status, 'OperationOutcome']);
      expect(outcome.issue[0].expression[0]).toMatch(/^Subscription\.channel\./);
    }
  });

  it('refuses a message endpoint that is not https or resolves to a private address (422)', async () => {
    for (const endpoint of ['http://example.org/fhir', 'https://10.1.2.3/fhir', 'https://169.254.169.254/latest']) {
      const response = await subscribe(aMessageSubscription(endpoint, aSecret()));
      expect([endpoint, response.status]).toEqual([endpoint, 422]);
      expect((await json(response)).issue[0].code).toBe('business-rule');
    }
  });
});
