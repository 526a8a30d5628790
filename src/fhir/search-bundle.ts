import type { OutcomeIssue } from '../common/operation-outcome.js';
import { operationOutcome } from '../common/operation-outcome.js';

export interface SearchBundleInput {
  /** The FHIR base, e.g. `https://registry.example/fhir`. */
  base: string;
  resourceType: string;
  /** The parameters the search applied, in request order (self link). */
  params: [string, string][];
  /** The opaque cursors of this page and its neighbours. */
  cursor?: string;
  next?: string;
  previous?: string;
  total?: number;
  resources: { id: string; resource: unknown }[];
  /** Ignored parameters and notes: one OperationOutcome entry with search.mode = outcome. */
  issues: OutcomeIssue[];
}

function searchUrl(input: SearchBundleInput, cursor: string | undefined): string {
  const query = new URLSearchParams(input.params);
  if (cursor !== undefined) {
    query.append('_cursor', cursor);
  }
  const text = query.toString();
  return `${input.base}/${input.resourceType}${text ? `?${text}` : ''}`;
}

/** A FHIR R4 searchset Bundle with self, next and previous links (R4 http.html#search, search.html#summary). */
export function searchBundle(input: SearchBundleInput) {
  const link = [{ relation: 'self', url: searchUrl(input, input.cursor) }];
  if (input.next !== undefined) {
    link.push({ relation: 'next', url: searchUrl(input, input.next) });
  }
  if (input.previous !== undefined) {
    link.push({ relation: 'previous', url: searchUrl(input, input.previous) });
  }
  const entry: Record<string, unknown>[] = input.resources.map((r) => ({
    fullUrl: `${input.base}/${input.resourceType}/${r.id}`,
    resource: r.resource,
    search: { mode: 'match' },
  }));
  if (input.issues.length > 0) {
    entry.push({ resource: operationOutcome(input.issues), search: { mode: 'outcome' } });
  }
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    ...(input.total !== undefined ? { total: input.total } : {}),
    link,
    ...(entry.length > 0 ? { entry } : {}),
  };
}
