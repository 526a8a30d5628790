import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { aPointer } from '../fixtures/pointer.js';
import { json } from '../utils/http.js';
import { BACKENDS, startTestApp, type TestApp } from '../utils/test-app.js';

const FHIR_JSON = 'application/fhir+json';
const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';

const anIdentifier = () => ({ system: 'https://tools.ietf.org/html/rfc4122', value: crypto.randomUUID() });

describe.each(BACKENDS)('DocumentReference lifecycle on %s with %s blobs', (database, blobStore) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp(database, blobStore);
  });
  afterAll(async () => {
    await t?.close();
  });

  async function submit(document: Record<string, unknown>, org = 'RTG') {
    const body = JSON.stringify(document);
    const response = await t.fetch('/fhir/Bundle', {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON, prefer: 'return=OperationOutcome' },
      body,
      org,
    });
    return { response, body };
  }

  async function indexOf(bundleLocation: string) {
    const all = await json(
      await t.fetch(`/fhir/DocumentReference?patient.identifier=${encodeURIComponent(`${NHS}|9434765919`)}&_count=500`),
    );
    return (all.entry as { resource: any }[])
      .map((e) => e.resource)
      .find((r) => r.content[0].attachment.url === bundleLocation);
  }

  it('supersedes a document replaced by a newer one, in a chain, without touching stored bytes', async () => {
    const first = anIdentifier();
    const a = await submit(aDischargeSummaryR4({ identifier: first }));
    expect(a.response.status).toBe(201);
    const aLocation = a.response.headers.get('location')!;

    const second = anIdentifier();
    const b = await submit(
      aDischargeSummaryR4({ identifier: second, relatesTo: [{ code: 'replaces', targetIdentifier: first }] }),
    );
    expect(b.response.status).toBe(201);
    const bLocation = b.response.headers.get('location')!;

    const aIndex = await indexOf(aLocation);
    const bIndex = await indexOf(bLocation);
    expect(aIndex).toMatchObject({ status: 'superseded', meta: { versionId: '2' } });
    expect(bIndex).toMatchObject({
      status: 'current',
      relatesTo: [{ code: 'replaces', target: { reference: `DocumentReference/${aIndex.id}` } }],
    });

    const c = await submit(
      aDischargeSummaryR4({ identifier: anIdentifier(), relatesTo: [{ code: 'replaces', targetIdentifier: second }] }),
    );
    expect(c.response.status).toBe(201);
    expect((await indexOf(bLocation)).status).toBe('superseded');

    const again = await submit(
      aDischargeSummaryR4({ identifier: anIdentifier(), relatesTo: [{ code: 'replaces', targetIdentifier: first }] }),
    );
    expect(again.response.status).toBe(409);
    expect((await json(again.response)).issue[0].code).toBe('conflict');

    const unknown = await submit(
      aDischargeSummaryR4({
        identifier: anIdentifier(),
        relatesTo: [{ code: 'replaces', targetIdentifier: anIdentifier() }],
      }),
    );
    expect(unknown.response.status).toBe(422);

    const stored = await t.fetch(aLocation);
    expect(await stored.text()).toBe(a.body);

    const history = await json(await t.fetch(`/fhir/DocumentReference/${aIndex.id}/_history`));
    expect(history).toMatchObject({ resourceType: 'Bundle', type: 'history', total: 2 });
    expect(history.entry.map((e: any) => e.resource.status)).toEqual(['superseded', 'current']);
    const v1 = await json(await t.fetch(`/fhir/DocumentReference/${aIndex.id}/_history/1`));
    expect(v1.status).toBe('current');
  });

  it('records appends without changing the target, and refuses to let another organisation replace a document', async () => {
    const first = anIdentifier();
    await submit(aDischargeSummaryR4({ identifier: first }));
    const addendum = await submit(
      aDischargeSummaryR4({ identifier: anIdentifier(), relatesTo: [{ code: 'appends', targetIdentifier: first }] }),
    );
    expect(addendum.response.status).toBe(201);
    const target = await submit(aDischargeSummaryR4({ identifier: first }));
    expect(target.response.status).toBe(200);
    const index = await indexOf(target.response.headers.get('location')!);
    expect(index.status).toBe('current');

    const hostile = await submit(
      aDischargeSummaryR4({
        identifier: anIdentifier(),
        custodianOds: 'RXX',
        relatesTo: [{ code: 'replaces', targetIdentifier: first }],
      }),
      'RXX',
    );
    expect(hostile.response.status).toBe(403);
    expect((await indexOf(target.response.headers.get('location')!)).status).toBe('current');
  });

  it('withdraws with JSON Patch and PUT, honours If-Match, and refuses other changes', async () => {
    const { response } = await submit(aDischargeSummaryR4({ identifier: anIdentifier() }));
    const index = await indexOf(response.headers.get('location')!);
    const url = `/fhir/DocumentReference/${index.id}`;
    const patch = (operations: unknown, headers: Record<string, string> = {}, org?: string) =>
      t.fetch(url, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json-patch+json', ...headers },
        body: JSON.stringify(operations),
        org,
      });

    const forbiddenField = await patch([{ op: 'replace', path: '/type/coding/0/code', value: '1234' }]);
    expect(forbiddenField.status).toBe(422);
    expect((await json(forbiddenField)).issue[0].expression).toEqual(['DocumentReference.type']);

    const otherOrg = await patch([{ op: 'replace', path: '/status', value: 'entered-in-error' }], {}, 'RXX');
    expect(otherOrg.status).toBe(403);

    const stale = await patch([{ op: 'replace', path: '/status', value: 'entered-in-error' }], { 'if-match': 'W/"7"' });
    expect(stale.status).toBe(412);

    const labelled = await t.fetch(url, {
      method: 'PUT',
      headers: { 'content-type': FHIR_JSON, 'if-match': 'W/"1"' },
      body: JSON.stringify({
        ...index,
        securityLabel: [
          { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] },
        ],
      }),
    });
    expect(labelled.status).toBe(200);
    expect(labelled.headers.get('etag')).toBe('W/"2"');

    const withdrawn = await patch([{ op: 'replace', path: '/status', value: 'entered-in-error' }], {
      'if-match': 'W/"2"',
    });
    expect(withdrawn.status).toBe(200);
    expect(await json(withdrawn)).toMatchObject({ status: 'entered-in-error', meta: { versionId: '3' } });

    const back = await patch([{ op: 'replace', path: '/status', value: 'current' }]);
    expect(back.status).toBe(422);

    const deleted = await t.fetch(url, { method: 'DELETE' });
    expect(deleted.status).toBe(405);
    const bytes = await t.fetch(response.headers.get('location')!);
    expect(bytes.status).toBe(200);
  });

  it('registers NRL pointers to documents held elsewhere and to Binaries held here', async () => {
    const created = await t.fetch('/fhir/DocumentReference', {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify(aPointer()),
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toMatch(/\/fhir\/DocumentReference\/[0-9a-f-]{36}\/_history\/1$/);
    expect(await json(created)).toMatchObject({ status: 'current', meta: { versionId: '1' } });

    const binary = await t.fetch('/fhir/Binary', {
      method: 'POST',
      headers: { 'content-type': 'application/pdf', prefer: 'return=minimal' },
      body: Buffer.from('%PDF-1.7 plan'),
    });
    const binaryId = binary.headers.get('location')!.split('/').pop();
    const local = await t.fetch('/fhir/DocumentReference', {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify(aPointer({ content: [{ attachment: { url: `Binary/${binaryId}` } }] })),
    });
    expect(local.status).toBe(201);
    expect((await json(local)).content[0].attachment).toMatchObject({
      contentType: 'application/pdf',
      size: 13,
      url: `${t.fhirUrl}/Binary/${binaryId}`,
    });

    const cases: [string, Record<string, unknown>, number][] = [
      ['an invalid NHS number', { subject: { identifier: { system: NHS, value: '1352465790' } } }, 422],
      ['no type', { type: undefined }, 422],
      ['a plain http url', { content: [{ attachment: { url: 'http://records.example/1.pdf' } }] }, 422],
      ['an unknown Binary', { content: [{ attachment: { url: 'Binary/00000000-0000-4000-8000-000000000000' } }] }, 422],
      ['another custodian', { custodian: { identifier: { system: ODS, value: 'RXX' } } }, 403],
    ];
    for (const [label, overrides, status] of cases) {
      const response = await t.fetch('/fhir/DocumentReference', {
        method: 'POST',
        headers: { 'content-type': FHIR_JSON },
        body: JSON.stringify(aPointer(overrides)),
      });
      expect([label, response.status]).toEqual([label, status]);
      expect((await json(response)).resourceType).toBe('OperationOutcome');
    }
  });
});
