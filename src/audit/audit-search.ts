import { FhirError, invalid } from '../common/fhir-error.js';
import { checkSearchSize } from '../common/search-limits.js';
import { type AuditAction, NHS_NUMBER_SYSTEM, ODS_SYSTEM } from './audit-event-resource.js';

/** A window on `recorded`: from (inclusive) and to (exclusive), or everything outside it. */
export interface RecordedFilter {
  from?: number;
  to?: number;
  outside?: boolean;
}

export interface AgentFilter {
  /** Only organisations (ODS system) or only subjects/clients (any other system); both when absent. */
  kind?: 'organization' | 'subject';
  value: string;
}

/** A parsed AuditEvent search; each list is an OR, the fields are ANDed. */
export interface AuditSearch {
  patientNhsNumbers: string[];
  agents: AgentFilter[];
  entities: string[];
  actions: AuditAction[];
  recorded: RecordedFilter[];
  count: number;
}

/** Whose events a caller may see: every organisation's, or those of one organisation as actor or as custodian. */
export type AuditVisibility = { kind: 'all' } | { kind: 'organization'; ods: string };

/**
 * The audit trail's read policy: an operator token (the `admin` scope) sees every event; any other caller sees the
 * events its organisation took part in (agent) or that concern documents it holds (custodian); a token with neither an
 * organisation nor the admin scope sees nothing.
 */
export function auditVisibility(caller: { admin: boolean; organization?: string }): AuditVisibility {
  if (caller.admin) {
    return { kind: 'all' };
  }
  if (!caller.organization) {
    throw new FhirError(
      403,
      'forbidden',
      'The audit trail is shown per organisation: this access token carries no organization claim (an ODS code) and ' +
        'not the admin scope that shows every organisation',
      { headers: { 'www-authenticate': 'Bearer error="insufficient_scope", scope="admin"' } },
    );
  }
  return { kind: 'organization', ods: caller.organization };
}

export const DEFAULT_COUNT = 50;
export const MAX_COUNT = 500;
const PARAMS = ['patient.identifier', 'date', 'agent', 'entity', 'action', '_count', '_format'];
const ACTIONS = new Set<string>(['C', 'R', 'U', 'D', 'E']);
const DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * The instants a FHIR date/dateTime search value covers, [lo, hi) in epoch ms: `2024` is the whole year, `2024-05-01` the
 * whole UTC day, `2024-05-01T10:00Z` that minute (R4 search.html#date: a value is an implicit range at its precision).
 */
export function dateRange(value: string): { lo: number; hi: number } {
  const match = DATE.exec(value);
  if (!match) {
    throw invalid(
      `"${value}" is not a FHIR date or dateTime (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss]Z)`,
      'date',
    );
  }
  const [, year, month, day, hour, minute, second, fraction, zone] = match;
  if (hour !== undefined && zone === undefined) {
    throw invalid(`"${value}" has a time but no time zone: add Z or an offset`, 'date');
  }
  const y = Number(year);
  const m = month ? Number(month) - 1 : 0;
  const d = day ? Number(day) : 1;
  if (m > 11 || d < 1 || d > 31 || Number(hour ?? 0) > 23 || Number(minute ?? 0) > 59 || Number(second ?? 0) > 59) {
    throw invalid(`"${value}" is not a valid date`, 'date');
  }
  if (hour === undefined) {
    const lo = Date.UTC(y, m, d);
    const hi = day ? Date.UTC(y, m, d + 1) : month ? Date.UTC(y, m + 1, 1) : Date.UTC(y + 1, 0, 1);
    return { lo, hi };
  }
  const lo = Date.parse(`${year}-${month}-${day}T${hour}:${minute}:${second ?? '00'}${fraction ?? ''}${zone}`);
  if (Number.isNaN(lo)) {
    throw invalid(`"${value}" is not a valid dateTime`, 'date');
  }
  const step = fraction ? 1 : second ? 1000 : 60_000;
  return { lo, hi: lo + step };
}

function recordedFilter(raw: string): RecordedFilter {
  const match = /^(eq|ne|gt|lt|ge|le|sa|eb)?(.*)$/.exec(raw)!;
  const prefix = match[1] ?? 'eq';
  const { lo, hi } = dateRange(match[2]);
  switch (prefix) {
    case 'ge':
      return { from: lo };
    case 'gt':
    case 'sa':
      return { from: hi };
    case 'le':
      return { to: hi };
    case 'lt':
    case 'eb':
      return { to: lo };
    case 'ne':
      return { from: lo, to: hi, outside: true };
    default:
      return { from: lo, to: hi };
  }
}

function splitToken(value: string): { system?: string; code: string } {
  const bar = value.indexOf('|');
  return bar < 0 ? { code: value } : { system: value.slice(0, bar), code: value.slice(bar + 1) };
}

function single(name: string, value: unknown): string {
  if (Array.isArray(value)) {
    throw invalid(`${name} may appear only once; separate alternatives with commas`, name);
  }
  const text = String(value).trim();
  if (!text) {
    throw invalid(`${name} has no value`, name);
  }
  return text;
}

const alternatives = (name: string, value: unknown): string[] =>
  single(name, value)
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);

function nhsNumber(value: string): string {
  const { system, code } = splitToken(value);
  if (system && system !== NHS_NUMBER_SYSTEM) {
    throw invalid(`patient.identifier must use the system ${NHS_NUMBER_SYSTEM}`, 'patient.identifier');
  }
  if (!/^\d{10}$/.test(code)) {
    throw invalid(`patient.identifier "${code}" is not a 10-digit NHS number`, 'patient.identifier');
  }
  return code;
}

function agent(value: string): AgentFilter {
  const { system, code } = splitToken(value);
  if (!code) {
    throw invalid('agent needs a value: a token subject, client id or ODS code', 'agent');
  }
  if (system === undefined || system === '') {
    return { value: code };
  }
  return { kind: system === ODS_SYSTEM ? 'organization' : 'subject', value: code };
}

/** Reads the query of GET /fhir/AuditEvent; refuses unknown parameters rather than ignore a filter the caller meant. */
export function parseAuditSearch(query: Record<string, unknown>): AuditSearch {
  const search: AuditSearch = {
    patientNhsNumbers: [],
    agents: [],
    entities: [],
    actions: [],
    recorded: [],
    count: DEFAULT_COUNT,
  };
  checkSearchSize(
    Object.entries(query).flatMap(([name, value]): [string, string][] =>
      (Array.isArray(value) ? value : value === undefined ? [] : [value]).map((item) => [name, String(item)]),
    ),
  );
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined) {
      continue;
    }
    if (!PARAMS.includes(name)) {
      throw invalid(`AuditEvent cannot be searched by "${name}"; supported: ${PARAMS.join(', ')}`, name);
    }
    switch (name) {
      case 'patient.identifier':
        search.patientNhsNumbers = alternatives(name, value).map(nhsNumber);
        break;
      case 'agent':
        search.agents = alternatives(name, value).map(agent);
        break;
      case 'entity':
        search.entities = alternatives(name, value);
        break;
      case 'action':
        search.actions = alternatives(name, value).map((action) => {
          if (!ACTIONS.has(action)) {
            throw invalid(`action must be C, R, U, D or E, got "${action}"`, 'action');
          }
          return action as AuditAction;
        });
        break;
      case 'date':
        // repeated date parameters AND together (ge... & le... is a window)
        search.recorded = (Array.isArray(value) ? value : [value]).map((v) => recordedFilter(String(v).trim()));
        break;
      case '_count': {
        const text = single(name, value);
        if (!/^\d+$/.test(text)) {
          throw invalid(`_count must be a whole number, got "${text}"`, '_count');
        }
        search.count = Math.min(Number(text), MAX_COUNT);
        break;
      }
    }
  }
  return search;
}
