import { findReferences, resolveReference } from './bundle-references.js';

const patient = { resourceType: 'Patient', id: 'p1' };
const practitioner = { resourceType: 'Practitioner', id: 'dr', meta: { versionId: '3' } };
const organisation = { resourceType: 'Organization', id: 'org-1' };

const bundle = {
  resourceType: 'Bundle',
  type: 'document',
  entry: [
    {
      fullUrl: 'http://example.org/fhir/Composition/c1',
      resource: {
        resourceType: 'Composition',
        id: 'c1',
        contained: [{ resourceType: 'Practitioner', id: 'typist' }],
        subject: { reference: 'Patient/p1' },
      },
    },
    { fullUrl: 'http://example.org/fhir/Patient/p1', resource: patient },
    { fullUrl: 'urn:uuid:5d1e8f4a-0b7c-4c2d-9e3f-6a5b4c3d2e1f', resource: practitioner },
    { fullUrl: 'urn:oid:2.16.840.1.113883.19.5', resource: organisation },
    { fullUrl: 'urn:uuid:0e9d8c7b-6a5f-4e4d-8c3b-2a1f0e9d8c7b', resource: { resourceType: 'Device', id: 'pump' } },
  ],
};

describe('resolveReference', () => {
  it('matches a urn:uuid reference to the entry with that fullUrl', () => {
    const found = resolveReference(bundle, undefined, 'urn:uuid:5d1e8f4a-0b7c-4c2d-9e3f-6a5b4c3d2e1f');
    expect(found?.resource).toBe(practitioner);
    expect(found?.fullUrl).toBe('urn:uuid:5d1e8f4a-0b7c-4c2d-9e3f-6a5b4c3d2e1f');
  });

  it('matches a urn:oid reference exactly', () => {
    expect(resolveReference(bundle, undefined, 'urn:oid:2.16.840.1.113883.19.5')?.resource).toBe(organisation);
    expect(resolveReference(bundle, undefined, 'urn:oid:2.16.840.1.113883.19')).toBeUndefined();
  });

  it('matches an absolute URL to the entry with that fullUrl', () => {
    expect(resolveReference(bundle, undefined, 'http://example.org/fhir/Patient/p1')?.resource).toBe(patient);
    expect(resolveReference(bundle, undefined, 'http://other.org/fhir/Patient/p1')).toBeUndefined();
  });

  it('resolves a relative reference against the server base of an absolute referring fullUrl', () => {
    const found = resolveReference(bundle, 'http://example.org/fhir/Composition/c1', 'Patient/p1');
    expect(found).toEqual({ fullUrl: 'http://example.org/fhir/Patient/p1', resource: patient });
  });

  it('falls back to the type and id of entries when the referring fullUrl is a urn', () => {
    const found = resolveReference(bundle, 'urn:uuid:0e9d8c7b-6a5f-4e4d-8c3b-2a1f0e9d8c7b', 'Practitioner/dr');
    expect(found).toEqual({ fullUrl: 'urn:uuid:5d1e8f4a-0b7c-4c2d-9e3f-6a5b4c3d2e1f', resource: practitioner });
  });

  it('falls back to type and id when the base-relative URL is not in the Bundle', () => {
    expect(resolveReference(bundle, 'http://example.org/fhir/Composition/c1', 'Device/pump')?.resource.id).toBe('pump');
  });

  it('strips /_history/ and checks the version against meta.versionId', () => {
    expect(resolveReference(bundle, undefined, 'Practitioner/dr/_history/3')?.resource).toBe(practitioner);
    expect(resolveReference(bundle, undefined, 'Practitioner/dr/_history/2')).toBeUndefined();
    const versioned = 'http://example.org/fhir/Patient/p1/_history/7';
    // An entry without meta.versionId is accepted for any version.
    expect(resolveReference(bundle, undefined, versioned)?.resource).toBe(patient);
  });

  it('resolves #id to a resource contained in the referring entry', () => {
    const found = resolveReference(bundle, 'http://example.org/fhir/Composition/c1', '#typist');
    expect(found?.resource).toEqual({ resourceType: 'Practitioner', id: 'typist' });
    expect(resolveReference(bundle, 'http://example.org/fhir/Composition/c1', '#nobody')).toBeUndefined();
    expect(resolveReference(bundle, 'http://example.org/fhir/Patient/p1', '#typist')).toBeUndefined();
  });

  it('does not resolve references that point outside the Bundle', () => {
    expect(resolveReference(bundle, undefined, 'urn:uuid:00000000-0000-4000-8000-000000000000')).toBeUndefined();
    expect(resolveReference(bundle, undefined, 'Patient/other')).toBeUndefined();
    expect(
      resolveReference(bundle, undefined, 'Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919'),
    ).toBeUndefined();
  });

  it('returns undefined rather than throwing for a Bundle without entries', () => {
    expect(resolveReference({ resourceType: 'Bundle' }, undefined, 'Patient/p1')).toBeUndefined();
    expect(resolveReference(null, undefined, 'Patient/p1')).toBeUndefined();
  });
});

describe('findReferences', () => {
  it('lists every reference with its location, skipping narrative and identifier-only references', () => {
    const composition = {
      resourceType: 'Composition',
      text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">reference</div>' },
      extension: [{ url: 'https://example.org/recipient', valueReference: { reference: 'urn:uuid:r' } }],
      subject: { reference: 'urn:uuid:p' },
      author: [
        { reference: 'urn:uuid:a1' },
        { identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'RTG' } },
      ],
      section: [{ entry: [{ reference: 'urn:uuid:e1' }, { reference: 'urn:uuid:e2' }] }],
    };
    expect(findReferences(composition, 'Bundle.entry[0].resource')).toEqual([
      { path: 'Bundle.entry[0].resource.extension[0].valueReference', reference: 'urn:uuid:r' },
      { path: 'Bundle.entry[0].resource.subject', reference: 'urn:uuid:p' },
      { path: 'Bundle.entry[0].resource.author[0]', reference: 'urn:uuid:a1' },
      { path: 'Bundle.entry[0].resource.section[0].entry[0]', reference: 'urn:uuid:e1' },
      { path: 'Bundle.entry[0].resource.section[0].entry[1]', reference: 'urn:uuid:e2' },
    ]);
  });
});
