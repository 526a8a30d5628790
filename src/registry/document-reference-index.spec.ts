import { readFileSync } from 'node:fs';
import { aDischargeSummaryR4 } from '../../test/fixtures/documents.js';
import { validateDocumentBundle, type DocumentFacts } from './document-bundle.js';
import { buildDocumentReference, documentDate } from './document-reference-index.js';

const stored = {
  id: 'f3a9c1d2-7b6e-4d5c-9a8b-1c2d3e4f5a6b',
  bundleUrl: 'https://registry.example.nhs.uk/fhir/Bundle/0d9c8b7a-6f5e-4d3c-8b2a-1f0e9d8c7b6a',
  contentType: 'application/fhir+json; fhirVersion=4.0',
  size: 12345,
  sha1: 'qZk+NkcGgWq6PiVxeFDCbJzQ2J0=',
  createdAt: new Date('2024-03-08T16:30:01.250Z'),
};

function factsOf(bundle = aDischargeSummaryR4()): DocumentFacts {
  const { errors, facts } = validateDocumentBundle(bundle, '4.0.1');
  expect(errors).toEqual([]);
  return facts!;
}

describe('buildDocumentReference', () => {
  it('indexes the R4 discharge summary as a version 1 DocumentReference', () => {
    expect(buildDocumentReference(factsOf(), stored)).toEqual({
      resourceType: 'DocumentReference',
      id: stored.id,
      meta: { versionId: '1', lastUpdated: '2024-03-08T16:30:01.250Z' },
      masterIdentifier: {
        system: 'https://tools.ietf.org/html/rfc4122',
        value: '5b2e8f7a-3c1d-4e9b-a6f0-8d7c6b5a4e21',
      },
      status: 'current',
      docStatus: 'final',
      type: { coding: [{ system: 'http://snomed.info/sct', code: '373942005', display: 'Discharge summary' }] },
      category: [
        { coding: [{ system: 'http://snomed.info/sct', code: '371531000', display: 'Report of clinical encounter' }] },
      ],
      subject: {
        identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' },
        display: 'Ms Alice Jones',
      },
      date: '2024-03-08T16:20:00+00:00', // Composition.date, not Bundle.timestamp (16:25)
      author: [
        {
          type: 'Practitioner',
          identifier: { system: 'https://fhir.hl7.org.uk/Id/gmc-number', value: 'C7654321' },
          display: 'Ngozi Okafor',
        },
      ],
      custodian: {
        type: 'Organization',
        identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'RTG' },
        display: 'University Hospitals of Derby and Burton NHS Foundation Trust',
      },
      description: 'Inpatient discharge summary',
      securityLabel: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'N' }] }],
      content: [
        {
          attachment: {
            contentType: stored.contentType,
            url: stored.bundleUrl,
            size: 12345,
            hash: 'qZk+NkcGgWq6PiVxeFDCbJzQ2J0=',
            title: 'Inpatient discharge summary',
            creation: '2024-03-08T16:20:00+00:00',
          },
          format: {
            system: 'https://fhir.nhs.uk/England/CodeSystem/England-NRLFormatCode',
            code: 'urn:nhs-ic:structured',
            display: 'Structured Document',
          },
        },
      ],
      context: {
        encounter: [
          {
            type: 'Encounter',
            identifier: { system: 'https://fhir.rtg.nhs.uk/Id/encounter', value: 'ENC-2024-004417' },
          },
        ],
        period: { start: '2024-03-02T09:15:00+00:00', end: '2024-03-08T15:00:00+00:00' },
        practiceSetting: {
          coding: [{ system: 'http://snomed.info/sct', code: '394802001', display: 'General medicine' }],
        },
        sourcePatientInfo: { identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' } },
      },
    });
  });

  it.each([
    ['preliminary', 'preliminary'],
    ['final', 'final'],
    ['amended', 'amended'],
    ['entered-in-error', 'entered-in-error'],
  ])('maps Composition.status %s to docStatus %s', (status, docStatus) => {
    const facts = factsOf(aDischargeSummaryR4({ compositionStatus: status }));
    expect(buildDocumentReference(facts, stored).docStatus).toBe(docStatus);
  });

  it('leaves docStatus out for a status outside the value set', () => {
    const facts = { ...factsOf(), compositionStatus: 'draft' };
    expect(buildDocumentReference(facts, stored)).not.toHaveProperty('docStatus');
  });

  it('converts a hex SHA-1 to the base64 that Attachment.hash holds', () => {
    const hex = 'a9993e364706816aba3e25717850c26c9cd0d89d';
    const reference = buildDocumentReference(factsOf(), { ...stored, sha1: hex });
    const content = reference.content as { attachment: { hash: string } }[];
    expect(content[0].attachment.hash).toBe('qZk+NkcGgWq6PiVxeFDCbJzQ2J0=');
  });

  it('does not carry relatesTo: the registry service resolves targets', () => {
    const facts = factsOf(aDischargeSummaryR4({ relatesTo: [{ code: 'replaces', targetIdentifier: { value: 'x' } }] }));
    expect(facts.relatesTo).toHaveLength(1);
    expect(buildDocumentReference(facts, stored)).not.toHaveProperty('relatesTo');
  });

  it('indexes a document without NHS number by the Patient identifier it has', () => {
    const reference = buildDocumentReference(factsOf(aDischargeSummaryR4({ nhsNumber: null })), stored);
    const mrn = { system: 'https://fhir.rtg.nhs.uk/Id/mrn', value: 'M123456' };
    expect(reference.subject).toEqual({ identifier: mrn, display: 'Ms Alice Jones' });
    expect((reference.context as Record<string, unknown>).sourcePatientInfo).toEqual({ identifier: mrn });
  });

  it('gives the subject only a display, and no sourcePatientInfo, when the Patient has no identifier', () => {
    const bundle = aDischargeSummaryR4();
    ((bundle.entry as Record<string, any>[])[1].resource as Record<string, unknown>).identifier = [];
    const reference = buildDocumentReference(factsOf(bundle), stored);
    expect(reference.subject).toEqual({ display: 'Ms Alice Jones' });
    expect(reference.context).not.toHaveProperty('sourcePatientInfo');
  });

  it('leaves custodian out for a document without one', () => {
    const reference = buildDocumentReference(factsOf(aDischargeSummaryR4({ custodianOds: null })), stored);
    expect(reference).not.toHaveProperty('custodian');
    expect(reference.author).toHaveLength(1);
  });

  it('references an ODS author organisation by its ODS code', () => {
    const facts: DocumentFacts = {
      ...factsOf(),
      authors: [
        { resourceType: 'Organization', identifiers: [{ value: 'local-7' }], odsCode: 'RTG', display: 'Trust' },
      ],
    };
    expect(buildDocumentReference(facts, stored).author).toEqual([
      {
        type: 'Organization',
        identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'RTG' },
        display: 'Trust',
      },
    ]);
  });
});

describe('documentDate', () => {
  const createdAt = new Date('2024-03-09T08:00:00.000Z');
  const base = { timestamp: undefined, date: '2024-03-08' } as unknown as DocumentFacts;

  it('uses Composition.date first, whatever Bundle.timestamp says', () => {
    expect(
      documentDate({ ...base, timestamp: '2024-03-08T16:25:00+00:00', date: '2024-03-08T16:20:00Z' }, createdAt),
    ).toBe('2024-03-08T16:20:00Z');
  });

  it('falls back to Bundle.timestamp when Composition.date has no time', () => {
    expect(documentDate({ ...base, timestamp: '2024-03-08T16:25:00+00:00', date: '2024-03-08' }, createdAt)).toBe(
      '2024-03-08T16:25:00+00:00',
    );
  });

  it('uses Composition.date when it is precise to the second', () => {
    expect(documentDate({ ...base, date: '2015-02-17T10:00:00+00:00' }, createdAt)).toBe('2015-02-17T10:00:00+00:00');
  });

  it.each(['2024-03-08', '2024-03', '2024-03-08T16:20+00:00'])(
    'uses the indexing time when Composition.date is %s',
    (date) => {
      expect(documentDate({ ...base, date }, createdAt)).toBe('2024-03-09T08:00:00.000Z');
    },
  );
});

describe('buildDocumentReference from the STU3 eDischarge fixture', () => {
  it('indexes the XML STU3 document in R4 shapes', async () => {
    const { parseFhirXml } = await import('../format/fhir-xml.js');
    const xml = readFileSync(new URL('../../test/fixtures/stu3-edischarge.xml', import.meta.url));
    const { errors, warnings, facts } = validateDocumentBundle(parseFhirXml(xml), '3.0.1');
    expect(errors).toEqual([]);
    expect(warnings).toEqual([]);
    const reference = buildDocumentReference(facts!, {
      ...stored,
      contentType: 'application/fhir+xml; fhirVersion=3.0',
    });
    expect(reference).toEqual(
      expect.objectContaining({
        masterIdentifier: {
          system: 'https://tools.ietf.org/html/rfc4122',
          value: '8e6f2a1c-4b3d-4f5e-9a7b-2c1d0e9f8a7b',
        },
        docStatus: 'final',
        category: [
          {
            coding: [{ system: 'http://snomed.info/sct', code: '371531000', display: 'Report of clinical encounter' }],
          },
        ],
        subject: {
          identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9657702070' },
          display: 'Ravi Patel',
        },
        // STU3 has no Bundle.timestamp: Composition.date is the instant.
        date: '2018-06-14T10:30:00+01:00',
        author: [
          {
            type: 'Practitioner',
            identifier: { system: 'https://fhir.nhs.uk/Id/sds-user-id', value: 'G8133438' },
            display: 'Catrin Hughes',
          },
        ],
        custodian: {
          type: 'Organization',
          identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'RX4' },
          display: 'Northern Moors Mental Health NHS Foundation Trust',
        },
        securityLabel: [
          { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] },
        ],
        context: {
          encounter: [
            {
              type: 'Encounter',
              identifier: {
                system: 'https://tools.ietf.org/html/rfc4122',
                value: '7c6b5a49-3827-4e16-a5f4-e3d2c1b0a998',
              },
            },
          ],
          period: { start: '2018-05-29T14:00:00+01:00', end: '2018-06-13T16:00:00+01:00' },
          facilityType: { coding: [{ system: 'http://snomed.info/sct', code: '22232009', display: 'Hospital' }] },
          practiceSetting: {
            coding: [
              { system: 'http://snomed.info/sct', code: '892811000000109', display: 'Adult mental health service' },
            ],
          },
          sourcePatientInfo: { identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9657702070' } },
        },
      }),
    );
    expect(facts!.registeredGpOdsCodes).toEqual(['Y54321']);
  });

  it('indexes the XML form of the R4 fixture like its JSON form', async () => {
    const { parseFhirXml } = await import('../format/fhir-xml.js');
    const { toFhirXml } = await import('../../test/fixtures/fhir-xml-writer.js');
    const json = aDischargeSummaryR4();
    const parsed = parseFhirXml(Buffer.from(toFhirXml(json)));
    expect(parsed).toEqual(json);
    expect(buildDocumentReference(factsOf(parsed), stored)).toEqual(buildDocumentReference(factsOf(json), stored));
  });
});
