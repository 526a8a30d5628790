import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { aDischargeSummaryR4 } from '../test/fixtures/documents.js';
import { distinctNhsNumbers } from './documents.js';
import type { Knobs } from './knobs.js';
import { clientPool, openLoop, percentile } from './load.js';
import { createStore, startSystem } from './system.js';

export interface NotifyResult {
  rate: number;
  documents: number;
  subscriptions: number;
  delivered: number;
  /** From sending the POST to the webhook arriving at the receiver. */
  submitToWebhook: { p50Ms: number; p99Ms: number; maxMs: number };
  /** The submission's own answer (201). */
  submit: { p50Ms: number; p99Ms: number };
}

const gpOds = (k: number) => `Y${String(10001 + k)}`;

/**
 * Submit-to-webhook latency at a steady arrival rate: one process with APP_ROLES=api,worker on SQLite + files,
 * `subscriptions` GP practices each subscribed (classic rest-hook with payload) to the documents addressed to
 * them, every document addressed to one of them, a receiver on loopback timing each arrival.
 */
export async function runNotify(knobs: Knobs, log: (line: string) => void): Promise<NotifyResult> {
  const arrivals = new Map<string, number>();
  const receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const at = performance.now();
      const body = Buffer.concat(chunks).toString('utf8');
      if (body) {
        const resource = JSON.parse(body) as { subject?: { identifier?: { value?: string } } };
        const nhs = resource.subject?.identifier?.value;
        if (nhs && !arrivals.has(nhs)) {
          arrivals.set(nhs, at);
        }
      }
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const hooks = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  const store = await createStore('sqlite', 'notify');
  const system = await startSystem({
    name: 'system-notify',
    store,
    env: { APP_ROLES: 'api,worker', SUBSCRIPTION_ENDPOINT_ALLOWLIST: '127.0.0.1' },
  }).catch(async (error: unknown) => {
    await store.drop();
    receiver.close();
    throw error;
  });
  const pool = clientPool(system.child.origin, 64);
  try {
    const origin = system.child.origin;
    for (let k = 0; k < knobs.notifySubscriptions; k += 1) {
      const ods = gpOds(k);
      const token = await system.token(ods, 'system/Subscription.cruds system/DocumentReference.rs');
      const created = await fetch(`${origin}/fhir/Subscription`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
        body: JSON.stringify({
          resourceType: 'Subscription',
          status: 'requested',
          reason: 'Documents addressed to our practice',
          criteria: `DocumentReference?recipient=https://fhir.nhs.uk/Id/ods-organization-code|${ods}`,
          channel: { type: 'rest-hook', endpoint: `${hooks}/${ods}`, payload: 'application/fhir+json' },
        }),
      });
      const subscription = (await created.json()) as { id?: string };
      if (created.status !== 201 || !subscription.id) {
        throw new Error(`creating a subscription answered ${created.status}: ${JSON.stringify(subscription)}`);
      }
      await waitForActive(origin, subscription.id, token);
    }
    const run = randomBytes(4).toString('hex');
    const warmUp = knobs.notifyRate;
    const count = knobs.notifyRate * knobs.notifySeconds;
    const patients = distinctNhsNumbers(30_000_000, warmUp + count);
    const rtg = `Bearer ${await system.token('RTG')}`;
    const body = (i: number) =>
      Buffer.from(
        JSON.stringify(
          aDischargeSummaryR4({
            identifier: { system: 'urn:bench:notify', value: `${run}-${i}` },
            nhsNumber: patients[i],
            gpOds: gpOds(i % knobs.notifySubscriptions),
          }),
        ),
      );
    const request = (i: number) => ({
      method: 'POST' as const,
      path: '/fhir/Bundle',
      headers: { authorization: rtg, 'content-type': 'application/fhir+json', prefer: 'return=minimal' },
      body: body(i),
    });
    // warm-up: a second of traffic whose notifications are not counted
    await openLoop({ pool, rate: knobs.notifyRate, count: warmUp, expected: 201, request, onSent: () => undefined });
    const sentAt = new Map<string, number>();
    const submitLatencies: number[] = [];
    log(`notify: ${count} documents at ${knobs.notifyRate}/s to ${knobs.notifySubscriptions} subscriptions`);
    await openLoop({
      pool,
      rate: knobs.notifyRate,
      count,
      expected: 201,
      request: (i) => request(warmUp + i),
      onSent: (i, sent, answered) => {
        sentAt.set(patients[warmUp + i], sent);
        submitLatencies.push(answered - sent);
      },
    });
    const deadline = Date.now() + 60_000;
    while ([...sentAt.keys()].some((nhs) => !arrivals.has(nhs)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const latencies = [...sentAt.entries()]
      .filter(([nhs]) => arrivals.has(nhs))
      .map(([nhs, sent]) => arrivals.get(nhs)! - sent)
      .sort((a, b) => a - b);
    submitLatencies.sort((a, b) => a - b);
    return {
      rate: knobs.notifyRate,
      documents: count,
      subscriptions: knobs.notifySubscriptions,
      delivered: latencies.length,
      submitToWebhook: {
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        maxMs: latencies[latencies.length - 1],
      },
      submit: { p50Ms: percentile(submitLatencies, 50), p99Ms: percentile(submitLatencies, 99) },
    };
  } catch (error) {
    throw new Error(`notify failed: ${String(error)}\nserver output:\n${system.child.output()}`);
  } finally {
    await pool.close();
    await system.stop();
    await store.drop();
    receiver.closeAllConnections();
    receiver.close();
  }
}

async function waitForActive(origin: string, id: string, token: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const response = await fetch(`${origin}/fhir/Subscription/${id}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const resource = (await response.json()) as { status?: string };
    if (resource.status === 'active') {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(`Subscription/${id} stayed ${resource.status}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
