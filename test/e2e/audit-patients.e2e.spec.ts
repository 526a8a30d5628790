import { randomUUID } from 'node:crypto';
import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { aProvideBundle } from '../fixtures/mhd.js';
import { json } from '../utils/http.js';
import { BACKENDS, startTestApp, type TestApp } from '../utils/test-app.js';

const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
const FORM = 'application/x-www-form-urlencoded';

describe.each(BACKENDS)('every patient a request touches is in the audit trail, on %s with %s blobs', (db, blobs) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp(db, blobs);
  });
  afterAll(async () => {
    await t?.close();
  });

  async function tagged(path: string, init: RequestInit = {}) {
    const requestId = randomUUID();
    const headers = new Headers(init.headers);
    headers.set('x-request-id', requestId);
    headers.set('authorization', `Bearer ${await t.token({ org: 'RTG' })}`);
    const response = await fetch(`${t.baseUrl}${path}`, { ...init, headers });
    return { response, requestId };
  }

  /** The X-Request-IDs of the AuditEvents found by `patient.identifier=<nhsNumber>`. */
  async function requestIdsAbout(nhsNumber: string): Promise<string[]> {
    const response = await fetch(
      `${t.fhirUrl}/AuditEvent?patient.identifier=${encodeURIComponent(`${NHS}|${nhsNumber}`)}&_count=500`,
      { headers: { authorization: `Bearer ${await t.token({ org: 'RTG', scope: 'system/AuditEvent.rs' })}` } },
    );
    expect(response.status).toBe(200);
    return ((await json(response)).entry ?? []).flatMap((entry: any) =>
      entry.resource.entity
        .filter((e: any) => e.type?.code === 'XrequestId')
        .map((e: any) => e.what.identifier.value as string),
    );
  }

  async function eventOf(requestId: string): Promise<any> {
    const response = await fetch(`${t.fhirUrl}/AuditEvent?_count=500`, {
      headers: { authorization: `Bearer ${await t.token({ org: 'RTG', scope: 'system/AuditEvent.rs' })}` },
    });
    const events = ((await json(response)).entry ?? []).map((entry: any) => entry.resource);
    return events.find((event: any) =>
      event.entity.some((e: any) => e.type?.code === 'XrequestId' && e.what?.identifier?.value === requestId),
    );
  }

  /** Submits a discharge summary for the patient and answers the id of its DocumentReference. */
  async function submitFor(nhsNumber: string): Promise<string> {
    const submitted = await t.fetch('/fhir/Bundle', {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify(
        aDischargeSummaryR4({
          identifier: { system: 'https://tools.ietf.org/html/rfc4122', value: randomUUID() },
          nhsNumber,
        }),
      ),
    });
    expect(submitted.status).toBe(201);
    const found = await json(
      await t.fetch(`/fhir/DocumentReference?patient.identifier=${encodeURIComponent(`${NHS}|${nhsNumber}`)}`),
    );
    return found.entry[0].resource.id as string;
  }

  it('finds a search naming two patients by either of them', async () => {
    const query = `patient.identifier=${encodeURIComponent(`${NHS}|9434765919,${NHS}|9000000009`)}`;
    const { response, requestId } = await tagged(`/fhir/DocumentReference?${query}`);
    expect(response.status).toBe(200);
    expect(await requestIdsAbout('9434765919')).toContain(requestId);
    expect(await requestIdsAbout('9000000009')).toContain(requestId);
  });

  it('records the form parameters of POST _search as its query and patients', async () => {
    const form = `patient.identifier=${encodeURIComponent(`${NHS}|9876543210`)}&status=current`;
    const { response, requestId } = await tagged('/fhir/DocumentReference/_search', {
      method: 'POST',
      headers: { 'content-type': FORM },
      body: form,
    });
    expect(response.status).toBe(200);
    expect(await requestIdsAbout('9876543210')).toContain(requestId);
    const event = await eventOf(requestId);
    const query = event.entity.find((e: any) => e.role?.code === '24');
    expect(Buffer.from(query.query, 'base64').toString('utf8')).toBe(form);
  });

  it("records the patient of a DocumentReference's history", async () => {
    const id = await submitFor('9000000017');
    const { response, requestId } = await tagged(`/fhir/DocumentReference/${id}/_history`);
    expect(response.status).toBe(200);
    expect(await requestIdsAbout('9000000017')).toContain(requestId);
  });

  it('records the patient of an ITI-65 Provide Document Bundle', async () => {
    const { response, requestId } = await tagged('/fhir', {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify(aProvideBundle({ nhsNumber: '9000000025' })),
    });
    expect(response.status).toBe(200);
    expect(await requestIdsAbout('9000000025')).toContain(requestId);
  });

  it('records the patients of search results, not only the patients a query names', async () => {
    const id = await submitFor('9000000033');
    const { response, requestId } = await tagged(`/fhir/DocumentReference?_id=${id}`);
    expect(response.status).toBe(200);
    expect((await json(response)).entry).toHaveLength(1);
    expect(await requestIdsAbout('9000000033')).toContain(requestId);
  });
});
