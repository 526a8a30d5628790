import { randomUUID } from 'node:crypto';
import { FhirError } from '../common/fhir-error.js';
import type { IssueCode, OutcomeIssue } from '../common/operation-outcome.js';
import {
  type DocumentFacts,
  type DocumentRelation,
  type FhirVersion,
  detectFhirVersion,
  validateDocumentBundle,
} from './document-bundle.js';
import { withRecipients } from './document-reference-recipients.js';
import type { StoredDocumentReference } from './document-reference.repository.js';
import type { FhirResource } from '../format/fhir-json.js';
import { isValidNhsNumber, NHS_NUMBER_SYSTEM, ODS_ORGANIZATION_SYSTEM } from './nhs-number.js';
import { attachmentMismatches, relationsOf, sha1Base64 } from './write-plan.js';

/** IHE MHD List.code system; `submissionset` marks the SubmissionSet of an ITI-65 Provide Document Bundle. */
export const MHD_LIST_TYPES = 'https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes';
export const INTENDED_RECIPIENT_EXTENSION =
  'https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-intendedRecipient';

/** The media type a document Bundle sent inside a transaction is stored and served as. */
export const DOCUMENT_CONTENT_TYPE = 'application/fhir+json';

type Json = Record<string, unknown>;
type Identifier = { system?: string; value?: string };

export type ProvideEntryKind = 'List' | 'DocumentReference' | 'Binary' | 'Bundle' | 'Patient' | 'Organization';

/** One request entry of the transaction, in request order; Patient and Organization entries are read, not stored. */
export interface PlannedEntry {
  index: number;
  kind: ProvideEntryKind;
  /** The server id the entry is stored under (absent for Patient and Organization). */
  id?: string;
}

export interface PlannedBinary {
  index: number;
  id: string;
  contentType: string;
  bytes: Buffer;
}

export interface PlannedDocument {
  index: number;
  id: string;
  fhirVersion: FhirVersion;
  facts: DocumentFacts;
  /** The document as stored: its JSON serialisation (the transaction carries no separate bytes). */
  bytes: Buffer;
}

export interface PlannedDocumentReference {
  index: number;
  /** The resource to store: server id, meta, content pointing at the stored bytes, references rewritten. */
  resource: StoredDocumentReference;
  nhsNumber: string;
  /** Indexes of the document Bundle entries among its content (their stored row id goes in bundle_id). */
  documentIds: string[];
  relations: DocumentRelation[];
}

export interface PlannedSubmissionSet {
  index: number;
  resource: FhirResource & { id: string };
  nhsNumber: string;
  status: string;
  code: { system: string; code: string };
  dateMs: number | null;
  recipients: string[];
}

/** Everything an ITI-65 transaction asks for, validated and resolved; executing it needs no further checks. */
export interface ProvidePlan {
  entries: PlannedEntry[];
  binaries: PlannedBinary[];
  documents: PlannedDocument[];
  documentReferences: PlannedDocumentReference[];
  submissionSet: PlannedSubmissionSet;
  /** Non-fatal findings from the document Bundles (references that do not resolve inside them). */
  warnings: OutcomeIssue[];
}

export interface ProvidePlanOptions {
  /** The server's public base URL (attachment URLs point at `${baseUrl}/fhir/Binary/<id>`). */
  baseUrl: string;
  /** ODS code of the submitting organisation: the owner, and the only custodian allowed. */
  ownerOds: string;
  now?: Date;
  newId?: () => string;
}

const URN_UUID = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const ALLOWED: ReadonlySet<string> = new Set([
  'List',
  'DocumentReference',
  'Binary',
  'Bundle',
  'Patient',
  'Organization',
]);

const isRecord = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const records = (value: unknown): Json[] => (Array.isArray(value) ? value.filter(isRecord) : []);
const str = (value: unknown): string | undefined => (typeof value === 'string' && value.length > 0 ? value : undefined);
/** A JSON value for a message: strings as they are, anything else as JSON. */
const shown = (value: unknown): string => (typeof value === 'string' ? value : (JSON.stringify(value) ?? '(none)'));

interface RawEntry {
  index: number;
  fullUrl: string;
  resource: FhirResource;
}

/** Collects issues; every issue names its entry first, then the element (`Bundle.entry[3]`, `Bundle.entry[3].resource.data`). */
class Issues {
  readonly list: OutcomeIssue[] = [];

  add(code: IssueCode, diagnostics: string, index: number | undefined, path?: string): void {
    const entry = index === undefined ? undefined : `Bundle.entry[${index}]`;
    const expression = entry === undefined ? [path ?? 'Bundle'] : path ? [entry, `${entry}.${path}`] : [entry];
    this.list.push({ severity: 'error', code, diagnostics, expression });
  }
}

/**
 * Reads an IHE MHD ITI-65 Provide Document Bundle (a FHIR transaction) into a plan: one SubmissionSet List, its
 * DocumentReferences, the Binaries and document Bundles they point at, optional Patient and Organization entries.
 * References between entries (urn:uuid fullUrls) are resolved and rewritten to the ids the entries will be stored
 * under. Throws 422 with one issue per problem (each naming its entry), or 403 when a custodian is not the owner.
 */
export function planProvideBundle(bundle: FhirResource, options: ProvidePlanOptions): ProvidePlan {
  const newId = options.newId ?? randomUUID;
  const now = options.now ?? new Date();
  const issues = new Issues();
  if (bundle.resourceType !== 'Bundle' || bundle.type !== 'transaction') {
    const got =
      bundle.resourceType === 'Bundle' ? `Bundle.type ${shown(bundle.type ?? '(none)')}` : bundle.resourceType;
    throw new FhirError(
      422,
      'business-rule',
      `POST /fhir accepts only a Bundle with type transaction (IHE MHD ITI-65 Provide Document Bundle); got ${got}. ` +
        'A single FHIR document (Bundle.type document) goes to POST /fhir/Bundle',
      { expression: 'Bundle.type' },
    );
  }
  const raw = readEntries(bundle, issues);
  fail(issues);

  const byUrl = new Map(raw.map((e) => [e.fullUrl, e]));
  const ids = new Map<string, string>();
  const entries: PlannedEntry[] = raw.map((e) => {
    const kind = e.resource.resourceType as ProvideEntryKind;
    const stored = kind !== 'Patient' && kind !== 'Organization';
    const id = stored ? newId() : undefined;
    if (id) {
      ids.set(e.fullUrl, id);
    }
    return { index: e.index, kind, ...(id ? { id } : {}) };
  });
  const ofKind = (kind: ProvideEntryKind) => raw.filter((e) => e.resource.resourceType === kind);

  const patients = new Map<string, string | undefined>();
  for (const e of ofKind('Patient')) {
    patients.set(e.fullUrl, patientNhsNumber(e, issues));
  }
  const organisations = new Map<string, string | undefined>();
  for (const e of ofKind('Organization')) {
    organisations.set(e.fullUrl, odsOf(records(e.resource.identifier)));
  }
  const binaries = ofKind('Binary').flatMap((e) => planBinary(e, ids.get(e.fullUrl)!, issues));
  const warnings: OutcomeIssue[] = [];
  const documents = ofKind('Bundle').flatMap((e) => planDocument(e, ids.get(e.fullUrl)!, issues, warnings));
  const identifiers = new Set<string>();
  for (const document of documents) {
    const key = `${document.facts.identifier.system}|${document.facts.identifier.value}`;
    if (identifiers.has(key)) {
      issues.add(
        'duplicate',
        `Two document Bundles of this transaction have the identifier ${key}`,
        document.index,
        'resource.identifier',
      );
    }
    identifiers.add(key);
  }

  const context: Context = {
    byUrl,
    ids,
    patients,
    organisations,
    binaries,
    documents,
    baseUrl: options.baseUrl,
    now,
    issues,
  };
  const referenced = new Set<string>();
  const documentReferences = ofKind('DocumentReference').flatMap((e) =>
    planDocumentReference(e, ids.get(e.fullUrl)!, context, referenced),
  );
  for (const e of [...ofKind('Binary'), ...ofKind('Bundle')]) {
    if (!referenced.has(e.fullUrl)) {
      issues.add(
        'business-rule',
        `This ${e.resource.resourceType} is not the content of any DocumentReference in the transaction`,
        e.index,
      );
    }
  }

  const lists = ofKind('List');
  const submissionSets = lists.filter((e) => isSubmissionSet(e.resource));
  for (const e of lists.filter((l) => !isSubmissionSet(l.resource))) {
    issues.add(
      'not-supported',
      `Only a SubmissionSet List (code ${MHD_LIST_TYPES}|submissionset) may be provided; folders are not supported`,
      e.index,
      'resource.code',
    );
  }
  if (submissionSets.length !== 1) {
    issues.add(
      'business-rule',
      `An ITI-65 Provide Document Bundle has exactly one SubmissionSet List; this one has ${submissionSets.length}`,
      undefined,
      'Bundle.entry',
    );
  }
  if (documentReferences.length === 0 && ofKind('DocumentReference').length === 0) {
    issues.add(
      'business-rule',
      'An ITI-65 Provide Document Bundle has at least one DocumentReference; this one has none',
      undefined,
      'Bundle.entry',
    );
  }
  fail(issues);
  const submissionSet = planSubmissionSet(
    submissionSets[0],
    ids.get(submissionSets[0].fullUrl)!,
    context,
    documentReferences,
  );
  fail(issues);

  // The intended recipients are on every DocumentReference, next to the document's own (registered GP, ITK recipients).
  for (const planned of documentReferences) {
    const ownRecipients = documents
      .filter((d) => planned.documentIds.includes(d.id))
      .flatMap((d) => [...d.facts.registeredGpOdsCodes, ...d.facts.informationRecipientOdsCodes]);
    planned.resource = withRecipients(planned.resource, [...submissionSet.recipients, ...ownRecipients]);
  }
  checkOwnership(raw, documents, options.ownerOds);
  for (const planned of documentReferences) {
    if (!planned.resource.custodian) {
      planned.resource.custodian = {
        type: 'Organization',
        identifier: { system: ODS_ORGANIZATION_SYSTEM, value: options.ownerOds },
      };
    }
  }
  return { entries, binaries, documents, documentReferences, submissionSet, warnings };
}

function fail(issues: Issues): void {
  if (issues.list.length > 0) {
    const [first] = issues.list;
    throw new FhirError(422, first.code, first.diagnostics, { issues: issues.list });
  }
}

function readEntries(bundle: FhirResource, issues: Issues): RawEntry[] {
  const entries = Array.isArray(bundle.entry) ? (bundle.entry as unknown[]) : [];
  if (entries.length === 0) {
    issues.add(
      'required',
      'The transaction has no entries: send a SubmissionSet List, DocumentReferences and their content',
      undefined,
      'Bundle.entry',
    );
  }
  const seen = new Set<string>();
  const result: RawEntry[] = [];
  entries.forEach((entry, index) => {
    if (!isRecord(entry) || !isRecord(entry.resource) || typeof entry.resource.resourceType !== 'string') {
      issues.add('required', 'Every entry needs a resource', index, 'resource');
      return;
    }
    const resource = entry.resource as FhirResource;
    const request = isRecord(entry.request) ? entry.request : {};
    if (request.method !== 'POST') {
      issues.add(
        'not-supported',
        `request.method must be POST (only creates are accepted), got ${shown(request.method ?? '(none)')}`,
        index,
        'request.method',
      );
    }
    const fullUrl = str(entry.fullUrl);
    if (!fullUrl || !URN_UUID.test(fullUrl)) {
      issues.add(
        'value',
        `fullUrl must be a urn:uuid (entries reference each other by it), got ${fullUrl ?? '(none)'}`,
        index,
        'fullUrl',
      );
    } else if (seen.has(fullUrl.toLowerCase())) {
      issues.add('duplicate', `fullUrl ${fullUrl} is used by more than one entry`, index, 'fullUrl');
    }
    if (resource.resourceType === 'DocumentManifest') {
      issues.add(
        'not-supported',
        'DocumentManifest is the MHD 3 SubmissionSet: MHD 4 sends a List with code submissionset instead',
        index,
        'resource',
      );
    } else if (!ALLOWED.has(resource.resourceType)) {
      issues.add(
        'not-supported',
        `A ${resource.resourceType} cannot be provided; entries are List, DocumentReference, Binary, Bundle, Patient or Organization`,
        index,
        'resource',
      );
    }
    if (fullUrl) {
      seen.add(fullUrl.toLowerCase());
      result.push({ index, fullUrl, resource });
    }
  });
  return result;
}

function patientNhsNumber(entry: RawEntry, issues: Issues): string | undefined {
  const identifiers = records(entry.resource.identifier);
  const position = identifiers.findIndex((i) => i.system === NHS_NUMBER_SYSTEM);
  const value = position < 0 ? undefined : str(identifiers[position].value);
  if (value !== undefined && !isValidNhsNumber(value)) {
    issues.add(
      'value',
      `NHS number '${value}' is not valid: its modulus 11 check digit fails`,
      entry.index,
      `resource.identifier[${position}].value`,
    );
    return undefined;
  }
  return value;
}

function odsOf(identifiers: Json[]): string | undefined {
  return str(identifiers.find((i) => i.system === ODS_ORGANIZATION_SYSTEM)?.value);
}

function planBinary(entry: RawEntry, id: string, issues: Issues): PlannedBinary[] {
  const contentType = str(entry.resource.contentType);
  let ok = true;
  if (!contentType || !/^[\w.+-]+\/[\w.+-]+/.test(contentType)) {
    issues.add(
      'required',
      'Binary.contentType is required and must be a media type',
      entry.index,
      'resource.contentType',
    );
    ok = false;
  }
  const data = typeof entry.resource.data === 'string' ? entry.resource.data.replace(/\s+/g, '') : undefined;
  // Whitespace inside base64 is tolerated, as on POST /fhir/Binary; anything else outside the alphabet is not.
  if (data === undefined || data.length === 0) {
    issues.add('required', 'Binary.data is required: the document bytes as base64', entry.index, 'resource.data');
    ok = false;
  } else if (!BASE64.test(data) || data.length % 4 !== 0) {
    issues.add('value', 'Binary.data is not valid base64', entry.index, 'resource.data');
    ok = false;
  }
  return ok ? [{ index: entry.index, id, contentType: contentType!, bytes: Buffer.from(data!, 'base64') }] : [];
}

function planDocument(entry: RawEntry, id: string, issues: Issues, warnings: OutcomeIssue[]): PlannedDocument[] {
  let fhirVersion: FhirVersion;
  try {
    fhirVersion = detectFhirVersion(entry.resource);
  } catch (error) {
    if (error instanceof FhirError) {
      issues.add(error.issues[0].code, error.message, entry.index, 'resource');
      return [];
    }
    throw error;
  }
  const nested = (issue: OutcomeIssue): OutcomeIssue => ({
    ...issue,
    expression: [
      `Bundle.entry[${entry.index}]`,
      ...(issue.expression ?? ['Bundle']).map((e) => e.replace(/^Bundle/, `Bundle.entry[${entry.index}].resource`)),
    ],
  });
  const validation = validateDocumentBundle(entry.resource, fhirVersion);
  warnings.push(...validation.warnings.map(nested));
  if (validation.errors.length > 0 || !validation.facts) {
    issues.list.push(...validation.errors.map(nested));
    return [];
  }
  return [
    {
      index: entry.index,
      id,
      fhirVersion,
      facts: validation.facts,
      bytes: Buffer.from(JSON.stringify(entry.resource)),
    },
  ];
}

interface Context {
  byUrl: Map<string, RawEntry>;
  ids: Map<string, string>;
  patients: Map<string, string | undefined>;
  organisations: Map<string, string | undefined>;
  binaries: PlannedBinary[];
  documents: PlannedDocument[];
  baseUrl: string;
  now: Date;
  issues: Issues;
}

/** The NHS number a subject Reference names: its own identifier, or the NHS number of the Patient entry it points at. */
function subjectNhsNumber(subject: unknown, context: Context, index: number, path: string): string | undefined {
  if (!isRecord(subject)) {
    return undefined;
  }
  const identifier = isRecord(subject.identifier) ? (subject.identifier as Identifier) : undefined;
  if (identifier?.system === NHS_NUMBER_SYSTEM && identifier.value !== undefined) {
    if (!isValidNhsNumber(identifier.value)) {
      context.issues.add(
        'value',
        `NHS number '${identifier.value}' is not valid: its modulus 11 check digit fails`,
        index,
        `${path}.identifier.value`,
      );
      return undefined;
    }
    return identifier.value;
  }
  const reference = str(subject.reference);
  return reference && context.patients.has(reference) ? context.patients.get(reference) : undefined;
}

function missingNhsNumber(context: Context, index: number, path: string, subject: unknown): void {
  const reference = isRecord(subject) ? str(subject.reference) : undefined;
  const detail =
    reference && !context.patients.has(reference) ? ` (${reference} is not a Patient entry of this transaction)` : '';
  context.issues.add(
    'required',
    `${path} must carry the patient's NHS number: ${path}.identifier with system ${NHS_NUMBER_SYSTEM}, or a reference to a ` +
      `Patient entry of this transaction that has one${detail}`,
    index,
    `resource.${path}`,
  );
}

function planDocumentReference(
  entry: RawEntry,
  id: string,
  context: Context,
  referenced: Set<string>,
): PlannedDocumentReference[] {
  const { issues } = context;
  const before = issues.list.length;
  const resource = entry.resource;
  if (resource.status !== undefined && resource.status !== 'current') {
    issues.add(
      'business-rule',
      `A provided DocumentReference must have status current, not ${shown(resource.status)}`,
      entry.index,
      'resource.status',
    );
  }
  const beforeSubject = issues.list.length;
  const nhsNumber = subjectNhsNumber(resource.subject, context, entry.index, 'resource.subject');
  if (!nhsNumber && issues.list.length === beforeSubject) {
    missingNhsNumber(context, entry.index, 'subject', resource.subject);
  }
  const type = isRecord(resource.type) ? resource.type : undefined;
  if (!records(type?.coding).some((c) => typeof c.code === 'string')) {
    issues.add(
      'required',
      'type is required: a coded document type (e.g. SNOMED CT 373942005 Discharge summary)',
      entry.index,
      'resource.type',
    );
  }
  if (isRecord(resource.custodian) && !custodianOds(resource.custodian, context)) {
    issues.add(
      'required',
      `custodian, when given, must carry an ODS code (identifier system ${ODS_ORGANIZATION_SYSTEM})`,
      entry.index,
      'resource.custodian',
    );
  }

  const contents = records(resource.content);
  if (contents.length === 0) {
    issues.add(
      'required',
      'content is required: an attachment whose url is the urn:uuid of a Binary or Bundle entry',
      entry.index,
      'resource.content',
    );
  }
  const documentIds: string[] = [];
  const content = contents.map((item, position) => {
    const at = `resource.content[${position}].attachment`;
    const attachment = isRecord(item.attachment) ? item.attachment : {};
    const url = str(attachment.url);
    const target = url ? context.byUrl.get(url) : undefined;
    const kind = target?.resource.resourceType;
    if (!target || (kind !== 'Binary' && kind !== 'Bundle')) {
      issues.add(
        'business-rule',
        `attachment.url must be the urn:uuid fullUrl of a Binary or Bundle entry of this transaction, got ${url ?? '(none)'}`,
        entry.index,
        `${at}.url`,
      );
      return item;
    }
    referenced.add(target.fullUrl);
    const storedId = context.ids.get(target.fullUrl)!;
    const binary = context.binaries.find((b) => b.index === target.index);
    const document = context.documents.find((d) => d.index === target.index);
    if (!binary && !document) {
      return item; // the target entry itself is invalid and already reported
    }
    if (document) {
      documentIds.push(storedId);
    }
    const actual = {
      contentType: binary ? binary.contentType : DOCUMENT_CONTENT_TYPE,
      size: (binary ?? document)!.bytes.length,
      hash: sha1Base64((binary ?? document)!.bytes),
    };
    for (const mismatch of attachmentMismatches(attachment, actual)) {
      issues.add(
        'business-rule',
        `attachment.${mismatch.field} (${shown(mismatch.given)}) does not match the ${kind} entry it points at (${mismatch.actual})`,
        entry.index,
        `${at}.${mismatch.field}`,
      );
    }
    return {
      ...item,
      attachment: { ...attachment, ...actual, url: `${context.baseUrl}/fhir/${kind}/${storedId}` },
    };
  });
  if (issues.list.length > before) {
    return [];
  }
  const rewritten = rewriteReferences({ ...resource, content }, context, entry.index, 'resource') as Json;
  const stored = {
    ...rewritten,
    resourceType: 'DocumentReference',
    id,
    meta: { ...(isRecord(resource.meta) ? resource.meta : {}), versionId: '1', lastUpdated: context.now.toISOString() },
    status: 'current',
    subject: { ...normalisedSubject(rewritten.subject), identifier: { system: NHS_NUMBER_SYSTEM, value: nhsNumber! } },
    date: str(resource.date) ?? context.now.toISOString(),
  } as StoredDocumentReference;
  delete stored.relatesTo;
  return [
    { index: entry.index, resource: stored, nhsNumber: nhsNumber!, documentIds, relations: relationsOf(resource) },
  ];
}

function custodianOds(custodian: Json, context: Context): string | undefined {
  const identifier = isRecord(custodian.identifier) ? custodian.identifier : undefined;
  if (identifier?.system === ODS_ORGANIZATION_SYSTEM && str(identifier.value)) {
    return str(identifier.value);
  }
  const reference = str(custodian.reference);
  return reference ? context.organisations.get(reference) : undefined;
}

/** The subject as stored: the NHS number identifier (no Patient resources are kept here), plus any display. */
function normalisedSubject(subject: unknown): Json {
  const display = isRecord(subject) ? str(subject.display) : undefined;
  return { ...(display ? { display } : {}) };
}

/**
 * Rewrites every Reference to another entry of the transaction (FHIR R4 http.html#trules): to the stored entry's
 * `Type/id`, or, for Patient and Organization entries (not stored), to their NHS number or ODS identifier.
 * A urn:uuid that names no entry is an error: a transaction cannot point outside itself by urn.
 */
function rewriteReferences(value: unknown, context: Context, index: number, path: string): unknown {
  if (Array.isArray(value)) {
    return value.map((item, i) => rewriteReferences(item, context, index, `${path}[${i}]`));
  }
  if (!isRecord(value)) {
    return value;
  }
  const out: Json = {};
  for (const [key, child] of Object.entries(value)) {
    out[key] = rewriteReferences(child, context, index, `${path}.${key}`);
  }
  const reference = str(value.reference);
  if (!reference?.startsWith('urn:uuid:')) {
    return out;
  }
  const target = context.byUrl.get(reference);
  if (!target) {
    context.issues.add(
      'business-rule',
      `reference ${reference} names no entry of this transaction`,
      index,
      `${path}.reference`,
    );
    return out;
  }
  const type = target.resource.resourceType;
  delete out.reference;
  if (type === 'Patient') {
    const nhsNumber = context.patients.get(reference);
    return {
      ...out,
      type: 'Patient',
      ...(nhsNumber ? { identifier: { system: NHS_NUMBER_SYSTEM, value: nhsNumber } } : {}),
    };
  }
  if (type === 'Organization') {
    const ods = context.organisations.get(reference);
    return {
      ...out,
      type: 'Organization',
      ...(ods ? { identifier: { system: ODS_ORGANIZATION_SYSTEM, value: ods } } : {}),
    };
  }
  return { ...out, reference: `${type}/${context.ids.get(reference)!}` };
}

function isSubmissionSet(list: FhirResource): boolean {
  const code = isRecord(list.code) ? list.code : {};
  return records(code.coding).some((c) => c.system === MHD_LIST_TYPES && c.code === 'submissionset');
}

function planSubmissionSet(
  entry: RawEntry,
  id: string,
  context: Context,
  documentReferences: PlannedDocumentReference[],
): PlannedSubmissionSet {
  const { issues } = context;
  const list = entry.resource;
  const status = str(list.status) ?? 'current';
  if (status !== 'current') {
    issues.add(
      'business-rule',
      `A SubmissionSet must have status current, not ${status}`,
      entry.index,
      'resource.status',
    );
  }
  const items = records(list.entry);
  const listed = new Set<string>();
  items.forEach((item, position) => {
    const reference = isRecord(item.item) ? str(item.item.reference) : undefined;
    const target = reference ? context.byUrl.get(reference) : undefined;
    if (target?.resource.resourceType !== 'DocumentReference') {
      issues.add(
        'business-rule',
        `entry.item must reference a DocumentReference entry of this transaction by its fullUrl, got ${reference ?? '(none)'}`,
        entry.index,
        `resource.entry[${position}].item`,
      );
      return;
    }
    listed.add(reference!);
  });
  for (const [url, target] of context.byUrl) {
    if (target.resource.resourceType === 'DocumentReference' && !listed.has(url)) {
      issues.add(
        'business-rule',
        `DocumentReference ${url} is not listed in the SubmissionSet (List.entry.item)`,
        target.index,
      );
    }
  }

  const nhsNumbers = new Set(documentReferences.map((d) => d.nhsNumber));
  let nhsNumber: string | undefined;
  if (list.subject !== undefined) {
    nhsNumber = subjectNhsNumber(list.subject, context, entry.index, 'resource.subject');
    if (!nhsNumber) {
      missingNhsNumber(context, entry.index, 'subject', list.subject);
    }
  } else if (nhsNumbers.size === 1) {
    nhsNumber = [...nhsNumbers][0];
  }
  if (nhsNumbers.size > 1 || (nhsNumber && nhsNumbers.size === 1 && !nhsNumbers.has(nhsNumber))) {
    issues.add(
      'business-rule',
      `A SubmissionSet is about one patient: its DocumentReferences name NHS numbers ${[...new Set([nhsNumber, ...nhsNumbers].filter(Boolean))].join(', ')}`,
      entry.index,
      'resource.subject',
    );
  }
  for (const document of context.documents) {
    const documentNhs = document.facts.subject.nhsNumber;
    if (nhsNumber && documentNhs && documentNhs !== nhsNumber) {
      issues.add(
        'business-rule',
        `The document's Patient has NHS number ${documentNhs}, but the SubmissionSet is for ${nhsNumber}`,
        document.index,
        'resource',
      );
    }
  }
  const recipients = intendedRecipients(list, context, entry.index);

  const rewritten = rewriteReferences(list, context, entry.index, 'resource') as Json;
  const date = str(list.date) ?? context.now.toISOString();
  const resource = {
    ...rewritten,
    resourceType: 'List',
    id,
    meta: { ...(isRecord(list.meta) ? list.meta : {}), versionId: '1', lastUpdated: context.now.toISOString() },
    status,
    mode: str(list.mode) ?? 'working',
    subject: {
      ...normalisedSubject(rewritten.subject),
      identifier: { system: NHS_NUMBER_SYSTEM, value: nhsNumber ?? '' },
    },
    date,
  };
  const parsedDate = Date.parse(date);
  return {
    index: entry.index,
    resource,
    nhsNumber: nhsNumber ?? '',
    status,
    code: { system: MHD_LIST_TYPES, code: 'submissionset' },
    dateMs: Number.isNaN(parsedDate) ? null : parsedDate,
    recipients,
  };
}

/** ODS codes of the SubmissionSet's intended recipients: contained, Bundle-entry or identifier-only Organizations. */
function intendedRecipients(list: FhirResource, context: Context, index: number): string[] {
  const contained = new Map(records(list.contained).map((r) => [`#${String(r.id)}`, r]));
  const codes: string[] = [];
  records(list.extension).forEach((extension, position) => {
    if (extension.url !== INTENDED_RECIPIENT_EXTENSION) {
      return;
    }
    const reference = isRecord(extension.valueReference) ? extension.valueReference : {};
    const target = str(reference.reference);
    let ods: string | undefined;
    if (isRecord(reference.identifier) && reference.identifier.system === ODS_ORGANIZATION_SYSTEM) {
      ods = str(reference.identifier.value);
    } else if (target?.startsWith('#') && contained.get(target)?.resourceType === 'Organization') {
      ods = odsOf(records(contained.get(target)!.identifier));
    } else if (target && context.organisations.has(target)) {
      ods = context.organisations.get(target);
    }
    if (!ods) {
      context.issues.add(
        'business-rule',
        `intendedRecipient must be an Organization with an ODS code (${ODS_ORGANIZATION_SYSTEM}): contained, an entry of ` +
          'this transaction, or an identifier; otherwise nobody could be notified',
        index,
        `resource.extension[${position}].valueReference`,
      );
      return;
    }
    codes.push(ods);
  });
  return [...new Set(codes)];
}

/** NRL's rule, as on POST /fhir/Bundle: a sender provides only documents it is the custodian of. */
function checkOwnership(raw: RawEntry[], documents: PlannedDocument[], ownerOds: string): void {
  const problems: OutcomeIssue[] = [];
  for (const entry of raw.filter((e) => e.resource.resourceType === 'DocumentReference')) {
    const custodian = isRecord(entry.resource.custodian) ? entry.resource.custodian : undefined;
    const identifier = isRecord(custodian?.identifier) ? custodian.identifier : undefined;
    const reference = str(custodian?.reference);
    const target = reference ? raw.find((e) => e.fullUrl === reference) : undefined;
    const ods =
      identifier?.system === ODS_ORGANIZATION_SYSTEM
        ? str(identifier.value)
        : target
          ? odsOf(records(target.resource.identifier))
          : undefined;
    if (ods && ods !== ownerOds) {
      problems.push(
        ownershipIssue(`DocumentReference.custodian is ${ods}`, ownerOds, entry.index, 'resource.custodian'),
      );
    }
  }
  for (const document of documents) {
    const ods = document.facts.custodian?.odsCode;
    if (ods && ods !== ownerOds) {
      problems.push(
        ownershipIssue(`The document's Composition.custodian is ${ods}`, ownerOds, document.index, 'resource'),
      );
    }
  }
  if (problems.length > 0) {
    throw new FhirError(403, 'forbidden', problems[0].diagnostics, { issues: problems });
  }
}

function ownershipIssue(what: string, ownerOds: string, index: number, path: string): OutcomeIssue {
  return {
    severity: 'error',
    code: 'forbidden',
    diagnostics: `${what} but the token's organisation is ${ownerOds}: only the custodian may provide a document`,
    expression: [`Bundle.entry[${index}]`, `Bundle.entry[${index}].${path}`],
  };
}
