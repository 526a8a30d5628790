import { FhirError } from '../common/fhir-error.js';
import { BUSINESS_STATUSES, TASK_STATUS, type BusinessStatus } from './delivery-task.js';
import { parseDateValue } from './document-reference-search.js';
import { NHS_NUMBER_SYSTEM, ODS_ORGANIZATION_SYSTEM } from './nhs-number.js';
import { decodeCursor } from './search-cursor.js';

export const TASK_DEFAULT_COUNT = 20;
export const TASK_MAX_COUNT = 100;
// newest document first; authoredOn never changes, so paging is stable while Tasks move on
const SORT = '-authored-on';

/** A parsed Task search: every list is OR-ed inside and AND-ed with the others. */
export interface TaskSearch {
  callerOds: string;
  owners?: string[];
  requesters?: string[];
  businessStatuses?: string[];
  focus?: string[];
  patients?: string[];
  ids?: string[];
  lastModified: { low: number; high: number }[];
  count: number;
  after?: { key: number; id: string };
  /** The parameters applied, for the self link. */
  used: [string, string][];
}

/** The Task search parameters this server implements, with what each matches. */
export const TASK_SEARCH_PARAMETERS: Readonly<Record<string, string>> = {
  owner: 'the recipient organisation: an ODS code, `https://fhir.nhs.uk/Id/ods-organization-code|CODE`',
  requester: 'the sending organisation (the custodian), as owner',
  status: 'FHIR task status: requested, received, in-progress, completed, rejected, cancelled',
  'business-status': `the delivery step: ${BUSINESS_STATUSES.join(', ')}`,
  focus: 'the DocumentReference: `DocumentReference/{id}` or its full URL',
  'patient.identifier': 'the patient: `https://fhir.nhs.uk/Id/nhs-number|{NHS number}`',
  _id: 'Task ids',
  _lastUpdated: 'when the Task last moved, with prefixes eq, ge, gt, le, lt',
};

const bad = (name: string, message: string) => new FhirError(400, 'value', `${name}: ${message}`, { expression: name });

function values(raw: string): string[] {
  return raw
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
}

function odsCodes(name: string, raw: string): string[] {
  return values(raw).map((value) => {
    const bar = value.indexOf('|');
    const system = bar < 0 ? undefined : value.slice(0, bar);
    const code = bar < 0 ? value : value.slice(bar + 1);
    if ((system !== undefined && system !== ODS_ORGANIZATION_SYSTEM) || !/^[A-Z0-9]{3,12}$/i.test(code)) {
      throw bad(name, `'${value}' is not an ODS code (CODE or ${ODS_ORGANIZATION_SYSTEM}|CODE)`);
    }
    return code.toUpperCase();
  });
}

/**
 * Parses a Task search. Unlike DocumentReference search (lenient by R4's default) an unknown parameter is refused:
 * the Task search is new and a mistyped filter must not widen a practice's inbox. A search must name the caller's
 * own organisation as owner or requester; only Tasks it is party to are ever returned.
 */
export function parseTaskSearch(
  params: [string, string][],
  callerOds: string | undefined,
  now = Date.now(),
): TaskSearch {
  if (!callerOds) {
    throw new FhirError(
      403,
      'forbidden',
      'The access token carries no organization claim: Tasks belong to organisations',
    );
  }
  const search: TaskSearch = { callerOds, lastModified: [], count: TASK_DEFAULT_COUNT, used: [] };
  const add = <K extends 'owners' | 'requesters' | 'businessStatuses' | 'focus' | 'patients' | 'ids'>(
    key: K,
    list: string[],
  ) => {
    // repeated parameters AND: keep what both allow
    const current = search[key];
    search[key] = current ? current.filter((v) => list.includes(v)) : list;
  };
  for (const [name, raw] of params) {
    if (raw === '') {
      continue;
    }
    switch (name) {
      case 'owner':
        add('owners', odsCodes(name, raw));
        break;
      case 'requester':
        add('requesters', odsCodes(name, raw));
        break;
      case 'status': {
        const wanted = values(raw);
        const statuses = BUSINESS_STATUSES.filter((b) => wanted.includes(TASK_STATUS[b]));
        const known = [...new Set(Object.values(TASK_STATUS))];
        const unknown = wanted.filter((w) => !known.includes(w));
        if (unknown.length > 0) {
          throw bad(name, `${unknown.join(', ')} is not a status a delivery Task has (${known.join(', ')})`);
        }
        add('businessStatuses', statuses);
        break;
      }
      case 'business-status': {
        const wanted = values(raw).map((v) => v.slice(v.indexOf('|') + 1));
        const unknown = wanted.filter((w) => !BUSINESS_STATUSES.includes(w as BusinessStatus));
        if (unknown.length > 0) {
          throw bad(name, `${unknown.join(', ')} is not a delivery step (${BUSINESS_STATUSES.join(', ')})`);
        }
        add('businessStatuses', wanted);
        break;
      }
      case 'focus':
        add(
          'focus',
          values(raw).map((v) => {
            const match =
              /(?:^|\/)DocumentReference\/([A-Za-z0-9.-]{1,64})$/.exec(v) ?? /^([A-Za-z0-9.-]{1,64})$/.exec(v);
            if (!match) {
              throw bad(name, `'${v}' is not a reference to a DocumentReference`);
            }
            return match[1];
          }),
        );
        break;
      case 'patient.identifier':
        add(
          'patients',
          values(raw).map((v) => {
            const bar = v.indexOf('|');
            const system = bar < 0 ? NHS_NUMBER_SYSTEM : v.slice(0, bar);
            if (system !== NHS_NUMBER_SYSTEM) {
              throw bad(name, `only NHS numbers (${NHS_NUMBER_SYSTEM}) identify patients of delivery Tasks`);
            }
            return v.slice(bar + 1);
          }),
        );
        break;
      case '_id':
        add('ids', values(raw));
        break;
      case '_lastUpdated': {
        const condition = parseDateValue(raw, now);
        if (!condition || !['eq', 'ge', 'gt', 'le', 'lt'].includes(condition.prefix)) {
          throw bad(name, `'${raw}' is not a date with an optional prefix (eq, ge, gt, le, lt)`);
        }
        const { prefix, low, high } = condition;
        const range =
          prefix === 'eq'
            ? { low, high }
            : prefix === 'ge'
              ? { low, high: Number.MAX_SAFE_INTEGER }
              : prefix === 'gt'
                ? { low: high, high: Number.MAX_SAFE_INTEGER }
                : prefix === 'le'
                  ? { low: Number.MIN_SAFE_INTEGER, high }
                  : { low: Number.MIN_SAFE_INTEGER, high: low };
        search.lastModified.push(range);
        break;
      }
      case '_count': {
        const count = Number(raw);
        if (!Number.isInteger(count) || count < 1) {
          throw bad(name, `must be a whole number from 1 to ${TASK_MAX_COUNT}`);
        }
        search.count = Math.min(count, TASK_MAX_COUNT);
        break;
      }
      case '_sort':
        if (raw !== SORT) {
          throw bad(name, `Tasks are sorted by ${SORT} only`);
        }
        break;
      case '_cursor': {
        const cursor = decodeCursor(raw);
        if (!cursor || cursor.sort !== SORT || cursor.direction !== 'next') {
          throw bad(name, 'the page link is not one of ours, or has expired: start the search again');
        }
        search.after = { key: cursor.key, id: cursor.id };
        continue;
      }
      case '_format':
        continue;
      default:
        throw new FhirError(400, 'not-supported', `The search parameter ${name} is not supported on Task`, {
          expression: name,
        });
    }
    search.used.push([name, raw]);
  }
  const mine = [...(search.owners ?? []), ...(search.requesters ?? [])];
  if (!mine.includes(callerOds)) {
    throw new FhirError(
      400,
      'required',
      `A Task search must name your organisation as owner (your inbox) or requester (what you sent): ` +
        `owner=${ODS_ORGANIZATION_SYSTEM}|${callerOds} or requester=${ODS_ORGANIZATION_SYSTEM}|${callerOds}`,
    );
  }
  return search;
}

export { SORT as TASK_SORT };
