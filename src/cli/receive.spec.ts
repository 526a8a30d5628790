import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describePayload, startReceiver, type VerifiedNotification, webhookVerifier } from './receive.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;

function signed(body: string, id = `msg_${randomBytes(8).toString('hex')}`, key = secret, at = new Date()) {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(key).sign(id, at, body),
  };
}

describe('startReceiver', () => {
  const notifications: VerifiedNotification[] = [];
  const refusals: string[] = [];
  let receiver: { url: string; close(): Promise<void> };

  beforeAll(async () => {
    receiver = await startReceiver({
      host: '127.0.0.1',
      port: 0,
      secret,
      maxBytes: 1024,
      onNotification: (n) => notifications.push(n),
      onRefused: (method, path, reason) => refusals.push(`${method} ${path}: ${reason}`),
    });
  });
  afterAll(async () => {
    await receiver.close();
  });
  beforeEach(() => {
    notifications.length = 0;
    refusals.length = 0;
  });

  it('answers a verified R4 rest-hook PUT with 200 and reports it, marking a redelivery', async () => {
    const body = JSON.stringify({ resourceType: 'DocumentReference', id: 'dr-1', status: 'current' });
    const headers = signed(body, 'msg_1');
    for (let i = 0; i < 2; i++) {
      const response = await fetch(`${receiver.url}/hooks/DocumentReference/dr-1`, { method: 'PUT', headers, body });
      expect(response.status).toBe(200);
    }
    expect(notifications).toEqual([
      {
        method: 'PUT',
        path: '/hooks/DocumentReference/dr-1',
        webhookId: 'msg_1',
        about: 'DocumentReference/dr-1 current',
        repeat: false,
      },
      {
        method: 'PUT',
        path: '/hooks/DocumentReference/dr-1',
        webhookId: 'msg_1',
        about: 'DocumentReference/dr-1 current',
        repeat: true,
      },
    ]);
  });

  it('answers a verified empty POST with 204', async () => {
    const response = await fetch(`${receiver.url}/hooks`, { method: 'POST', headers: signed('') });
    expect(response.status).toBe(204);
    expect(notifications[0].about).toBe('no payload (search for what changed)');
  });

  it.each([
    [
      'another secret',
      () => signed('{"resourceType":"DocumentReference"}', 'm', `whsec_${randomBytes(32).toString('base64')}`),
    ],
    [
      'a timestamp over five minutes old',
      () => signed('{"resourceType":"DocumentReference"}', 'm', secret, new Date(Date.now() - 6 * 60_000)),
    ],
    ['no signature headers', () => ({})],
  ])('refuses a request signed with %s: 401, nothing reported', async (_label, headers) => {
    const response = await fetch(`${receiver.url}/hooks`, {
      method: 'POST',
      headers: headers(),
      body: '{"resourceType":"DocumentReference"}',
    });
    expect(response.status).toBe(401);
    expect(notifications).toEqual([]);
    expect(refusals[0]).toMatch(/^POST \/hooks: bad signature/);
  });

  it('refuses a body changed after signing', async () => {
    const headers = signed('{"id":"a"}');
    const response = await fetch(`${receiver.url}/hooks`, { method: 'POST', headers, body: '{"id":"b"}' });
    expect(response.status).toBe(401);
  });

  it('refuses an oversized body with 413 and other methods with 405', async () => {
    const big = 'x'.repeat(4096);
    const tooBig = await fetch(`${receiver.url}/hooks`, { method: 'POST', headers: signed(big), body: big }).catch(
      () => undefined,
    );
    // the receiver may close the connection before the client reads the answer
    if (tooBig) {
      expect(tooBig.status).toBe(413);
    }
    expect(refusals[0]).toMatch(/body over 1024 bytes/);
    expect((await fetch(`${receiver.url}/hooks`)).status).toBe(405);
    expect(notifications).toEqual([]);
  });
});

describe('describePayload', () => {
  it('names the focus of a topic-based notification Bundle', () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'history',
      entry: [
        { resource: { resourceType: 'Parameters', parameter: [{ name: 'type', valueCode: 'event-notification' }] } },
        { fullUrl: 'http://registry/fhir/DocumentReference/dr-9' },
        { resource: { resourceType: 'DocumentReference', id: 'dr-10' } },
      ],
    };
    expect(describePayload(JSON.stringify(bundle))).toBe(
      'Bundle event-notification: DocumentReference/dr-9, DocumentReference/dr-10',
    );
    expect(describePayload('not json')).toBe('8 bytes that are not JSON');
  });

  it("names a message Bundle's event and focus", () => {
    const message = (header: Record<string, unknown>) =>
      JSON.stringify({ resourceType: 'Bundle', type: 'message', entry: [{ resource: header }] });
    expect(
      describePayload(
        message({
          resourceType: 'MessageHeader',
          eventUri: 'http://registry/fhir/SubscriptionTopic/document-available',
          focus: [{ reference: 'http://registry/fhir/DocumentReference/dr-9' }, { reference: 'urn:uuid:1234' }],
        }),
      ),
    ).toBe('message document-available: DocumentReference/dr-9, urn:uuid:1234');
    expect(describePayload(message({ resourceType: 'MessageHeader', eventCoding: { code: 'handshake' } }))).toBe(
      'message handshake',
    );
  });
});

describe('webhookVerifier', () => {
  it.each(['', 'whsec_', 'whsec_not base64!', 'plain words'])('refuses %p as a usage error', (bad) => {
    expect(() => webhookVerifier(bad)).toThrow(expect.objectContaining({ exitCode: 2 }));
  });
});
