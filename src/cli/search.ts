import { isValidNhsNumber, NHS_NUMBER_SYSTEM } from '../registry/nhs-number.js';
import { usageError } from './errors.js';

/** An NHS number as typed (spaces or dashes allowed: "943 476 5919"), checked with modulus 11. */
export function parseNhsNumber(raw: string): string {
  const digits = raw.replace(/[\s-]/g, '');
  if (!isValidNhsNumber(digits)) {
    throw usageError(`"${raw}" is not a valid NHS number (ten digits whose last is the modulus 11 check digit)`);
  }
  return digits;
}

/** The first search page's path for a patient's DocumentReferences. */
export function searchPath(nhsNumber: string, count: number, status?: string): string {
  const query = new URLSearchParams({
    'patient.identifier': `${NHS_NUMBER_SYSTEM}|${nhsNumber}`,
    _count: String(count),
  });
  if (status) {
    query.set('status', status);
  }
  return `DocumentReference?${query.toString()}`;
}

/** A property of a parsed JSON value, or undefined; `at(x, 'a', 0, 'b')` reads x.a[0].b. */
export function at(value: unknown, ...keys: (string | number)[]): unknown {
  let current = value;
  for (const key of keys) {
    if (typeof current !== 'object' || current === null) {
      return undefined;
    }
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}

const str = (value: unknown): string => (typeof value === 'string' ? value : '');
const list = (value: unknown): unknown[] => (Array.isArray(value) ? (value as unknown[]) : []);

export interface SearchPage {
  rows: string[][];
  next?: string;
  total?: number;
  /** Issues of an OperationOutcome entry (search.mode = outcome), e.g. an ignored parameter. */
  notes: string[];
}

export const SEARCH_COLUMNS = ['DATE', 'TYPE', 'STATUS', 'CUSTODIAN', 'ID', 'CONTENT'] as const;

/** Where a DocumentReference's content is: "Bundle/{id}" or "Binary/{id}" when on this server, else its URL. */
function contentOf(resource: unknown, base: string): string {
  const url = str(at(resource, 'content', 0, 'attachment', 'url'));
  const local = /^(?:.*\/)?(Bundle|Binary)\/([^/?#]+)$/.exec(url);
  return local && (url.startsWith(`${base}/`) || !/^[a-z]+:/i.test(url)) ? `${local[1]}/${local[2]}` : url;
}

/** One row per DocumentReference of a searchset page, plus its next link. */
export function readSearchPage(bundle: unknown, base: string): SearchPage {
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const entry of list(at(bundle, 'entry'))) {
    const resource = at(entry, 'resource');
    const resourceType = at(resource, 'resourceType');
    if (resourceType === 'OperationOutcome') {
      for (const issue of list(at(resource, 'issue'))) {
        notes.push(str(at(issue, 'diagnostics')) || str(at(issue, 'details', 'text')) || str(at(issue, 'code')));
      }
      continue;
    }
    if (resourceType !== 'DocumentReference') {
      continue;
    }
    const coding = at(resource, 'type', 'coding', 0);
    const custodian = at(resource, 'custodian');
    rows.push([
      str(at(resource, 'date')),
      str(at(coding, 'display')) || str(at(resource, 'type', 'text')) || str(at(coding, 'code')),
      str(at(resource, 'status')),
      str(at(custodian, 'identifier', 'value')) || str(at(custodian, 'display')) || str(at(custodian, 'reference')),
      str(at(resource, 'id')),
      contentOf(resource, base),
    ]);
  }
  const next = list(at(bundle, 'link')).find((link) => at(link, 'relation') === 'next');
  const total = at(bundle, 'total');
  return { rows, next: str(at(next, 'url')) || undefined, total: typeof total === 'number' ? total : undefined, notes };
}
