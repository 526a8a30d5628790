import { randomUUID } from 'node:crypto';
import { aDischargeSummaryR4 } from '../fixtures/documents.js';
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
