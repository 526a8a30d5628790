import { createHash } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { toFhirXml } from '../fixtures/fhir-xml-writer.js';
import { json } from '../utils/http.js';
import { BACKENDS, startTestApp, type TestApp } from '../utils/test-app.js';

const FHIR_JSON = 'application/fhir+json';
const FHIR_XML = 'application/fhir+xml';
const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
const fixturesDir = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'fixtures');

const sha1Base64 = (bytes: Buffer) => createHash('sha1').update(bytes).digest('base64');
const uniqueIdentifier = () => ({ system: 'https://tools.ietf.org/html/rfc4122', value: crypto.randomUUID() });

async function findIndex(t: TestApp, nhsNumber: string) {
  const response = await t.fetch(
    `/fhir/DocumentReference?patient.identifier=${encodeURIComponent(`${NHS}|${nhsNumber}`)}`,
  );
  expect(response.status).toBe(200);
  return (await json(response)) as { total: number; entry?: { resource: Record<string, any> }[] };
}

describe.each(BACKENDS)('repository on %s with %s blobs', (database, blobStore) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp(database, blobStore, { MAX_BINARY_BYTES: String(4 * 1024 * 1024) });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('serves an R4 CapabilityStatement without a token', async () => {
    const response = await fetch(`${t.fhirUrl}/metadata`);
    expect(response.status).toBe(200);
    const statement = await json(response);
    expect(statement).toMatchObject({ resourceType: 'CapabilityStatement', fhirVersion: '4.0.1', kind: 'instance' });
    const bundle = statement.rest[0].resource.find((r: { type: string }) => r.type === 'Bundle');
    expect(bundle.interaction.map((i: { code: string }) => i.code).sort()).toEqual(['create', 'read']);
  });

  it('stores an R4 JSON document byte for byte and indexes it as a DocumentReference', async () => {
    const identifier = uniqueIdentifier();
    const body = Buffer.from(JSON.stringify(aDischargeSummaryR4({ identifier, nhsNumber: '9000000009' }), null, 2));
    const created = await t.fetch('/fhir/Bundle', { method: 'POST', headers: { 'content-type': FHIR_JSON }, body });
    expect(created.status).toBe(201);
    const location = created.headers.get('location')!;
    expect(location).toMatch(new RegExp(`^${t.fhirUrl}/Bundle/[0-9a-f-]{36}$`));
    const etag = created.headers.get('etag');
    expect(etag).toBe(`"${createHash('sha256').update(body).digest('hex')}"`);
    // the index entry of what was sent, named by a Link header
    const link = /^<([^>]+)>; rel="related"$/.exec(created.headers.get('link') ?? '');
    expect(link?.[1]).toMatch(new RegExp(`^${t.fhirUrl}/DocumentReference/[0-9a-f-]{36}$`));
    const index = await json(await t.fetch(link![1]));
    expect(index.content[0].attachment.url).toBe(location);
    expect(Buffer.from(await created.arrayBuffer()).equals(body)).toBe(true);

    const read = await t.fetch(location);
    expect(read.status).toBe(200);
    expect(read.headers.get('content-type')).toBe(FHIR_JSON);
    expect(read.headers.get('etag')).toBe(etag);
    expect(Buffer.from(await read.arrayBuffer()).equals(body)).toBe(true);

    const fresh = await t.fetch(location, { headers: { 'if-none-match': etag! } });
    expect(fresh.status).toBe(304);

    const found = await findIndex(t, '9000000009');
    expect(found.total).toBe(1);
    const documentReference = found.entry![0].resource;
    expect(documentReference).toMatchObject({
      resourceType: 'DocumentReference',
      status: 'current',
      masterIdentifier: identifier,
      type: { coding: [{ system: 'http://snomed.info/sct', code: '373942005' }] },
      subject: { identifier: { system: NHS, value: '9000000009' } },
      custodian: { identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'RTG' } },
      content: [{ attachment: { contentType: FHIR_JSON, url: location, size: body.length, hash: sha1Base64(body) } }],
    });
    expect(documentReference.content[0].format.code).toBeTruthy();
    expect(documentReference.context.period).toBeDefined();

    const byId = await t.fetch(`/fhir/DocumentReference/${documentReference.id}`);
    expect(byId.status).toBe(200);
    expect(byId.headers.get('etag')).toBe('W/"1"');
    expect(await json(byId)).toEqual(documentReference);
  });

  it('treats the same document sent again as a safe retry, and a changed one as a conflict', async () => {
    const identifier = uniqueIdentifier();
    const document = aDischargeSummaryR4({ identifier, nhsNumber: '9434765919' });
    const body = JSON.stringify(document);
    const send = (payload: string) =>
      t.fetch('/fhir/Bundle', {
        method: 'POST',
        headers: { 'content-type': FHIR_JSON, prefer: 'return=minimal' },
        body: payload,
      });
    const first = await send(body);
    expect(first.status).toBe(201);
    const again = await send(body);
    expect(again.status).toBe(200);
    expect(again.headers.get('location')).toBe(first.headers.get('location'));

    // the same content re-serialised (indented, keys in another order) is the same document: a retry
    const reordered = Object.fromEntries(Object.entries(document).reverse());
    const reserialised = await send(JSON.stringify(reordered, null, 2));
    expect(reserialised.status).toBe(200);
    expect(reserialised.headers.get('location')).toBe(first.headers.get('location'));
    // and the stored bytes stay the first ones
    const stored = await t.fetch(first.headers.get('location')!);
    expect(Buffer.from(await stored.arrayBuffer()).toString('utf8')).toBe(body);
    // the same content as XML, converted, is the same document too
    const asXml = await t.fetch('/fhir/Bundle', {
      method: 'POST',
      headers: { 'content-type': FHIR_XML, prefer: 'return=minimal' },
      body: toFhirXml(document),
    });
    expect(asXml.status).toBe(200);

    const changed = await send(JSON.stringify({ ...document, timestamp: '2024-03-09T10:00:00Z' }));
    expect(changed.status).toBe(409);
    const outcome = await json(changed);
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0].code).toBe('conflict');
    expect(outcome.issue[0].diagnostics).toContain(identifier.value);
  });

  it('accepts the same document as FHIR XML and serves the XML bytes back', async () => {
    const xml = Buffer.from(
      toFhirXml(aDischargeSummaryR4({ identifier: uniqueIdentifier(), nhsNumber: '9876543210' })),
    );
    const created = await t.fetch('/fhir/Bundle', {
      method: 'POST',
      headers: { 'content-type': `${FHIR_XML}; fhirVersion=4.0`, prefer: 'return=OperationOutcome' },
      body: xml,
    });
    expect(created.status).toBe(201);
    const outcome = await json(created);
    expect(outcome.issue[0].severity).toBe('information');
    const read = await t.fetch(created.headers.get('location')!);
    expect(Buffer.from(await read.arrayBuffer()).equals(xml)).toBe(true);
    const found = await findIndex(t, '9876543210');
    expect(found.entry![0].resource.content[0].attachment.contentType).toBe(`${FHIR_XML}; fhirVersion=4.0`);
  });

  it('accepts an STU3 eDischarge document in XML, told apart by its content', async () => {
    const xml = await readFile(path.join(fixturesDir, 'stu3-edischarge.xml'));
    const created = await t.fetch('/fhir/Bundle', {
      method: 'POST',
      headers: { 'content-type': 'application/xml+fhir' },
      body: xml,
      org: 'RX4',
    });
    expect(created.status).toBe(201);
    const read = await t.fetch(created.headers.get('location')!);
    expect(Buffer.from(await read.arrayBuffer()).equals(xml)).toBe(true);
    const found = await findIndex(t, '9657702070');
    expect(found.total).toBe(1);
    expect(found.entry![0].resource.subject.identifier.value).toBe('9657702070');
  });

  it.each([
    ['a Bundle whose first entry is not a Composition', 'bdl-11'],
    ['a Bundle without an identifier', 'bdl-9'],
    ['a Patient with an NHS number that fails modulus 11', '1352465790'],
  ])('refuses %s with 422 naming the rule', async (_label, expected) => {
    const document = aDischargeSummaryR4({ identifier: uniqueIdentifier() }) as any;
    if (expected === 'bdl-11') {
      document.entry.push(document.entry.shift());
    } else if (expected === 'bdl-9') {
      delete document.identifier;
    } else {
      Object.assign(document, aDischargeSummaryR4({ identifier: uniqueIdentifier(), nhsNumber: '1352465790' }));
    }
    const response = await t.fetch('/fhir/Bundle', {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify(document),
    });
    expect(response.status).toBe(422);
    const outcome = await json(response);
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(JSON.stringify(outcome.issue)).toContain(expected);
  });

  it.each([
    ['malformed JSON', FHIR_JSON, '{"resourceType": "Bundle", ', 400, 'structure'],
    ['malformed XML', FHIR_XML, '<Bundle xmlns="http://hl7.org/fhir"><type value="document"/>', 400, 'structure'],
    ['a type other than FHIR', 'text/plain', 'hello', 415, 'not-supported'],
    ['an unknown FHIR version', `${FHIR_JSON}; fhirVersion=5.0`, '{"resourceType":"Bundle"}', 415, 'not-supported'],
  ])('answers %s with an OperationOutcome', async (_label, contentType, body, status, code) => {
    const response = await t.fetch('/fhir/Bundle', { method: 'POST', headers: { 'content-type': contentType }, body });
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toContain(FHIR_JSON);
    const outcome = await json(response);
    expect(outcome.issue[0].code).toBe(code);
    expect(JSON.stringify(outcome)).not.toMatch(/at .*\.(js|ts):\d+/);
  });

  it('refuses a document body over MAX_RESOURCE_BYTES with 413', async () => {
    const response = await t.fetch('/fhir/Bundle', {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON },
      body: Buffer.alloc(t.config.maxResourceBytes + 1, 0x20),
    });
    expect(response.status).toBe(413);
    expect((await json(response)).issue[0].code).toBe('too-long');
  });

  it('answers unknown ids, unknown routes and changes to documents with OperationOutcomes', async () => {
    const missing = await t.fetch('/fhir/Bundle/00000000-0000-0000-0000-000000000000');
    expect(missing.status).toBe(404);
    expect((await json(missing)).issue[0].code).toBe('not-found');
    const route = await t.fetch('/fhir/Nothing/here');
    expect(route.status).toBe(404);
    expect((await json(route)).resourceType).toBe('OperationOutcome');
    for (const method of ['PUT', 'PATCH', 'DELETE']) {
      const response = await t.fetch('/fhir/Bundle/anything', {
        method,
        headers: { 'content-type': FHIR_JSON },
        body: '{}',
      });
      expect(response.status).toBe(405);
      expect((await json(response)).issue[0].code).toBe('not-supported');
    }
  });

  it('stores raw Binary bytes and serves them whole, by range, and as a Binary resource', async () => {
    const bytes = Buffer.concat([Buffer.from('%PDF-1.5\n'), Buffer.alloc(100_000, 7), Buffer.from('%%EOF\n')]);
    const created = await t.fetch('/fhir/Binary', {
      method: 'POST',
      headers: { 'content-type': 'application/pdf' },
      body: bytes,
    });
    expect(created.status).toBe(201);
    const location = created.headers.get('location')!;
    expect(location).toMatch(/\/fhir\/Binary\/[0-9a-f-]{36}$/);
    expect(await json(created)).toMatchObject({ resourceType: 'Binary', contentType: 'application/pdf' });

    const whole = await t.fetch(location, { headers: { accept: 'application/pdf' } });
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-type')).toBe('application/pdf');
    expect(whole.headers.get('content-length')).toBe(String(bytes.length));
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect(Buffer.from(await whole.arrayBuffer()).equals(bytes)).toBe(true);

    const partial = await t.fetch(location, { headers: { range: 'bytes=0-8' } });
    expect(partial.status).toBe(206);
    expect(partial.headers.get('content-range')).toBe(`bytes 0-8/${bytes.length}`);
    expect(await partial.text()).toBe('%PDF-1.5\n');
    const etag = whole.headers.get('etag')!;
    const stillSame = await t.fetch(location, { headers: { range: 'bytes=0-8', 'if-range': etag } });
    expect(stillSame.status).toBe(206);
    const changed = await t.fetch(location, { headers: { range: 'bytes=0-8', 'if-range': '"another"' } });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('content-length')).toBe(String(bytes.length));
    await changed.arrayBuffer();
    const tail = await t.fetch(location, { headers: { range: 'bytes=-6' } });
    expect(await tail.text()).toBe('%%EOF\n');
    const beyond = await t.fetch(location, { headers: { range: `bytes=${bytes.length}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${bytes.length}`);

    const asResource = await t.fetch(location, { headers: { accept: FHIR_JSON } });
    expect(asResource.status).toBe(200);
    const binary = await json(asResource);
    expect(binary).toMatchObject({ resourceType: 'Binary', contentType: 'application/pdf' });
    expect(Buffer.from(binary.data, 'base64').equals(bytes)).toBe(true);
  });

  it('accepts a FHIR Binary resource with base64 data and stores the decoded bytes', async () => {
    const bytes = Buffer.from('%PDF-1.4 a tiny pdf');
    const spaced = bytes.toString('base64').replace(/(.{8})/g, '$1 ');
    const created = await t.fetch('/fhir/Binary', {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify({ resourceType: 'Binary', contentType: 'application/pdf', data: spaced }),
    });
    expect(created.status).toBe(201);
    const raw = await t.fetch(created.headers.get('location')!, { headers: { accept: '*/*' } });
    expect(Buffer.from(await raw.arrayBuffer()).equals(bytes)).toBe(true);

    const bad = await t.fetch('/fhir/Binary', {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify({ resourceType: 'Binary', contentType: 'application/pdf', data: 'not*base64' }),
    });
    expect(bad.status).toBe(400);
  });

  it('refuses a Binary over MAX_BINARY_BYTES with 413 and keeps nothing', async () => {
    const response = await t.fetch('/fhir/Binary', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(4 * 1024 * 1024 + 1),
    });
    expect(response.status).toBe(413);
    expect((await json(response)).issue[0].code).toBe('too-long');
  });

  it('refuses a Binary resource too large for base64 with 406 and says to ask for the raw type', async () => {
    const small = await startTestApp(database, blobStore, { MAX_RESOURCE_BYTES: '2048' });
    try {
      const created = await small.fetch('/fhir/Binary', {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: Buffer.alloc(4096, 1),
      });
      expect(created.status).toBe(201);
      const response = await small.fetch(created.headers.get('location')!, { headers: { accept: FHIR_JSON } });
      expect(response.status).toBe(406);
      expect((await json(response)).issue[0].diagnostics).toContain('image/png');
    } finally {
      await small.close();
    }
  });

  if (blobStore === 'file') {
    it('refuses to serve bytes that no longer match their SHA-256', async () => {
      const created = await t.fetch('/fhir/Bundle', {
        method: 'POST',
        headers: { 'content-type': FHIR_JSON, prefer: 'return=minimal' },
        body: JSON.stringify(aDischargeSummaryR4({ identifier: uniqueIdentifier() })),
      });
      const binary = await t.fetch('/fhir/Binary', {
        method: 'POST',
        headers: { 'content-type': 'application/pdf', prefer: 'return=minimal' },
        body: Buffer.alloc(200_000, 1),
      });
      const blobs = t.config.blobStore.kind === 'file' ? t.config.blobStore.directory : '';
      for (const file of await listFiles(blobs)) {
        const content = await readFile(file);
        content[content.length - 1] ^= 0xff;
        await writeFile(file, content);
      }
      const bundle = await t.fetch(created.headers.get('location')!);
      expect(bundle.status).toBe(500);
      expect((await json(bundle)).issue[0].diagnostics).toContain('integrity');
      const whole = await t.fetch(binary.headers.get('location')!);
      await expect(whole.arrayBuffer()).rejects.toThrow();
    });
  }
});

async function listFiles(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}
