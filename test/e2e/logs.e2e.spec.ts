import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import path from 'node:path';
import { signLocalToken } from '../../src/auth/local-issuer.js';
import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { freePort } from '../utils/free-port.js';
import { json } from '../utils/http.js';
import { ensureBuilt, startServerProcess, type ServerProcess } from '../utils/server-process.js';
import { makeTempDir } from '../utils/temp-dir.js';
import { startWebhookReceiver, type WebhookReceiver } from '../utils/webhook-receiver.js';

const FHIR_JSON = 'application/fhir+json';
const NHS_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';
const NHS_NUMBER = '9434765919';
// words of the fixture's narrative and demographics: document content that must never reach a log
const DOCUMENT_TEXT = ['pneumonia', 'oral antibiotic course', 'Alice', 'Okafor', '1961-07-14'];
const HOSTILE = {
  long: `corr-${'x'.repeat(1024)}`,
  encodedCrlf: 'evil%0d%0aX-Injected:%20yes',
  json: 'abc","level":"fatal","msg":"forged',
  unicode: 'corr-\u00fcn\u00efc\u00f8d\u00e9-\u2603',
};

interface LogLine {
  msg?: string;
  [field: string]: unknown;
}

/** Sends one request with raw header bytes (fetch refuses non-Latin-1 and CR in header values). */
function rawRequest(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    // write, not end: a half-closed socket gets no answer from Node's server
    socket.write(Buffer.from(`${head}Connection: close\r\n\r\n`, 'utf8'));
  });
}

const headerOf = (response: string, name: string): string | undefined =>
  new RegExp(`^${name}: (.*)$`, 'im').exec(response)?.[1]?.trim();

describe('logs of a full flow (compiled server, LOG_LEVEL=debug)', () => {
  let receiver: WebhookReceiver;
  let dataDir: Awaited<ReturnType<typeof makeTempDir>>;
  let server: ServerProcess;
  let port: number;
  const tokens: string[] = [];
  const hostileIds: string[] = [];

  const token = async (scope = 'system/*.cruds', org = 'RTG') => {
    const signed = await signLocalToken(dataDir.path, {
      issuer: 'urn:fhir-document-registry:local',
      audience: 'urn:fhir-document-registry',
      subject: 'log-test',
      organization: org,
      scope,
      expiresInSeconds: 600,
    });
    tokens.push(signed);
    return signed;
  };
  const call = async (path: string, init: RequestInit = {}, bearer?: string) => {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${bearer ?? (await token())}`);
    return fetch(`${server.baseUrl}${path}`, { ...init, headers });
  };
  const lines = (): LogLine[] =>
    server
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogLine);

  beforeAll(async () => {
    ensureBuilt();
    receiver = await startWebhookReceiver();
    dataDir = await makeTempDir('registry-logs');
    port = await freePort();
    server = await startServerProcess({
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir.path,
      DATABASE_URL: `sqlite:${path.join(dataDir.path, 'registry.db')}`,
      BLOB_STORE: `file:${path.join(dataDir.path, 'blobs')}`,
      LOG_LEVEL: 'debug',
      QUEUE_PREFIX: `test-logs-${randomUUID()}`,
      SUBSCRIPTION_ENDPOINT_ALLOWLIST: '127.0.0.1,localhost',
      OUTBOX_POLL_MS: '100',
    });

    // subscribe (GP Y12345), submit a discharge summary naming the patient's NHS number, search, read, be notified
    const gp = await token('system/*.cruds', 'Y12345');
    const subscribed = await call(
      '/fhir/Subscription',
      {
        method: 'POST',
        headers: { 'content-type': FHIR_JSON, 'x-correlation-id': 'subscribe-1' },
        body: JSON.stringify({
          resourceType: 'Subscription',
          status: 'requested',
          reason: 'Tell the GP about new documents',
          criteria: 'DocumentReference?recipient=https://fhir.nhs.uk/Id/ods-organization-code|Y12345',
          channel: { type: 'rest-hook', endpoint: receiver.url('/gp'), payload: FHIR_JSON },
        }),
      },
      gp,
    );
    expect(subscribed.status).toBe(201);
    const subscriptionId = (await json(subscribed)).id as string;
    for (let i = 0; (await json(await call(`/fhir/Subscription/${subscriptionId}`, {}, gp))).status !== 'active'; i++) {
      expect(i).toBeLessThan(300);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const submitted = await call('/fhir/Bundle', {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify(
        aDischargeSummaryR4({
          nhsNumber: NHS_NUMBER,
          identifier: { system: 'https://tools.ietf.org/html/rfc4122', value: randomUUID() },
        }),
      ),
    });
    expect(submitted.status).toBe(201);
    const bundleId = submitted.headers.get('location')!.split('/').pop()!;

    const query = `patient.identifier=${encodeURIComponent(`${NHS_SYSTEM}|${NHS_NUMBER}`)}`;
    const found = await call(`/fhir/DocumentReference?${query}`);
    expect(found.status).toBe(200);
    const documentReferenceId = (await json(found)).entry[0].resource.id as string;
    const posted = await call('/fhir/DocumentReference/_search', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `patient.identifier=${NHS_NUMBER}`,
    });
    expect(posted.status).toBe(200);
    expect((await call(`/fhir/DocumentReference/${documentReferenceId}`)).status).toBe(200);
    expect((await call(`/fhir/Bundle/${bundleId}`)).status).toBe(200);
    await receiver.waitFor('/gp', (r) => r.some((request) => request.body.includes(bundleId)), 30_000);

    // refusals: a bad token, a malformed search
    expect((await call(`/fhir/DocumentReference?${query}`, {}, 'not-a-token')).status).toBe(401);
    const strict = { headers: { prefer: 'handling=strict' } };
    expect((await call(`/fhir/DocumentReference?${query}&unknown-param=1`, strict)).status).toBe(400);
    // the number as people write it: whatever the answer, it is not logged
    await (await call('/fhir/DocumentReference?patient.identifier=943-476-5919')).arrayBuffer();

    // hostile correlation ids: none may be echoed, logged or audited
    for (const value of [HOSTILE.long, HOSTILE.encodedCrlf, HOSTILE.json]) {
      const response = await call(`/fhir/DocumentReference?${query}`, { headers: { 'x-correlation-id': value } });
      expect(response.status).toBe(200);
      const requestId = response.headers.get('x-request-id')!;
      expect(response.headers.get('x-correlation-id')).toBe(requestId);
      hostileIds.push(requestId);
    }
    const bearer = await token();
    const unicode = await rawRequest(
      port,
      `GET /fhir/DocumentReference?${query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${bearer}\r\nX-Correlation-ID: ${HOSTILE.unicode}\r\n`,
    );
    expect(unicode).toMatch(/^HTTP\/1\.1 200/);
    expect(headerOf(unicode, 'x-correlation-id')).toBe(headerOf(unicode, 'x-request-id'));
    hostileIds.push(headerOf(unicode, 'x-request-id')!);
    // a bare CR inside a header value: Node's parser refuses the request before any route sees it
    const crlf = await rawRequest(
      port,
      `GET /fhir/metadata HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Correlation-ID: a\rX-Injected: yes\r\n`,
    );
    expect(crlf).toMatch(/^HTTP\/1\.1 400/);

    // the request lines are written once each response has gone: wait until the last one is there
    await new Promise((resolve) => setTimeout(resolve, 500));
  }, 240_000);

  afterAll(async () => {
    await server?.kill('SIGKILL');
    await receiver?.close();
    await dataDir?.remove();
  });

  it('prints only JSON lines', () => {
    const other = server
      .output()
      .split('\n')
      .filter((line) => line.trim() !== '' && !line.startsWith('{'));
    expect(other).toEqual([]);
    expect(lines().length).toBeGreaterThan(20);
  });

  it('never prints a bearer token, the NHS number (in any spacing) or the document text', () => {
    const output = server.output();
    expect(tokens.length).toBeGreaterThan(5);
    const secrets = [
      ...tokens,
      ...tokens.map((secret) => secret.split('.')[2]), // a signature alone
      'Bearer',
      'bearer',
      NHS_NUMBER,
      '943 476 5919',
      '943-476-5919',
      '943%20476%205919',
      ...DOCUMENT_TEXT,
    ];
    // the leaked values, not the whole output, on failure
    expect(secrets.filter((secret) => output.includes(secret))).toEqual([]);
  });

  it('writes one line per request with its ids, organisation, route template, method, status and latency', () => {
    const requests = lines().filter((line) => line.msg === 'request');
    // the flow's calls plus the readiness and Subscription polls
    expect(requests.length).toBeGreaterThanOrEqual(15);
    for (const line of requests) {
      expect(line).toEqual(
        expect.objectContaining({
          requestId: expect.any(String),
          correlationId: expect.any(String),
          method: expect.stringMatching(/^[A-Z]+$/),
          status: expect.any(Number),
          ms: expect.any(Number),
        }),
      );
      expect(line.route === null || (typeof line.route === 'string' && !line.route.includes('?'))).toBe(true);
      expect(line).not.toHaveProperty('url');
    }
    const routes = requests.map((line) => `${String(line.method)} ${String(line.route)} ${String(line.status)}`);
    expect(routes).toEqual(
      expect.arrayContaining([
        'POST /fhir/Subscription 201',
        'POST /fhir/Bundle 201',
        'GET /fhir/DocumentReference 200',
        'POST /fhir/DocumentReference/_search 200',
        'GET /fhir/DocumentReference/:id 200',
        'GET /fhir/Bundle/:id 200',
        'GET /fhir/DocumentReference 401',
        'GET /fhir/DocumentReference 400',
        'GET /health/ready 200',
      ]),
    );
    const submit = requests.find((line) => line.route === '/fhir/Bundle' && line.method === 'POST')!;
    expect(submit.organisation).toBe('RTG');
    const subscribe = requests.find((line) => line.route === '/fhir/Subscription' && line.method === 'POST')!;
    expect([subscribe.organisation, subscribe.correlationId]).toEqual(['Y12345', 'subscribe-1']);
    const refused = requests.find((line) => line.status === 401)!;
    expect(refused.organisation).toBeUndefined();
  });

  it('logs and audits a hostile correlation id as the request id, never raw', async () => {
    const raws = [
      HOSTILE.long,
      HOSTILE.encodedCrlf,
      HOSTILE.json,
      HOSTILE.unicode,
      'X-Injected',
      'forged',
      '\u00fcn\u00efc',
    ];
    const output = server.output();
    // the unicode value as the server would see it, decoded as Latin-1
    const leaked = [...raws, Buffer.from(HOSTILE.unicode, 'utf8').toString('latin1')].filter((raw) =>
      output.includes(raw),
    );
    expect(leaked).toEqual([]);
    const requests = lines().filter((line) => line.msg === 'request');
    expect(hostileIds).toHaveLength(4);
    for (const requestId of hostileIds) {
      const line = requests.find((candidate) => candidate.requestId === requestId);
      expect(line).toMatchObject({ correlationId: requestId, status: 200 });
    }

    const response = await call('/fhir/AuditEvent?_count=500', {}, await token('system/AuditEvent.rs admin'));
    expect(response.status).toBe(200);
    type Entity = { what?: { identifier?: { value?: string } }; detail?: { type: string; valueString: string }[] };
    const events: { entity: Entity[] }[] = ((await json(response)).entry ?? []).map(
      (entry: { resource: unknown }) => entry.resource,
    );
    const audited = JSON.stringify(events);
    expect(raws.filter((raw) => audited.includes(raw))).toEqual([]);
    for (const requestId of hostileIds) {
      const entity = events
        .flatMap((event) => event.entity)
        .find((candidate) => candidate.what?.identifier?.value === requestId);
      expect(entity?.detail).toEqual([{ type: 'X-Correlation-ID', valueString: requestId }]);
    }
  });
});
