import { createHash } from 'node:crypto';
import type { Actor } from '../audit/actor.js';
import type { IheTransaction } from '../audit/audit-event-resource.js';
import { forbidden } from '../common/fhir-error.js';
import type { StoredBlob } from '../storage/blob-store.js';
import type { DocumentRelation } from './document-bundle.js';
import type { StoredDocumentReference } from './document-reference.repository.js';
import type { MessageReceipt } from './message-receipts.js';
import type { FhirResource } from '../format/fhir-json.js';

/**
 * What a write does, decided from the request alone (parsing, validation, ids, the resources as they will be
 * stored) before anything is written. DocumentWriter carries plans out: bytes first, then every row, relation,
 * outbox event and the AuditEvent in one group-committed transaction. Every way in builds one of these.
 */
export type WritePlan =
  | NewRecordsPlan
  | ChangePlan
  | PurgePlan
  | TaskStepPlan
  | TaskAnswerPlan
  | MessageReceiptPlan
  | AddressPlan;

/** Bytes to keep: in memory (the writer stores them) or already streamed into the store by the HTTP edge. */
export type PlannedBlob = { bytes: Buffer; contentType: string } | { stored: StoredBlob };

export interface PlannedBinary {
  id: string;
  contentType: string;
  blob: PlannedBlob;
}

/** An immutable document Bundle stored here, byte for byte. */
export interface PlannedDocument {
  id: string;
  identifier: { system: string; value: string };
  fhirVersion: string;
  contentType: string;
  blob: PlannedBlob;
  /** Where a refusal points in the request, e.g. `Bundle.entry[2]`. */
  expression?: string;
  /**
   * The parsed content in canonical JSON (keys sorted, no whitespace), computed only when the identifier is taken
   * by other bytes: a retry whose content is the same (re-serialised, or sent in the other format) is still a retry.
   */
  canonical?: () => string;
}

/** A new DocumentReference (version 1). Its relations are resolved, and applied, inside the transaction. */
export interface PlannedDocumentReference {
  resource: StoredDocumentReference;
  nhsNumber: string | null;
  bundleId: string | null;
  relations: DocumentRelation[];
  /** content[index] points at a Binary already stored here: it must be the owner's, and its facts are filled in. */
  localBinaries?: { contentIndex: number; binaryId: string }[];
  expression?: string;
}

/** An IHE MHD SubmissionSet (List), kept as submitted. */
export interface PlannedSubmissionSet {
  resource: FhirResource & { id: string };
  nhsNumber: string;
  code: { system: string; code: string };
  status: string;
  dateMs: number | null;
}

/** Who asked, and how the AuditEvent names the interaction; the writer adds the entities, patients and custodian. */
export interface AuditIntent {
  actor: Actor;
  subtype: string;
  transaction?: IheTransaction;
}

export interface NewRecordsPlan {
  kind: 'create';
  /** The custodian of everything created (see custodianRule); null only for a Binary stored without one. */
  ownerOds: string | null;
  binaries: PlannedBinary[];
  documents: PlannedDocument[];
  documentReferences: PlannedDocumentReference[];
  submissionSet?: PlannedSubmissionSet;
  /**
   * A document identifier already stored: `retry` answers a resubmission of the same bytes as the earlier submission
   * (FHIR create: safe to repeat) and refuses other bytes; `conflict` refuses it whatever the bytes (ITI-65).
   */
  onStoredIdentifier: 'retry' | 'conflict';
  /** The ITK3 message that brought the document: recorded with it, naming its DocumentReference. */
  messageReceipt?: Omit<MessageReceipt, 'documentReferenceId'>;
  audit: AuditIntent;
  now: Date;
}

/**
 * A document already stored, sent again by its custodian for more recipients (ITK3 sends one message per recipient):
 * the new ones are added to its DocumentReference (a new version) and get their delivery Tasks; the message's receipt
 * is recorded with them.
 */
export interface AddressPlan {
  kind: 'address';
  documentReferenceId: string;
  recipients: string[];
  actorOds: string;
  /** The message's receipt, given the recipients that were new (none: the message brought nothing new). */
  receiptFor: (added: string[]) => MessageReceipt;
  audit: AuditIntent;
}

/** An ITK3 message answered without storing a document (refused, or a duplicate): its receipt alone. */
export interface MessageReceiptPlan {
  kind: 'message-receipt';
  receipt: MessageReceipt;
  audit: AuditIntent;
}

/** A change a custodian asks for: a whole new resource (PUT) or a JSON Patch. */
export type DocumentReferenceChange =
  { kind: 'update'; resource: Record<string, unknown> } | { kind: 'patch'; operations: unknown };

export interface ChangePlan {
  kind: 'change';
  id: string;
  change: DocumentReferenceChange;
  actorOds: string | undefined;
  ifMatch?: string;
  audit: AuditIntent;
}

/**
 * The one administrative exception to immutable bytes (legal erasure): the DocumentReference becomes entered-in-error
 * with the reason recorded, and its document Bundle and Binaries are marked purged; their blobs go after the commit.
 */
export interface PurgePlan {
  kind: 'purge';
  id: string;
  /** Checked (purgeReason): required, one line. */
  reason: string;
  audit: AuditIntent;
  now: Date;
}

/**
 * The server saw a delivery step for one recipient of a document: a notification answered 2xx, a read, or the
 * retrieval deadline passing (overdue).
 */
export interface TaskStepPlan {
  kind: 'task-step';
  documentReferenceId: string;
  ownerOds: string;
  step: 'notified' | 'retrieved' | 'overdue';
  at: number;
}

/** The recipient answers its delivery Task (accepted or rejected, with a reason): a JSON Patch or a whole Task. */
export interface TaskAnswerPlan {
  kind: 'task-answer';
  id: string;
  change: { kind: 'update'; resource: Record<string, unknown> } | { kind: 'patch'; operations: unknown };
  actorOds: string | undefined;
  ifMatch?: string;
  audit: AuditIntent;
}

/**
 * NRL's custodian rule, for every way in: a sender creates only records it is the custodian of. A record that names
 * no ODS-coded custodian (HL7 and IHE examples have none) is owned by the organisation that sent it.
 */
export function custodianRule(declaredOds: string | undefined, callerOds: string | undefined, what: string): string {
  if (!callerOds) {
    throw forbidden(`The access token carries no organization claim: ${what} needs the ODS code of the sender`);
  }
  if (declaredOds && declaredOds !== callerOds) {
    throw forbidden(
      `The custodian is ${declaredOds} but the token's organisation is ${callerOds}: only the custodian may ${what}`,
    );
  }
  return callerOds;
}

/** Media types compared as RFC 9110 does: type and subtype case-insensitive, parameters aside. */
export function sameMediaType(a: string, b: string): boolean {
  const bare = (type: string) => type.split(';')[0].trim().toLowerCase();
  return bare(a) === bare(b);
}

/** Where what an attachment states about stored bytes (contentType, size, hash) disagrees with them. */
export function attachmentMismatches(
  attachment: Record<string, unknown>,
  actual: { contentType: string; size: number; hash: string },
): { field: 'contentType' | 'size' | 'hash'; given: unknown; actual: string | number }[] {
  return (['contentType', 'size', 'hash'] as const).flatMap((field) => {
    const given = attachment[field];
    const same =
      field === 'contentType'
        ? typeof given === 'string' && sameMediaType(given, actual.contentType)
        : given === actual[field];
    return given === undefined || same ? [] : [{ field, given, actual: actual[field] }];
  });
}

export const sha1Base64 = (bytes: Buffer): string => createHash('sha1').update(bytes).digest('base64');

export const sha256Hex = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** DocumentReference.relatesTo (R4: target is a Reference that may carry only an identifier). */
export function relationsOf(resource: FhirResource): DocumentRelation[] {
  const relatesTo = Array.isArray(resource.relatesTo) ? (resource.relatesTo as unknown[]) : [];
  return relatesTo.filter(isRecord).flatMap((relation) => {
    const target = isRecord(relation.target) ? relation.target : {};
    const identifier = isRecord(target.identifier) ? (target.identifier as { system?: string; value?: string }) : {};
    if (typeof relation.code !== 'string' || relation.code === '') {
      return [];
    }
    return [
      {
        code: relation.code,
        targetReference: typeof target.reference === 'string' ? target.reference : undefined,
        targetIdentifier:
          typeof identifier.value === 'string' && identifier.value
            ? { system: identifier.system, value: identifier.value }
            : undefined,
      },
    ];
  });
}
