import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { Injectable, Logger, type OnApplicationBootstrap, Optional } from '@nestjs/common';
import { canonicalJson } from '../common/canonical-json.js';
import { DataSource, QueryFailedError, type EntityManager } from 'typeorm';
import type { AuditEntity } from '../audit/actor.js';
import type { AuditInput } from '../audit/audit-event-resource.js';
import { AuditService } from '../audit/audit.service.js';
import { AppConfig } from '../config/app-config.js';
import { FhirError, businessRule, conflict, forbidden, notFound, preconditionFailed } from '../common/fhir-error.js';
import { GroupCommitter } from '../database/group-commit.js';
import { BlobStore, BlobStoreUnavailableError, type StoredBlob } from '../storage/blob-store.js';
import type { BinaryEntity } from './binary.entity.js';
import { BinaryRepository } from './binary.repository.js';
import type { DocumentBundleEntity } from './document-bundle.entity.js';
import { DocumentBundleRepository } from './document-bundle.repository.js';
import type { DocumentRelation } from './document-bundle.js';
import { DocumentEventLog, type DocumentEvent } from './document-events.js';
import { MessageReceiptLog } from './message-receipts.js';
import {
  checkedChange,
  isPurged,
  nextVersion,
  purgedDocumentReference,
  storedContentOf,
} from './document-lifecycle.js';
import {
  DocumentReferenceRepository,
  parseStored,
  type DocumentReferenceRow,
  type StoredDocumentReference,
} from './document-reference.repository.js';
import { parseFhirJson } from '../format/fhir-json.js';
import { parseFhirXml } from '../format/fhir-xml.js';
import { applyJsonPatch } from './json-patch.js';
import { readStoredBytes } from './stored-bytes.js';
import { SubmissionSetRepository } from './submission-set.repository.js';
import type { DeliveryTaskEntity } from './delivery-task.entity.js';
import { DeliveryTaskRepository } from './delivery-task.repository.js';
import {
  checkAnswerAllowed,
  movesForward,
  recipientAnswer,
  REPORTED_STEPS,
  taskResource,
  withStep,
} from './delivery-task.js';
import { recipientsOf, withRecipients } from './document-reference-recipients.js';
import { StoredTotals } from './stored-totals.js';
import {
  attachmentMismatches,
  sha256Hex,
  type AuditIntent,
  type AddressPlan,
  type ChangePlan,
  type MessageReceiptPlan,
  type NewRecordsPlan,
  type PlannedBlob,
  type PlannedDocumentReference,
  type PurgePlan,
  type TaskAnswerPlan,
  type TaskStepPlan,
} from './write-plan.js';

export interface RelatesTo {
  code: string;
  target: { reference?: string; identifier?: { system?: string; value: string } };
}

/** What a create plan wrote, or, for a safe retry, what an earlier submission of the same bytes had written. */
export interface WrittenRecords {
  /** False when nothing was written because this exact document was already stored (a safe retry). */
  created: boolean;
  binaries: BinaryEntity[];
  documents: DocumentBundleEntity[];
  /** As stored, relations included; for a retry, only the id is certain. */
  documentReferences: StoredDocumentReference[];
}

/** What a purge released: the DocumentReference as it now stands and the stored bytes whose blobs are to go. */
export interface PurgedContent {
  documentReference: StoredDocumentReference;
  /** False when the content was purged before (a retry after a crash): only the blobs are removed again. */
  changed: boolean;
  /** Bundles and Binaries the DocumentReference stands for, as `Bundle/<id>`, with their blobs. */
  released: { reference: string; key: string; size: number }[];
}

/** A committed write was refused by a unique index: someone else claimed the same identifier first. */
function isUniqueViolation(error: unknown): boolean {
  if (!(error instanceof QueryFailedError)) {
    return false;
  }
  const driverError = error.driverError as { code?: string } | undefined;
  return driverError?.code === '23505' || /^SQLITE_CONSTRAINT_(UNIQUE|PRIMARYKEY)$/.test(driverError?.code ?? '');
}

/**
 * The one way anything is written to the registry. A plan's bytes are stored first (all of a plan's blobs at
 * once) and made durable; then its rows, relations, outbox events and AuditEvent are written as one unit of a group
 * commit. Each rule lives here once: identifier uniqueness and idempotent retry, attachments that point at stored
 * Binaries, relation resolution (replaces supersedes), the custodian's right to change, If-Match.
 */
@Injectable()
export class DocumentWriter implements OnApplicationBootstrap {
  private readonly logger = new Logger(DocumentWriter.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly committer: GroupCommitter,
    private readonly blobs: BlobStore,
    private readonly bundles: DocumentBundleRepository,
    private readonly binaries: BinaryRepository,
    private readonly documentReferences: DocumentReferenceRepository,
    private readonly submissionSets: SubmissionSetRepository,
    private readonly tasks: DeliveryTaskRepository,
    private readonly audit: AuditService,
    private readonly config: AppConfig,
    private readonly totals: StoredTotals,
    @Optional() private readonly events?: DocumentEventLog,
    @Optional() private readonly messages?: MessageReceiptLog,
  ) {}

  /** Counts what is stored once, before the port opens, so that the metrics then only add this process's writes. */
  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.appRoles.includes('api')) {
      return;
    }
    const [documents, binaries] = await Promise.all([this.bundles.totals(), this.binaries.totals()]);
    this.totals.addHeld('document', documents.count, documents.bytes);
    this.totals.addHeld('binary', binaries.count, binaries.bytes);
  }

  /** Stores new documents, Binaries, DocumentReferences and a SubmissionSet all-or-nothing. */
  async create(plan: NewRecordsPlan): Promise<WrittenRecords> {
    if (plan.onStoredIdentifier === 'retry') {
      // a resubmission is answered without storing its bytes again; here (outside any transaction) its content may
      // also be compared with the stored document's
      const earlier = await this.earlierSubmission(plan, this.dataSource.manager, undefined, true);
      if (earlier) {
        return earlier;
      }
    }
    const stored = await Promise.all(
      [...plan.binaries.map((b) => b.blob), ...plan.documents.map((d) => d.blob)].map((blob) => this.store(blob)),
    );
    const binaryRows: BinaryEntity[] = plan.binaries.map((binary, i) => ({
      id: binary.id,
      contentType: binary.contentType,
      ...blobColumns(stored[i]),
      ownerOds: plan.ownerOds,
      createdAt: plan.now.getTime(),
      purgedAt: null,
    }));
    const documentRows: DocumentBundleEntity[] = plan.documents.map((document, i) => ({
      id: document.id,
      identifierSystem: document.identifier.system,
      identifierValue: document.identifier.value,
      fhirVersion: document.fhirVersion,
      contentType: document.contentType,
      ...blobColumns(stored[plan.binaries.length + i]),
      custodianOds: plan.ownerOds,
      createdAt: plan.now.getTime(),
      purgedAt: null,
    }));
    try {
      const result = await this.committer.run(async (manager) => {
        const earlier = await this.earlierSubmission(plan, manager, documentRows);
        if (earlier) {
          return earlier; // our bytes are an orphan the sweep removes
        }
        await this.refuseTakenIdentifiers(manager, plan);
        for (const row of binaryRows) {
          await this.binaries.insert(row, manager);
        }
        for (const row of documentRows) {
          await this.bundles.insert(manager, row);
        }
        const documentReferences: StoredDocumentReference[] = [];
        for (const planned of plan.documentReferences) {
          documentReferences.push(await this.insertDocumentReference(manager, planned, plan.ownerOds!, documentRows));
        }
        if (plan.submissionSet) {
          const { resource, nhsNumber, code, status, dateMs } = plan.submissionSet;
          await this.submissionSets.insert(manager, {
            id: resource.id,
            patientNhsNumber: nhsNumber,
            codeSystem: code.system,
            code: code.code,
            status,
            dateMs,
            sourceOds: plan.ownerOds!,
            lastUpdatedMs: plan.now.getTime(),
            resource: JSON.stringify(resource),
          });
        }
        if (plan.messageReceipt) {
          await this.receiptLog().record(manager, {
            ...plan.messageReceipt,
            documentReferenceId: documentReferences[0]?.id ?? null,
          });
        }
        const written = { created: true, binaries: binaryRows, documents: documentRows, documentReferences };
        await this.audit.record(this.creationAudit(plan, written), manager);
        return written;
      });
      if (result.created) {
        binaryRows.forEach((row) => this.totals.recordStored('binary', row.size));
        documentRows.forEach((row) => this.totals.recordStored('document', row.size));
      }
      return result;
    } catch (error) {
      if (!isUniqueViolation(error)) {
        throw error;
      }
      // another request claimed the identifier between our checks and our insert
      const earlier =
        plan.onStoredIdentifier === 'retry'
          ? await this.earlierSubmission(plan, this.dataSource.manager, documentRows)
          : undefined;
      if (earlier) {
        return earlier;
      }
      throw conflict('An identifier of this request was registered by another request at the same moment');
    }
  }

  /**
   * Withdraws or relabels a DocumentReference. Only its custodian may; only status (current -> entered-in-error) and
   * securityLabel may change; `If-Match` must name the current version when given.
   */
  async change(plan: ChangePlan): Promise<StoredDocumentReference> {
    const { id } = plan;
    return this.committer.run(async (manager) => {
      const row = await this.documentReferences.findForUpdate(manager, id);
      if (!row) {
        throw notFound(`DocumentReference/${id} is not known to this server`);
      }
      if (!plan.actorOds || row.custodianOds !== plan.actorOds) {
        throw forbidden(
          `Only the custodian (${row.custodianOds ?? 'unknown'}) may change DocumentReference/${id}; your organisation is ${plan.actorOds ?? 'not given'}`,
        );
      }
      const current = parseStored(row);
      if (plan.ifMatch !== undefined && !etagMatches(plan.ifMatch, current.meta.versionId)) {
        throw preconditionFailed(
          `If-Match ${plan.ifMatch} does not match the current version W/"${current.meta.versionId}" of DocumentReference/${id}`,
        );
      }
      const proposed =
        plan.change.kind === 'patch' ? applyJsonPatch(current, plan.change.operations) : plan.change.resource;
      const changed = checkedChange(current, proposed);
      let result = current;
      if (JSON.stringify(changed) !== JSON.stringify(current)) {
        result = nextVersion(changed, new Date());
        await this.documentReferences.save(manager, rowOf(result, row));
        if (result.status !== current.status) {
          await this.recordEvent(manager, {
            kind: 'withdrawn',
            documentReferenceId: id,
            versionId: result.meta.versionId,
          });
          await this.closeTasks(manager, id, 'withdrawn by the sender');
        }
      }
      const withdrawn = result.status === 'entered-in-error' && current.status !== 'entered-in-error';
      await this.audit.record(
        auditOf(plan.audit, {
          action: 'U',
          subtype: withdrawn ? 'withdraw' : plan.audit.subtype,
          entities: [{ reference: `DocumentReference/${id}`, role: 'resource' }],
          patientNhsNumbers: row.patientNhsNumber ? [row.patientNhsNumber] : [],
          custodianOrgs: row.custodianOds ? [row.custodianOds] : [],
        }),
        manager,
      );
      return result;
    });
  }

  /**
   * The administrative purge (legal erasure), the one change to stored bytes: the DocumentReference becomes
   * entered-in-error with the reason, its Bundle and Binaries are marked purged (reads answer 410 from the commit on),
   * and subscribers hear of the withdrawal, in one transaction with the AuditEvent. The caller removes the blobs
   * after the commit: a crash in between leaves purged rows whose blobs the orphan sweep collects.
   */
  async purge(plan: PurgePlan): Promise<PurgedContent> {
    const { id } = plan;
    return this.committer.run(async (manager) => {
      const row = await this.documentReferences.findForUpdate(manager, id);
      if (!row) {
        throw notFound(`DocumentReference/${id} is not known to this server`);
      }
      const current = parseStored(row);
      const { bundleIds, binaryIds } = storedContentOf(current, row.bundleId, this.config.baseUrl);
      const bundles: DocumentBundleEntity[] = [];
      for (const bundleId of bundleIds) {
        const bundle = await this.bundles.findById(bundleId, manager);
        if (bundle) {
          bundles.push(bundle);
        }
      }
      const binaries = await this.binaries.findByIds(binaryIds, manager);
      const changed = !isPurged(current);
      let result = current;
      if (changed) {
        result = nextVersion(purgedDocumentReference(current, plan.reason, plan.now), plan.now);
        await this.documentReferences.save(manager, rowOf(result, row));
        if (current.status !== result.status) {
          await this.recordEvent(manager, {
            kind: 'withdrawn',
            documentReferenceId: id,
            versionId: result.meta.versionId,
          });
          await this.closeTasks(manager, id, 'withdrawn: its content was purged');
        }
      }
      await this.bundles.markPurged(
        manager,
        bundles.map((b) => b.id),
        plan.now.getTime(),
      );
      await this.binaries.markPurged(
        manager,
        binaries.map((b) => b.id),
        plan.now.getTime(),
      );
      const released = [
        ...bundles.map((b) => ({ reference: `Bundle/${b.id}`, key: b.blobKey, size: b.size })),
        ...binaries.map((b) => ({ reference: `Binary/${b.id}`, key: b.blobKey, size: b.size })),
      ];
      await this.audit.record(
        {
          ...auditOf(plan.audit, {
            action: 'D',
            subtype: 'purge',
            entities: [
              { reference: `DocumentReference/${id}`, role: 'resource' },
              ...released.map((r): AuditEntity => ({ reference: r.reference, role: 'document' })),
            ],
            patientNhsNumbers: row.patientNhsNumber ? [row.patientNhsNumber] : [],
            custodianOrgs: row.custodianOds ? [row.custodianOds] : [],
          }),
          reason: plan.reason,
          details: [
            { type: 'released', value: released.map((r) => r.reference).join(' ') || 'none' },
            { type: 'repeated', value: String(!changed) },
          ],
        },
        manager,
      );
      return { documentReference: result, changed, released };
    });
  }

  /** An ITK3 message answered without a new document (refused, or its document already stored): its receipt alone. */
  async recordMessage(plan: MessageReceiptPlan): Promise<void> {
    const { receipt } = plan;
    await this.committer.run(async (manager) => {
      await this.receiptLog().record(manager, receipt);
      await this.audit.record(
        auditOf(plan.audit, {
          action: 'C',
          subtype: plan.audit.subtype,
          entities: receipt.documentReferenceId
            ? [{ reference: `DocumentReference/${receipt.documentReferenceId}`, role: 'resource' }]
            : [],
          patientNhsNumbers: [],
          custodianOrgs: [receipt.senderOds],
        }),
        manager,
      );
    });
  }

  /**
   * Addresses a stored document to more recipients: only its custodian may, only while it is current. Returns the
   * recipients that were new (none: nothing changed but the receipt).
   */
  async address(plan: AddressPlan): Promise<string[]> {
    const id = plan.documentReferenceId;
    return this.committer.run(async (manager) => {
      const row = await this.documentReferences.findForUpdate(manager, id);
      if (!row) {
        throw notFound(`DocumentReference/${id} is not known to this server`);
      }
      if (row.custodianOds !== plan.actorOds) {
        throw forbidden(`Only the custodian (${row.custodianOds ?? 'unknown'}) may address DocumentReference/${id}`);
      }
      const current = parseStored(row);
      const known = new Set([...recipientsOf(current), plan.actorOds]);
      const added = [...new Set(plan.recipients)].filter((ods) => !known.has(ods));
      if (added.length > 0) {
        if (row.status !== 'current') {
          throw conflict(
            `DocumentReference/${id} is ${row.status}: only a current document can be sent to more recipients`,
          );
        }
        const addressed = nextVersion(withRecipients(current, added), new Date());
        await this.documentReferences.save(manager, rowOf(addressed, row));
        await this.recordEvent(manager, {
          kind: 'addressed',
          documentReferenceId: id,
          versionId: addressed.meta.versionId,
        });
        await this.openTasks(manager, addressed, plan.actorOds, row.patientNhsNumber, added);
      }
      await this.receiptLog().record(manager, plan.receiptFor(added));
      await this.audit.record(
        auditOf(plan.audit, {
          action: 'U',
          subtype: plan.audit.subtype,
          entities: [{ reference: `DocumentReference/${id}`, role: 'resource' }],
          patientNhsNumbers: row.patientNhsNumber ? [row.patientNhsNumber] : [],
          custodianOrgs: [plan.actorOds],
        }),
        manager,
      );
      return added;
    });
  }

  private receiptLog(): MessageReceiptLog {
    if (!this.messages) {
      throw new Error('No MessageReceiptLog is provided: the messaging module is not loaded');
    }
    return this.messages;
  }

  /** In-memory bytes are their own size limit (the edge checked it); streamed ones are stored already. */
  private async store(blob: PlannedBlob): Promise<StoredBlob> {
    if ('stored' in blob) {
      return blob.stored;
    }
    return this.blobs.put(Readable.from([blob.bytes]), { contentType: blob.contentType, maxBytes: blob.bytes.length });
  }

  /**
   * FHIR create is safe to repeat: for a plan that allows retries, a document identifier already stored with the
   * same bytes answers as that earlier submission; with other bytes it is refused, because documents never change.
   */
  private async earlierSubmission(
    plan: NewRecordsPlan,
    manager: EntityManager,
    rows?: DocumentBundleEntity[],
    compareContent = false,
  ): Promise<WrittenRecords | undefined> {
    if (plan.onStoredIdentifier !== 'retry' || plan.documents.length !== 1) {
      return undefined;
    }
    const [document] = plan.documents;
    const previous = await this.bundles.findByIdentifier(document.identifier, manager);
    if (!previous) {
      return undefined;
    }
    if (previous.purgedAt !== null) {
      throw conflict(
        `The document with identifier ${previous.identifierSystem}|${previous.identifierValue} was stored as ` +
          `Bundle/${previous.id} and its content purged by an operator; it cannot be stored again under that identifier`,
      );
    }
    const sha256 = rows?.[0]?.sha256 ?? ('bytes' in document.blob ? sha256Hex(document.blob.bytes) : undefined);
    if (previous.sha256 !== sha256 && !(compareContent && (await this.sameContent(previous, document.canonical)))) {
      throw conflict(
        `A different document with identifier ${previous.identifierSystem}|${previous.identifierValue} is already stored ` +
          `as Bundle/${previous.id}; documents never change: submit a new document that replaces it instead`,
      );
    }
    const index = await this.documentReferences.findByBundleId(manager, previous.id);
    return {
      created: false,
      binaries: [],
      documents: [previous],
      documentReferences: index ? [parseStored(index)] : [],
    };
  }

  /** Whether the stored document's content, parsed from its own format, is `canonical` (canonical JSON). */
  private async sameContent(previous: DocumentBundleEntity, canonical: (() => string) | undefined): Promise<boolean> {
    if (canonical === undefined) {
      return false;
    }
    try {
      const bytes = await readStoredBytes(this.blobs, previous, `Bundle/${previous.id}`, this.logger);
      const stored = /xml/i.test(previous.contentType) ? parseFhirXml(bytes) : parseFhirJson(bytes);
      return canonicalJson(stored) === canonical();
    } catch (error) {
      if (error instanceof BlobStoreUnavailableError) {
        throw error; // an outage is no answer: a 409 would tell a client its retry was another document
      }
      return false; // unreadable stored bytes: the conflict stands
    }
  }

  /** Documents never change: an identifier already stored (as a document or a DocumentReference) is a conflict. */
  private async refuseTakenIdentifiers(manager: EntityManager, plan: NewRecordsPlan): Promise<void> {
    const claimed = new Set<string>();
    const claim = (system: string | undefined, value: string, what: string, expression?: string) => {
      const key = `${system ?? ''}|${value}`;
      if (claimed.has(key)) {
        throw new FhirError(409, 'duplicate', `${what} ${key} appears twice in this request`, { expression });
      }
      claimed.add(key);
    };
    // a retry-able plan's document identifier was just looked up by earlierSubmission
    const lookedUp = plan.onStoredIdentifier === 'retry' && plan.documents.length === 1;
    for (const document of plan.documents) {
      const { system, value } = document.identifier;
      claim(system, value, 'The document identifier', document.expression);
      const existing = lookedUp ? null : await this.bundles.findByIdentifier({ system, value }, manager);
      if (existing) {
        throw new FhirError(
          409,
          'duplicate',
          `A document with identifier ${system}|${value} is already stored as Bundle/${existing.id}; documents never change: submit a new document that replaces it`,
          { expression: document.expression },
        );
      }
    }
    for (const planned of plan.documentReferences) {
      const master = planned.resource.masterIdentifier as { system?: string; value?: string } | undefined;
      if (!master?.value) {
        continue;
      }
      const ownDocument = plan.documents.some(
        (d) =>
          d.id === planned.bundleId && d.identifier.value === master.value && d.identifier.system === master.system,
      );
      if (!ownDocument) {
        claim(master.system, master.value, 'The masterIdentifier', planned.expression);
      }
      const taken = await this.documentReferences.findIdByIdentifier(manager, {
        system: master.system,
        value: master.value,
      });
      if (taken !== undefined) {
        throw new FhirError(
          409,
          'duplicate',
          `A DocumentReference with masterIdentifier ${master.system ?? ''}|${master.value} is already registered as DocumentReference/${taken}`,
          { expression: planned.expression },
        );
      }
    }
  }

  private async insertDocumentReference(
    manager: EntityManager,
    planned: PlannedDocumentReference,
    ownerOds: string,
    documents: DocumentBundleEntity[],
  ): Promise<StoredDocumentReference> {
    let resource = withStoredDocumentFacts(planned.resource, documents, this.config.baseUrl);
    if (planned.localBinaries?.length) {
      const content = [...(resource.content as Record<string, unknown>[])];
      for (const { contentIndex, binaryId } of planned.localBinaries) {
        content[contentIndex] = await this.withLocalBinary(manager, content[contentIndex], binaryId, ownerOds);
      }
      resource = { ...resource, content };
    }
    const relatesTo = await this.applyRelations(manager, planned.relations, ownerOds);
    const stored: StoredDocumentReference = relatesTo.length > 0 ? { ...resource, relatesTo } : resource;
    await this.documentReferences.save(manager, {
      resource: stored,
      patientNhsNumber: planned.nhsNumber,
      custodianOds: ownerOds,
      bundleId: planned.bundleId,
    });
    await this.recordEvent(manager, {
      kind: 'created',
      documentReferenceId: stored.id,
      versionId: stored.meta.versionId,
    });
    await this.openTasks(manager, stored, ownerOds, planned.nhsNumber);
    return stored;
  }

  /**
   * One delivery Task per organisation the document is addressed to (its sender aside), or only to `only`, in the
   * same transaction.
   */
  private async openTasks(
    manager: EntityManager,
    document: StoredDocumentReference,
    senderOds: string,
    nhsNumber: string | null,
    only?: string[],
  ): Promise<void> {
    const at = Date.parse(document.meta.lastUpdated);
    const rows: DeliveryTaskEntity[] = [...new Set(only ?? recipientsOf(document))]
      .filter((ods) => ods !== senderOds)
      .map((ods) => ({
        id: randomUUID(),
        versionId: 1,
        documentReferenceId: document.id,
        ownerOds: ods,
        requesterOds: senderOds,
        patientNhsNumber: nhsNumber,
        businessStatus: 'stored',
        authoredOnMs: at,
        lastModifiedMs: at,
        journey: JSON.stringify({ steps: [{ step: 'stored', at }] }),
      }));
    await this.tasks.insert(manager, rows);
  }

  /** A recalled document (superseded or withdrawn) closes every delivery of it still open, saying why. */
  private async closeTasks(manager: EntityManager, documentReferenceId: string, why: string): Promise<void> {
    const now = Date.now();
    for (const row of await this.tasks.findByDocument(manager, documentReferenceId, true)) {
      if (movesForward(row.businessStatus, 'closed')) {
        await this.tasks.update(manager, withStep(row, 'closed', now, { text: why }));
      }
    }
  }

  /**
   * A delivery step the server saw (notified, retrieved, overdue); a step already passed changes nothing. The row is
   * locked, so two workers sweeping for overdue Tasks at once move each only once.
   */
  async advanceTask(plan: TaskStepPlan): Promise<void> {
    await this.committer.run(async (manager) => {
      const row = await this.tasks.findFor(plan.documentReferenceId, plan.ownerOds, manager, true);
      if (row && movesForward(row.businessStatus, plan.step)) {
        const moved = withStep(row, plan.step, plan.at);
        await this.tasks.update(manager, moved);
        await this.recordTaskEvent(manager, moved);
      }
    });
  }

  /** A step the sender is told of (delivery-status topic) gets its outbox event in the Task's own transaction. */
  private async recordTaskEvent(manager: EntityManager, row: DeliveryTaskEntity): Promise<void> {
    if ((REPORTED_STEPS as readonly string[]).includes(row.businessStatus)) {
      await this.recordEvent(manager, {
        kind: 'delivery-status',
        documentReferenceId: row.documentReferenceId,
        versionId: String(row.versionId),
        taskId: row.id,
      });
    }
  }

  /**
   * The recipient's answer to its delivery Task: accepted (completed) or rejected, with an ITK3 business code or
   * text. Only the recipient may answer, once; `If-Match` must name the current version when given.
   */
  async answerTask(plan: TaskAnswerPlan): Promise<DeliveryTaskEntity> {
    return this.committer.run(async (manager) => {
      const row = await this.tasks.findForUpdate(manager, plan.id);
      if (!row) {
        throw notFound(`Task/${plan.id} is not known to this server`);
      }
      checkAnswerAllowed(row, plan.actorOds);
      if (plan.ifMatch !== undefined && !etagMatches(plan.ifMatch, String(row.versionId))) {
        throw preconditionFailed(
          `If-Match ${plan.ifMatch} does not match the current version W/"${row.versionId}" of Task/${plan.id}`,
        );
      }
      const current = taskResource(row, `${this.config.baseUrl}/fhir`);
      const proposed =
        plan.change.kind === 'patch' ? applyJsonPatch(current, plan.change.operations) : plan.change.resource;
      const answer = recipientAnswer(current, proposed);
      const answered = withStep(row, answer.outcome, Date.now(), answer.reason);
      await this.tasks.update(manager, answered);
      await this.recordTaskEvent(manager, answered);
      // a document that came as an ITK3 message may owe its sender a business acknowledgement (outbox, same unit)
      await this.messages?.taskAnswered(manager, answered);
      await this.audit.record(
        auditOf(plan.audit, {
          action: 'U',
          subtype: plan.audit.subtype,
          entities: [
            { reference: `Task/${row.id}`, role: 'resource' },
            { reference: `DocumentReference/${row.documentReferenceId}`, role: 'resource' },
          ],
          patientNhsNumbers: row.patientNhsNumber ? [row.patientNhsNumber] : [],
          custodianOrgs: [row.requesterOds],
        }),
        manager,
      );
      return answered;
    });
  }

  /**
   * An attachment pointing at a Binary of this server: it must exist and be the caller's; what the attachment states
   * must match what is stored, and the stored facts are filled in.
   */
  private async withLocalBinary(
    manager: EntityManager,
    entry: Record<string, unknown>,
    binaryId: string,
    ownerOds: string,
  ): Promise<Record<string, unknown>> {
    const binary = await this.binaries.findById(binaryId, manager);
    if (!binary) {
      throw businessRule(
        `attachment.url points at Binary/${binaryId}, which is not stored here`,
        'DocumentReference.content.attachment.url',
      );
    }
    if (binary.purgedAt !== null) {
      throw businessRule(
        `attachment.url points at Binary/${binaryId}, whose content was purged by an operator`,
        'DocumentReference.content.attachment.url',
      );
    }
    if (binary.ownerOds !== ownerOds) {
      throw forbidden(
        `attachment.url points at Binary/${binary.id}, which your organisation (${ownerOds}) did not store: a pointer may only reference your own Binaries`,
      );
    }
    const attachment = (entry.attachment ?? {}) as Record<string, unknown>;
    const actual = { contentType: binary.contentType, size: binary.size, hash: binary.sha1 };
    const [mismatch] = attachmentMismatches(attachment, actual);
    if (mismatch) {
      throw businessRule(
        `attachment.${mismatch.field} (${JSON.stringify(mismatch.given)}) does not match the stored Binary/${binary.id} (${mismatch.actual})`,
        `DocumentReference.content.attachment.${mismatch.field}`,
      );
    }
    return {
      ...entry,
      attachment: { ...attachment, ...actual, url: `${this.config.baseUrl}/fhir/Binary/${binary.id}` },
    };
  }

  /**
   * A new record's relations: `replaces` supersedes the target (which must be current and have the same custodian);
   * transforms, signs and appends are recorded without changing the target.
   */
  private async applyRelations(
    manager: EntityManager,
    relations: DocumentRelation[],
    ownerOds: string,
  ): Promise<RelatesTo[]> {
    const relatesTo: RelatesTo[] = [];
    for (const relation of relations) {
      const targetId = await this.resolveTarget(manager, relation);
      if (relation.code !== 'replaces') {
        relatesTo.push({
          code: relation.code,
          target: targetId ? { reference: `DocumentReference/${targetId}` } : { identifier: relation.targetIdentifier },
        });
        continue;
      }
      if (!targetId) {
        throw businessRule(
          `relatesTo replaces ${describe(relation)}, which is not known to this registry: nothing can be superseded`,
          'Composition.relatesTo',
        );
      }
      const row = await this.documentReferences.findForUpdate(manager, targetId);
      if (!row) {
        throw businessRule(
          `relatesTo replaces DocumentReference/${targetId}, which does not exist`,
          'Composition.relatesTo',
        );
      }
      if (row.status !== 'current') {
        throw conflict(`DocumentReference/${targetId} is ${row.status}: only a current document can be replaced`);
      }
      if (row.custodianOds !== ownerOds) {
        throw forbidden(
          `Only the custodian (${row.custodianOds ?? 'unknown'}) may replace DocumentReference/${targetId}`,
        );
      }
      const superseded = nextVersion({ ...parseStored(row), status: 'superseded' }, new Date());
      await this.documentReferences.save(manager, rowOf(superseded, row));
      await this.recordEvent(manager, {
        kind: 'superseded',
        documentReferenceId: targetId,
        versionId: superseded.meta.versionId,
      });
      await this.closeTasks(manager, targetId, 'superseded by a newer version of the document');
      relatesTo.push({ code: 'replaces', target: { reference: `DocumentReference/${targetId}` } });
    }
    return relatesTo;
  }

  private async resolveTarget(manager: EntityManager, relation: DocumentRelation): Promise<string | undefined> {
    if (relation.targetReference) {
      const match = /(?:^|\/)(DocumentReference|Bundle)\/([A-Za-z0-9.-]{1,64})$/.exec(relation.targetReference);
      if (match?.[1] === 'DocumentReference') {
        return (await this.documentReferences.findById(match[2], manager))?.id;
      }
      if (match?.[1] === 'Bundle') {
        return (await this.documentReferences.findByBundleId(manager, match[2]))?.id;
      }
    }
    const identifier = relation.targetIdentifier;
    if (identifier?.value) {
      const bundle = await this.bundles.findByIdentifier(
        { system: identifier.system, value: identifier.value },
        manager,
      );
      if (bundle) {
        return (await this.documentReferences.findByBundleId(manager, bundle.id))?.id;
      }
      return this.documentReferences.findIdByIdentifier(manager, {
        system: identifier.system,
        value: identifier.value,
      });
    }
    return undefined;
  }

  /** The outbox row the notifications relay reads, in the same transaction as the change. */
  private async recordEvent(manager: EntityManager, event: DocumentEvent): Promise<void> {
    await this.events?.append(manager, event);
  }

  private creationAudit(plan: NewRecordsPlan, written: WrittenRecords): AuditInput {
    const entities: AuditEntity[] = [
      ...written.documents.map((d): AuditEntity => ({ reference: `Bundle/${d.id}`, role: 'document' })),
      ...written.binaries.map((b): AuditEntity => ({ reference: `Binary/${b.id}`, role: 'document' })),
      ...written.documentReferences.map((d): AuditEntity => ({
        reference: `DocumentReference/${d.id}`,
        role: 'resource',
      })),
      ...(plan.submissionSet
        ? [{ reference: `List/${plan.submissionSet.resource.id}`, role: 'resource' } as const]
        : []),
    ];
    const patients = plan.documentReferences.flatMap((d) => (d.nhsNumber ? [d.nhsNumber] : []));
    return auditOf(plan.audit, {
      action: 'C',
      subtype: plan.audit.subtype,
      entities,
      patientNhsNumbers: [...new Set(patients)],
      custodianOrgs: plan.ownerOds ? [plan.ownerOds] : [],
    });
  }
}

function auditOf(
  intent: AuditIntent,
  what: Pick<AuditInput, 'action' | 'subtype' | 'entities' | 'patientNhsNumbers' | 'custodianOrgs'>,
): AuditInput {
  return { actor: intent.actor, outcome: '0', transaction: intent.transaction, ...what };
}

/**
 * Attachments that point at a document stored by this write get its size and hash as the blob store measured them
 * while the bytes streamed in (hashing the body a second time only to fill them in would cost as much again).
 */
function withStoredDocumentFacts(
  resource: StoredDocumentReference,
  documents: DocumentBundleEntity[],
  baseUrl: string,
): StoredDocumentReference {
  if (documents.length === 0 || !Array.isArray(resource.content)) {
    return resource;
  }
  const byUrl = new Map(documents.map((d) => [`${baseUrl}/fhir/Bundle/${d.id}`, d]));
  const content = (resource.content as { attachment?: Record<string, unknown> }[]).map((entry) => {
    const stored = typeof entry.attachment?.url === 'string' ? byUrl.get(entry.attachment.url) : undefined;
    return stored ? { ...entry, attachment: { ...entry.attachment, size: stored.size, hash: stored.sha1 } } : entry;
  });
  return { ...resource, content };
}

function blobColumns(blob: StoredBlob): { blobKey: string; size: number; sha256: string; sha1: string } {
  return { blobKey: blob.key, size: blob.size, sha256: blob.sha256, sha1: blob.sha1 };
}

function describe(relation: DocumentRelation): string {
  if (relation.targetIdentifier) {
    return `${relation.targetIdentifier.system ?? ''}|${relation.targetIdentifier.value}`;
  }
  return relation.targetReference ?? '(no target)';
}

function etagMatches(ifMatch: string, versionId: string): boolean {
  return ifMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '').replace(/"/g, '') === versionId);
}

function rowOf(
  resource: StoredDocumentReference,
  row: { patientNhsNumber: string | null; custodianOds: string | null; bundleId: string | null },
): DocumentReferenceRow {
  return { resource, patientNhsNumber: row.patientNhsNumber, custodianOds: row.custodianOds, bundleId: row.bundleId };
}
