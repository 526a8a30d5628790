import { FhirError } from '../common/fhir-error.js';
import type { IssueCode, OutcomeIssue } from '../common/operation-outcome.js';
import { checkSearchSize } from '../common/search-limits.js';
import { NHS_NUMBER_SYSTEM } from './nhs-number.js';
import { decodeCursor, type SearchCursor } from './search-cursor.js';
import { dateRange } from '../common/fhir-date.js';

export { dateRange };

/** FHIR R4 date search prefixes (search.html#prefix). */
export type DatePrefix = 'eq' | 'ne' | 'lt' | 'gt' | 'le' | 'ge' | 'sa' | 'eb' | 'ap';

/** One date search value as a half-open range [low, high) of epoch milliseconds, already widened for `ap`. */
export interface DateCondition {
  prefix: DatePrefix;
  low: number;
  high: number;
}

/** A token value: `system` undefined matches any system, null only values without one; `code` undefined any code. */
export interface TokenValue {
  system?: string | null;
  code?: string;
}

export type StringMatch = 'starts-with' | 'exact' | 'contains';

/** One AND-ed condition of a search; the values inside a clause are OR-ed (FHIR comma). */
export type SearchClause =
  | { kind: 'none' }
  | { kind: 'id'; ids: string[] }
  | { kind: 'status'; codes: string[]; not: boolean }
  | { kind: 'nhs-number'; values: string[] }
  | { kind: 'token'; param: string; values: TokenValue[]; not: boolean }
  | { kind: 'string'; param: string; match: StringMatch; values: string[] }
  | { kind: 'date'; target: 'date' | '_lastUpdated' | 'period' | 'creation'; values: DateCondition[] };

export type SortKey = 'date' | '_lastUpdated';

export interface SearchSort {
  key: SortKey;
  descending: boolean;
}

export interface SearchPlan {
  clauses: SearchClause[];
  count: number;
  sort: SearchSort;
  /** `_summary=count` or `_count=0`: only the total. */
  totalOnly: boolean;
  total: 'none' | 'estimate' | 'accurate';
  cursor?: SearchCursor;
  /** The parameters that were applied, in request order, for the self link. */
  used: [string, string][];
  /** Ignored parameters and notes, for the outcome entry of the searchset Bundle. */
  issues: OutcomeIssue[];
}

export interface SearchOptions {
  /** `Prefer: handling=strict`: any unknown or malformed parameter fails the search (400). */
  strict?: boolean;
  /** The server's base URL, so that absolute references to this server match relative ones. */
  baseUrl?: string;
  /** "Now" for `ap` (tests pin it). */
  now?: number;
}

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 500;
export const DEFAULT_SORT = '-date';

/** Open ends of a period, as stored: the extremes of the ECMAScript time range. */
export const PERIOD_OPEN_START = -8_640_000_000_000_000;
export const PERIOD_OPEN_END = 8_640_000_000_000_000;

const PREFIXES: DatePrefix[] = ['eq', 'ne', 'lt', 'gt', 'le', 'ge', 'sa', 'eb', 'ap'];
/** The inclusive bounds of a Period, open ends stretched to the extremes; undefined when a bound is not a date. */
export function periodBounds(period: { start?: string; end?: string }): { low: number; high: number } | undefined {
  const start = period.start ? dateRange(period.start) : undefined;
  const end = period.end ? dateRange(period.end) : undefined;
  if ((period.start && !start) || (period.end && !end)) {
    return undefined;
  }
  return { low: start?.low ?? PERIOD_OPEN_START, high: end ? end.high - 1 : PERIOD_OPEN_END };
}

/** Case- and accent-folded text for string search (R4: "case-insensitive and accent-insensitive"). */
export function normalizeText(value: string): string {
  return value.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}

/** Parses one date search value with its prefix; `ap` widens by 10% of the gap to now (R4 search.html#prefix). */
export function parseDateValue(raw: string, now: number): DateCondition | undefined {
  // An unencoded `+` of a zone offset arrives as a space.
  const value = raw.replace(/ (\d{2}:\d{2})$/, '+$1');
  const prefix = PREFIXES.find((p) => value.startsWith(p)) ?? 'eq';
  const range = dateRange(/^[a-z]{2}/.test(value) ? value.slice(2) : value);
  if (!range || (/^[a-z]{2}/.test(value) && !value.startsWith(prefix))) {
    return undefined;
  }
  if (prefix !== 'ap') {
    return { prefix, ...range };
  }
  const slack = Math.round(Math.abs(now - range.low) * 0.1);
  return { prefix, low: range.low - slack, high: range.high + slack };
}

/** Splits on separators not escaped with a backslash (R4 search.html#escaping). */
function splitUnescaped(value: string, separator: string, limit = Infinity): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < value.length; i++) {
    const char = value[i];
    if (char === '\\' && i + 1 < value.length) {
      current += char + value[i + 1];
      i++;
    } else if (char === separator && parts.length < limit - 1) {
      parts.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  parts.push(current);
  return parts;
}

const unescape = (value: string): string => value.replace(/\\([\\,|$])/g, '$1');

/** Parses a token value: `code`, `system|code`, `|code` or `system|`. */
export function parseTokenValue(value: string): TokenValue | undefined {
  const parts = splitUnescaped(value, '|', 2);
  if (parts.length === 1) {
    return parts[0] ? { code: unescape(parts[0]) } : undefined;
  }
  const [system, code] = parts.map(unescape);
  if (!system && !code) {
    return undefined;
  }
  return { system: system || null, ...(code ? { code } : {}) };
}

type ParamKind =
  | { type: 'id' }
  | { type: 'status' }
  | { type: 'token'; param: string }
  | { type: 'patient-identifier' }
  | { type: 'string'; param: string }
  | { type: 'date'; target: 'date' | '_lastUpdated' | 'period' | 'creation' }
  | { type: 'reference'; param: string; targetTypes: string[] };

const SUBJECT_TYPES = ['Patient', 'Group', 'Device', 'Practitioner'];

/** Every search parameter the parser accepts; src/fhir/capabilities.ts declares the same names. */
export const SEARCH_PARAMETERS: Record<string, ParamKind> = {
  _id: { type: 'id' },
  _lastUpdated: { type: 'date', target: '_lastUpdated' },
  identifier: { type: 'token', param: 'identifier' },
  status: { type: 'status' },
  type: { type: 'token', param: 'type' },
  category: { type: 'token', param: 'category' },
  patient: { type: 'reference', param: 'subject', targetTypes: ['Patient'] },
  'patient.identifier': { type: 'patient-identifier' },
  subject: { type: 'reference', param: 'subject', targetTypes: SUBJECT_TYPES },
  'subject.identifier': { type: 'patient-identifier' },
  date: { type: 'date', target: 'date' },
  period: { type: 'date', target: 'period' },
  creation: { type: 'date', target: 'creation' },
  custodian: { type: 'reference', param: 'custodian', targetTypes: ['Organization'] },
  'custodian.identifier': { type: 'token', param: 'custodian.identifier' },
  'author.identifier': { type: 'token', param: 'author.identifier' },
  'author.given': { type: 'string', param: 'author.given' },
  'author.family': { type: 'string', param: 'author.family' },
  setting: { type: 'token', param: 'setting' },
  facility: { type: 'token', param: 'facility' },
  event: { type: 'token', param: 'event' },
  format: { type: 'token', param: 'format' },
  'security-label': { type: 'token', param: 'security-label' },
  contenttype: { type: 'token', param: 'contenttype' },
  recipient: { type: 'token', param: 'recipient' },
  relation: { type: 'token', param: 'relation' },
  relatesto: { type: 'reference', param: 'relatesto', targetTypes: ['DocumentReference'] },
  related: { type: 'reference', param: 'related', targetTypes: [] },
};

/** Result parameters (R4 search.html#return) the server understands. */
export const RESULT_PARAMETERS = ['_count', '_sort', '_summary', '_total', '_include', '_cursor', '_format'];

const SORTS: Record<string, SortKey> = { date: 'date', _lastUpdated: '_lastUpdated' };
const STATUS_SYSTEM = 'http://hl7.org/fhir/document-reference-status';
const ID = /^[A-Za-z0-9\-.]{1,64}$/;

class Problem extends Error {
  constructor(
    readonly code: IssueCode,
    message: string,
  ) {
    super(message);
  }
}

/** A reference search value as the stored `Type/id`, or the candidates when the type is left out. */
function referenceCandidates(
  value: string,
  kind: Extract<ParamKind, { type: 'reference' }>,
  baseUrl?: string,
): string[] {
  let reference = value;
  const local = baseUrl ? `${baseUrl.replace(/\/$/, '')}/fhir/` : undefined;
  if (local && reference.startsWith(local)) {
    reference = reference.slice(local.length);
  }
  if (/^https?:\/\//.test(reference)) {
    return [reference];
  }
  const parts = reference.split('/');
  if (parts.length === 1 && ID.test(parts[0])) {
    if (kind.targetTypes.length === 0) {
      throw new Problem('value', `'${value}' needs a resource type, e.g. DocumentReference/${value}`);
    }
    return kind.targetTypes.map((type) => `${type}/${parts[0]}`);
  }
  if (parts.length === 2 && /^[A-Z][A-Za-z]+$/.test(parts[0]) && ID.test(parts[1])) {
    if (kind.targetTypes.length > 0 && !kind.targetTypes.includes(parts[0])) {
      throw new Problem('value', `'${value}' is not a reference to ${kind.targetTypes.join(' or ')}`);
    }
    return [reference];
  }
  throw new Problem('value', `'${value}' is not a reference (Type/id, id or an absolute URL)`);
}

/** Builds the clause of one search parameter occurrence; throws Problem when the name, modifier or value is wrong. */
function clauseOf(name: string, modifier: string | undefined, raw: string, options: SearchOptions): SearchClause {
  const kind = SEARCH_PARAMETERS[name];
  const values = splitUnescaped(raw, ',').filter((v) => v !== '');
  const unsupported = () =>
    new Problem('not-supported', `The modifier :${modifier} is not supported on the search parameter ${name}`);
  const tokens = () =>
    values.map((v) => {
      const token = parseTokenValue(v);
      if (!token) {
        throw new Problem('value', `'${v}' is not a token (code, system|code, |code or system|)`);
      }
      return token;
    });
  switch (kind.type) {
    case 'id':
      if (modifier) {
        throw unsupported();
      }
      return { kind: 'id', ids: values.map(unescape) };
    case 'status': {
      if (modifier && modifier !== 'not') {
        throw unsupported();
      }
      const codes = tokens()
        .filter((t) => t.code !== undefined && (t.system === undefined || t.system === STATUS_SYSTEM))
        .map((t) => t.code!);
      return codes.length === 0 && modifier !== 'not'
        ? { kind: 'none' }
        : { kind: 'status', codes, not: modifier === 'not' };
    }
    case 'token':
      if (modifier && modifier !== 'not') {
        throw unsupported();
      }
      return { kind: 'token', param: kind.param, values: tokens(), not: modifier === 'not' };
    case 'patient-identifier': {
      if (modifier && modifier !== 'not') {
        throw unsupported();
      }
      const parsed = tokens();
      // The NHS number also sits in an indexed column of document_reference, so the common query needs no join.
      if (!modifier && parsed.every((t) => t.system === NHS_NUMBER_SYSTEM && t.code !== undefined)) {
        return { kind: 'nhs-number', values: parsed.map((t) => t.code!) };
      }
      return { kind: 'token', param: 'patient.identifier', values: parsed, not: modifier === 'not' };
    }
    case 'string': {
      const match: StringMatch | undefined =
        modifier === undefined
          ? 'starts-with'
          : modifier === 'exact'
            ? 'exact'
            : modifier === 'contains'
              ? 'contains'
              : undefined;
      if (!match) {
        throw unsupported();
      }
      return { kind: 'string', param: kind.param, match, values: values.map(unescape) };
    }
    case 'date': {
      if (modifier) {
        throw unsupported();
      }
      const now = options.now ?? Date.now();
      return {
        kind: 'date',
        target: kind.target,
        values: values.map((v) => {
          const condition = parseDateValue(v, now);
          if (!condition) {
            throw new Problem(
              'value',
              `'${v}' is not a date search value ([eq|ne|lt|gt|le|ge|sa|eb|ap]YYYY[-MM[-DD[Thh:mm[:ss[.sss]][zone]]]])`,
            );
          }
          return condition;
        }),
      };
    }
    case 'reference':
      if (modifier === 'identifier' && kind.param === 'subject') {
        return { kind: 'token', param: 'patient.identifier', values: tokens(), not: false };
      }
      if (modifier === 'identifier' && kind.param === 'custodian') {
        return { kind: 'token', param: 'custodian.identifier', values: tokens(), not: false };
      }
      if (modifier && !(kind.targetTypes.length > 0 && kind.targetTypes.includes(modifier))) {
        throw unsupported();
      }
      return {
        kind: 'token',
        param: kind.param,
        values: values
          .flatMap((v) => referenceCandidates(unescape(v), kind, options.baseUrl))
          .map((code) => ({ code })),
        not: false,
      };
  }
}

/** Applies one result parameter (R4 search.html#return) to the plan; throws Problem when its value is wrong. */
function applyResultParameter(plan: SearchPlan, name: string, value: string): void {
  switch (name) {
    case '_count': {
      if (!/^\d+$/.test(value)) {
        throw new Problem('value', `_count must be a whole number from 0 to ${MAX_COUNT}, not '${value}'`);
      }
      const count = Number(value);
      if (count > MAX_COUNT) {
        plan.issues.push({
          severity: 'information',
          code: 'informational',
          diagnostics: `_count=${count} was reduced to the maximum page size ${MAX_COUNT}`,
          expression: ['_count'],
        });
      }
      plan.count = Math.min(count, MAX_COUNT);
      plan.totalOnly ||= plan.count === 0;
      return;
    }
    case '_sort': {
      const keys = value.split(',');
      const key = SORTS[keys[0].replace(/^-/, '')];
      if (!key || keys.length > 1) {
        throw new Problem(
          'not-supported',
          `_sort=${value} is not supported: sort by one of date, -date, _lastUpdated, -_lastUpdated`,
        );
      }
      plan.sort = { key, descending: keys[0].startsWith('-') };
      return;
    }
    case '_summary':
      if (value === 'count') {
        plan.totalOnly = true;
      } else if (value !== 'false') {
        throw new Problem('not-supported', `_summary=${value} is not supported (only count and false)`);
      }
      return;
    case '_total':
      if (value !== 'none' && value !== 'estimate' && value !== 'accurate') {
        throw new Problem('value', `_total must be none, estimate or accurate, not '${value}'`);
      }
      plan.total = value;
      return;
    case '_include':
      if (!/^(DocumentReference:[a-z][a-z.-]*(:[A-Z][A-Za-z]+)?|\*)$/.test(value)) {
        throw new Problem('value', `_include=${value} is not of the form DocumentReference:<parameter>[:<type>]`);
      }
      plan.issues.push({
        severity: 'information',
        code: 'informational',
        diagnostics:
          `_include=${value} is not available: this registry indexes documents and holds no separate Patient, ` +
          'Practitioner or Organization resources (they are inside each document Bundle); no resources were included',
        expression: ['_include'],
      });
      return;
    case '_format':
      // The response format: negotiated (and refused with 406 if unknown) at the HTTP edge.
      return;
    case '_cursor':
      // Checked by parseSearch, because a bad cursor is refused even in lenient mode.
      return;
  }
}

/**
 * Parses DocumentReference search parameters (FHIR R4 search.html semantics) into a plan. Repeated parameters
 * are AND-ed, comma-separated values OR-ed. Unknown parameters and modifiers are dropped and reported in
 * `plan.issues`, or fail the whole search with 400 when `options.strict` (Prefer: handling=strict); a malformed
 * value of a supported filter always fails it.
 * A `_cursor` that is not ours, or made for another sort, always fails: silently restarting would repeat rows.
 */
export function parseSearch(params: [string, string][], options: SearchOptions = {}): SearchPlan {
  const plan: SearchPlan = {
    clauses: [],
    count: DEFAULT_COUNT,
    sort: { key: 'date', descending: true },
    totalOnly: false,
    total: 'accurate',
    used: [],
    issues: [],
  };
  const errors: OutcomeIssue[] = [];
  let cursorToken: string | undefined;
  // Refused even in lenient mode: dropping clauses would widen the result.
  checkSearchSize(params);
  for (const [key, value] of params) {
    if (value === '') {
      continue;
    }
    const colon = key.indexOf(':');
    const name = colon < 0 ? key : key.slice(0, colon);
    const modifier = colon < 0 ? undefined : key.slice(colon + 1);
    try {
      if (Object.hasOwn(SEARCH_PARAMETERS, name)) {
        plan.clauses.push(clauseOf(name, modifier, value, options));
      } else if (
        RESULT_PARAMETERS.includes(name) &&
        (modifier === undefined || (name === '_include' && modifier === 'iterate'))
      ) {
        applyResultParameter(plan, name, value);
        if (name === '_cursor') {
          cursorToken = value;
          continue;
        }
      } else {
        throw new Problem('not-supported', `The search parameter ${key} is not supported on DocumentReference`);
      }
      plan.used.push([key, value]);
    } catch (error) {
      if (!(error instanceof Problem)) {
        throw error;
      }
      errors.push({
        severity: 'error',
        code: error.code,
        diagnostics: `${key}=${value}: ${error.message}`,
        expression: [key],
      });
    }
  }
  // A malformed value of a filter we support is refused even in lenient mode: R4 lets a server ignore parameters it
  // does not know, but dropping a filter the client meant (date=yesterday) would widen the result.
  const malformed = errors.filter(
    (e) => e.code === 'value' && Object.hasOwn(SEARCH_PARAMETERS, e.expression![0].split(':')[0]),
  );
  if (malformed.length > 0 || (errors.length > 0 && options.strict)) {
    const refused = malformed.length > 0 ? malformed : errors;
    throw new FhirError(400, refused[0].code, refused[0].diagnostics, {
      issues: refused,
      expression: refused[0].expression?.[0],
    });
  }
  plan.issues.unshift(
    ...errors.map((e): OutcomeIssue => ({ ...e, severity: 'warning', diagnostics: `${e.diagnostics} (ignored)` })),
  );
  if (cursorToken !== undefined) {
    const cursor = decodeCursor(cursorToken);
    if (!cursor || cursor.sort !== sortName(plan.sort)) {
      throw new FhirError(
        400,
        'value',
        '_cursor is not a cursor of this search; follow the next and previous links as given',
        {
          expression: '_cursor',
        },
      );
    }
    plan.cursor = cursor;
  }
  return plan;
}

/** The `_sort` value of a sort, as cursors record it. */
export function sortName(sort: SearchSort): string {
  return `${sort.descending ? '-' : ''}${sort.key}`;
}

/**
 * Parses a Subscription criteria string (`DocumentReference?param=value&...`) with the registry's search parser.
 * Throws a 422 FhirError naming the first bad parameter; result parameters (_count, _sort, ...) have no meaning in
 * criteria and are refused too.
 */
export function parseCriteria(criteria: string, options: Omit<SearchOptions, 'strict'> = {}): SearchPlan {
  const match = /^DocumentReference(?:\?(.*))?$/s.exec(criteria.trim());
  if (!match) {
    throw new FhirError(
      422,
      'value',
      `Criteria '${criteria}' must be of the form DocumentReference?<search parameters>`,
      {
        expression: 'Subscription.criteria',
      },
    );
  }
  const params = [...new URLSearchParams(match[1] ?? '')];
  const result = params.find(([key]) => RESULT_PARAMETERS.includes(key.split(':')[0]));
  if (result) {
    throw new FhirError(422, 'not-supported', `Criteria cannot use the result parameter ${result[0]}`, {
      expression: 'Subscription.criteria',
    });
  }
  try {
    return parseSearch(params, { ...options, strict: true });
  } catch (error) {
    if (error instanceof FhirError) {
      throw new FhirError(422, error.issues[0].code, `Subscription.criteria: ${error.message}`, {
        issues: error.issues.map((i) => ({ ...i, diagnostics: `Subscription.criteria: ${i.diagnostics}` })),
      });
    }
    throw error;
  }
}
