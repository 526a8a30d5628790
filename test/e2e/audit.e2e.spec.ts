import { randomUUID } from 'node:crypto';
import { jest } from '@jest/globals';
import { AuditService } from '../../src/audit/audit.service.js';
import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { json } from '../utils/http.js';
import { BACKENDS, startTestApp, type TestApp } from '../utils/test-app.js';

const FHIR_JSON = 'application/fhir+json';
const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';
const AUDITOR = 'auditor';

describe.each(BACKENDS)('audit trail on %s with %s blobs', (database, blobStore) => {
  let t: TestApp;

  beforeAll(async () => {
    // refusals are audited per address and window: a short window, so the login failure below is written soon
    t = await startTestApp(database, blobStore, { AUDIT_REFUSAL_WINDOW_MS: '200' });
  });
  afterAll(async () => {
    await t?.close();
  });

  /** fetch as a given user of RTG, tagged with a fresh X-Request-ID so its AuditEvents can be found. */
  async function tagged(path: string, init: RequestInit & { sub?: string; token?: string | null } = {}) {
    const requestId = randomUUID();
    const { sub = 'clinician-1', token, ...rest } = init;
    const headers = new Headers(rest.headers);
    headers.set('x-request-id', requestId);
    if (token !== null) {
      headers.set('authorization', `Bearer ${token ?? (await t.token({ sub, org: 'RTG' }))}`);
    }
    const response = await fetch(`${t.baseUrl}${path}`, { ...rest, headers });
    return { response, requestId };
  }

  /** AuditEvents RTG's auditor can find, or with `admin` every organisation's. */
  async function searchAudit(query: string, admin = false): Promise<any[]> {
    const scope = admin ? 'system/AuditEvent.rs admin' : 'system/AuditEvent.rs';
    const response = await t.fetch(`/fhir/AuditEvent${query ? `?${query}` : ''}`, {
      headers: { authorization: `Bearer ${await t.token({ sub: AUDITOR, scope })}` },
    });
    expect(response.status).toBe(200);
    const bundle = await json(response);
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
    return (bundle.entry ?? []).map((entry: { resource: unknown }) => entry.resource);
  }

  /** The AuditEvents whose X-Request-ID entity is `requestId`. */
  async function eventsOf(requestId: string, admin = false): Promise<any[]> {
    const all = await searchAudit('_count=500', admin);
    return all.filter((event) =>
      event.entity.some((e: any) => e.type?.code === 'XrequestId' && e.what?.identifier?.value === requestId),
    );
  }

  const agentSubjects = (event: any) =>
    event.agent.map((a: any) => a.who?.identifier?.value).filter((v: unknown) => v !== undefined);
  const references = (event: any) => event.entity.map((e: any) => e.what?.reference).filter(Boolean);
  const subtypeCodes = (event: any) => event.subtype.map((c: { code: string }) => c.code);

  async function submit(nhsNumber: string) {
    const body = JSON.stringify(
      aDischargeSummaryR4({
        identifier: { system: 'https://tools.ietf.org/html/rfc4122', value: randomUUID() },
        nhsNumber,
      }),
    );
    const { response, requestId } = await tagged('/fhir/Bundle', {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON, prefer: 'return=minimal' },
      body,
    });
    expect(response.status).toBe(201);
    const bundleId = response.headers.get('location')!.split('/').pop()!;
    return { bundleId, requestId };
  }

  it('audits a document submission once, as ITI-65, naming the user, organisation and new Bundle', async () => {
    const { bundleId, requestId } = await submit('9434765919');
    const events = await eventsOf(requestId);
    expect(events).toHaveLength(1);
    const [event] = events;
    expect(event).toMatchObject({ resourceType: 'AuditEvent', action: 'C', outcome: '0', type: { code: '110107' } });
    expect(subtypeCodes(event)).toEqual(['ITI-65', 'create']);
    expect(agentSubjects(event)).toEqual(expect.arrayContaining(['clinician-1', 'RTG']));
    expect(event.agent).toContainEqual(
      expect.objectContaining({ who: { identifier: { system: ODS, value: 'RTG' } }, requestor: false }),
    );
    expect(event.agent.find((a: any) => a.requestor).who.identifier.value).toBe('clinician-1');
    expect(references(event)).toContain(`Bundle/${bundleId}`);
  });

  it('audits reading the Bundle once, as ITI-68', async () => {
    const { bundleId } = await submit('9434765919');
    const { response, requestId } = await tagged(`/fhir/Bundle/${bundleId}`, { sub: 'reader-1' });
    expect(response.status).toBe(200);
    const events = await eventsOf(requestId);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ action: 'R', outcome: '0', type: { code: '110106' } });
    expect(subtypeCodes(events[0])).toEqual(['ITI-68', 'read']);
    expect(agentSubjects(events[0])).toContain('reader-1');
    expect(references(events[0])).toEqual([`Bundle/${bundleId}`]);
  });

  it('audits a DocumentReference search once, as ITI-67 with the query and the patient', async () => {
    await submit('9000000009');
    const query = `patient.identifier=${encodeURIComponent(`${NHS}|9000000009`)}`;
    const { response, requestId } = await tagged(`/fhir/DocumentReference?${query}`);
    expect(response.status).toBe(200);
    const events = await eventsOf(requestId);
    expect(events).toHaveLength(1);
    const [event] = events;
    expect(event).toMatchObject({ action: 'E', type: { code: '110112' } });
    expect(subtypeCodes(event)).toEqual(['ITI-67', 'search-type']);
    const queryEntity = event.entity.find((e: any) => e.role?.code === '24');
    expect(Buffer.from(queryEntity.query, 'base64').toString('utf8')).toBe(query);
    expect(event.entity).toContainEqual(
      expect.objectContaining({ what: { identifier: { system: NHS, value: '9000000009' } } }),
    );

    const byPatient = await searchAudit(`patient.identifier=${encodeURIComponent(`${NHS}|9000000009`)}`);
    expect(byPatient.map((e) => e.id)).toContain(event.id);
  });

  it('audits reading a Binary once, and records the request and correlation ids', async () => {
    const created = await t.fetch('/fhir/Binary', {
      method: 'POST',
      headers: { 'content-type': 'application/pdf', prefer: 'return=minimal' },
      body: Buffer.from('%PDF-1.4 audit test'),
    });
    expect(created.status).toBe(201);
    const binaryId = created.headers.get('location')!.split('/').pop()!;
    const { response, requestId } = await tagged(`/fhir/Binary/${binaryId}`, {
      headers: { 'x-correlation-id': 'corr-42' },
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('%PDF-1.4 audit test');
    const events = await eventsOf(requestId);
    expect(events).toHaveLength(1);
    expect(subtypeCodes(events[0])).toEqual(['ITI-68', 'read']);
    expect(references(events[0])).toEqual([`Binary/${binaryId}`]);
    expect(events[0].entity).toContainEqual(
      expect.objectContaining({ detail: [{ type: 'X-Correlation-ID', valueString: 'corr-42' }] }),
    );
  });

  it('describes a refusal sent as XML (Accept: application/fhir+xml) from its OperationOutcome', async () => {
    const { response, requestId } = await tagged('/fhir/DocumentReference/nobody-knows-xml', {
      headers: { accept: 'application/fhir+xml' },
    });
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('application/fhir+xml; charset=utf-8');
    let events: any[] = [];
    for (let attempt = 0; attempt < 50 && events.length === 0; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      events = await eventsOf(requestId, true);
    }
    expect(events).toHaveLength(1);
    expect(events[0].outcomeDesc).toMatch(/nobody-knows-xml/);
  });

  it("audits a request without a token as a login failure, counted in its address's window", async () => {
    const { response, requestId } = await tagged('/fhir/DocumentReference/nobody-knows', { token: null });
    expect(response.status).toBe(401);
    let events: any[] = [];
    for (let attempt = 0; attempt < 50 && events.length === 0; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      events = await eventsOf(requestId, true);
    }
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ action: 'R', outcome: '4', type: { code: '110114' } });
    expect(events[0].outcomeDesc).toMatch(/Bearer access token/);
    expect(events[0].extension).toEqual([{ url: 'urn:fhir-document-registry:audit-event-count', valueInteger: 1 }]);
    expect(references(events[0])).toEqual(['DocumentReference/nobody-knows']);
    expect(events[0].agent.find((a: any) => a.requestor).network.address).toBeTruthy();
    // an event without an organisation is not shown to an organisation's auditor
    expect(await eventsOf(requestId)).toHaveLength(0);
  });

  it('audits a request refused for want of scope once, as forbidden', async () => {
    const token = await t.token({ sub: 'narrow-1', org: 'RTG', scope: 'system/Binary.r' });
    const { response, requestId } = await tagged('/fhir/DocumentReference?patient.identifier=9434765919', { token });
    expect(response.status).toBe(403);
    const events = await eventsOf(requestId);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ outcome: '4', type: { code: '110113' } });
    expect(agentSubjects(events[0])).toContain('narrow-1');
  });

  it('finds AuditEvents by agent, entity, date and action', async () => {
    const { bundleId } = await submit('9434765919');
    await tagged(`/fhir/Bundle/${bundleId}`, { sub: 'searcher-9' });

    const byAgent = await searchAudit('agent=searcher-9');
    expect(byAgent).toHaveLength(1);
    expect(references(byAgent[0])).toEqual([`Bundle/${bundleId}`]);

    const byEntity = await searchAudit(`entity=Bundle/${bundleId}`);
    expect(byEntity.map((e) => e.action)).toEqual(['R', 'C']);
    expect(await searchAudit(`entity=Bundle/${bundleId}&action=C`)).toHaveLength(1);

    const byOrg = await searchAudit(`agent=${encodeURIComponent(`${ODS}|RTG`)}&entity=Bundle/${bundleId}`);
    expect(byOrg).toHaveLength(2);

    const today = new Date().toISOString().slice(0, 10);
    expect(await searchAudit(`entity=Bundle/${bundleId}&date=${today}`)).toHaveLength(2);
    expect(await searchAudit(`entity=Bundle/${bundleId}&date=lt${today}`)).toHaveLength(0);

    const one = byAgent[0];
    const read = await t.fetch(`/fhir/AuditEvent/${one.id}`, {
      headers: { authorization: `Bearer ${await t.token({ sub: AUDITOR, scope: 'system/AuditEvent.r' })}` },
    });
    expect(read.status).toBe(200);
    expect(await json(read)).toMatchObject({ resourceType: 'AuditEvent', id: one.id });
  });

  it('refuses AuditEvent searches without the AuditEvent scope and with unknown parameters', async () => {
    const narrow = await t.fetch('/fhir/AuditEvent', { scope: 'system/DocumentReference.rs' });
    expect(narrow.status).toBe(403);
    const unknown = await t.fetch('/fhir/AuditEvent?patient=Patient/1');
    expect(unknown.status).toBe(400);
    expect((await json(unknown)).resourceType).toBe('OperationOutcome');
  });

  it('answers 405 to every write to AuditEvent', async () => {
    const { requestId } = await tagged('/fhir/DocumentReference/some-id');
    const [any] = await eventsOf(requestId);
    const attempts = [
      t.fetch('/fhir/AuditEvent', {
        method: 'POST',
        headers: { 'content-type': FHIR_JSON },
        body: JSON.stringify(any),
      }),
      t.fetch(`/fhir/AuditEvent/${any.id}`, {
        method: 'PUT',
        headers: { 'content-type': FHIR_JSON },
        body: JSON.stringify(any),
      }),
      t.fetch(`/fhir/AuditEvent/${any.id}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json-patch+json' },
        body: '[]',
      }),
      t.fetch(`/fhir/AuditEvent/${any.id}`, { method: 'DELETE' }),
    ];
    for (const response of await Promise.all(attempts)) {
      expect(response.status).toBe(405);
      expect(response.headers.get('allow')).toBe('GET');
    }
    const still = await searchAudit(`_count=500`);
    expect(still.find((e) => e.id === any.id)).toEqual(any);
  });

  it('withholds data it could not audit: 500 instead of the bytes', async () => {
    const created = await t.fetch('/fhir/Binary', {
      method: 'POST',
      headers: { 'content-type': 'application/pdf', prefer: 'return=minimal' },
      body: Buffer.from('%PDF-1.4 secret'),
    });
    const location = created.headers.get('location')!;
    const audit = t.app.get(AuditService);
    const id = location.split('/').pop()!;
    const record = audit.record.bind(audit);
    // only this Binary's reads fail: other events (a refusal window closing, say) may be written meanwhile
    const spy = jest.spyOn(audit, 'record').mockImplementation(async (input, manager) => {
      if (input.action === 'R' && JSON.stringify(input.entities).includes(id)) {
        throw new Error('audit database unavailable');
      }
      return record(input, manager);
    });
    try {
      const response = await t.fetch(location);
      expect(response.status).toBe(500);
      expect(response.headers.get('etag')).toBeNull();
      expect(response.headers.get('content-type')).toMatch(/fhir\+json/);
      const body = await response.text();
      expect(body).not.toContain('secret');
      expect(JSON.parse(body)).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'exception' }] });
    } finally {
      spy.mockRestore();
    }
    const again = await t.fetch(location);
    expect(again.status).toBe(200);
  });
});
