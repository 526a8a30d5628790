import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { json } from '../utils/http.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';

const EXAMPLES = path.join(process.cwd(), 'examples');
const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
// the identities the README tour uses
const HOSPITAL = 'RTG';
const PRACTICE = 'Y12345';
const PATIENT = '9434765919';
const GP_SCOPES = 'system/Subscription.cruds system/DocumentReference.rs system/Bundle.r system/Binary.r';

/** The README tour's example documents, sent as the tour sends them, with the tokens the tour gets. */
describe('the examples/ documents of the README tour', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp('sqlite', 'file');
  });
  afterAll(async () => {
    await t?.close();
  });

  it.each([
    ['discharge-summary-stu3.xml', 'application/fhir+xml'],
    ['discharge-summary-r4.json', 'application/fhir+json'],
  ])(
    '%s is stored for the hospital, found by the GP by NHS number and readable with the GP token',
    async (file, type) => {
      const body = await readFile(path.join(EXAMPLES, file));
      const created = await t.fetch('/fhir/Bundle', {
        method: 'POST',
        headers: { 'content-type': type },
        body,
        org: HOSPITAL,
        scope: 'system/Bundle.c system/DocumentReference.rs',
      });
      expect([201, 200]).toContain(created.status);
      const location = created.headers.get('location')!;

      const gp = { org: PRACTICE, scope: GP_SCOPES };
      const found = await json(
        await t.fetch(`/fhir/DocumentReference?patient.identifier=${encodeURIComponent(`${NHS}|${PATIENT}`)}`, gp),
      );
      const entry = found.entry.find(
        (e: { resource: { content: { attachment: { url: string } }[] } }) =>
          e.resource.content[0].attachment.url === location,
      );
      expect(entry.resource.custodian.identifier.value).toBe(HOSPITAL);
      const read = await t.fetch(new URL(location).pathname, gp);
      expect(read.status).toBe(200);
      expect(Buffer.from(await read.arrayBuffer()).equals(body)).toBe(true);
    },
  );

  it('letter.pdf is stored as a Binary and read back byte for byte', async () => {
    const body = await readFile(path.join(EXAMPLES, 'letter.pdf'));
    expect(body.subarray(0, 5).toString()).toBe('%PDF-');
    const created = await t.fetch('/fhir/Binary', {
      method: 'POST',
      headers: { 'content-type': 'application/pdf' },
      body,
      org: HOSPITAL,
    });
    expect(created.status).toBe(201);
    const read = await t.fetch(new URL(created.headers.get('location')!).pathname, { org: HOSPITAL });
    expect(read.headers.get('content-type')).toBe('application/pdf');
    expect(Buffer.from(await read.arrayBuffer()).equals(body)).toBe(true);
  });
});
