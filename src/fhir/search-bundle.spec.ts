import { searchBundle } from './search-bundle.js';

describe('searchBundle', () => {
  const base = 'https://registry.example/fhir';

  it('builds a searchset with total, self/next/previous links, match entries and an outcome entry', () => {
    const bundle = searchBundle({
      base,
      resourceType: 'DocumentReference',
      params: [
        ['patient.identifier', 'https://fhir.nhs.uk/Id/nhs-number|9434765919'],
        ['_count', '2'],
      ],
      cursor: 'CUR',
      next: 'NEXT',
      previous: 'PREV',
      total: 5,
      resources: [{ id: 'a', resource: { resourceType: 'DocumentReference', id: 'a' } }],
      issues: [{ severity: 'warning', code: 'not-supported', diagnostics: 'foo=bar: unknown (ignored)' }],
    });
    const self = `${base}/DocumentReference?patient.identifier=https%3A%2F%2Ffhir.nhs.uk%2FId%2Fnhs-number%7C9434765919&_count=2`;
    expect(bundle).toEqual({
      resourceType: 'Bundle',
      type: 'searchset',
      total: 5,
      link: [
        { relation: 'self', url: `${self}&_cursor=CUR` },
        { relation: 'next', url: `${self}&_cursor=NEXT` },
        { relation: 'previous', url: `${self}&_cursor=PREV` },
      ],
      entry: [
        {
          fullUrl: `${base}/DocumentReference/a`,
          resource: { resourceType: 'DocumentReference', id: 'a' },
          search: { mode: 'match' },
        },
        {
          resource: {
            resourceType: 'OperationOutcome',
            issue: [{ severity: 'warning', code: 'not-supported', diagnostics: 'foo=bar: unknown (ignored)' }],
          },
          search: { mode: 'outcome' },
        },
      ],
    });
  });

  it('leaves out total, entries and paging links when there are none', () => {
    const bundle = searchBundle({ base, resourceType: 'DocumentReference', params: [], resources: [], issues: [] });
    expect(bundle).toEqual({
      resourceType: 'Bundle',
      type: 'searchset',
      link: [{ relation: 'self', url: `${base}/DocumentReference` }],
    });
  });
});
