import type { AuditContext, AuditEntity } from './actor.js';
import {
  type AuditAction,
  type AuditInput,
  type AuditOutcome,
  type IheTransaction,
  NHS_NUMBER_SYSTEM,
} from './audit-event-resource.js';

/** What the audit hook knows about a request once its response is ready. */
export interface RequestFacts {
  method: string;
  /** Path and query as received, e.g. `/fhir/DocumentReference?patient.identifier=...`. */
  url: string;
  statusCode: number;
  /** The Location header of a create, naming the new resource. */
  location?: string;
  /** The first diagnostics of an OperationOutcome response. */
  outcomeText?: string;
}

const FHIR_BASE = '/fhir';
const PATIENT_PARAMS = ['patient.identifier', 'subject.identifier', 'patient:identifier', 'subject:identifier'];
// the content itself: Bundle documents and Binaries are what ITI-68 retrieves
const DOCUMENT_TYPES = new Set(['Bundle', 'Binary']);

function splitUrl(url: string): { path: string; query: string } {
  const mark = url.indexOf('?');
  return mark < 0 ? { path: url, query: '' } : { path: url.slice(0, mark), query: url.slice(mark + 1) };
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Every request under /fhir is audited, except the CapabilityStatement and CORS preflights. */
export function isAuditedRequest(method: string, url: string): boolean {
  const { path } = splitUrl(url);
  if (path !== FHIR_BASE && !path.startsWith(`${FHIR_BASE}/`)) {
    return false;
  }
  if (method === 'OPTIONS') {
    return false;
  }
  return !(path.replace(/\/+$/, '') === `${FHIR_BASE}/metadata` && (method === 'GET' || method === 'HEAD'));
}

/** AuditEvent.outcome for an HTTP status: 2xx/3xx success, 4xx minor failure, 5xx serious failure. */
export function outcomeOf(statusCode: number): AuditOutcome {
  if (statusCode >= 500) {
    return '8';
  }
  return statusCode >= 400 ? '4' : '0';
}

interface Interaction {
  action: AuditAction;
  subtype: string;
  entities: AuditEntity[];
  transaction?: IheTransaction;
}

const roleOf = (type: string): AuditEntity['role'] => (DOCUMENT_TYPES.has(type) ? 'document' : 'resource');

/** The FHIR interaction a method and path name (http.html), with the entity the path itself identifies. */
function interactionOf(method: string, path: string, query: string, location?: string): Interaction {
  const [type, id, third, fourth] = path.slice(FHIR_BASE.length).split('/').filter(Boolean).map(safeDecode);
  const search = (subtype: string): Interaction => ({
    action: 'E',
    subtype,
    entities: [{ role: 'query', reference: type, query }],
    transaction: type === 'DocumentReference' ? 'ITI-67' : undefined,
  });
  const instance = (reference: string): AuditEntity[] => [{ reference, role: roleOf(type) }];
  if (method === 'GET' || method === 'HEAD') {
    if (!type) {
      return { ...search('search-system'), entities: [{ role: 'query', query }] };
    }
    if (!id) {
      return search('search');
    }
    if (id.startsWith('$') || third?.startsWith('$')) {
      return { action: 'E', subtype: 'operation', entities: id.startsWith('$') ? [] : instance(`${type}/${id}`) };
    }
    if (third === '_history') {
      return fourth
        ? { action: 'R', subtype: 'vread', entities: instance(`${type}/${id}/_history/${fourth}`) }
        : { action: 'R', subtype: 'history', entities: instance(`${type}/${id}`) };
    }
    return {
      action: 'R',
      subtype: 'read',
      entities: instance(`${type}/${id}`),
      transaction: DOCUMENT_TYPES.has(type) ? 'ITI-68' : undefined,
    };
  }
  if (method === 'POST') {
    if (!type) {
      return { action: 'C', subtype: 'transaction', entities: [] };
    }
    if (id === '_search') {
      return search('search');
    }
    if (id?.startsWith('$') || third?.startsWith('$')) {
      return { action: 'E', subtype: 'operation', entities: id.startsWith('$') ? [] : instance(`${type}/${id}`) };
    }
    const created = location ? /\/fhir\/([A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/|$)/.exec(location) : null;
    return {
      action: 'C',
      subtype: 'create',
      entities: created ? instance(`${created[1]}/${created[2]}`) : [],
      transaction: type === 'Bundle' ? 'ITI-65' : undefined,
    };
  }
  const target = type && id ? instance(`${type}/${id}`) : [];
  switch (method) {
    case 'PUT':
      return { action: 'U', subtype: 'update', entities: target };
    case 'PATCH':
      return { action: 'U', subtype: 'patch', entities: target };
    case 'DELETE':
      return { action: 'D', subtype: 'delete', entities: target };
    default:
      return { action: 'E', subtype: method.toLowerCase(), entities: target };
  }
}

/** NHS numbers a search names in patient.identifier (system absent or the NHS number system). */
function searchedNhsNumbers(query: string): string[] {
  const params = new URLSearchParams(query);
  const found: string[] = [];
  for (const name of PATIENT_PARAMS) {
    for (const value of params.getAll(name).flatMap((v) => v.split(','))) {
      const bar = value.indexOf('|');
      const system = bar < 0 ? '' : value.slice(0, bar);
      const code = bar < 0 ? value : value.slice(bar + 1);
      if ((system === '' || system === NHS_NUMBER_SYSTEM) && /^\d{10}$/.test(code)) {
        found.push(code);
      }
    }
  }
  return found;
}

/**
 * The AuditEvent of a request, from its method, path, status and what the handler put in its audit context.
 * The entity the path names always comes first; the handler's entities follow, without repeats.
 */
export function describeRequest(facts: RequestFacts, context: AuditContext): Omit<AuditInput, 'actor'> {
  const { path, query: urlQuery } = splitUrl(facts.url);
  const query = context.query ?? urlQuery;
  const interaction = interactionOf(facts.method.toUpperCase(), path, query, facts.location);
  const outcome = outcomeOf(facts.statusCode);
  let subtype = context.subtype ?? interaction.subtype;
  if (facts.statusCode === 401) {
    subtype = 'login-failure';
  } else if (facts.statusCode === 403) {
    subtype = 'forbidden';
  } else if (facts.statusCode === 429) {
    subtype = 'throttled';
  }
  const seen = new Set(interaction.entities.map((e) => e.reference).filter(Boolean));
  const extra = context.entities.filter((e) => !e.reference || !seen.has(e.reference));
  const patientNhsNumbers = [...new Set([...context.patientNhsNumbers, ...searchedNhsNumbers(query)])];
  return {
    action: interaction.action,
    subtype,
    outcome,
    ...(outcome !== '0' ? { outcomeDescription: facts.outcomeText ?? `HTTP ${facts.statusCode}` } : {}),
    entities: [...interaction.entities, ...extra],
    patientNhsNumbers,
    ...(context.custodianOrgs.length > 0 ? { custodianOrgs: [...new Set(context.custodianOrgs)] } : {}),
    transaction: interaction.transaction,
  };
}

/**
 * Refusals that are counted per address and window instead of written one by one: every 401 and 429, and any other
 * refusal of a caller without a verified token. A refusal discloses nothing, so its record may wait for the window.
 */
export function isTallied(statusCode: number, input: Pick<AuditInput, 'actor'>): boolean {
  return statusCode === 401 || statusCode === 429 || (statusCode >= 400 && !input.actor.subject);
}
