import type { TestApp } from './test-app.js';
import type { WebhookReceiver } from './webhook-receiver.js';

const FHIR_JSON = 'application/fhir+json';

/**
 * Creates a classic R4 rest-hook Subscription (full payload: each event is a PUT of the DocumentReference under the
 * endpoint) to `receiver` at `path`, as organisation RTG unless told, and waits until it is active; returns its id.
 */
export async function subscribeUntilActive(
  t: TestApp,
  receiver: WebhookReceiver,
  path: string,
  criteria: string,
  reason = 'test subscription',
): Promise<string> {
  const created = await t.fetch('/fhir/Subscription', {
    method: 'POST',
    headers: { 'content-type': FHIR_JSON },
    body: JSON.stringify({
      resourceType: 'Subscription',
      status: 'requested',
      reason,
      criteria,
      channel: { type: 'rest-hook', endpoint: receiver.url(path), payload: FHIR_JSON },
    }),
  });
  const body = (await created.json()) as { id?: string };
  if (created.status !== 201 || !body.id) {
    throw new Error(`creating the Subscription answered ${created.status}: ${JSON.stringify(body)}`);
  }
  for (let i = 0; ; i++) {
    const current = (await (await t.fetch(`/fhir/Subscription/${body.id}`)).json()) as { status?: string };
    if (current.status === 'active') {
      return body.id;
    }
    if (i >= 100) {
      throw new Error(`Subscription/${body.id} is still ${current.status} after 5 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
