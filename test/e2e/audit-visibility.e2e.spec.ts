import { randomUUID } from 'node:crypto';
import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { json } from '../utils/http.js';
import { BACKENDS, startTestApp, type TestApp } from '../utils/test-app.js';

const NHS = 'https://fhir.nhs.uk/Id/nhs-number';

describe.each(BACKENDS)('who may read the audit trail, on %s with %s blobs', (database, blobStore) => {
  let t: TestApp;
  const ids: Record<'rtgSubmit' | 'gpRead' | 'otherSearch', string> = { rtgSubmit: '', gpRead: '', otherSearch: '' };

  /** fetch with a fresh X-Request-ID; returns the response and the id, to find its AuditEvent again. */
  async function tagged(path: string, token: string, init: RequestInit = {}) {
    const requestId = randomUUID();
    const headers = new Headers(init.headers);
    headers.set('x-request-id', requestId);
    headers.set('authorization', `Bearer ${token}`);
    const response = await fetch(`${t.baseUrl}${path}`, { ...init, headers });
    return { response, requestId };
  }

  async function auditAs(token: string, query = '_count=500') {
    return fetch(`${t.fhirUrl}/AuditEvent?${query}`, { headers: { authorization: `Bearer ${token}` } });
  }

  /** The X-Request-IDs of the AuditEvents a token can find. */
  async function requestIdsVisibleTo(token: string): Promise<string[]> {
    const response = await auditAs(token);
    expect(response.status).toBe(200);
    const bundle = await json(response);
    return (bundle.entry ?? []).flatMap((entry: any) =>
      entry.resource.entity
        .filter((e: any) => e.type?.code === 'XrequestId')
        .map((e: any) => e.what.identifier.value as string),
    );
  }

  beforeAll(async () => {
    t = await startTestApp(database, blobStore);
    const body = JSON.stringify(
      aDischargeSummaryR4({
        identifier: { system: 'https://tools.ietf.org/html/rfc4122', value: randomUUID() },
        nhsNumber: '9434765919',
      }),
    );
    const submitted = await tagged('/fhir/Bundle', await t.token({ org: 'RTG', sub: 'rtg-clerk' }), {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' },
      body,
    });
    expect(submitted.response.status).toBe(201);
    ids.rtgSubmit = submitted.requestId;
    // the GP practice reads the trust's document: the GP is the actor, the trust the custodian
    const location = submitted.response.headers.get('location')!;
    const read = await tagged(new URL(location).pathname, await t.token({ org: 'Y12345', sub: 'gp-reader' }));
    expect(read.response.status).toBe(200);
    ids.gpRead = read.requestId;
    // a third organisation searches for a patient it holds nothing about
    const search = await tagged(
      `/fhir/DocumentReference?patient.identifier=${encodeURIComponent(`${NHS}|9000000009`)}`,
      await t.token({ org: 'Z99999', sub: 'other-searcher' }),
    );
    expect(search.response.status).toBe(200);
    ids.otherSearch = search.requestId;
  });
  afterAll(async () => {
    await t?.close();
  });

  it("shows an organisation's auditor only events its organisation took part in", async () => {
    const visible = await requestIdsVisibleTo(await t.token({ org: 'Z99999', scope: 'system/AuditEvent.rs' }));
    expect(visible).toContain(ids.otherSearch);
    expect(visible).not.toContain(ids.rtgSubmit);
    expect(visible).not.toContain(ids.gpRead);
  });

  it('shows the custodian who else touched its documents', async () => {
    const visible = await requestIdsVisibleTo(await t.token({ org: 'RTG', scope: 'system/AuditEvent.rs' }));
    expect(visible).toEqual(expect.arrayContaining([ids.rtgSubmit, ids.gpRead]));
    expect(visible).not.toContain(ids.otherSearch);

    const gp = await requestIdsVisibleTo(await t.token({ org: 'Y12345', scope: 'system/AuditEvent.rs' }));
    expect(gp).toContain(ids.gpRead);
    expect(gp).not.toContain(ids.rtgSubmit);
  });

  it('refuses an AuditEvent search to a token with neither an organisation nor the admin scope', async () => {
    const response = await auditAs(await t.token({ org: '', scope: 'system/*.cruds' }));
    expect(response.status).toBe(403);
    const outcome = await json(response);
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0].diagnostics).toMatch(/organi[sz]ation|admin/);
  });

  it('shows every organisation its events only with the admin scope', async () => {
    const admin = await t.token({ org: '', scope: 'system/AuditEvent.rs admin' });
    expect(await requestIdsVisibleTo(admin)).toEqual(
      expect.arrayContaining([ids.rtgSubmit, ids.gpRead, ids.otherSearch]),
    );
  });

  it("answers 404 to a read of another organisation's AuditEvent", async () => {
    const admin = await t.token({ org: '', scope: 'system/AuditEvent.rs admin' });
    const all = await json(await auditAs(admin, 'agent=other-searcher'));
    const [event] = all.entry.map((e: any) => e.resource);
    const read = (token: string) =>
      fetch(`${t.fhirUrl}/AuditEvent/${event.id}`, { headers: { authorization: `Bearer ${token}` } });
    expect((await read(await t.token({ org: 'RTG', scope: 'system/AuditEvent.r' }))).status).toBe(404);
    expect((await read(await t.token({ org: 'Z99999', scope: 'system/AuditEvent.r' }))).status).toBe(200);
    expect((await read(await t.token({ org: '', scope: 'system/AuditEvent.r' }))).status).toBe(403);
    expect((await read(admin)).status).toBe(200);
  });
});
