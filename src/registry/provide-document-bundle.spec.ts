import { createHash } from 'node:crypto';
import { FhirError } from '../common/fhir-error.js';
import { A_PDF, PROVIDE_ENTRY as AT, aProvideBundle } from '../../test/fixtures/mhd.js';
import type { FhirResource } from '../format/fhir-json.js';
import { planProvideBundle, type ProvidePlanOptions } from './provide-document-bundle.js';
import { RECIPIENT_EXTENSION } from './document-reference-recipients.js';

// Tests poke into fixture JSON freely.
type Json = Record<string, any>;

const BASE = 'https://registry.example';
const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
const options = (): ProvidePlanOptions => {
  let n = 0;
  return { baseUrl: BASE, ownerOds: 'RTG', now: new Date('2024-03-09T08:00:00Z'), newId: () => `id-${n++}` };
};
const entries = (bundle: FhirResource): Json[] => bundle.entry as Json[];

function refusal(bundle: FhirResource, opts = options()): FhirError {
  try {
    planProvideBundle(bundle, opts);
  } catch (error) {
    if (error instanceof FhirError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected the plan to be refused');
}

describe('planProvideBundle', () => {
  it('assigns ids in request order and resolves every urn:uuid reference between entries', () => {
    const plan = planProvideBundle(aProvideBundle(), options());
    expect(plan.entries.map((e) => [e.kind, e.id])).toEqual([
      ['List', 'id-0'],
      ['DocumentReference', 'id-1'],
      ['Binary', 'id-2'],
      ['DocumentReference', 'id-3'],
      ['Bundle', 'id-4'],
      ['Patient', undefined],
    ]);
    expect(plan.submissionSet.resource.entry).toEqual([
      { item: { reference: 'DocumentReference/id-1' } },
      { item: { reference: 'DocumentReference/id-3' } },
    ]);
    expect(plan.submissionSet.nhsNumber).toBe('9434765919');
    expect(plan.submissionSet.resource.subject).toEqual({ identifier: { system: NHS, value: '9434765919' } });
    const [pdf, discharge] = plan.documentReferences;
    expect(pdf.resource.subject).toEqual({ identifier: { system: NHS, value: '9434765919' } });
    expect(pdf.resource.content).toEqual([
      {
        attachment: {
          contentType: 'application/pdf',
          title: 'Clinic letter',
          url: `${BASE}/fhir/Binary/id-2`,
          size: A_PDF.length,
          hash: createHash('sha1').update(A_PDF).digest('base64'),
        },
      },
    ]);
    expect(plan.binaries[0].bytes.equals(A_PDF)).toBe(true);
    expect(discharge.documentIds).toEqual(['id-4']);
    expect((discharge.resource.content as Json[])[0].attachment.url).toBe(`${BASE}/fhir/Bundle/id-4`);
    expect(plan.documents[0].facts.subject.nhsNumber).toBe('9434765919');
  });

  it('puts the intended recipient on every DocumentReference and the owner as custodian when none is given', () => {
    const plan = planProvideBundle(aProvideBundle({ recipientOds: 'Y99999' }), options());
    expect(plan.submissionSet.recipients).toEqual(['Y99999']);
    for (const planned of plan.documentReferences) {
      const recipients = (planned.resource.extension as Json[]).filter((e) => e.url === RECIPIENT_EXTENSION);
      expect(recipients.map((e) => e.valueReference.identifier.value)).toContain('Y99999');
      expect(planned.resource.custodian).toMatchObject({ identifier: { value: 'RTG' } });
    }
    // The document's own registered GP is a recipient of its DocumentReference too.
    const discharge = plan.documentReferences[1].resource.extension as Json[];
    expect(discharge.map((e) => e.valueReference.identifier.value)).toContain('Y12345');
  });

  it('refuses a Bundle that is not a transaction, naming Bundle.type', () => {
    const error = refusal(aProvideBundle({ bundleType: 'batch' }));
    expect(error.status).toBe(422);
    expect(error.issues[0].expression).toEqual(['Bundle.type']);
    expect(error.message).toMatch(/transaction/);
  });

  it('names the entry whose Binary is not valid base64', () => {
    const error = refusal(aProvideBundle({ pdfData: 'not*base64!' }));
    expect(error.status).toBe(422);
    expect(error.issues).toContainEqual(
      expect.objectContaining({
        code: 'value',
        expression: [`Bundle.entry[${AT.pdf}]`, `Bundle.entry[${AT.pdf}].resource.data`],
      }),
    );
  });

  it('names the DocumentReference whose NHS number fails its check digit', () => {
    const error = refusal(aProvideBundle({ pdfSubjectNhsNumber: '9434765918' }));
    expect(error.status).toBe(422);
    expect(error.issues[0].expression?.[0]).toBe(`Bundle.entry[${AT.pdfReference}]`);
    expect(error.issues[0].diagnostics).toMatch(/9434765918.*not valid/);
  });

  it('refuses a subject that is neither an NHS number nor a Patient entry with one, saying so', () => {
    const bundle = aProvideBundle();
    entries(bundle)[AT.pdfReference].resource.subject = { reference: 'Patient/ex-patient' };
    const error = refusal(bundle);
    expect(error.issues[0].expression?.[0]).toBe(`Bundle.entry[${AT.pdfReference}]`);
    expect(error.issues[0].diagnostics).toMatch(/NHS number.*Patient\/ex-patient is not a Patient entry/);
  });

  it('refuses entries that are not POST or lack a urn:uuid fullUrl, and an attachment pointing outside the Bundle', () => {
    const bundle = aProvideBundle();
    entries(bundle)[AT.pdf].request.method = 'PUT';
    entries(bundle)[AT.patient].fullUrl = 'Patient/1';
    const error = refusal(bundle);
    const named = error.issues.map((i) => i.expression?.[1]);
    expect(named).toEqual(
      expect.arrayContaining([`Bundle.entry[${AT.pdf}].request.method`, `Bundle.entry[${AT.patient}].fullUrl`]),
    );

    const outside = aProvideBundle();
    entries(outside)[AT.pdfReference].resource.content[0].attachment.url =
      'urn:uuid:00000000-0000-4000-8000-000000000000';
    const second = refusal(outside);
    expect(second.issues.map((i) => i.expression?.[1])).toContain(
      `Bundle.entry[${AT.pdfReference}].resource.content[0].attachment.url`,
    );
  });

  it('refuses an attachment size or hash that does not match the bytes', () => {
    const bundle = aProvideBundle();
    entries(bundle)[AT.pdfReference].resource.content[0].attachment.size = 1;
    const error = refusal(bundle);
    expect(error.issues[0].expression).toEqual([
      `Bundle.entry[${AT.pdfReference}]`,
      `Bundle.entry[${AT.pdfReference}].resource.content[0].attachment.size`,
    ]);
  });

  it('requires exactly one SubmissionSet listing every DocumentReference', () => {
    const none = aProvideBundle();
    entries(none)[AT.submissionSet].resource.code.coding[0].code = 'folder';
    expect(
      refusal(none)
        .issues.map((i) => i.diagnostics)
        .join('\n'),
    ).toMatch(/exactly one SubmissionSet List; this one has 0/);

    const unlisted = aProvideBundle();
    entries(unlisted)[AT.submissionSet].resource.entry.pop();
    const error = refusal(unlisted);
    expect(error.issues[0].expression).toEqual([`Bundle.entry[${AT.documentReference}]`]);
  });

  it('reports a document Bundle that breaks the document rules with expressions inside its entry', () => {
    const bundle = aProvideBundle();
    entries(bundle)[AT.document].resource.entry[0].resource.resourceType = 'Observation';
    const error = refusal(bundle);
    expect(error.issues[0].expression?.[0]).toBe(`Bundle.entry[${AT.document}]`);
    expect(error.issues[0].expression?.[1]).toMatch(new RegExp(`^Bundle\\.entry\\[${AT.document}\\]\\.resource`));
  });

  it('refuses with 403 a custodian other than the caller', () => {
    const error = refusal(aProvideBundle({ custodianOds: 'RXX' }));
    expect(error.status).toBe(403);
    expect(error.message).toMatch(/RXX.*RTG/);
  });

  it('refuses an intended recipient without an ODS code', () => {
    const bundle = aProvideBundle();
    entries(bundle)[AT.submissionSet].resource.contained[0].identifier = [];
    const error = refusal(bundle);
    expect(error.issues[0].expression?.[1]).toBe(
      `Bundle.entry[${AT.submissionSet}].resource.extension[1].valueReference`,
    );
  });
});
