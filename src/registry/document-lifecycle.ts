import { businessRule, FhirError } from '../common/fhir-error.js';
import type { StoredDocumentReference } from './document-reference.repository.js';

/** Elements a custodian may change on a DocumentReference: everything else is fixed by the document it indexes. */
const CHANGEABLE = new Set(['status', 'securityLabel', 'meta']);

/** Status changes a client may make (NRL: a current pointer can be withdrawn as entered in error). */
const ALLOWED_TRANSITIONS: Record<string, string[]> = { current: ['entered-in-error'] };

const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );

/**
 * Checks that `proposed` differs from `current` only in status (an allowed transition) and securityLabel;
 * returns the next version to store. Throws 422 naming the first element that may not change.
 */
export function checkedChange(
  current: StoredDocumentReference,
  proposed: Record<string, unknown>,
): StoredDocumentReference {
  if (proposed.resourceType !== 'DocumentReference') {
    throw businessRule('The body must be a DocumentReference', 'DocumentReference.resourceType');
  }
  if (proposed.id !== undefined && proposed.id !== current.id) {
    throw businessRule(
      `The id in the body (${JSON.stringify(proposed.id)}) does not match the URL (${current.id})`,
      'DocumentReference.id',
    );
  }
  const keys = new Set([...Object.keys(current), ...Object.keys(proposed)]);
  for (const key of keys) {
    if (CHANGEABLE.has(key) || key === 'id' || key === 'resourceType') {
      continue;
    }
    if (canonical(current[key]) !== canonical(proposed[key])) {
      throw new FhirError(
        422,
        'business-rule',
        `DocumentReference.${key} cannot be changed: only status (current -> entered-in-error) and securityLabel may change`,
        { expression: `DocumentReference.${key}` },
      );
    }
  }
  const status = typeof proposed.status === 'string' ? proposed.status : current.status;
  if (status !== current.status && !(ALLOWED_TRANSITIONS[current.status] ?? []).includes(status)) {
    throw new FhirError(
      422,
      'business-rule',
      `DocumentReference.status cannot change from ${current.status} to ${status}`,
      {
        expression: 'DocumentReference.status',
      },
    );
  }
  const next: StoredDocumentReference = { ...current, status };
  if (proposed.securityLabel === undefined) {
    delete next.securityLabel;
  } else {
    next.securityLabel = proposed.securityLabel;
  }
  return next;
}

/** The next version of a stored DocumentReference: versionId + 1 and a new lastUpdated. */
export function nextVersion(resource: StoredDocumentReference, now: Date): StoredDocumentReference {
  return {
    ...resource,
    meta: { ...resource.meta, versionId: String(Number(resource.meta.versionId) + 1), lastUpdated: now.toISOString() },
  };
}
