import { businessRule, FhirError, unprocessable } from '../common/fhir-error.js';
import type { OutcomeIssue } from '../common/operation-outcome.js';
import type { StoredDocumentReference } from './document-reference.repository.js';

/** Elements a custodian may change on a DocumentReference: everything else is fixed by the document it indexes. */
const CHANGEABLE = new Set(['status', 'securityLabel', 'meta']);

/** Status changes a client may make (NRL: a current pointer can be withdrawn as entered in error). */
const ALLOWED_TRANSITIONS: Record<string, string[]> = { current: ['entered-in-error'] };

/** R4 DocumentReferenceStatus. */
const STATUSES: ReadonlySet<string> = new Set(['current', 'superseded', 'entered-in-error']);

// Element is the base of every datatype: id and extension are allowed wherever coding and text are.
const CONCEPT_MEMBERS: ReadonlySet<string> = new Set(['id', 'extension', 'coding', 'text']);

const CODING_MEMBERS: Record<string, 'string' | 'boolean' | 'object'> = {
  id: 'string',
  extension: 'object',
  system: 'string',
  version: 'string',
  code: 'string',
  display: 'string',
  userSelected: 'boolean',
};

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Problems with a securityLabel (R4: CodeableConcept[]): a non-empty array of concepts, each with a non-empty
 * `coding` of Codings whose system and code are strings, and optional `text`, `id` and `extension`.
 */
export function securityLabelIssues(value: unknown, expression = 'DocumentReference.securityLabel'): OutcomeIssue[] {
  const issue = (diagnostics: string, at: string): OutcomeIssue => ({
    severity: 'error',
    code: 'value',
    diagnostics,
    expression: [at],
  });
  if (value === undefined) {
    return [];
  }
  if (!Array.isArray(value) || value.length === 0) {
    return [issue('securityLabel must be a non-empty array of CodeableConcepts', expression)];
  }
  return value.flatMap((label: unknown, i): OutcomeIssue[] => {
    const at = `${expression}[${i}]`;
    if (!isRecord(label)) {
      return [issue('a securityLabel must be a CodeableConcept object', at)];
    }
    const unknown = Object.keys(label).find((key) => !CONCEPT_MEMBERS.has(key));
    if (unknown !== undefined) {
      return [issue(`a CodeableConcept has no element ${JSON.stringify(unknown)}`, `${at}.${unknown}`)];
    }
    if (label.id !== undefined && typeof label.id !== 'string') {
      return [issue('securityLabel.id must be a string', `${at}.id`)];
    }
    if (label.extension !== undefined && !Array.isArray(label.extension)) {
      return [issue('securityLabel.extension must be an array', `${at}.extension`)];
    }
    if (label.text !== undefined && typeof label.text !== 'string') {
      return [issue('securityLabel.text must be a string', `${at}.text`)];
    }
    if (!Array.isArray(label.coding) || label.coding.length === 0) {
      return [issue('a securityLabel needs a non-empty coding array', `${at}.coding`)];
    }
    return label.coding.flatMap((coding: unknown, j): OutcomeIssue[] => {
      const codingAt = `${at}.coding[${j}]`;
      if (!isRecord(coding)) {
        return [issue('a securityLabel coding must be a Coding object', codingAt)];
      }
      const bad = Object.entries(coding).find(([key, member]) => typeof member !== CODING_MEMBERS[key]);
      if (bad) {
        return [
          issue(`Coding.${bad[0]} is not a ${CODING_MEMBERS[bad[0]] ?? 'Coding element'}`, `${codingAt}.${bad[0]}`),
        ];
      }
      if (typeof coding.system !== 'string' || typeof coding.code !== 'string' || !coding.system || !coding.code) {
        return [issue('a securityLabel coding needs a system and a code', codingAt)];
      }
      return [];
    });
  });
}

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
  const status = proposed.status;
  if (typeof status !== 'string' || !STATUSES.has(status)) {
    throw new FhirError(
      422,
      status === undefined ? 'required' : 'value',
      `DocumentReference.status must be one of ${[...STATUSES].join(', ')}, not ${JSON.stringify(status) ?? 'absent'}`,
      { expression: 'DocumentReference.status' },
    );
  }
  // Only a change is checked, so a label stored before these rules never blocks a withdrawal.
  if (canonical(current.securityLabel) !== canonical(proposed.securityLabel)) {
    const issues = securityLabelIssues(proposed.securityLabel);
    if (issues.length > 0) {
      throw unprocessable(issues);
    }
  }
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

/**
 * Extension on a DocumentReference whose content was purged: `reason` (valueString) and `date` (valueDateTime), for
 * software; the same reason is in `description` for people.
 */
export const PURGE_EXTENSION = 'urn:fhir-document-registry:content-purged';

/** The longest purge reason kept (a court order or ticket reference and a sentence fit). */
export const MAX_PURGE_REASON_LENGTH = 1000;

/** A purge reason as given, trimmed; refused (400) when missing, blank, too long or not one line of printable text. */
export function purgeReason(reason: string | undefined): string {
  const text = reason?.trim() ?? '';
  if (text === '') {
    throw new FhirError(400, 'required', 'A purge needs a reason (the legal ground for erasing the content)');
  }
  if (text.length > MAX_PURGE_REASON_LENGTH) {
    throw new FhirError(400, 'too-long', `The purge reason is longer than ${MAX_PURGE_REASON_LENGTH} characters`);
  }
  if (/[\u0000-\u001f\u007f]/.test(text)) {
    throw new FhirError(400, 'value', 'The purge reason must be one line of text, without control characters');
  }
  return text;
}

/** Whether a DocumentReference's content was purged. */
export function isPurged(resource: StoredDocumentReference): boolean {
  return Array.isArray(resource.extension) && resource.extension.some((e) => isRecord(e) && e.url === PURGE_EXTENSION);
}

/**
 * The DocumentReference once its content is purged: entered-in-error whatever it was (the one transition no client
 * may make from superseded), the reason in `description` (what a FHIR reader shows) and in the extension, and any
 * inline attachment data dropped. Its attachment URLs stay: reading them answers 410 Gone.
 */
export function purgedDocumentReference(
  current: StoredDocumentReference,
  reason: string,
  at: Date,
): StoredDocumentReference {
  const extension = (Array.isArray(current.extension) ? (current.extension as unknown[]) : []).filter(
    (e) => !(isRecord(e) && e.url === PURGE_EXTENSION),
  );
  const content = Array.isArray(current.content)
    ? current.content.map((entry: unknown) => {
        if (!isRecord(entry) || !isRecord(entry.attachment) || entry.attachment.data === undefined) {
          return entry;
        }
        const { data: _erased, ...attachment } = entry.attachment;
        return { ...entry, attachment };
      })
    : current.content;
  return {
    ...current,
    status: 'entered-in-error',
    description: `Content removed by an administrative purge on ${at.toISOString().slice(0, 10)}: ${reason}`,
    extension: [
      ...extension,
      {
        url: PURGE_EXTENSION,
        extension: [
          { url: 'reason', valueString: reason },
          { url: 'date', valueDateTime: at.toISOString() },
        ],
      },
    ],
    ...(content === undefined ? {} : { content }),
  };
}

/**
 * The stored bytes a DocumentReference stands for: the document Bundle it indexes, and any Bundle or Binary of this
 * server its attachments name (by URL under BASE_URL, or relative).
 */
export function storedContentOf(
  resource: StoredDocumentReference,
  bundleId: string | null,
  baseUrl: string,
): { bundleIds: string[]; binaryIds: string[] } {
  const bundleIds = new Set(bundleId ? [bundleId] : []);
  const binaryIds = new Set<string>();
  for (const entry of Array.isArray(resource.content) ? (resource.content as unknown[]) : []) {
    const url = isRecord(entry) && isRecord(entry.attachment) ? entry.attachment.url : undefined;
    if (typeof url !== 'string') {
      continue;
    }
    const binaryId = localId(url, 'Binary', baseUrl);
    const documentId = localId(url, 'Bundle', baseUrl);
    if (binaryId) {
      binaryIds.add(binaryId);
    } else if (documentId) {
      bundleIds.add(documentId);
    }
  }
  return { bundleIds: [...bundleIds], binaryIds: [...binaryIds] };
}

/** The id in a URL naming a resource of this server (`Binary/<id>`, or under BASE_URL), else undefined. */
function localId(url: string, type: 'Binary' | 'Bundle', baseUrl: string): string | undefined {
  const path = url.startsWith(`${baseUrl}/fhir/`) ? url.slice(baseUrl.length + '/fhir/'.length) : url;
  return new RegExp(`^${type}/([A-Za-z0-9-]{1,64})$`).exec(path)?.[1];
}
