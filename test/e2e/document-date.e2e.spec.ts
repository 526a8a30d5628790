import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { json } from '../utils/http.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';

const FHIR_JSON = 'application/fhir+json';
const examples = path.dirname(createRequire(import.meta.url).resolve('hl7.fhir.r4.examples/package.json'));

/**
 * DocumentReference.date means one thing for every format: Composition.date. HL7's R4 discharge summary was written
 * on 2013-02-01 and assembled into its Bundle on 2013-05-28; it used to be indexed (and found) by the latter.
 */
describe('DocumentReference.date of a stored document', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp('sqlite', 'file');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('is Composition.date, and the date search and sort follow it', async () => {
    const body = await readFile(path.join(examples, 'Bundle-father.json'));
    const document = JSON.parse(body.toString('utf8')) as {
      timestamp: string;
      identifier: { system: string; value: string };
      entry: { resource: { date: string } }[];
    };
    expect([document.entry[0].resource.date, document.timestamp]).toEqual([
      '2013-02-01T12:30:02Z',
      '2013-05-28T22:12:21Z',
    ]);
    const created = await t.fetch('/fhir/Bundle', { method: 'POST', headers: { 'content-type': FHIR_JSON }, body });
    expect(created.status).toBe(201);
    const bundleUrl = created.headers.get('location')!;

    // HL7's example Patient has no NHS number: its index entry is found by the document's identifier
    const whose = `identifier=${encodeURIComponent(`${document.identifier.system}|${document.identifier.value}`)}`;
    const found = await json(await t.fetch(`/fhir/DocumentReference?${whose}&date=2013-02-01`));
    const mine = found.entry.filter(
      (e: { resource: { content: { attachment: { url: string } }[] } }) =>
        e.resource.content[0].attachment.url === bundleUrl,
    );
    expect(mine).toHaveLength(1);
    expect(mine[0].resource.date).toBe('2013-02-01T12:30:02Z');
    const byTimestamp = await json(await t.fetch(`/fhir/DocumentReference?${whose}&date=2013-05-28`));
    expect(byTimestamp.total).toBe(0);
  });
});
