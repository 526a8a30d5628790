import { FhirError } from './fhir-error.js';

/**
 * Parameters one search may carry, each repetition counted (repeats are AND-ed): real searches use fewer than ten.
 * Bounds the SQL each search builds, below SQLite's expression depth of 1 000 and PostgreSQL's 65 535 binds.
 */
export const MAX_SEARCH_PARAMETERS = 50;

/** Comma-separated (OR-ed) values one parameter may carry: a list of 100 codes or NHS numbers covers real use. */
export const MAX_VALUES_PER_PARAMETER = 100;

/** The values of one parameter: comma-separated, `\,` escaping a comma (R4 search.html#escaping). */
const valueCount = (value: string): number => value.split(/(?<!\\),/).filter((part) => part !== '').length;

/**
 * Refuses (400) a search with more than MAX_SEARCH_PARAMETERS non-empty parameters, or a parameter with more than
 * MAX_VALUES_PER_PARAMETER values, naming the parameter and the limit. Known or not: the limit holds in lenient mode.
 */
export function checkSearchSize(params: Iterable<readonly [string, string]>): void {
  const given = [...params].filter(([, value]) => value !== '');
  if (given.length > MAX_SEARCH_PARAMETERS) {
    const past = given[MAX_SEARCH_PARAMETERS][0];
    throw new FhirError(
      400,
      'too-costly',
      `The search has ${given.length} parameters; at most ${MAX_SEARCH_PARAMETERS} are accepted, each repetition ` +
        `counted (${past} is past the limit): join alternatives with commas instead`,
      { expression: past },
    );
  }
  for (const [name, value] of given) {
    const count = valueCount(value);
    if (count > MAX_VALUES_PER_PARAMETER) {
      throw new FhirError(
        400,
        'too-costly',
        `The search parameter ${name} has ${count} values; at most ${MAX_VALUES_PER_PARAMETER} are accepted`,
        { expression: name },
      );
    }
  }
}
