import { documentReferenceTokens } from './document-reference-tokens.js';

describe('documentReferenceTokens', () => {
  it('indexes author names from the display, or from a contained resource when the author points at one', () => {
    const tokens = documentReferenceTokens({
      resourceType: 'DocumentReference',
      contained: [{ resourceType: 'Practitioner', id: 'p1', name: [{ family: 'Watson', given: ['Mary', 'Jane'] }] }],
      author: [
        { type: 'Practitioner', display: 'Zoë Émile-Smith' },
        { reference: '#p1', display: 'ignored' },
        { type: 'Organization', display: 'Riverside Medical Practice' },
      ],
    });
    expect(tokens.filter((t) => t.param.startsWith('author.'))).toEqual([
      { param: 'author.family', system: null, code: 'Émile-Smith', normalized: 'emile-smith' },
      { param: 'author.given', system: null, code: 'Zoë', normalized: 'zoe' },
      { param: 'author.given', system: null, code: 'Mary', normalized: 'mary' },
      { param: 'author.given', system: null, code: 'Jane', normalized: 'jane' },
      { param: 'author.family', system: null, code: 'Watson', normalized: 'watson' },
    ]);
  });

  it('indexes references, relations and the period as an inclusive range', () => {
    const tokens = documentReferenceTokens({
      resourceType: 'DocumentReference',
      subject: { reference: 'Patient/p-1', identifier: { system: 'urn:x', value: '1' } },
      relatesTo: [{ code: 'replaces', target: { reference: 'DocumentReference/d1' } }],
      context: {
        period: { start: '2024-03-02', end: '2024-03-08T15:00:00Z' },
        related: [{ reference: 'Encounter/e1' }],
      },
    });
    expect(tokens).toEqual(
      expect.arrayContaining([
        { param: 'subject', system: null, code: 'Patient/p-1' },
        { param: 'relatesto', system: null, code: 'DocumentReference/d1' },
        { param: 'relation', system: 'http://hl7.org/fhir/document-relationship-type', code: 'replaces' },
        { param: 'related', system: null, code: 'Encounter/e1' },
        {
          param: 'period',
          system: null,
          code: '2024-03-02/2024-03-08T15:00:00Z',
          lowMs: Date.parse('2024-03-02T00:00:00Z'),
          highMs: Date.parse('2024-03-08T15:00:00Z') + 999,
        },
      ]),
    );
  });

  it('indexes where each content is (location), so a Binary read finds the DocumentReferences pointing at it', () => {
    const tokens = documentReferenceTokens({
      resourceType: 'DocumentReference',
      content: [
        { attachment: { contentType: 'application/pdf', url: 'https://r.example/fhir/Binary/b1' } },
        { attachment: { contentType: 'text/plain' } },
      ],
    });
    expect(tokens.filter((t) => t.param === 'location')).toEqual([
      { param: 'location', system: null, code: 'https://r.example/fhir/Binary/b1' },
    ]);
  });
});
