import { randomInt } from 'node:crypto';
import { DataSource } from 'typeorm';
import { BinaryEntity } from '../../src/registry/binary.entity.js';
import { DocumentBundleEntity } from '../../src/registry/document-bundle.entity.js';
import { DocumentReferenceEntity } from '../../src/registry/document-reference.entity.js';
import { SubmissionSetEntity } from '../../src/registry/submission-set.entity.js';
import type { FhirResource } from '../../src/format/fhir-json.js';
import { A_PDF, PROVIDE_ENTRY as AT, aProvideBundle } from '../fixtures/mhd.js';
import { json } from '../utils/http.js';
import { BACKENDS, startTestApp, type TestApp } from '../utils/test-app.js';

const FHIR_JSON = 'application/fhir+json';
const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
const SUBMISSION_SET = 'https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes|submissionset';

/** A fresh valid NHS number, so each test finds only its own documents. */
function anNhsNumber(): string {
  for (;;) {
    const digits = Array.from({ length: 9 }, () => randomInt(10));
    const sum = digits.reduce((total, digit, i) => total + digit * (10 - i), 0);
    const check = (11 - (sum % 11)) % 11;
    if (check !== 10) {
      return [...digits, check].join('');
    }
  }
}

describe.each(BACKENDS)('IHE MHD provide and find on %s with %s blobs', (database, blobStore) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp(database, blobStore);
  });
  afterAll(async () => {
    await t?.close();
  });

  const provide = (bundle: FhirResource, init: { org?: string; scope?: string } = {}) =>
    t.fetch('/fhir', { method: 'POST', headers: { 'content-type': FHIR_JSON }, body: JSON.stringify(bundle), ...init });

  const documentReferencesOf = async (nhsNumber: string) => {
    const response = await t.fetch(
      `/fhir/DocumentReference?patient.identifier=${encodeURIComponent(`${NHS}|${nhsNumber}`)}`,
    );
    expect(response.status).toBe(200);
    return json(response);
  };

  const rowCounts = async () => {
    const dataSource = t.app.get(DataSource);
    return {
      documentReferences: await dataSource.getRepository(DocumentReferenceEntity).count(),
      binaries: await dataSource.getRepository(BinaryEntity).count(),
      bundles: await dataSource.getRepository(DocumentBundleEntity).count(),
      lists: await dataSource.getRepository(SubmissionSetEntity).count(),
    };
  };

  it('stores a SubmissionSet, two DocumentReferences, a PDF and a FHIR document, and finds them again', async () => {
    const nhsNumber = anNhsNumber();
    const bundle = aProvideBundle({ nhsNumber, recipientOds: 'Y77777' });
    const response = await provide(bundle);
    expect(response.status).toBe(200);
    const result = await json(response);
    expect(result).toMatchObject({ resourceType: 'Bundle', type: 'transaction-response' });
    expect(result.entry).toHaveLength(6);
    const locations: string[] = result.entry.map((e: { response: { location?: string } }) => e.response.location);
    expect(locations[AT.submissionSet]).toMatch(/^List\/[0-9a-f-]{36}$/);
    expect(locations[AT.pdfReference]).toMatch(/^DocumentReference\/[0-9a-f-]{36}\/_history\/1$/);
    expect(locations[AT.pdf]).toMatch(/^Binary\/[0-9a-f-]{36}$/);
    expect(locations[AT.document]).toMatch(/^Bundle\/[0-9a-f-]{36}$/);
    for (const index of [AT.submissionSet, AT.pdfReference, AT.pdf, AT.documentReference, AT.document]) {
      expect(result.entry[index].response).toMatchObject({
        status: '201 Created',
        etag: expect.any(String),
        lastModified: expect.any(String),
      });
    }
    expect(result.entry[AT.patient].response.status).toBe('200 OK');

    const found = await documentReferencesOf(nhsNumber);
    expect(found.total).toBe(2);
    const pdfReferenceId = locations[AT.pdfReference].split('/')[1];
    const pdfReference = found.entry.find(
      (e: { resource: { id: string } }) => e.resource.id === pdfReferenceId,
    ).resource;
    expect(pdfReference).toMatchObject({
      status: 'current',
      subject: { identifier: { system: NHS, value: nhsNumber } },
      custodian: { identifier: { value: 'RTG' } },
      content: [
        {
          attachment: { contentType: 'application/pdf', url: `${t.fhirUrl}/${locations[AT.pdf]}`, size: A_PDF.length },
        },
      ],
    });

    const byRecipient = await json(
      await t.fetch(`/fhir/DocumentReference?recipient=Y77777&patient.identifier=${nhsNumber}`),
    );
    expect(byRecipient.total).toBe(2);

    const pdf = await t.fetch(pdfReference.content[0].attachment.url, { headers: { accept: 'application/pdf' } });
    expect(pdf.status).toBe(200);
    expect(Buffer.from(await pdf.arrayBuffer()).equals(A_PDF)).toBe(true);

    const document = await t.fetch(`/fhir/${locations[AT.document]}`);
    expect(document.status).toBe(200);
    expect(await json(document)).toEqual((bundle.entry as { resource: unknown }[])[AT.document].resource);

    const lists = await t.fetch(
      `/fhir/List?patient.identifier=${encodeURIComponent(`${NHS}|${nhsNumber}`)}&code=${encodeURIComponent(SUBMISSION_SET)}`,
    );
    expect(lists.status).toBe(200);
    const listBundle = await json(lists);
    expect(listBundle).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 1 });
    const list = listBundle.entry[0].resource;
    expect(list).toMatchObject({
      resourceType: 'List',
      id: locations[AT.submissionSet].split('/')[1],
      meta: { versionId: '1' },
      subject: { identifier: { system: NHS, value: nhsNumber } },
      entry: [
        { item: { reference: locations[AT.pdfReference].replace('/_history/1', '') } },
        { item: { reference: locations[AT.documentReference].replace('/_history/1', '') } },
      ],
    });
    const withoutSystem = await json(await t.fetch(`/fhir/List?patient.identifier=${nhsNumber}&code=submissionset`));
    expect(withoutSystem.total).toBe(1);
    const otherCode = await json(await t.fetch(`/fhir/List?patient.identifier=${nhsNumber}&code=folder`));
    expect(otherCode.total).toBe(0);
    const read = await t.fetch(`/fhir/${locations[AT.submissionSet]}`);
    expect(read.status).toBe(200);
    expect(await json(read)).toEqual(list);
  });

  const leavesNothing: [string, (nhsNumber: string) => FhirResource, number][] = [
    [
      'a Binary that is not base64 in the middle',
      (nhsNumber) => aProvideBundle({ nhsNumber, pdfData: 'JVBERi0x!!!' }),
      422,
    ],
    [
      'a DocumentReference with an invalid NHS number',
      (nhsNumber) => aProvideBundle({ nhsNumber, pdfSubjectNhsNumber: '9434765918' }),
      422,
    ],
    [
      'a second DocumentReference that replaces an unknown document (fails inside the database transaction)',
      (nhsNumber) => {
        const bundle = aProvideBundle({ nhsNumber });
        (bundle.entry as { resource: Record<string, unknown> }[])[AT.documentReference].resource.relatesTo = [
          { code: 'replaces', target: { identifier: { system: 'urn:ietf:rfc:3986', value: 'urn:uuid:never-stored' } } },
        ];
        return bundle;
      },
      422,
    ],
  ];

  it.each(leavesNothing)('leaves nothing behind for %s', async (_label, make, status) => {
    const nhsNumber = anNhsNumber();
    const before = await rowCounts();
    const response = await provide(make(nhsNumber));
    expect(response.status).toBe(status);
    const outcome = await json(response);
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(await rowCounts()).toEqual(before);
    expect((await documentReferencesOf(nhsNumber)).total).toBe(0);
    expect((await json(await t.fetch(`/fhir/List?patient.identifier=${nhsNumber}`))).total).toBe(0);
  });

  it('names the entry at fault', async () => {
    const response = await provide(aProvideBundle({ pdfData: 'JVBERi0x!!!' }));
    expect(response.status).toBe(422);
    expect((await json(response)).issue[0].expression[0]).toBe(`Bundle.entry[${AT.pdf}]`);
  });

  it('refuses a Bundle that is not a transaction with 422', async () => {
    const response = await provide(aProvideBundle({ bundleType: 'batch' }));
    expect(response.status).toBe(422);
    const outcome = await json(response);
    expect(outcome.issue[0]).toMatchObject({ code: 'business-rule', expression: ['Bundle.type'] });
  });

  it('refuses with 403 DocumentReferences whose custodian is another organisation', async () => {
    const before = await rowCounts();
    const response = await provide(aProvideBundle({ custodianOds: 'RXX' }));
    expect(response.status).toBe(403);
    expect((await json(response)).issue[0].diagnostics).toMatch(/RXX.*RTG/);
    expect(await rowCounts()).toEqual(before);
  });

  it('refuses with 403 a Bundle with Binaries when the token lacks Binary create', async () => {
    const response = await provide(aProvideBundle(), { scope: 'system/DocumentReference.c system/Bundle.c' });
    expect(response.status).toBe(403);
    expect((await json(response)).issue[0].diagnostics).toContain('system/Binary.c');
  });

  it('refuses a document that is already stored with 409, storing nothing else', async () => {
    const documentIdentifier = `urn:uuid:${crypto.randomUUID()}`;
    expect((await provide(aProvideBundle({ documentIdentifier }))).status).toBe(200);
    const before = await rowCounts();
    const again = await provide(aProvideBundle({ documentIdentifier }));
    expect(again.status).toBe(409);
    expect(await rowCounts()).toEqual(before);
  });
});
