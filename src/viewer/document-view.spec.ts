import { readFileSync } from 'node:fs';
import { aDischargeSummaryR4 } from '../../test/fixtures/documents.js';
import { parseFhirJson } from '../format/fhir-json.js';
import { parseFhirXml } from '../format/fhir-xml.js';
import { documentView } from './document-view.js';

const example = (file: string) => readFileSync(new URL(`../../examples/${file}`, import.meta.url));

describe('documentView', () => {
  it('presents the STU3 XML eDischarge example: banner, header and sections in order', () => {
    const view = documentView(parseFhirXml(example('discharge-summary-stu3.xml')));
    expect(view).toMatchObject({
      title: 'Mental health inpatient discharge summary',
      type: 'Discharge summary',
      date: '14-Jun-2018 10:30',
      status: 'final',
      confidentiality: 'Restricted',
      patient: { name: 'PATEL, Ravi (Mr)', nhsNumber: '9434765919', birthDate: '03-Nov-1979', gender: 'male' },
      authors: ['Dr Catrin Hughes'],
      custodian: 'Riverside Teaching Hospitals NHS Trust',
    });
    expect(view.sections.map((s) => s.title)).toEqual(['Admission details', 'Plan and requested actions']);
    expect(view.sections[0].narrative).toContain('<th>Reason for admission</th>');
  });

  it('presents the R4 JSON example', () => {
    const view = documentView(parseFhirJson(example('discharge-summary-r4.json')));
    expect(view.title).toBe('Inpatient discharge summary');
    expect(view.patient.nhsNumber).toBe('9434765919');
    expect(view.sections.length).toBeGreaterThan(0);
  });

  it('keeps nested sections in order, shows attesters (R4 one mode, STU3 a list) and sanitises every narrative', () => {
    const bundle = aDischargeSummaryR4() as any;
    const composition = bundle.entry[0].resource;
    composition.attester = [
      { mode: 'legal', time: '2024-03-08T16:30:00+00:00', party: { reference: bundle.entry[2].fullUrl } },
      { mode: ['professional', 'personal'], party: { display: 'Ward 7 sister' } },
    ];
    composition.text = {
      status: 'generated',
      div: '<div xmlns="http://www.w3.org/1999/xhtml"><p>Summary</p><script>x()</script></div>',
    };
    composition.section[2].section = [
      {
        title: 'Medicines',
        text: {
          status: 'additional',
          div: '<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="x()">Amoxicillin</p></div>',
        },
      },
      {
        title: 'Follow-up',
        emptyReason: { coding: [{ code: 'nilknown', display: 'Nil Known' }] },
        section: [{ title: 'Deeper' }],
      },
    ];
    const view = documentView(bundle);
    expect(view.attesters).toEqual([
      { mode: 'Legal', party: 'Dr Ngozi Okafor', time: '08-Mar-2024 16:30' },
      { mode: 'Professional, Personal', party: 'Ward 7 sister' },
    ]);
    expect(view.compositionNarrative).toBe('<div><p>Summary</p></div>');
    const plan = view.sections[2];
    expect(plan.sections.map((s) => s.title)).toEqual(['Medicines', 'Follow-up']);
    expect(plan.sections[0].narrative).toBe('<div><p>Amoxicillin</p></div>');
    expect(plan.sections[1]).toEqual({
      title: 'Follow-up',
      emptyReason: 'Nil Known',
      sections: [{ title: 'Deeper', sections: [] }],
    });
  });

  it('refuses a Bundle without a Composition first with a 422, not a crash', () => {
    expect(() => documentView({ resourceType: 'Bundle', entry: [{ resource: { resourceType: 'Patient' } }] })).toThrow(
      expect.objectContaining({ status: 422 }),
    );
  });
});
