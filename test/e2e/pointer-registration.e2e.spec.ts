import { json } from '../utils/http.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';

const FHIR_JSON = 'application/fhir+json';
const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';

function aPointerTo(url: string, custodian: string) {
  return {
    resourceType: 'DocumentReference',
    status: 'current',
    type: { coding: [{ system: 'http://snomed.info/sct', code: '736253002' }] },
    subject: { identifier: { system: NHS, value: '9434765919' } },
    custodian: { identifier: { system: ODS, value: custodian } },
    content: [{ attachment: { url } }],
  };
}

describe('registering a pointer', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp('sqlite', 'file');
  });
  afterAll(async () => {
    await t?.close();
  });

  async function uploadAs(org: string): Promise<string> {
    const created = await t.fetch('/fhir/Binary', {
      method: 'POST',
      headers: { 'content-type': 'application/pdf', prefer: 'return=minimal' },
      body: Buffer.from(`%PDF-1.7 ${org}`),
      org,
    });
    expect(created.status).toBe(201);
    return created.headers.get('location')!.split('/').pop()!;
  }

  const register = (pointer: unknown, org: string) =>
    t.fetch('/fhir/DocumentReference', {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify(pointer),
      org,
    });

  it("refuses with 403 a pointer to another organisation's Binary, by relative or absolute url", async () => {
    const theirs = await uploadAs('RTG');
    for (const url of [`Binary/${theirs}`, `${t.fhirUrl}/Binary/${theirs}`]) {
      const response = await register(aPointerTo(url, 'RXX'), 'RXX');
      expect([url, response.status]).toEqual([url, 403]);
      const outcome = await json(response);
      expect(outcome).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'forbidden' }] });
      expect(outcome.issue[0].diagnostics).not.toContain('RTG');
    }
    const search = await json(
      await t.fetch(`/fhir/DocumentReference?patient.identifier=${encodeURIComponent(`${NHS}|9434765919`)}`, {
        org: 'RXX',
      }),
    );
    expect(search.entry ?? []).toEqual([]);
  });

  it('registers a pointer to a Binary of the caller’s own organisation', async () => {
    const own = await uploadAs('RXX');
    const response = await register(aPointerTo(`Binary/${own}`, 'RXX'), 'RXX');
    expect(response.status).toBe(201);
    expect((await json(response)).content[0].attachment.url).toBe(`${t.fhirUrl}/Binary/${own}`);
  });

  it('refuses with 422 a pointer whose securityLabel is not an array of coded CodeableConcepts', async () => {
    const labels: unknown[] = ['R', [{ coding: [{ code: 'R' }] }], [{ coding: 'R' }], [], { coding: [] }];
    for (const securityLabel of labels) {
      const response = await register(
        { ...aPointerTo('https://records.example.nhs.uk/1.pdf', 'RXX'), securityLabel },
        'RXX',
      );
      expect([securityLabel, response.status]).toEqual([securityLabel, 422]);
      expect((await json(response)).issue[0].expression[0]).toMatch(/^DocumentReference\.securityLabel/);
    }
    const labelled = await register(
      {
        ...aPointerTo('https://records.example.nhs.uk/1.pdf', 'RXX'),
        securityLabel: [
          { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] },
        ],
      },
      'RXX',
    );
    expect(labelled.status).toBe(201);
  });
});
