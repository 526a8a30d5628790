import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { json } from '../utils/http.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';
import { startWebhookReceiver, type WebhookReceiver } from '../utils/webhook-receiver.js';

const FHIR_JSON = 'application/fhir+json';
const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';
const PRACTICE = 'Y12345';
const DEAD_ENDPOINTS = 12;
const DOCUMENTS = 20;

/** A GP endpoint that accepts connections and never answers, until told to recover (then 200 to each request). */
interface HangingEndpoint {
  url: string;
  answered: number;
  recover(): void;
  close(): Promise<void>;
}

async function startHangingEndpoint(): Promise<HangingEndpoint> {
  const sockets = new Set<Socket>();
  let recovered = false;
  const endpoint = {
    url: '',
    answered: 0,
    recover: () => {
      recovered = true;
      // requests already hanging fail now (socket closed) rather than at the delivery timeout
      sockets.forEach((s) => s.destroy());
    },
    close: async () => {
      sockets.forEach((s) => s.destroy());
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    request.resume();
    if (recovered) {
      endpoint.answered += 1;
      response.writeHead(200).end();
    }
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return endpoint;
}

/**
 * Head-of-line blocking, measured before the fix: with 12 subscriptions whose endpoints accept the connection and never
 * answer, a 13th healthy subscriber received 0 of 20 notifications in the next 15 s. Deliveries to an endpoint not
 * yet heard from now go one at a time, a failing endpoint backs off as a whole, and deferrals hold no slot.
 */
describe('a few hanging GP endpoints', () => {
  let t: TestApp;
  let receiver: WebhookReceiver;
  const dead: HangingEndpoint[] = [];

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    for (let i = 0; i < DEAD_ENDPOINTS; i++) {
      dead.push(await startHangingEndpoint());
    }
    // the configured budgets are short so the test is; DELIVERY_CONCURRENCY keeps its default
    t = await startTestApp('sqlite', 'file', {
      SUBSCRIPTION_ENDPOINT_ALLOWLIST: '127.0.0.1,localhost',
      DELIVERY_TIMEOUT_MS: '12000',
      DELIVERY_BACKOFF_BASE_MS: '300',
      DELIVERY_FAILURES_BEFORE_ERROR: '1',
      OUTBOX_POLL_MS: '50',
    });
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
    await Promise.all(dead.map((d) => d.close()));
  });

  async function subscribe(endpoint: string): Promise<string> {
    const response = await t.fetch('/fhir/Subscription', {
      method: 'POST',
      org: PRACTICE,
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify({
        resourceType: 'Subscription',
        status: 'requested',
        reason: 'isolation test',
        criteria: `DocumentReference?recipient=${ODS}|${PRACTICE}`,
        channel: { type: 'rest-hook', endpoint, payload: FHIR_JSON },
      }),
    });
    expect(response.status).toBe(201);
    return (await json(response)).id as string;
  }

  async function statusOf(id: string): Promise<{ status: string; error?: string }> {
    return json(await t.fetch(`/fhir/Subscription/${id}`, { org: PRACTICE }));
  }

  it('do not delay a healthy subscriber, go to error, and get their backlog once they answer again', async () => {
    const deadIds: string[] = [];
    for (const endpoint of dead) {
      deadIds.push(await subscribe(endpoint.url));
    }
    const path = `/healthy-${randomUUID()}`;
    await subscribe(receiver.url(path));

    for (let i = 0; i < DOCUMENTS; i++) {
      const response = await t.fetch('/fhir/Bundle', {
        method: 'POST',
        headers: { 'content-type': FHIR_JSON },
        body: JSON.stringify(
          aDischargeSummaryR4({
            identifier: { system: 'https://tools.ietf.org/html/rfc4122', value: randomUUID() },
            gpOds: PRACTICE,
          }),
        ),
      });
      expect(response.status).toBe(201);
    }
    const submitted = Date.now();
    // the healthy endpoint hears of every document well before the hanging ones' first delivery timeout (12 s) ends,
    // even on a loaded machine; before the fix it heard of none in 15 s (with the default concurrency raised alone,
    // about 5 of the 20 came at once and the rest a timeout or more later: the jobs queue behind the hanging ones)
    const requests = await receiver.waitFor(path, (r) => r.length >= DOCUMENTS, 15_000);
    const lastArrival = Math.max(...requests.map((r) => r.receivedAt));
    expect(lastArrival - submitted).toBeLessThan(6_000);
    expect(new Set(requests.map((r) => r.headers['webhook-id'])).size).toBe(DOCUMENTS);

    // the hanging subscriptions go to error as configured, with the reason
    for (const id of deadIds) {
      for (let i = 0; (await statusOf(id)).status !== 'error'; i++) {
        expect(i).toBeLessThan(200);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    expect((await statusOf(deadIds[0])).error).toMatch(/failed/);
    // while backing off, an endpoint costs deferrals, not one request per event
    const attempts = (await json(await t.fetch(`/fhir/Subscription/${deadIds[0]}/$status`, { org: PRACTICE }))) as {
      entry: { resource: { parameter: { name: string }[] } }[];
    };
    const tried = attempts.entry[0].resource.parameter.filter((p) => p.name === 'delivery-attempt').length;
    expect(tried).toBeLessThan(DOCUMENTS);

    // the endpoints come back: each gets its whole backlog, and its subscription is active again
    dead.forEach((d) => d.recover());
    for (const [i, id] of deadIds.entries()) {
      for (let n = 0; (await statusOf(id)).status !== 'active' || dead[i].answered < DOCUMENTS; n++) {
        expect(n).toBeLessThan(600);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }, 90_000);
});
