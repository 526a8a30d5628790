import { FhirError } from '../common/fhir-error.js';
import { parseSubmissionSetSearch } from './submission-set-search.js';

const NHS = 'https://fhir.nhs.uk/Id/nhs-number';

describe('parseSubmissionSetSearch', () => {
  it('reads the ITI-66 parameters: NHS number with or without system, code with or without system', () => {
    const search = parseSubmissionSetSearch([
      ['patient.identifier', `${NHS}|9434765919,9000000009`],
      ['code', 'https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes|submissionset'],
      ['code', 'submissionset'],
      ['status', 'current'],
    ]);
    expect(search.nhsNumbers).toEqual([['9434765919', '9000000009']]);
    expect(search.codes).toEqual([
      [{ system: 'https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes', code: 'submissionset' }],
      [{ code: 'submissionset' }],
    ]);
    expect(search.statuses).toEqual([['current']]);
    expect(search.issues).toEqual([]);
  });

  it('matches nothing for an identifier of another system', () => {
    expect(parseSubmissionSetSearch([['patient.identifier', 'http://example.org/mrn|123']]).nhsNumbers).toEqual([[]]);
  });

  it('reads dates with prefixes as ranges', () => {
    const [condition] = parseSubmissionSetSearch([['date', 'ge2024-03']]).dates;
    expect(condition).toEqual({ prefix: 'ge', low: Date.UTC(2024, 2, 1), high: Date.UTC(2024, 3, 1) });
  });

  it('ignores and reports unknown or malformed parameters, or refuses them under strict handling', () => {
    const lenient = parseSubmissionSetSearch([
      ['source', 'x'],
      ['_count', 'many'],
      ['_count', '5'],
    ]);
    expect(lenient.count).toBe(5);
    expect(lenient.used).toEqual([['_count', '5']]);
    expect(lenient.issues.map((i) => i.expression)).toEqual([['source'], ['_count']]);
    expect(() => parseSubmissionSetSearch([['source', 'x']], { strict: true })).toThrow(FhirError);
  });

  it('refuses a malformed date even when lenient: dropping it would widen the result', () => {
    expect(() => parseSubmissionSetSearch([['date', 'yesterday']])).toThrow(/date=yesterday/);
  });
});
