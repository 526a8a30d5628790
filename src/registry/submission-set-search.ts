import { FhirError } from '../common/fhir-error.js';
import type { OutcomeIssue } from '../common/operation-outcome.js';
import { checkSearchSize } from '../common/search-limits.js';
import { type DateCondition, type TokenValue, parseDateValue, parseTokenValue } from './document-reference-search.js';
import { NHS_NUMBER_SYSTEM } from './nhs-number.js';

/** A parsed ITI-66 Find Lists search: repeated parameters AND-ed, comma-separated values OR-ed. */
export interface SubmissionSetSearch {
  ids: string[][];
  /** Each clause is a set of NHS numbers; an empty set matches nothing (another identifier system). */
  nhsNumbers: string[][];
  codes: TokenValue[][];
  statuses: string[][];
  dates: DateCondition[];
  count: number;
  /** The parameters applied, for the self link. */
  used: [string, string][];
  /** Ignored parameters, reported in the searchset's OperationOutcome entry. */
  issues: OutcomeIssue[];
}

export const LIST_DEFAULT_COUNT = 20;
export const LIST_MAX_COUNT = 500;

const splitValues = (value: string): string[] => value.split(/(?<!\\),/).filter((v) => v !== '');

class Problem extends Error {}

/**
 * Parses List search parameters (IHE MHD ITI-66): `patient.identifier` (NHS number, `system|value` or value),
 * `code` (e.g. MHDlistTypes|submissionset), `status`, `date` (with prefixes), `_id` and `_count`. Unknown or
 * malformed parameters are ignored and reported, or refused with 400 when `strict` (Prefer: handling=strict); a
 * malformed `date` is always refused.
 */
export function parseSubmissionSetSearch(
  params: [string, string][],
  options: { strict?: boolean; now?: number } = {},
): SubmissionSetSearch {
  const search: SubmissionSetSearch = {
    ids: [],
    nhsNumbers: [],
    codes: [],
    statuses: [],
    dates: [],
    count: LIST_DEFAULT_COUNT,
    used: [],
    issues: [],
  };
  const errors: OutcomeIssue[] = [];
  const now = options.now ?? Date.now();
  checkSearchSize(params);
  for (const [key, value] of params) {
    if (value === '') {
      continue;
    }
    try {
      apply(search, key, value, now);
      search.used.push([key, value]);
    } catch (error) {
      if (!(error instanceof Problem)) {
        throw error;
      }
      errors.push({
        severity: 'error',
        code: 'not-supported',
        diagnostics: `${key}=${value}: ${error.message}`,
        expression: [key],
      });
    }
  }
  // date is the one filter here whose value can be malformed; dropping it would widen the result, so never lenient
  const malformed = errors.filter((e) => e.expression?.[0] === 'date');
  if (malformed.length > 0) {
    throw new FhirError(400, 'value', malformed[0].diagnostics, {
      issues: malformed.map((e) => ({ ...e, code: 'value' })),
    });
  }
  if (errors.length > 0 && options.strict) {
    throw new FhirError(400, 'not-supported', errors[0].diagnostics, { issues: errors });
  }
  search.issues = errors.map((e) => ({ ...e, severity: 'warning', diagnostics: `${e.diagnostics} (ignored)` }));
  return search;
}

function apply(search: SubmissionSetSearch, key: string, value: string, now: number): void {
  switch (key) {
    case '_id':
      search.ids.push(splitValues(value));
      return;
    case 'patient.identifier':
    case 'subject.identifier':
    case 'patient:identifier': {
      const tokens = splitValues(value).map(token);
      search.nhsNumbers.push(
        tokens.filter((t) => (t.system ?? NHS_NUMBER_SYSTEM) === NHS_NUMBER_SYSTEM && t.code).map((t) => t.code!),
      );
      return;
    }
    case 'code':
      search.codes.push(splitValues(value).map(token));
      return;
    case 'status':
      search.statuses.push(splitValues(value));
      return;
    case 'date': {
      const condition = parseDateValue(value, now);
      if (!condition) {
        throw new Problem('not a FHIR date with an optional prefix (eq ne lt gt le ge sa eb ap)');
      }
      search.dates.push(condition);
      return;
    }
    case '_count': {
      const count = Number(value);
      if (!Number.isInteger(count) || count < 1) {
        throw new Problem('_count must be a positive whole number');
      }
      search.count = Math.min(count, LIST_MAX_COUNT);
      return;
    }
    case '_format':
      // The response format: negotiated (and refused with 406 if unknown) at the HTTP edge.
      return;
    default:
      throw new Problem(`The search parameter ${key} is not supported on List`);
  }
}

function token(value: string): TokenValue {
  const parsed = parseTokenValue(value);
  if (!parsed) {
    throw new Problem('not a token (system|code or code)');
  }
  return parsed;
}
