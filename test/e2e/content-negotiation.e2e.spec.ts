import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseFhirXml } from '../../src/format/fhir-xml.js';
import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { toFhirXml } from '../fixtures/fhir-xml-writer.js';
import { json } from '../utils/http.js';
import { BACKENDS, startTestApp, type TestApp } from '../utils/test-app.js';

const FHIR_JSON = 'application/fhir+json';
const FHIR_XML = 'application/fhir+xml';
const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
const fixturesDir = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'fixtures');

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');
const uniqueIdentifier = () => ({ system: 'https://tools.ietf.org/html/rfc4122', value: crypto.randomUUID() });
const bytesOf = async (response: Response) => Buffer.from(await response.arrayBuffer());
/** An XML body read back with the project's own parser: proves it is well-formed FHIR XML. */
const xmlOf = async (response: Response) => parseFhirXml(await bytesOf(response)) as Record<string, any>;

describe.each(BACKENDS)('content negotiation on %s with %s blobs', (database, blobStore) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp(database, blobStore);
  });
  afterAll(async () => {
    await t?.close();
  });

  async function submit(body: string | Buffer, contentType: string): Promise<string> {
    const created = await t.fetch('/fhir/Bundle', {
      method: 'POST',
      headers: { 'content-type': contentType, prefer: 'return=minimal' },
      body,
    });
    expect(created.status).toBe(201);
    return created.headers.get('location')!;
  }

  it('reads an XML-stored Bundle as JSON on Accept or _format, with its own ETag and a working 304', async () => {
    const xml = Buffer.from(
      toFhirXml(aDischargeSummaryR4({ identifier: uniqueIdentifier(), nhsNumber: '9000000009' })),
    );
    const location = await submit(xml, FHIR_XML);

    const stored = await t.fetch(location, { headers: { accept: '*/*' } });
    expect(stored.headers.get('content-type')).toBe(FHIR_XML);
    expect(stored.headers.get('etag')).toBe(`"${sha256(xml)}"`);
    expect((await bytesOf(stored)).equals(xml)).toBe(true);

    const asJson = await t.fetch(location, { headers: { accept: FHIR_JSON } });
    expect(asJson.status).toBe(200);
    expect(asJson.headers.get('content-type')).toBe('application/fhir+json; charset=utf-8');
    expect(asJson.headers.get('vary')).toMatch(/accept/i);
    const etag = asJson.headers.get('etag')!;
    expect(etag).toBe(`"${sha256(xml)}+json"`);
    expect(await json(asJson)).toEqual(parseFhirXml(xml));

    const viaFormat = await t.fetch(`${location}?_format=json`, { headers: { accept: FHIR_XML } });
    expect(viaFormat.headers.get('content-type')).toBe('application/fhir+json; charset=utf-8');
    expect(await json(viaFormat)).toEqual(parseFhirXml(xml));

    const fresh = await t.fetch(location, { headers: { accept: FHIR_JSON, 'if-none-match': etag } });
    expect(fresh.status).toBe(304);

    // The representation of a write follows the same rule: the retry of this submission answers in JSON.
    const retried = await t.fetch('/fhir/Bundle', {
      method: 'POST',
      headers: { 'content-type': FHIR_XML, accept: FHIR_JSON, prefer: 'return=representation' },
      body: xml,
    });
    expect(retried.status).toBe(200);
    expect(retried.headers.get('etag')).toBe(etag);
    expect(await json(retried)).toEqual(parseFhirXml(xml));
    // The stored bytes' ETag does not validate the converted representation.
    const other = await t.fetch(location, { headers: { accept: FHIR_JSON, 'if-none-match': `"${sha256(xml)}"` } });
    expect(other.status).toBe(200);
    await other.arrayBuffer();
  });

  it('reads a JSON-stored Bundle as XML with the same meaning, and serves the stored bytes otherwise', async () => {
    const document = aDischargeSummaryR4({ identifier: uniqueIdentifier(), nhsNumber: '9434765919' });
    const body = JSON.stringify(document, null, 2);
    const location = await submit(body, FHIR_JSON);

    const asXml = await t.fetch(location, { headers: { accept: `${FHIR_XML}, ${FHIR_JSON};q=0.5` } });
    expect(asXml.status).toBe(200);
    expect(asXml.headers.get('content-type')).toBe('application/fhir+xml; charset=utf-8');
    const etag = asXml.headers.get('etag')!;
    expect(etag).toBe(`"${sha256(body)}+xml"`);
    expect(await xmlOf(asXml)).toEqual(document);

    const viaFormat = await t.fetch(`${location}?_format=xml`);
    expect(await xmlOf(viaFormat)).toEqual(document);
    const fresh = await t.fetch(`${location}?_format=xml`, { headers: { 'if-none-match': etag } });
    expect(fresh.status).toBe(304);

    const plain = await t.fetch(location, { headers: { accept: 'application/json' } });
    expect(plain.headers.get('etag')).toBe(`"${sha256(body)}"`);
    expect((await bytesOf(plain)).toString('utf8')).toBe(body);
  });

  it('converts an STU3 XML document to JSON and says it is STU3', async () => {
    const xml = await readFile(path.join(fixturesDir, 'stu3-edischarge.xml'));
    const created = await t.fetch('/fhir/Bundle', {
      method: 'POST',
      headers: { 'content-type': 'application/xml+fhir', prefer: 'return=minimal' },
      body: xml,
      org: 'RX4',
    });
    expect(created.status).toBe(201);
    const location = created.headers.get('location')!;
    const asJson = await t.fetch(location, { headers: { accept: FHIR_JSON }, org: 'RX4' });
    expect(asJson.headers.get('content-type')).toBe('application/fhir+json; charset=utf-8; fhirVersion=3.0');
    expect(await json(asJson)).toEqual(parseFhirXml(xml, { fhirVersion: 'STU3' }));
    const stored = await t.fetch(location, { org: 'RX4' });
    expect(stored.headers.get('content-type')).toBe('application/xml+fhir');
    expect((await bytesOf(stored)).equals(xml)).toBe(true);
  });

  it('answers 406 not-supported when nothing acceptable can be produced', async () => {
    const location = await submit(JSON.stringify(aDischargeSummaryR4({ identifier: uniqueIdentifier() })), FHIR_JSON);
    const pdf = await t.fetch(location, { headers: { accept: 'application/pdf' } });
    expect(pdf.status).toBe(406);
    expect(pdf.headers.get('content-type')).toBe('application/fhir+json; charset=utf-8');
    const outcome = await json(pdf);
    expect(outcome.issue[0].code).toBe('not-supported');
    expect(outcome.issue[0].diagnostics).toContain('application/pdf');

    const unknownFormat = await t.fetch(`/fhir/DocumentReference?patient.identifier=9434765919&_format=turtle`);
    expect(unknownFormat.status).toBe(406);
    expect((await json(unknownFormat)).issue[0].diagnostics).toContain('_format=turtle');
    const search = await t.fetch(`/fhir/DocumentReference?patient.identifier=9434765919`, {
      headers: { accept: 'text/html' },
    });
    expect(search.status).toBe(406);
    await search.arrayBuffer();
  });

  it('sends searches, DocumentReference reads, List and AuditEvent searches as XML, strict mode included', async () => {
    const nhsNumber = '9876543210';
    const document = aDischargeSummaryR4({ identifier: uniqueIdentifier(), nhsNumber });
    await submit(JSON.stringify(document), FHIR_JSON);
    const query = `patient.identifier=${encodeURIComponent(`${NHS}|${nhsNumber}`)}`;

    const asJson = await json(await t.fetch(`/fhir/DocumentReference?${query}`));
    const search = await t.fetch(`/fhir/DocumentReference?${query}&_format=xml`, {
      headers: { prefer: 'handling=strict' },
    });
    expect(search.status).toBe(200);
    expect(search.headers.get('content-type')).toBe('application/fhir+xml; charset=utf-8');
    const bundle = await xmlOf(search);
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 1 });
    expect(bundle.entry[0].resource).toEqual(asJson.entry[0].resource);

    const byPost = await t.fetch('/fhir/DocumentReference/_search', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `${query}&_format=xml`,
    });
    expect(byPost.headers.get('content-type')).toBe('application/fhir+xml; charset=utf-8');
    expect((await xmlOf(byPost)).entry[0].resource).toEqual(asJson.entry[0].resource);

    const id = asJson.entry[0].resource.id as string;
    const read = await t.fetch(`/fhir/DocumentReference/${id}`, { headers: { accept: 'application/xml' } });
    expect(read.headers.get('content-type')).toBe('application/xml; charset=utf-8');
    expect(read.headers.get('etag')).toBe('W/"1"');
    expect(await xmlOf(read)).toEqual(asJson.entry[0].resource);

    const lists = await t.fetch(`/fhir/List?${query}&_format=xml`, { headers: { prefer: 'handling=strict' } });
    expect(lists.status).toBe(200);
    expect((await xmlOf(lists)).resourceType).toBe('Bundle');

    const audit = await t.fetch(`/fhir/AuditEvent?${query}&_format=xml`);
    expect(audit.status).toBe(200);
    expect(await xmlOf(audit)).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
  });

  it('sends the CapabilityStatement and error OperationOutcomes as XML', async () => {
    const metadata = await fetch(`${t.fhirUrl}/metadata`, { headers: { accept: FHIR_XML } });
    expect(metadata.status).toBe(200);
    const statement = await xmlOf(metadata);
    expect(statement).toMatchObject({ resourceType: 'CapabilityStatement', fhirVersion: '4.0.1' });
    expect(statement.format).toEqual([FHIR_JSON, FHIR_XML]);
    const asJson = await json(await fetch(`${t.fhirUrl}/metadata?_format=json`, { headers: { accept: FHIR_XML } }));
    expect(statement).toEqual(asJson);

    const missing = await t.fetch('/fhir/DocumentReference/no-such-id', { headers: { accept: FHIR_XML } });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toBe('application/fhir+xml; charset=utf-8');
    expect(await xmlOf(missing)).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'not-found' }],
    });

    const unauthenticated = await fetch(`${t.fhirUrl}/DocumentReference/x?_format=xml`);
    expect(unauthenticated.status).toBe(401);
    expect((await xmlOf(unauthenticated)).issue[0].code).toBe('login');

    const badBody = await t.fetch('/fhir/Bundle', {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON, accept: FHIR_XML },
      body: '{"resourceType": ',
    });
    expect(badBody.status).toBe(400);
    expect((await xmlOf(badBody)).issue[0].code).toBe('structure');
  });

  it('returns a Binary as the FHIR Binary resource on a FHIR Accept, and the bytes otherwise', async () => {
    const bytes = Buffer.from('%PDF-1.4 a small pdf for negotiation');
    const created = await t.fetch('/fhir/Binary', {
      method: 'POST',
      headers: { 'content-type': 'application/pdf', prefer: 'return=minimal' },
      body: bytes,
    });
    const location = created.headers.get('location')!;

    const raw = await t.fetch(location, { headers: { accept: '*/*' } });
    expect(raw.headers.get('content-type')).toBe('application/pdf');
    expect((await bytesOf(raw)).equals(bytes)).toBe(true);

    const asXml = await t.fetch(location, { headers: { accept: FHIR_XML } });
    expect(asXml.headers.get('content-type')).toBe('application/fhir+xml; charset=utf-8');
    expect(asXml.headers.get('etag')).toBe(`"${sha256(bytes)}+xml"`);
    const binary = await xmlOf(asXml);
    expect(binary).toMatchObject({ resourceType: 'Binary', contentType: 'application/pdf' });
    expect(Buffer.from(binary.data as string, 'base64').equals(bytes)).toBe(true);

    const viaFormat = await t.fetch(`${location}?_format=json`, { headers: { accept: 'application/pdf' } });
    expect((await json(viaFormat)).data).toBe(bytes.toString('base64'));

    const refused = await t.fetch(location, { headers: { accept: 'image/png' } });
    expect(refused.status).toBe(406);
    expect((await json(refused)).issue[0].diagnostics).toContain('application/fhir+xml');
  });

  it('lets a stock fhir-kit-client read an XML-stored Bundle and a Binary', async () => {
    const { Client } = await import('fhir-kit-client');
    const client = new Client({ baseUrl: t.fhirUrl, bearerToken: await t.token() });
    const document = aDischargeSummaryR4({ identifier: uniqueIdentifier(), nhsNumber: '9000000009' });
    const location = await submit(toFhirXml(document), FHIR_XML);
    const bundle = await client.read({ resourceType: 'Bundle', id: location.split('/').pop()! });
    expect(bundle).toEqual(document);

    const bytes = Buffer.from('plain text note');
    const created = await t.fetch('/fhir/Binary', {
      method: 'POST',
      headers: { 'content-type': 'text/plain', prefer: 'return=minimal' },
      body: bytes,
    });
    const binary = (await client.read({
      resourceType: 'Binary',
      id: created.headers.get('location')!.split('/').pop()!,
    })) as { resourceType: string; data: string };
    expect(binary.resourceType).toBe('Binary');
    expect(Buffer.from(binary.data, 'base64').equals(bytes)).toBe(true);
  });
});
