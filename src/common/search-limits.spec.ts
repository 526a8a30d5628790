import { FhirError } from './fhir-error.js';
import { checkSearchSize, MAX_SEARCH_PARAMETERS, MAX_VALUES_PER_PARAMETER } from './search-limits.js';

function refusal(params: [string, string][]): FhirError {
  try {
    checkSearchSize(params);
  } catch (error) {
    if (error instanceof FhirError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected a refusal');
}

const values = (count: number) => Array.from({ length: count }, (_, k) => `v${k}`).join(',');

describe('checkSearchSize', () => {
  it('accepts a search at both limits, not counting empty parameters or escaped commas', () => {
    const params: [string, string][] = Array.from({ length: MAX_SEARCH_PARAMETERS - 1 }, () => ['type', values(100)]);
    const escaped = `a\\,b,${values(MAX_VALUES_PER_PARAMETER - 1)}`;
    expect(() => checkSearchSize([...params, ['date', ''], ['code', escaped]])).not.toThrow();
  });

  it('refuses one parameter too many with 400 naming the limit and the parameter past it', () => {
    const params: [string, string][] = [
      ...Array.from({ length: MAX_SEARCH_PARAMETERS }, (): [string, string] => ['type', 'a']),
      ['date', '2024'],
    ];
    const error = refusal(params);
    expect(error.status).toBe(400);
    expect(error.message).toContain(`at most ${MAX_SEARCH_PARAMETERS}`);
    expect(error.issues[0].expression).toEqual(['date']);
  });

  it('refuses one value too many with 400 naming the parameter and the limit, known parameter or not', () => {
    for (const name of ['patient.identifier', 'no-such-parameter']) {
      const error = refusal([[name, values(MAX_VALUES_PER_PARAMETER + 1)]]);
      expect(error.status).toBe(400);
      expect(error.message).toContain(name);
      expect(error.message).toContain(`at most ${MAX_VALUES_PER_PARAMETER}`);
    }
  });
});
