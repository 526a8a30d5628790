import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { aNhsNumber } from '../fixtures/nhs-number.js';
import { json } from '../utils/http.js';
import { BACKENDS, startTestApp, type TestApp } from '../utils/test-app.js';
import { startWebhookReceiver, type WebhookReceiver } from '../utils/webhook-receiver.js';

const FHIR_JSON = 'application/fhir+json';
const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';
const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
/** An ordinary practice: it may subscribe to what is addressed to it or what it holds. */
const PRACTICE = 'Y77777';
/** An organisation the operator allows patient-wide criteria (SUBSCRIPTION_PATIENT_WIDE_ORGS). */
const PATIENT_WIDE = 'Y88888';
const SUBSCRIPTION_ONLY = 'system/Subscription.cruds';

function aClassicSubscription(endpoint: string, criteria: string) {
  return {
    resourceType: 'Subscription',
    status: 'requested',
    reason: 'disclosure policy',
    criteria,
    channel: { type: 'rest-hook', endpoint, payload: FHIR_JSON },
  };
}

function aBackportSubscription(t: TestApp, endpoint: string, filter: string, content: 'id-only' | 'full-resource') {
  return {
    resourceType: 'Subscription',
    status: 'requested',
    reason: 'disclosure policy',
    criteria: `${t.fhirUrl}/SubscriptionTopic/document-available`,
    _criteria: { extension: [{ url: `${BACKPORT}/backport-filter-criteria`, valueString: filter }] },
    channel: {
      type: 'rest-hook',
      endpoint,
      payload: FHIR_JSON,
      _payload: { extension: [{ url: `${BACKPORT}/backport-payload-content`, valueCode: content }] },
    },
  };
}

describe.each(BACKENDS)('subscription disclosure on %s with %s blobs', (database, blobStore) => {
  let t: TestApp;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    t = await startTestApp(database, blobStore, {
      SUBSCRIPTION_ENDPOINT_ALLOWLIST: '127.0.0.1,localhost',
      SUBSCRIPTION_PATIENT_WIDE_ORGS: PATIENT_WIDE,
      DELIVERY_BACKOFF_BASE_MS: '50',
      OUTBOX_POLL_MS: '100',
    });
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  const subscribe = (body: unknown, org: string, scope?: string) =>
    t.fetch('/fhir/Subscription', {
      method: 'POST',
      org,
      scope,
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify(body),
    });

  async function created(body: unknown, org: string): Promise<string> {
    const response = await subscribe(body, org);
    const resource = await json(response);
    expect([response.status, resource.resourceType]).toEqual([201, 'Subscription']);
    return resource.id as string;
  }

  async function waitForStatus(id: string, org: string, status: string): Promise<any> {
    const deadline = Date.now() + 10_000;
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

  /** Submits a discharge summary as its custodian; returns the new DocumentReference's id. */
  async function submit(nhsNumber: string, options: { gpOds?: string; custodianOds?: string } = {}): Promise<string> {
    const custodian = options.custodianOds ?? 'RTG';
    const identifier = { system: 'https://tools.ietf.org/html/rfc4122', value: randomUUID() };
    const response = await t.fetch('/fhir/Bundle', {
      method: 'POST',
      org: custodian,
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify(
        aDischargeSummaryR4({ identifier, nhsNumber, custodianOds: custodian, gpOds: options.gpOds ?? 'Y12345' }),
      ),
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

  async function auditEventsFor(nhsNumber: string): Promise<any[]> {
    const response = await t.fetch(`/fhir/AuditEvent?patient.identifier=${encodeURIComponent(`${NHS}|${nhsNumber}`)}`, {
      scope: 'system/AuditEvent.rs admin',
    });
    expect(response.status).toBe(200);
    return ((await json(response)).entry ?? []).map((e: { resource: unknown }) => e.resource);
  }
  const subtypes = (event: any): string[] => event.subtype.map((c: { code: string }) => c.code);
  const organisations = (event: any): string[] =>
    event.agent.filter((a: any) => a.who?.identifier?.system === ODS).map((a: any) => a.who.identifier.value);
  const references = (event: any): string[] => event.entity.map((e: any) => e.what?.reference).filter(Boolean);
  const patients = (event: any): string[] =>
    event.entity.filter((e: any) => e.what?.identifier?.system === NHS).map((e: any) => e.what.identifier.value);

  /** Changes a stored subscription behind the API's back, as an old row or an operator would have left it. */
  const setColumn = (id: string, column: 'match_query' | 'granted_scopes', value: string) => {
    const [first, second] = database === 'postgres' ? ['$1', '$2'] : ['?', '?'];
    return t.app
      .get(DataSource)
      .query(`UPDATE subscription SET ${column} = ${first} WHERE id = ${second}`, [value, id]);
  };

  it('refuses to create or change a Subscription for a token without DocumentReference read and search (403)', async () => {
    const criteria = `DocumentReference?recipient=${ODS}|${PRACTICE}`;
    for (const scope of [SUBSCRIPTION_ONLY, `${SUBSCRIPTION_ONLY} system/DocumentReference.r`]) {
      const response = await subscribe(aClassicSubscription(receiver.url(), criteria), PRACTICE, scope);
      const outcome = await json(response);
      expect([scope, response.status, outcome.resourceType]).toEqual([scope, 403, 'OperationOutcome']);
      expect(outcome.issue[0].code).toBe('forbidden');
      expect(outcome.issue[0].diagnostics).toContain('system/DocumentReference.rs');
      expect(response.headers.get('www-authenticate')).toContain('scope="system/DocumentReference.rs"');
    }
    const id = await created(aClassicSubscription(receiver.url(), criteria), PRACTICE);
    const put = await t.fetch(`/fhir/Subscription/${id}`, {
      method: 'PUT',
      org: PRACTICE,
      scope: SUBSCRIPTION_ONLY,
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify({ ...aClassicSubscription(receiver.url(), criteria), id }),
    });
    expect(put.status).toBe(403);
    expect((await json(put)).issue[0].diagnostics).toContain('system/DocumentReference.rs');
    const events = await t.fetch(`/fhir/Subscription/${id}/$events`, { org: PRACTICE, scope: SUBSCRIPTION_ONLY });
    expect(events.status).toBe(403);
    expect((await json(events)).issue[0].diagnostics).toContain('system/DocumentReference.rs');
    // reading and deleting its own Subscription needs no access to documents
    expect((await t.fetch(`/fhir/Subscription/${id}`, { org: PRACTICE, scope: SUBSCRIPTION_ONLY })).status).toBe(200);
    const deleted = await t.fetch(`/fhir/Subscription/${id}`, {
      method: 'DELETE',
      org: PRACTICE,
      scope: SUBSCRIPTION_ONLY,
    });
    expect(deleted.status).toBe(204);
  });

  it.each([
    ['every current document', 'DocumentReference?status=current'],
    ['one patient everywhere', `DocumentReference?patient.identifier=${NHS}|9434765919`],
    ["another organisation's documents", `DocumentReference?custodian.identifier=${ODS}|RTG`],
    ['its own code or another', `DocumentReference?custodian.identifier=${ODS}|${PRACTICE},${ODS}|RTG`],
    ['everything but its own', `DocumentReference?custodian.identifier:not=${ODS}|${PRACTICE}`],
  ])('refuses criteria reaching beyond what the organisation may see: %s (403)', async (_label, criteria) => {
    for (const body of [
      aClassicSubscription(receiver.url(), criteria),
      aBackportSubscription(t, receiver.url(), criteria, 'id-only'),
    ]) {
      const response = await subscribe(body, PRACTICE);
      const outcome = await json(response);
      expect([criteria, response.status]).toEqual([criteria, 403]);
      expect(outcome.issue[0].code).toBe('forbidden');
      expect(outcome.issue[0].diagnostics).toMatch(/addressed to it.*recipient=.*custodian\.identifier=/);
    }
  });

  it('accepts criteria limited to documents addressed to or held by the organisation, and any criteria from a patient-wide organisation', async () => {
    const accepted: [string, string][] = [
      [PRACTICE, `DocumentReference?recipient=${ODS}|${PRACTICE}`],
      [PRACTICE, `DocumentReference?custodian.identifier=${PRACTICE}&status=current`],
      [PRACTICE, `DocumentReference?patient.identifier=${NHS}|9434765919&custodian.identifier=${ODS}|${PRACTICE}`],
      [PATIENT_WIDE, 'DocumentReference?status=current'],
    ];
    for (const [org, criteria] of accepted) {
      const response = await subscribe(aClassicSubscription(receiver.url(), criteria), org);
      expect([org, criteria, response.status]).toEqual([org, criteria, 201]);
      // these would match the other tests' documents
      const { id } = await json(response);
      expect((await t.fetch(`/fhir/Subscription/${id}`, { method: 'DELETE', org })).status).toBe(204);
    }
  });

  it('delivers only documents addressed to or held by the organisation, even when the stored criteria are broader', async () => {
    const nhsNumber = aNhsNumber();
    const path = `/practice-${randomUUID()}`;
    const id = await created(
      aClassicSubscription(receiver.url(path), `DocumentReference?recipient=${ODS}|${PRACTICE}`),
      PRACTICE,
    );
    await waitForStatus(id, PRACTICE, 'active');
    // a row from before the policy: criteria that name no organisation at all
    await setColumn(id, 'match_query', `DocumentReference?patient.identifier=${NHS}|${nhsNumber}`);

    const foreign = await submit(nhsNumber, { gpOds: 'Y12345', custodianOds: 'RTG' });
    const addressed = await submit(nhsNumber, { gpOds: PRACTICE, custodianOds: 'RTG' });
    const held = await submit(nhsNumber, { gpOds: 'Y12345', custodianOds: PRACTICE });
    const requests = await receiver.waitFor(path, (r) => r.length >= 2);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(receiver.at(path)).toHaveLength(2);
    const delivered = requests.map((r) => JSON.parse(r.body).id as string);
    expect(delivered.sort()).toEqual([addressed, held].sort());
    expect(delivered).not.toContain(foreign);

    const wideSubscription = await created(
      aClassicSubscription(receiver.url(`/wide-${id}`), `DocumentReference?patient.identifier=${NHS}|${nhsNumber}`),
      PATIENT_WIDE,
    );
    await waitForStatus(wideSubscription, PATIENT_WIDE, 'active');
    const another = await submit(nhsNumber, { gpOds: 'Y12345', custodianOds: 'RTG' });
    const wide = await receiver.waitFor(`/wide-${id}`, (r) => r.length >= 1);
    expect(JSON.parse(wide[0].body).id).toBe(another);
  });

  it('sends no document once the stored grant no longer allows reading documents, and says why in $status', async () => {
    const nhsNumber = aNhsNumber();
    const path = `/revoked-${randomUUID()}`;
    const id = await created(
      aClassicSubscription(
        receiver.url(path),
        `DocumentReference?recipient=${ODS}|${PRACTICE}&patient.identifier=${NHS}|${nhsNumber}`,
      ),
      PRACTICE,
    );
    await waitForStatus(id, PRACTICE, 'active');
    await setColumn(id, 'granted_scopes', SUBSCRIPTION_ONLY);

    await submit(nhsNumber, { gpOds: PRACTICE });
    const errored = await waitForStatus(id, PRACTICE, 'error');
    expect(errored.error).toContain('system/DocumentReference.rs');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.at(path)).toHaveLength(0); // nothing left: a classic subscription has no handshake
    const status = (await json(await t.fetch(`/fhir/Subscription/${id}/$status`, { org: PRACTICE }))).entry[0].resource;
    const attempts = status.parameter.filter((p: { name: string }) => p.name === 'delivery-attempt');
    const refused = attempts.find((a: any) =>
      a.part.some((p: any) => p.name === 'type' && p.valueCode === 'event-notification'),
    );
    expect(refused.part.find((p: any) => p.name === 'error').valueString).toContain('system/DocumentReference.rs');
    expect(refused.part.some((p: any) => p.name === 'status-code')).toBe(false);
    const notified = (await auditEventsFor(nhsNumber)).filter((e) => subtypes(e).includes('notify'));
    expect(notified.filter((e) => references(e).includes(`Subscription/${id}`))).toHaveLength(0);
  });

  it('records an AuditEvent naming the patient and the receiving organisation for each disclosing delivery and $events read', async () => {
    const nhsNumber = aNhsNumber();
    const classicPath = `/audit-classic-${randomUUID()}`;
    const backportPath = `/audit-backport-${randomUUID()}`;
    const criteria = `DocumentReference?recipient=${ODS}|${PRACTICE}&patient.identifier=${NHS}|${nhsNumber}`;
    const classic = await created(aClassicSubscription(receiver.url(classicPath), criteria), PRACTICE);
    const backport = await created(aBackportSubscription(t, receiver.url(backportPath), criteria, 'id-only'), PRACTICE);
    await waitForStatus(classic, PRACTICE, 'active');
    await waitForStatus(backport, PRACTICE, 'active');
    const documentReference = await submit(nhsNumber, { gpOds: PRACTICE });
    await receiver.waitFor(classicPath, (r) => r.length >= 1);
    await receiver.waitFor(backportPath, (r) => r.length >= 2);

    const notified = (await auditEventsFor(nhsNumber)).filter((e) => subtypes(e).includes('notify'));
    expect(notified).toHaveLength(2);
    for (const event of notified) {
      expect(event.outcome).toBe('0');
      expect(organisations(event)).toEqual([PRACTICE]);
      expect(patients(event)).toEqual([nhsNumber]);
      expect(references(event)).toContain(`DocumentReference/${documentReference}`);
    }
    expect(notified.map((e) => references(e).find((r) => r.startsWith('Subscription/'))).sort()).toEqual(
      [`Subscription/${classic}`, `Subscription/${backport}`].sort(),
    );

    const events = await t.fetch(`/fhir/Subscription/${backport}/$events`, { org: PRACTICE });
    expect(events.status).toBe(200);
    const read = (await auditEventsFor(nhsNumber)).filter((e) => subtypes(e).includes('notify-events'));
    expect(read).toHaveLength(1);
    expect(organisations(read[0])).toEqual([PRACTICE]);
    expect(patients(read[0])).toEqual([nhsNumber]);
    expect(references(read[0])).toEqual(
      expect.arrayContaining([`DocumentReference/${documentReference}`, `Subscription/${backport}`]),
    );
  });
});
