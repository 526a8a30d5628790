import { readFileSync } from 'node:fs';
import { FhirError } from '../common/fhir-error.js';
import { aDischargeSummaryR4, DISCHARGE_SUMMARY_URLS as URLS } from '../../test/fixtures/documents.js';
import { detectFhirVersion, validateDocumentBundle, type DocumentFacts } from './document-bundle.js';
import type { FhirResource } from '../format/fhir-json.js';

// Tests poke into fixture JSON freely.
type Json = Record<string, any>;

function entry(bundle: FhirResource, index: number): Json {
  return (bundle.entry as Json[])[index];
}
function composition(bundle: FhirResource): Json {
  return entry(bundle, 0).resource;
}
function patient(bundle: FhirResource): Json {
  return entry(bundle, 1).resource;
}

const stu3Xml = () => readFileSync(new URL('../../test/fixtures/stu3-edischarge.xml', import.meta.url));

describe('validateDocumentBundle', () => {
  it('accepts the R4 discharge summary without errors or warnings', () => {
    const result = validateDocumentBundle(aDischargeSummaryR4(), '4.0.1');
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
    expect(result.facts).toBeDefined();
  });

  const failures: [string, (b: FhirResource) => FhirResource | void, string, string, RegExp][] = [
    [
      'rejects a resource that is not a Bundle',
      () => ({ resourceType: 'Patient' }),
      'value',
      'Bundle',
      /Expected a Bundle/,
    ],
    [
      'rejects a Bundle whose type is not document',
      (b) => void (b.type = 'collection'),
      'value',
      'Bundle.type',
      /'document'.*'collection'/,
    ],
    [
      'rejects a document without identifier.system (bdl-9)',
      (b) => void delete (b.identifier as Json).system,
      'invariant',
      'Bundle.identifier',
      /bdl-9/,
    ],
    [
      'rejects a document without identifier (bdl-9)',
      (b) => void delete b.identifier,
      'invariant',
      'Bundle.identifier',
      /bdl-9/,
    ],
    [
      'rejects an R4 document without timestamp (bdl-10)',
      (b) => void delete b.timestamp,
      'invariant',
      'Bundle.timestamp',
      /bdl-10/,
    ],
    [
      'rejects a Bundle whose first entry is not a Composition (bdl-11)',
      (b) => void (b.entry as Json[]).reverse(),
      'invariant',
      'Bundle.entry[0].resource',
      /bdl-11/,
    ],
    ['rejects a document with no entries', (b) => void (b.entry = []), 'required', 'Bundle.entry', /must have entries/],
    [
      'rejects two entries with the same fullUrl (bdl-7)',
      (b) => void (entry(b, 6).fullUrl = URLS.encounter),
      'invariant',
      'Bundle.entry[6].fullUrl',
      /bdl-7.*entries 5 and 6/,
    ],
    [
      'rejects an entry without a resource',
      (b) => void (b.entry as Json[]).push({ fullUrl: 'urn:uuid:9c8b7a69-5847-4362-9150-f0e1d2c3b4a5' }),
      'required',
      'Bundle.entry[7].resource',
      /entry 7 has none/,
    ],
    [
      'rejects a Composition without title',
      (b) => void delete composition(b).title,
      'required',
      'Bundle.entry[0].resource.title',
      /Composition.title is required/,
    ],
    [
      'rejects a Composition without subject',
      (b) => void delete composition(b).subject,
      'required',
      'Bundle.entry[0].resource.subject',
      /Composition.subject is required/,
    ],
    [
      'rejects a subject that is not in the Bundle',
      (b) => void (composition(b).subject = { reference: 'Patient/elsewhere' }),
      'business-rule',
      'Bundle.entry[0].resource.subject',
      /Patient included in the Bundle/,
    ],
    [
      'rejects a subject that is not a Patient',
      (b) => void (composition(b).subject = { reference: URLS.practitioner }),
      'value',
      'Bundle.entry[0].resource.subject',
      /must be a Patient, not a Practitioner/,
    ],
    [
      'rejects a Composition without author',
      (b) => void delete composition(b).author,
      'required',
      'Bundle.entry[0].resource.author',
      /author is required/,
    ],
    [
      'rejects an author that is not in the Bundle',
      (b) => void composition(b).author.push({ reference: 'urn:uuid:11112222-3333-4444-8555-666677778888' }),
      'business-rule',
      'Bundle.entry[0].resource.author[1]',
      /author\[1\] must reference a resource included/,
    ],
    [
      'rejects an author of a type that cannot author',
      (b) => void (composition(b).author = [{ reference: URLS.encounter }]),
      'value',
      'Bundle.entry[0].resource.author[0]',
      /must be one of Practitioner, .*, not Encounter/,
    ],
    [
      'rejects a custodian that is not a Reference',
      (b) => void (composition(b).custodian = 'RTG'),
      'structure',
      'Bundle.entry[0].resource.custodian',
      /must be a Reference to an Organization/,
    ],
    [
      'rejects a custodian that is not in the Bundle',
      (b) => void (composition(b).custodian = { reference: 'Organization/RTG' }),
      'business-rule',
      'Bundle.entry[0].resource.custodian',
      /Organization included in the Bundle/,
    ],
    [
      'rejects a custodian that is not an Organization',
      (b) => void (composition(b).custodian = { reference: URLS.practitioner }),
      'value',
      'Bundle.entry[0].resource.custodian',
      /must be an Organization, not a Practitioner/,
    ],
    [
      'rejects an NHS number whose check digit fails',
      (b) => void (patient(b).identifier[0].value = '9434765918'),
      'value',
      'Bundle.entry[1].resource.identifier[0].value',
      /'9434765918'.*modulus 11 check digit fails/,
    ],
    [
      'rejects an NHS number written with spaces',
      (b) => void (patient(b).identifier[0].value = '943 476 5919'),
      'value',
      'Bundle.entry[1].resource.identifier[0].value',
      /exactly 10 digits/,
    ],
    [
      'rejects an invalid NHS number beside other identifiers',
      (b) =>
        void patient(b).identifier.unshift(
          { system: 'https://fhir.rtg.nhs.uk/Id/mrn', value: 'M123456' },
          { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '1352465790' },
        ),
      'value',
      'Bundle.entry[1].resource.identifier[1].value',
      /'1352465790'.*modulus 11/,
    ],
    [
      'rejects a Patient with two different NHS numbers',
      (b) => void patient(b).identifier.push({ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9657702070' }),
      'business-rule',
      'Bundle.entry[1].resource.identifier',
      /different NHS numbers/,
    ],
  ];

  it.each(failures)('%s', (_name, mutate, code, expression, message) => {
    const bundle = aDischargeSummaryR4();
    const input = mutate(bundle) ?? bundle;
    const result = validateDocumentBundle(input, '4.0.1');
    expect(result.facts).toBeUndefined();
    expect(result.errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          severity: 'error',
          code,
          expression: [expression],
          diagnostics: expect.stringMatching(message),
        }),
      ]),
    );
  });

  it('accepts a subject Patient without an NHS number, as HL7 and IHE documents have', () => {
    const result = validateDocumentBundle(aDischargeSummaryR4({ nhsNumber: null }), '4.0.1');
    expect(result.errors).toEqual([]);
    expect(result.facts?.subject).toEqual({
      identifier: { system: 'https://fhir.rtg.nhs.uk/Id/mrn', value: 'M123456' },
      display: 'Ms Alice Jones',
      fullUrl: URLS.patient,
      reference: URLS.patient,
    });
  });

  it('prefers the NHS number as the subject identifier over identifiers listed before it', () => {
    const bundle = aDischargeSummaryR4();
    patient(bundle).identifier.unshift({ system: 'https://fhir.rtg.nhs.uk/Id/mrn', value: 'M123456' });
    expect(validateDocumentBundle(bundle, '4.0.1').facts?.subject).toEqual(
      expect.objectContaining({
        nhsNumber: '9434765919',
        identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' },
      }),
    );
  });

  it('gives no subject identifier for a Patient whose identifiers lack a system', () => {
    const bundle = aDischargeSummaryR4();
    patient(bundle).identifier = [{ value: '574687583' }];
    const result = validateDocumentBundle(bundle, '4.0.1');
    expect(result.errors).toEqual([]);
    expect(result.facts?.subject).not.toHaveProperty('identifier');
    expect(result.facts?.subject).not.toHaveProperty('nhsNumber');
  });

  it('accepts a Composition without custodian, which R4 allows', () => {
    const result = validateDocumentBundle(aDischargeSummaryR4({ custodianOds: null }), '4.0.1');
    expect(result.errors).toEqual([]);
    expect(result.facts).toBeDefined();
    expect(result.facts).not.toHaveProperty('custodian');
  });

  it('still checks bdl-7 on a Bundle that is not a document', () => {
    const bundle = aDischargeSummaryR4();
    bundle.type = 'searchset';
    entry(bundle, 2).fullUrl = URLS.patient;
    const { errors } = validateDocumentBundle(bundle, '4.0.1');
    expect(errors.map((e) => e.expression?.[0])).toEqual(['Bundle.type', 'Bundle.entry[2].fullUrl']);
  });

  it('does not add bdl-11 when a document has no entries at all', () => {
    const bundle = aDischargeSummaryR4();
    delete bundle.entry;
    const { errors } = validateDocumentBundle(bundle, '4.0.1');
    expect(errors.map((e) => e.expression?.[0])).toEqual(['Bundle.entry']);
  });

  it('accepts repeated fullUrls whose entries have different versionIds (bdl-7)', () => {
    const bundle = aDischargeSummaryR4();
    const gp = entry(bundle, 4);
    gp.resource.meta = { versionId: '1' };
    (bundle.entry as Json[]).push({ fullUrl: gp.fullUrl, resource: { ...gp.resource, meta: { versionId: '2' } } });
    expect(validateDocumentBundle(bundle, '4.0.1').errors).toEqual([]);
  });

  it('accepts an STU3 document without timestamp, which STU3 Bundles do not have', () => {
    const bundle = aDischargeSummaryR4({ timestamp: null });
    expect(validateDocumentBundle(bundle, '3.0.1').errors).toEqual([]);
  });

  it('resolves relative references against absolute fullUrls and by type and id', () => {
    const bundle = aDischargeSummaryR4();
    const base = 'https://trust.example.nhs.uk/fhir/';
    for (const e of bundle.entry as Json[]) {
      e.fullUrl = `${base}${e.resource.resourceType}/${e.resource.id}`;
    }
    const c = composition(bundle);
    c.subject = { reference: `Patient/${patient(bundle).id}` };
    c.author = [{ reference: `Practitioner/${entry(bundle, 2).resource.id}` }];
    c.custodian = { reference: `${base}Organization/${entry(bundle, 3).resource.id}` };
    c.encounter = { reference: `Encounter/${entry(bundle, 5).resource.id}` };
    c.section = [];
    patient(bundle).generalPractitioner = [{ reference: `Organization/${entry(bundle, 4).resource.id}` }];
    const result = validateDocumentBundle(bundle, '4.0.1');
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([
      expect.objectContaining({ expression: ['Bundle.entry[5].resource.subject'] }),
      expect.objectContaining({ expression: ['Bundle.entry[6].resource.subject'] }),
      expect.objectContaining({ expression: ['Bundle.entry[6].resource.encounter'] }),
    ]);
    expect(result.facts?.registeredGpOdsCodes).toEqual(['Y12345']);
    expect(result.facts?.encounter?.identifier?.value).toBe('ENC-2024-004417');
  });

  it('reports references that do not resolve as warnings, not errors', () => {
    const bundle = aDischargeSummaryR4();
    composition(bundle).section[1].entry.push({ reference: 'urn:uuid:aaaabbbb-cccc-4ddd-8eee-ffff00001111' });
    const result = validateDocumentBundle(bundle, '4.0.1');
    expect(result.errors).toEqual([]);
    expect(result.facts).toBeDefined();
    expect(result.warnings).toEqual([
      {
        severity: 'warning',
        code: 'not-found',
        diagnostics: "Reference 'urn:uuid:aaaabbbb-cccc-4ddd-8eee-ffff00001111' does not resolve inside the Bundle",
        expression: ['Bundle.entry[0].resource.section[1].entry[1]'],
      },
    ]);
  });

  it('does not repeat an unresolved subject as a warning', () => {
    const bundle = aDischargeSummaryR4();
    composition(bundle).subject = { reference: 'urn:uuid:99999999-9999-4999-8999-999999999999' };
    const result = validateDocumentBundle(bundle, '4.0.1');
    expect(result.warnings.map((w) => w.expression?.[0])).not.toContain('Bundle.entry[0].resource.subject');
  });

  it.each([
    ['entry is not a list', { resourceType: 'Bundle', type: 'document', entry: 'x' }],
    ['entries are null', { resourceType: 'Bundle', type: 'document', entry: [null, 7] }],
    ['the Composition is a string', { resourceType: 'Bundle', type: 'document', entry: [{ resource: 'Composition' }] }],
    [
      'author is a string',
      { ...aDischargeSummaryR4(), entry: [{ resource: { resourceType: 'Composition', author: 'x' } }] },
    ],
  ])('returns issues instead of throwing when %s', (_name, input) => {
    expect(validateDocumentBundle(input as FhirResource, '4.0.1').errors.length).toBeGreaterThan(0);
  });
});

describe('DocumentFacts', () => {
  it('reads what indexing needs from the R4 discharge summary', () => {
    const facts = validateDocumentBundle(aDischargeSummaryR4(), '4.0.1').facts;
    expect(facts).toEqual<DocumentFacts>({
      fhirVersion: '4.0.1',
      identifier: { system: 'https://tools.ietf.org/html/rfc4122', value: '5b2e8f7a-3c1d-4e9b-a6f0-8d7c6b5a4e21' },
      timestamp: '2024-03-08T16:25:00+00:00',
      compositionStatus: 'final',
      type: { coding: [{ system: 'http://snomed.info/sct', code: '373942005', display: 'Discharge summary' }] },
      category: [
        { coding: [{ system: 'http://snomed.info/sct', code: '371531000', display: 'Report of clinical encounter' }] },
      ],
      date: '2024-03-08T16:20:00+00:00',
      title: 'Inpatient discharge summary',
      description: 'Inpatient discharge summary',
      confidentiality: { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'N' },
      securityLabels: [],
      subject: {
        nhsNumber: '9434765919',
        identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' },
        display: 'Ms Alice Jones',
        fullUrl: URLS.patient,
        reference: URLS.patient,
      },
      authors: [
        {
          resourceType: 'Practitioner',
          display: 'Ngozi Okafor',
          identifiers: [{ system: 'https://fhir.hl7.org.uk/Id/gmc-number', value: 'C7654321' }],
          practitionerName: { family: 'Okafor', given: ['Ngozi'] },
        },
      ],
      custodian: {
        odsCode: 'RTG',
        identifiers: [{ system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'RTG' }],
        display: 'University Hospitals of Derby and Burton NHS Foundation Trust',
      },
      encounter: {
        identifier: { system: 'https://fhir.rtg.nhs.uk/Id/encounter', value: 'ENC-2024-004417' },
        period: { start: '2024-03-02T09:15:00+00:00', end: '2024-03-08T15:00:00+00:00' },
        class: {
          system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode',
          code: 'IMP',
          display: 'inpatient encounter',
        },
      },
      period: { start: '2024-03-02T09:15:00+00:00', end: '2024-03-08T15:00:00+00:00' },
      practiceSetting: {
        coding: [{ system: 'http://snomed.info/sct', code: '394802001', display: 'General medicine' }],
      },
      registeredGpOdsCodes: ['Y12345'],
      informationRecipientOdsCodes: [],
      relatesTo: [],
    });
  });

  it('prefers Composition.event.period over the Encounter period', () => {
    const bundle = aDischargeSummaryR4();
    composition(bundle).event = [{ period: { start: '2024-03-05T10:00:00+00:00' } }];
    expect(validateDocumentBundle(bundle, '4.0.1').facts?.period).toEqual({ start: '2024-03-05T10:00:00+00:00' });
  });

  it('reads relatesTo with identifier and reference targets', () => {
    const bundle = aDischargeSummaryR4({
      relatesTo: [
        { code: 'replaces', targetIdentifier: { system: 'https://tools.ietf.org/html/rfc4122', value: 'old-1' } },
        { code: 'appends', targetReference: { reference: 'https://registry.example/fhir/Bundle/b-7' } },
      ],
    });
    const facts = validateDocumentBundle(bundle, '4.0.1').facts;
    expect(facts?.relatesTo).toEqual([
      { code: 'replaces', targetIdentifier: { system: 'https://tools.ietf.org/html/rfc4122', value: 'old-1' } },
      { code: 'appends', targetReference: 'https://registry.example/fhir/Bundle/b-7' },
    ]);
  });

  it('reads the registered GP from an identifier-only reference and through a PractitionerRole', () => {
    const bundle = aDischargeSummaryR4();
    const roleUrl = 'urn:uuid:12121212-3434-4565-8787-909090909090';
    (bundle.entry as Json[]).push({
      fullUrl: roleUrl,
      resource: { resourceType: 'PractitionerRole', id: 'role', organization: { reference: URLS.gp } },
    });
    patient(bundle).generalPractitioner = [
      { identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'B82005' } },
      { reference: roleUrl },
    ];
    expect(validateDocumentBundle(bundle, '4.0.1').facts?.registeredGpOdsCodes).toEqual(['B82005', 'Y12345']);
  });

  describe('informationRecipientOdsCodes', () => {
    const RECIPIENT = 'https://fhir.nhs.uk/STU3/StructureDefinition/Extension-ITK-InformationRecipient-1';
    const stu3 = async () => (await import('../format/fhir-xml.js')).parseFhirXml(stu3Xml());
    const recipients = (bundle: FhirResource) =>
      validateDocumentBundle(bundle, '3.0.1').facts?.informationRecipientOdsCodes;
    const addEntry = (bundle: FhirResource, fullUrl: string, resource: Json) =>
      (bundle.entry as Json[]).push({ fullUrl, resource });
    const setRecipients = (bundle: FhirResource, references: Json[]) => {
      const c = composition(bundle);
      c.extension = [
        ...c.extension.filter((e: Json) => e.url !== RECIPIENT),
        ...references.map((valueReference) => ({ url: RECIPIENT, valueReference })),
      ];
    };

    it('reads the recipient Organization of the STU3 ITK extension', async () => {
      const bundle = await stu3();
      expect(recipients(bundle)).toEqual(['Y54321']);
      setRecipients(bundle, []);
      expect(recipients(bundle)).toEqual([]);
    });

    it('reads recipients through a PractitionerRole, a Practitioner with a role, and an ODS identifier', async () => {
      const bundle = await stu3();
      const trust = 'urn:uuid:a7b8c9d0-e1f2-4a3b-8c4d-5e6f7a8b9c0d';
      addEntry(bundle, 'urn:uuid:0c0c0c0c-1d1d-4e2e-8f3f-404040404040', {
        resourceType: 'Organization',
        identifier: [{ system: 'https://fhir.nhs.uk/Id/ods-site-code', value: 'RX4AB' }],
      });
      addEntry(bundle, 'urn:uuid:1a1a1a1a-2b2b-4c3c-8d4d-5e5e5e5e5e5e', {
        resourceType: 'PractitionerRole',
        organization: { reference: 'urn:uuid:0c0c0c0c-1d1d-4e2e-8f3f-404040404040' },
      });
      addEntry(bundle, 'urn:uuid:2b2b2b2b-3c3c-4d4d-8e5e-6f6f6f6f6f6f', {
        resourceType: 'Practitioner',
        name: [{ family: 'Gillingham' }],
      });
      addEntry(bundle, 'urn:uuid:3c3c3c3c-4d4d-4e5e-8f6f-707070707070', {
        resourceType: 'PractitionerRole',
        practitioner: { reference: 'urn:uuid:2b2b2b2b-3c3c-4d4d-8e5e-6f6f6f6f6f6f' },
        organization: { reference: trust },
      });
      setRecipients(bundle, [
        { reference: 'urn:uuid:1a1a1a1a-2b2b-4c3c-8d4d-5e5e5e5e5e5e' },
        { reference: 'urn:uuid:2b2b2b2b-3c3c-4d4d-8e5e-6f6f6f6f6f6f' },
        { identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'B82005' } },
        { identifier: { system: 'https://fhir.rtg.nhs.uk/Id/team', value: 'T1' } },
      ]);
      expect(recipients(bundle)).toEqual(['RX4AB', 'RX4', 'B82005']);
    });

    it('gives no code for a recipient Practitioner without a role in the Bundle', async () => {
      const bundle = await stu3();
      setRecipients(bundle, [{ reference: 'urn:uuid:d4e5f6a7-b8c9-4d0e-8f1a-2b3c4d5e6f7a' }]);
      expect(recipients(bundle)).toEqual([]);
    });
  });

  it('gives an Organization author its ODS code', () => {
    const bundle = aDischargeSummaryR4();
    composition(bundle).author = [{ reference: URLS.custodian, display: 'Ward 4 team' }];
    expect(validateDocumentBundle(bundle, '4.0.1').facts?.authors).toEqual([
      {
        resourceType: 'Organization',
        display: 'Ward 4 team',
        identifiers: [{ system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'RTG' }],
        odsCode: 'RTG',
      },
    ]);
  });

  it('maps the STU3 Composition.class to category', () => {
    const bundle = aDischargeSummaryR4({ timestamp: null });
    const c = composition(bundle);
    c.class = c.category[0];
    delete c.category;
    const facts = validateDocumentBundle(bundle, '3.0.1').facts;
    expect(facts?.category).toEqual([
      { coding: [{ system: 'http://snomed.info/sct', code: '371531000', display: 'Report of clinical encounter' }] },
    ]);
    expect(facts?.fhirVersion).toBe('3.0.1');
    expect(facts?.timestamp).toBeUndefined();
  });
});

describe('detectFhirVersion', () => {
  it.each([
    ['4.0', '4.0.1'],
    ['4.0.1', '4.0.1'],
    ['3.0', '3.0.1'],
    ['3.0.1', '3.0.1'],
    ['3.0.2', '3.0.1'],
  ])('takes the declared fhirVersion %s as %s', (declared, expected) => {
    // The content says STU3 (no timestamp, STU3 profile) but the declared version wins.
    const stu3Looking = {
      ...aDischargeSummaryR4(),
      meta: { profile: ['https://fhir.nhs.uk/STU3/StructureDefinition/ITK-Document-Bundle-1'] },
    };
    expect(detectFhirVersion(stu3Looking, declared)).toBe(expected);
  });

  it.each(['1.0.2', '4.3', '5.0.0', 'R4'])('refuses the declared fhirVersion %s with 415', (declared) => {
    let thrown: unknown;
    try {
      detectFhirVersion(aDischargeSummaryR4(), declared);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(FhirError);
    expect((thrown as FhirError).status).toBe(415);
    expect((thrown as FhirError).issues[0]).toEqual(
      expect.objectContaining({ code: 'not-supported', diagnostics: expect.stringContaining(declared) }),
    );
  });

  it('defaults to R4', () => {
    expect(detectFhirVersion(aDischargeSummaryR4())).toBe('4.0.1');
    expect(detectFhirVersion(aDischargeSummaryR4({ timestamp: null }))).toBe('4.0.1');
  });

  it('recognises STU3 by an NHS STU3 Bundle profile', () => {
    const bundle = {
      ...aDischargeSummaryR4(),
      meta: { profile: ['https://fhir.nhs.uk/STU3/StructureDefinition/ITK-Document-Bundle-1'] },
    };
    expect(detectFhirVersion(bundle)).toBe('3.0.1');
  });

  it('recognises STU3 by a CareConnect Composition profile', () => {
    const bundle = aDischargeSummaryR4();
    composition(bundle).meta = {
      profile: ['https://fhir.nhs.uk/STU3/StructureDefinition/CareConnect-ITK-EDIS-Composition-1'],
    };
    expect(detectFhirVersion(bundle)).toBe('3.0.1');
  });

  it('recognises STU3 by Composition.class', () => {
    const bundle = aDischargeSummaryR4();
    composition(bundle).class = { text: 'Discharge' };
    expect(detectFhirVersion(bundle)).toBe('3.0.1');
  });

  it('recognises STU3 by a list-valued attester.mode', () => {
    const bundle = aDischargeSummaryR4();
    composition(bundle).attester = [{ mode: ['legal'] }];
    expect(detectFhirVersion(bundle)).toBe('3.0.1');
    composition(bundle).attester = [{ mode: 'legal' }];
    expect(detectFhirVersion(bundle)).toBe('4.0.1');
  });

  it('keeps UK Core R4 profiles as R4', () => {
    const bundle = aDischargeSummaryR4();
    composition(bundle).meta = { profile: ['https://fhir.hl7.org.uk/StructureDefinition/UKCore-Composition'] };
    expect(detectFhirVersion(bundle)).toBe('4.0.1');
  });

  it('recognises the STU3 XML fixture by content once parsed', async () => {
    const { parseFhirXml } = await import('../format/fhir-xml.js');
    expect(detectFhirVersion(parseFhirXml(stu3Xml()))).toBe('3.0.1');
  });
});
