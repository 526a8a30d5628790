import { randomUUID } from 'node:crypto';
import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { aProvideBundle, PROVIDE_ENTRY } from '../fixtures/mhd.js';
import { aNhsNumber } from '../fixtures/nhs-number.js';
import { json } from '../utils/http.js';
import { BACKENDS, startTestApp, type TestApp } from '../utils/test-app.js';
import { startWebhookReceiver, type WebhookReceiver } from '../utils/webhook-receiver.js';

const FHIR_JSON = 'application/fhir+json';
const JSON_PATCH = 'application/json-patch+json';
const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';
const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
const ITK = 'https://fhir.nhs.uk/STU3/CodeSystem/ITK-ResponseCodes-1';
const INFORMATION_RECIPIENT = 'https://fhir.nhs.uk/STU3/StructureDefinition/Extension-ITK-InformationRecipient-1';
const HOSPITAL = 'RTG';
const GP = 'Y11111';
const OTHER_PRACTICE = 'Y22222';

interface Task {
  id: string;
  status: string;
  businessStatus: { coding: { code: string }[] };
  statusReason?: { coding?: { code: string }[]; text?: string };
  focus: { reference: string };
  for?: { identifier: { value: string } };
  owner: { identifier: { value: string } };
  requester: { identifier: { value: string } };
  output: { type: { text: string }; valueDateTime: string }[];
  meta: { versionId: string };
}

const step = (task: Task) => task.businessStatus.coding[0].code;

const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';

interface Entry {
  fullUrl?: string;
  resource: {
    resourceType: string;
    parameter?: {
      name: string;
      valueCanonical?: string;
      part?: { name: string; valueReference?: { reference: string } }[];
    }[];
  } & Partial<Task>;
}

/** The notification Bundles a receiver got at `path` that report events (not handshakes or heartbeats). */
function eventNotifications(receiver: WebhookReceiver, path: string): Entry[][] {
  return receiver
    .at(path)
    .map((r) => JSON.parse(r.body) as { entry: Entry[] })
    .filter((bundle) =>
      bundle.entry[0].resource.parameter?.some(
        (p) => p.name === 'type' && JSON.stringify(p).includes('event-notification'),
      ),
    )
    .map((bundle) => bundle.entry);
}

/** The Tasks the event notifications at `path` carried (full-resource payloads). */
function notifiedTasks(receiver: WebhookReceiver, path: string): Task[] {
  return eventNotifications(receiver, path).flatMap((entries) =>
    entries.filter((e) => e.resource.resourceType === 'Task').map((e) => e.resource as unknown as Task),
  );
}

/** A subscription to the delivery-status topic (full-resource), as `org`; the response. */
function subscribeToDeliveryStatus(
  t: TestApp,
  receiver: WebhookReceiver,
  org: string,
  path: string,
  filters: string[],
  scope?: string,
): Promise<Response> {
  return t.fetch('/fhir/Subscription', {
    method: 'POST',
    org,
    ...(scope ? { scope } : {}),
    headers: { 'content-type': FHIR_JSON },
    body: JSON.stringify({
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'How our documents fared',
      criteria: `${t.fhirUrl}/SubscriptionTopic/delivery-status`,
      _criteria: {
        extension: filters.map((valueString) => ({ url: `${BACKPORT}/backport-filter-criteria`, valueString })),
      },
      channel: {
        type: 'rest-hook',
        endpoint: receiver.url(path),
        payload: FHIR_JSON,
        _payload: { extension: [{ url: `${BACKPORT}/backport-payload-content`, valueCode: 'full-resource' }] },
      },
    }),
  });
}

/** Waits until the topic-based subscription's handshake has landed. */
async function untilActive(t: TestApp, org: string, id: string): Promise<void> {
  for (let i = 0; ; i++) {
    const current = (await json(await t.fetch(`/fhir/Subscription/${id}`, { org }))) as { status: string };
    if (current.status === 'active') {
      return;
    }
    if (i > 300) {
      throw new Error(`Subscription/${id} is still ${current.status}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** An eDischarge summary for the registered GP (GP) that also names OTHER_PRACTICE as an ITK information recipient. */
function aSummaryForTwoPractices(
  nhsNumber: string,
  relatesTo?: { code: string; targetReference: { reference: string } }[],
) {
  const document = aDischargeSummaryR4({
    identifier: { system: 'https://tools.ietf.org/html/rfc4122', value: randomUUID() },
    nhsNumber,
    gpOds: GP,
    ...(relatesTo ? { relatesTo } : {}),
  }) as unknown as { entry: { resource: { extension?: unknown[] } }[] };
  const composition = document.entry[0].resource;
  composition.extension = [
    ...(composition.extension ?? []),
    { url: INFORMATION_RECIPIENT, valueReference: { identifier: { system: ODS, value: OTHER_PRACTICE } } },
  ];
  return document;
}

describe.each(BACKENDS)('delivery tracking with Tasks on %s with %s blobs', (database, blobs) => {
  let t: TestApp;
  let receiver: WebhookReceiver;
  const hooks: Record<string, string> = {};

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    t = await startTestApp(database, blobs, {
      SUBSCRIPTION_ENDPOINT_ALLOWLIST: '127.0.0.1,localhost',
      OUTBOX_POLL_MS: '50',
    });
    for (const practice of [GP, OTHER_PRACTICE]) {
      hooks[practice] = `/inbox-${practice}-${randomUUID()}`;
      const created = await t.fetch('/fhir/Subscription', {
        method: 'POST',
        org: practice,
        headers: { 'content-type': FHIR_JSON },
        body: JSON.stringify({
          resourceType: 'Subscription',
          status: 'requested',
          reason: 'Documents for our practice',
          criteria: `DocumentReference?recipient=${ODS}|${practice}`,
          channel: { type: 'rest-hook', endpoint: receiver.url(hooks[practice]), payload: FHIR_JSON },
        }),
      });
      expect(created.status).toBe(201);
    }
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  async function submit(body: unknown): Promise<{ bundleId: string; documentReferenceId: string }> {
    const response = await t.fetch('/fhir/Bundle', {
      method: 'POST',
      org: HOSPITAL,
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(201);
    const index = /<[^>]*\/DocumentReference\/([^>]+)>/.exec(response.headers.get('link') ?? '')![1];
    return { bundleId: response.headers.get('location')!.split('/').pop()!, documentReferenceId: index };
  }

  async function tasks(org: string, query: string): Promise<Task[]> {
    const response = await t.fetch(`/fhir/Task?${query}`, { org });
    expect(response.status).toBe(200);
    const bundle = await json(response);
    return (bundle.entry ?? []).map((e: { resource: Task }) => e.resource);
  }

  async function taskOf(org: string, documentReferenceId: string): Promise<Task> {
    const [task] = await tasks(org, `owner=${ODS}|${org}&focus=DocumentReference/${documentReferenceId}`);
    expect(task).toBeDefined();
    return task;
  }

  async function waitForStep(org: string, documentReferenceId: string, wanted: string): Promise<Task> {
    for (let i = 0; ; i++) {
      const task = await taskOf(org, documentReferenceId);
      if (step(task) === wanted) {
        return task;
      }
      if (i > 200) {
        throw new Error(`Task of DocumentReference/${documentReferenceId} for ${org} stayed ${step(task)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  function answer(org: string, task: Task, status: string, reason: object) {
    return t.fetch(`/fhir/Task/${task.id}`, {
      method: 'PATCH',
      org,
      headers: { 'content-type': JSON_PATCH },
      body: JSON.stringify([
        { op: 'replace', path: '/status', value: status },
        { op: 'add', path: '/statusReason', value: reason },
      ]),
    });
  }

  it('tracks one Task per recipient from stored to notified, retrieved and the answer, visible to both ends', async () => {
    const nhsNumber = aNhsNumber();
    const { bundleId, documentReferenceId } = await submit(aSummaryForTwoPractices(nhsNumber));

    // created with the document, one per practice, by the sender for the patient
    const sent = await tasks(HOSPITAL, `requester=${ODS}|${HOSPITAL}&focus=DocumentReference/${documentReferenceId}`);
    expect(sent.map((task) => task.owner.identifier.value).sort()).toEqual([GP, OTHER_PRACTICE]);
    for (const task of sent) {
      expect(task).toMatchObject({
        requester: { identifier: { system: ODS, value: HOSPITAL } },
        for: { identifier: { system: NHS, value: nhsNumber } },
        focus: { reference: `${t.fhirUrl}/DocumentReference/${documentReferenceId}` },
      });
    }

    // paged like any search: one per page, then the next link
    const query = `requester=${ODS}|${HOSPITAL}&focus=DocumentReference/${documentReferenceId}&_count=1`;
    const first = await json(await t.fetch(`/fhir/Task?${query}`, { org: HOSPITAL }));
    expect(first.entry).toHaveLength(1);
    const next = first.link.find((l: { relation: string }) => l.relation === 'next').url as string;
    const second = await json(await t.fetch(next, { org: HOSPITAL }));
    expect(second.entry).toHaveLength(1);
    expect(second.entry[0].resource.id).not.toBe(first.entry[0].resource.id);
    expect(second.link.some((l: { relation: string }) => l.relation === 'next')).toBe(false);

    // each practice is notified (its webhook answered 2xx): requested -> received
    const notified = await waitForStep(GP, documentReferenceId, 'notified');
    expect(notified.status).toBe('received');
    await waitForStep(OTHER_PRACTICE, documentReferenceId, 'notified');
    expect(receiver.at(hooks[GP]).some((r) => r.url.endsWith(`/DocumentReference/${documentReferenceId}`))).toBe(true);

    // the GP's inbox lists it; the other practice's inbox does not list the GP's Task
    const inbox = await tasks(
      GP,
      `owner=${ODS}|${GP}&status=requested,received&patient.identifier=${NHS}|${nhsNumber}`,
    );
    expect(inbox.map((task) => task.id)).toEqual([notified.id]);

    // the GP reads the document: in-progress; then accepts it with 30001
    expect((await t.fetch(`/fhir/Bundle/${bundleId}`, { org: GP })).status).toBe(200);
    const retrieved = await waitForStep(GP, documentReferenceId, 'retrieved');
    expect(retrieved.status).toBe('in-progress');
    const accepted = await answer(GP, retrieved, 'completed', { coding: [{ system: ITK, code: '30001' }] });
    expect(accepted.status).toBe(200);
    const acceptedTask = (await json(accepted)) as Task;
    expect(acceptedTask).toMatchObject({ status: 'completed', statusReason: { coding: [{ code: '30001' }] } });
    expect(acceptedTask.output.map((o) => o.type.text)).toEqual(['stored', 'notified', 'retrieved', 'accepted']);

    // the other practice does not know the patient: rejected with 30002
    const other = await taskOf(OTHER_PRACTICE, documentReferenceId);
    const rejected = await answer(OTHER_PRACTICE, other, 'rejected', {
      coding: [{ system: ITK, code: '30002' }],
      text: 'Not registered here',
    });
    expect(rejected.status).toBe(200);
    expect(await json(rejected)).toMatchObject({
      status: 'rejected',
      businessStatus: { coding: [{ code: 'rejected' }] },
    });

    // the hospital's list of summaries that did not land
    const bounced = await tasks(
      HOSPITAL,
      `requester=${ODS}|${HOSPITAL}&business-status=rejected&patient.identifier=${NHS}|${nhsNumber}`,
    );
    expect(bounced.map((task) => [task.owner.identifier.value, task.statusReason?.coding?.[0].code])).toEqual([
      [OTHER_PRACTICE, '30002'],
    ]);
    // an inbox of things still to look at no longer holds either
    expect(
      await tasks(GP, `owner=${ODS}|${GP}&status=requested,received&patient.identifier=${NHS}|${nhsNumber}`),
    ).toEqual([]);

    // an answer does not change, and nobody else answers
    expect((await answer(GP, acceptedTask, 'rejected', { text: 'changed my mind' })).status).toBe(409);
    const fresh = await submit(aSummaryForTwoPractices(aNhsNumber()));
    const othersTask = await taskOf(OTHER_PRACTICE, fresh.documentReferenceId);
    expect((await answer(GP, othersTask, 'completed', { coding: [{ system: ITK, code: '30001' }] })).status).toBe(404);
    expect((await answer(HOSPITAL, othersTask, 'completed', { coding: [{ system: ITK, code: '30001' }] })).status).toBe(
      403,
    );
    expect((await t.fetch(`/fhir/Task/${othersTask.id}`, { org: GP })).status).toBe(404);
    // a rejection needs a reason, and a code must fit the answer
    expect((await answer(OTHER_PRACTICE, othersTask, 'rejected', {})).status).toBe(422);
    expect(
      (await answer(OTHER_PRACTICE, othersTask, 'completed', { coding: [{ system: ITK, code: '30002' }] })).status,
    ).toBe(422);
  });

  it('closes the Tasks of a superseded document, and both practices hear of the recall', async () => {
    const nhsNumber = aNhsNumber();
    const first = await submit(aSummaryForTwoPractices(nhsNumber));
    await waitForStep(GP, first.documentReferenceId, 'notified');
    await waitForStep(OTHER_PRACTICE, first.documentReferenceId, 'notified');

    const second = await submit(
      aSummaryForTwoPractices(nhsNumber, [
        { code: 'replaces', targetReference: { reference: `DocumentReference/${first.documentReferenceId}` } },
      ]),
    );
    for (const practice of [GP, OTHER_PRACTICE]) {
      const closed = await taskOf(practice, first.documentReferenceId);
      expect(closed).toMatchObject({ status: 'cancelled', businessStatus: { coding: [{ code: 'closed' }] } });
      expect(closed.statusReason?.text).toMatch(/superseded/);
      // the recall: the old DocumentReference, now superseded, reaches each practice
      const recalls = await receiver.waitFor(hooks[practice], (requests) =>
        requests.some(
          (r) =>
            r.url.endsWith(`/DocumentReference/${first.documentReferenceId}`) &&
            JSON.parse(r.body).status === 'superseded',
        ),
      );
      expect(recalls.length).toBeGreaterThan(0);
      expect(step(await taskOf(practice, second.documentReferenceId))).toMatch(/^(stored|notified)$/);
    }
    // the answer window is over for the recalled one
    const closedTask = await taskOf(GP, first.documentReferenceId);
    expect((await answer(GP, closedTask, 'completed', { coding: [{ system: ITK, code: '30001' }] })).status).toBe(409);
  });

  it('tells the sender, and only the sender, of a rejection on its delivery-status subscription, the Task in full', async () => {
    const hospitalHook = `/delivery-status-${randomUUID()}`;
    const subscribed = await subscribeToDeliveryStatus(t, receiver, HOSPITAL, hospitalHook, [
      'Task?business-status=rejected',
    ]);
    expect(subscribed.status).toBe(201);
    const subscription = (await json(subscribed)) as { id: string };
    // the GP listens on the same topic without filters: it sent nothing, so it hears nothing of RTG's deliveries
    const gpHook = `/gp-delivery-status-${randomUUID()}`;
    const gpSubscribed = await subscribeToDeliveryStatus(t, receiver, GP, gpHook, []);
    expect(gpSubscribed.status).toBe(201);
    await untilActive(t, HOSPITAL, subscription.id);
    await untilActive(t, GP, ((await json(gpSubscribed)) as { id: string }).id);

    const nhsNumber = aNhsNumber();
    const { bundleId, documentReferenceId } = await submit(aSummaryForTwoPractices(nhsNumber));
    // one practice retrieves and accepts, the other does not know the patient
    expect((await t.fetch(`/fhir/Bundle/${bundleId}`, { org: GP })).status).toBe(200);
    const retrieved = await waitForStep(GP, documentReferenceId, 'retrieved');
    expect((await answer(GP, retrieved, 'completed', { coding: [{ system: ITK, code: '30001' }] })).status).toBe(200);
    const other = await taskOf(OTHER_PRACTICE, documentReferenceId);
    const rejected = await answer(OTHER_PRACTICE, other, 'rejected', {
      coding: [{ system: ITK, code: '30002' }],
      text: 'Not registered here',
    });
    expect(rejected.status).toBe(200);

    await receiver.waitFor(hospitalHook, () =>
      notifiedTasks(receiver, hospitalHook).some((task) => task.id === other.id),
    );
    const [entries] = eventNotifications(receiver, hospitalHook).filter((e) =>
      e.some((x) => x.resource.id === other.id),
    );
    // the SubscriptionStatus names the topic and the Task as the event's focus
    const status = entries[0].resource;
    expect(status.parameter).toEqual(
      expect.arrayContaining([{ name: 'topic', valueCanonical: `${t.fhirUrl}/SubscriptionTopic/delivery-status` }]),
    );
    const event = status.parameter!.find((p) => p.name === 'notification-event')!;
    expect(event.part).toEqual(
      expect.arrayContaining([{ name: 'focus', valueReference: { reference: `${t.fhirUrl}/Task/${other.id}` } }]),
    );
    expect(entries[1].fullUrl).toBe(`${t.fhirUrl}/Task/${other.id}`);
    expect(entries[1].resource).toMatchObject({
      resourceType: 'Task',
      status: 'rejected',
      businessStatus: { coding: [{ code: 'rejected' }] },
      statusReason: { coding: [{ system: ITK, code: '30002' }], text: 'Not registered here' },
      owner: { identifier: { value: OTHER_PRACTICE } },
      requester: { identifier: { value: HOSPITAL } },
      focus: { reference: `${t.fhirUrl}/DocumentReference/${documentReferenceId}` },
    });
    // the filter held: the GP's acceptance is not news on this subscription
    expect(notifiedTasks(receiver, hospitalHook).filter((task) => task.id === retrieved.id)).toEqual([]);
    // nobody but the sender hears: the GP's topic subscription, and the practices' document subscriptions, got no Task
    expect(eventNotifications(receiver, gpHook)).toEqual([]);
    for (const practice of [GP, OTHER_PRACTICE]) {
      expect(receiver.at(hooks[practice]).some((r) => r.url.includes('/Task/') || r.body.includes('"Task"'))).toBe(
        false,
      );
    }
    // $events replays it to the sender
    const replay = await json(await t.fetch(`/fhir/Subscription/${subscription.id}/$events`, { org: HOSPITAL }));
    expect(JSON.stringify(replay)).toContain(`/Task/${other.id}`);
  });

  it("refuses a practice's subscription to another custodian's delivery-status, and one without Task scopes", async () => {
    const refused = await subscribeToDeliveryStatus(t, receiver, GP, `/nope-${randomUUID()}`, [
      `Task?requester=${ODS}|${HOSPITAL}`,
    ]);
    expect(refused.status).toBe(403);
    expect(JSON.stringify(await json(refused))).toMatch(/Only the sender/);
    const noTaskScope = await subscribeToDeliveryStatus(
      t,
      receiver,
      HOSPITAL,
      `/nope-${randomUUID()}`,
      ['Task?business-status=rejected'],
      'system/Subscription.cruds system/DocumentReference.rs',
    );
    expect(noTaskScope.status).toBe(403);
    const unknownFilter = await subscribeToDeliveryStatus(t, receiver, HOSPITAL, `/nope-${randomUUID()}`, [
      'Task?colour=red',
    ]);
    expect(unknownFilter.status).toBe(422);
    // the topic is public, and names what it can filter by
    const topic = await json(await fetch(`${t.fhirUrl}/SubscriptionTopic/delivery-status`));
    expect(topic.canFilterBy.map((f: { filterParameter: string }) => f.filterParameter)).toEqual(
      expect.arrayContaining(['business-status', 'recipient', 'focus']),
    );
  });

  it("counts a recipient's read of a document's Binary as retrieved, as a Bundle read is; the sender's own read is not", async () => {
    // ITI-65: a scanned PDF letter (a Binary) and its DocumentReference, addressed to the GP
    const provided = await t.fetch('/fhir', {
      method: 'POST',
      org: HOSPITAL,
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify(aProvideBundle({ nhsNumber: aNhsNumber(), recipientOds: GP, custodianOds: HOSPITAL })),
    });
    expect(provided.status).toBe(200);
    const locations = ((await json(provided)) as { entry: { response: { location: string } }[] }).entry.map(
      (e) => e.response.location,
    );
    const binaryId = locations[PROVIDE_ENTRY.pdf].split('/')[1];
    const pdfReferenceId = locations[PROVIDE_ENTRY.pdfReference].split('/')[1];
    expect(step(await taskOf(GP, pdfReferenceId))).toMatch(/^(stored|notified)$/);

    // the sender reading its own Binary is no delivery
    expect((await t.fetch(`/fhir/Binary/${binaryId}`, { org: HOSPITAL })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(step(await taskOf(GP, pdfReferenceId))).toMatch(/^(stored|notified)$/);

    const read = await t.fetch(`/fhir/Binary/${binaryId}`, { org: GP, headers: { accept: 'application/pdf' } });
    expect(read.status).toBe(200);
    await read.arrayBuffer();
    const retrieved = await waitForStep(GP, pdfReferenceId, 'retrieved');
    expect(retrieved.status).toBe('in-progress');
  });

  it('refuses a Task search that names neither end as the caller, or an unknown parameter', async () => {
    expect((await t.fetch(`/fhir/Task?owner=${ODS}|${GP}`, { org: OTHER_PRACTICE })).status).toBe(400);
    expect((await t.fetch(`/fhir/Task?owner=${ODS}|${GP}&colour=red`, { org: GP })).status).toBe(400);
    expect((await t.fetch(`/fhir/Task?owner=${ODS}|${GP}&_lastUpdated=soon`, { org: GP })).status).toBe(400);
    expect(
      (await t.fetch('/fhir/Task', { method: 'POST', org: GP, headers: { 'content-type': FHIR_JSON }, body: '{}' }))
        .status,
    ).toBe(405);
  });
});

describe.each(BACKENDS)('overdue deliveries on %s with %s blobs', (database, blobs) => {
  let t: TestApp;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    // a deadline of seconds, so that the worker's sweep is seen doing its work
    t = await startTestApp(database, blobs, {
      SUBSCRIPTION_ENDPOINT_ALLOWLIST: '127.0.0.1,localhost',
      OUTBOX_POLL_MS: '50',
      DELIVERY_OVERDUE_AFTER: '2s',
    });
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  it('makes a document nobody retrieved in time overdue, tells the sender, and a later read still moves it on', async () => {
    const hook = `/overdue-${randomUUID()}`;
    const subscribed = await subscribeToDeliveryStatus(t, receiver, HOSPITAL, hook, ['Task?business-status=overdue']);
    expect(subscribed.status).toBe(201);
    await untilActive(t, HOSPITAL, ((await json(subscribed)) as { id: string }).id);

    const submitted = await t.fetch('/fhir/Bundle', {
      method: 'POST',
      org: HOSPITAL,
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify(aSummaryForTwoPractices(aNhsNumber())),
    });
    expect(submitted.status).toBe(201);
    const bundleId = submitted.headers.get('location')!.split('/').pop()!;
    const documentReferenceId = /<[^>]*\/DocumentReference\/([^>]+)>/.exec(submitted.headers.get('link') ?? '')![1];

    // both Tasks reach the sender as overdue (seconds here; DELIVERY_OVERDUE_AFTER, 3 days by default)
    await receiver.waitFor(
      hook,
      () => new Set(notifiedTasks(receiver, hook).map((task) => task.owner.identifier.value)).size === 2,
      30_000,
    );
    for (const task of notifiedTasks(receiver, hook)) {
      expect(task).toMatchObject({
        status: 'requested',
        businessStatus: { coding: [{ code: 'overdue' }] },
        focus: { reference: `${t.fhirUrl}/DocumentReference/${documentReferenceId}` },
      });
    }
    const overdue = await json(
      await t.fetch(
        `/fhir/Task?requester=${ODS}|${HOSPITAL}&business-status=overdue&focus=DocumentReference/${documentReferenceId}`,
        {
          org: HOSPITAL,
        },
      ),
    );
    expect(overdue.entry).toHaveLength(2);
    // still in the practice's inbox
    const inbox = await json(
      await t.fetch(
        `/fhir/Task?owner=${ODS}|${GP}&status=requested,received&focus=DocumentReference/${documentReferenceId}`,
        {
          org: GP,
        },
      ),
    );
    expect(inbox.entry).toHaveLength(1);

    // late is not never: the GP reads it after all
    expect((await t.fetch(`/fhir/Bundle/${bundleId}`, { org: GP })).status).toBe(200);
    let late: Task | undefined;
    for (let i = 0; i < 200 && (!late || step(late) !== 'retrieved'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const page = await json(
        await t.fetch(`/fhir/Task?owner=${ODS}|${GP}&focus=DocumentReference/${documentReferenceId}`, { org: GP }),
      );
      late = page.entry[0].resource as Task;
    }
    if (!late) {
      throw new Error('no Task');
    }
    expect(step(late)).toBe('retrieved');
    expect(late.output.map((o) => o.type.text)).toEqual(['stored', 'overdue', 'retrieved']);
    // and overdue is reported once per Task
    expect(notifiedTasks(receiver, hook)).toHaveLength(2);
  });
});
