import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import type { Actor } from '../audit/actor.js';
import { AppConfig } from '../config/app-config.js';
import { notFound, unprocessable } from '../common/fhir-error.js';
import type { OutcomeIssue } from '../common/operation-outcome.js';
import { BlobStore } from '../storage/blob-store.js';
import { DocumentBundleEntity } from './document-bundle.entity.js';
import { DocumentBundleRepository } from './document-bundle.repository.js';
import { purged, readStoredBytes } from './stored-bytes.js';
import { detectFhirVersion, validateDocumentBundle } from './document-bundle.js';
import { buildDocumentReference } from './document-reference-index.js';
import { DocumentReferenceRepository, type StoredDocumentReference } from './document-reference.repository.js';
import { withRecipients } from './document-reference-recipients.js';
import { DocumentWriter } from './document-writer.js';
import { parseFhirJson, type FhirResource } from '../format/fhir-json.js';
import { parseFhirXml } from '../format/fhir-xml.js';
import { custodianRule, type NewRecordsPlan } from './write-plan.js';
import { canonicalJson } from '../common/canonical-json.js';

export interface DocumentSubmission {
  body: Buffer;
  format: 'json' | 'xml';
  /** The Content-Type header as the sender gave it; served back with the bytes. */
  contentType: string;
  declaredFhirVersion?: string;
  /** ODS code of the submitting organisation (the token's organization claim). */
  submitterOds?: string;
  /** Who submits: the AuditEvent is written in the same transaction as the document. */
  actor: Actor;
}

/** What another way in (an ITK3 message) adds to a submission; the document's rules stay the same. */
export interface SubmissionContext {
  /** ODS codes the document is addressed to besides those the document names (a message's destinations). */
  recipients?: string[];
  /** The message that brought the document, recorded in the same transaction. */
  messageReceipt?: NewRecordsPlan['messageReceipt'];
  /** The AuditEvent's subtype (default `create`, as ITI-65). */
  auditSubtype?: string;
}

export interface SubmittedDocument {
  /** False when this exact document was already stored (a safe retry). */
  created: boolean;
  bundle: DocumentBundleEntity;
  documentReferenceId: string;
  /** Non-fatal findings, such as references that do not resolve inside the Bundle. */
  warnings: OutcomeIssue[];
  patientNhsNumber?: string;
}

/** Submitting and reading immutable document Bundles, each indexed as a DocumentReference. */
@Injectable()
export class DocumentService {
  private readonly logger = new Logger(DocumentService.name);

  constructor(
    private readonly bundles: DocumentBundleRepository,
    private readonly blobs: BlobStore,
    private readonly documentReferences: DocumentReferenceRepository,
    private readonly writer: DocumentWriter,
    private readonly config: AppConfig,
  ) {}

  parseDocument(submission: DocumentSubmission): FhirResource {
    return submission.format === 'json' ? parseFhirJson(submission.body) : parseFhirXml(submission.body);
  }

  /**
   * Validates the document and plans its record: the exact bytes as a Bundle, indexed as a DocumentReference
   * addressed to its recipients. The same identifier with the same bytes is a safe retry; with other bytes it is
   * refused, because documents never change.
   */
  async submitDocument(submission: DocumentSubmission, context: SubmissionContext = {}): Promise<SubmittedDocument> {
    const bundle = this.parseDocument(submission);
    const fhirVersion = detectFhirVersion(bundle, submission.declaredFhirVersion);
    const { errors, warnings, facts } = validateDocumentBundle(bundle, fhirVersion);
    if (errors.length > 0 || !facts) {
      throw unprocessable([...errors, ...warnings]);
    }
    const ownerOds = custodianRule(facts.custodian?.odsCode, submission.submitterOds, 'submit this document');
    const now = new Date();
    const bundleId = randomUUID();
    const resource = withRecipients(
      buildDocumentReference(facts, {
        id: randomUUID(),
        bundleUrl: `${this.config.baseUrl}/fhir/Bundle/${bundleId}`,
        contentType: submission.contentType,
        size: submission.body.length,
        createdAt: now,
      }),
      [...facts.registeredGpOdsCodes, ...facts.informationRecipientOdsCodes, ...(context.recipients ?? [])],
    ) as StoredDocumentReference;
    delete resource.relatesTo;
    const written = await this.writer.create({
      kind: 'create',
      ownerOds,
      binaries: [],
      documents: [
        {
          id: bundleId,
          identifier: facts.identifier,
          fhirVersion,
          contentType: submission.contentType,
          blob: { bytes: submission.body, contentType: submission.contentType },
          canonical: () => canonicalJson(bundle),
        },
      ],
      documentReferences: [
        { resource, nhsNumber: facts.subject.nhsNumber ?? null, bundleId, relations: facts.relatesTo },
      ],
      onStoredIdentifier: 'retry',
      messageReceipt: context.messageReceipt,
      audit: context.auditSubtype
        ? { actor: submission.actor, subtype: context.auditSubtype }
        : { actor: submission.actor, subtype: 'create', transaction: 'ITI-65' },
      now,
    });
    return {
      created: written.created,
      bundle: written.documents[0],
      documentReferenceId: written.documentReferences[0]?.id ?? '',
      warnings,
      patientNhsNumber: facts.subject.nhsNumber,
    };
  }

  async getBundle(id: string): Promise<DocumentBundleEntity> {
    const row = await this.bundles.findById(id);
    if (!row) {
      throw notFound(`Bundle/${id} is not known to this server`);
    }
    if (row.purgedAt !== null) {
      throw purged(`Bundle/${id}`, row.purgedAt);
    }
    return row;
  }

  /** The NHS number of the patient a stored document is about, for the audit trail. */
  /** The DocumentReference that indexes a stored document, and its patient. */
  async indexOf(bundleId: string): Promise<{ documentReferenceId: string; patientNhsNumber: string | null } | null> {
    const row = await this.documentReferences.findByBundleId(undefined, bundleId);
    return row ? { documentReferenceId: row.id, patientNhsNumber: row.patientNhsNumber } : null;
  }

  /** The exact stored bytes, checked against their recorded SHA-256 before they are served. */
  async readBundleBytes(row: DocumentBundleEntity): Promise<Buffer> {
    return readStoredBytes(this.blobs, row, `Bundle/${row.id}`, this.logger);
  }
}
