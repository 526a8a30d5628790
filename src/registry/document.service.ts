import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Actor } from '../audit/actor.js';
import { AuditService } from '../audit/audit.service.js';
import { AppConfig } from '../config/app-config.js';
import { FhirError, conflict, forbidden, notFound, unprocessable } from '../common/fhir-error.js';
import type { OutcomeIssue } from '../common/operation-outcome.js';
import { BlobStore } from '../storage/blob-store.js';
import { DocumentBundleEntity } from './document-bundle.entity.js';
import { DocumentBundleRepository } from './document-bundle.repository.js';
import { readStoredBytes } from './stored-bytes.js';
import { detectFhirVersion, validateDocumentBundle } from './document-bundle.js';
import { buildDocumentReference } from './document-reference-index.js';
import { DocumentReferenceRepository, type StoredDocumentReference } from './document-reference.repository.js';
import { withRecipients } from './document-reference-recipients.js';
import { DocumentReferenceService } from './document-reference.service.js';
import { parseFhirJson, type FhirResource } from './fhir-json.js';
import { parseFhirXml } from './fhir-xml.js';

export interface DocumentSubmission {
  body: Buffer;
  format: 'json' | 'xml';
  /** The Content-Type header as the sender gave it; served back with the bytes. */
  contentType: string;
  declaredFhirVersion?: string;
  /** ODS code of the submitting organisation (the token's organization claim). */
  submitterOds?: string;
  /** Who submits: the AuditEvent is written in the same transaction as the document. */
  actor?: Actor;
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

const sha256Hex = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/**
 * NRL's rule: a sender submits only documents it is the custodian of. A document without an ODS-coded
 * custodian (HL7 and IHE examples have none) is owned by the organisation that submitted it.
 */
function owningOrganisation(custodianOds: string | undefined, submitterOds: string | undefined): string {
  if (!submitterOds) {
    throw forbidden(
      'The access token carries no organization claim: submitting documents needs the ODS code of the sender',
    );
  }
  if (custodianOds && custodianOds !== submitterOds) {
    throw forbidden(
      `Composition.custodian is ${custodianOds} but the token's organisation is ${submitterOds}: only the custodian may submit a document`,
    );
  }
  return submitterOds;
}

/** Submitting and reading immutable document Bundles, each indexed as a DocumentReference. */
@Injectable()
export class DocumentService {
  private readonly logger = new Logger(DocumentService.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly bundles: DocumentBundleRepository,
    private readonly blobs: BlobStore,
    private readonly documentReferences: DocumentReferenceRepository,
    private readonly lifecycle: DocumentReferenceService,
    private readonly audit: AuditService,
    private readonly config: AppConfig,
  ) {}

  parseDocument(submission: DocumentSubmission): FhirResource {
    return submission.format === 'json' ? parseFhirJson(submission.body) : parseFhirXml(submission.body);
  }

  /**
   * Validates, stores the exact bytes, then indexes them in one transaction. The same identifier with the
   * same bytes is a safe retry; with other bytes it is refused, because documents never change.
   */
  async submitDocument(submission: DocumentSubmission): Promise<SubmittedDocument> {
    const bundle = this.parseDocument(submission);
    const fhirVersion = detectFhirVersion(bundle, submission.declaredFhirVersion);
    const { errors, warnings, facts } = validateDocumentBundle(bundle, fhirVersion);
    if (errors.length > 0 || !facts) {
      throw unprocessable([...errors, ...warnings]);
    }
    const ownerOds = owningOrganisation(facts.custodian?.odsCode, submission.submitterOds);
    const sha256 = sha256Hex(submission.body);
    const previous = await this.findByIdentifier(facts.identifier.system, facts.identifier.value);
    if (previous) {
      return this.retryOutcome(previous, sha256, warnings);
    }

    const stored = await this.blobs.put(Readable.from([submission.body]), {
      contentType: submission.contentType,
      maxBytes: submission.body.length,
    });
    const now = Date.now();
    const bundleId = randomUUID();
    const row: DocumentBundleEntity = {
      id: bundleId,
      identifierSystem: facts.identifier.system,
      identifierValue: facts.identifier.value,
      fhirVersion,
      contentType: submission.contentType,
      blobKey: stored.key,
      size: stored.size,
      sha256: stored.sha256,
      sha1: stored.sha1,
      custodianOds: ownerOds,
      createdAt: now,
    };
    const draft = withRecipients(
      buildDocumentReference(facts, {
        id: randomUUID(),
        bundleUrl: `${this.config.baseUrl}/fhir/Bundle/${bundleId}`,
        contentType: submission.contentType,
        size: stored.size,
        sha1: stored.sha1,
        createdAt: new Date(now),
      }),
      [...facts.registeredGpOdsCodes, ...facts.informationRecipientOdsCodes],
    ) as StoredDocumentReference;
    let documentReference = draft;
    try {
      await this.dataSource.transaction(async (manager) => {
        await this.bundles.insert(manager, row);
        const relatesTo = await this.lifecycle.applyRelations(manager, facts.relatesTo, ownerOds);
        documentReference = relatesTo.length > 0 ? { ...draft, relatesTo } : draft;
        await this.documentReferences.save(manager, {
          resource: documentReference,
          patientNhsNumber: facts.subject.nhsNumber ?? null,
          custodianOds: ownerOds,
          bundleId,
        });
        await this.lifecycle.recordEvent(manager, {
          kind: 'created',
          documentReferenceId: documentReference.id,
          versionId: documentReference.meta.versionId,
        });
        if (submission.actor) {
          await this.audit.record(
            {
              actor: submission.actor,
              action: 'C',
              subtype: 'create',
              outcome: '0',
              transaction: 'ITI-65',
              entities: [
                { reference: `Bundle/${bundleId}`, role: 'document' },
                { reference: `DocumentReference/${documentReference.id}` },
              ],
              patientNhsNumbers: facts.subject.nhsNumber ? [facts.subject.nhsNumber] : [],
            },
            manager,
          );
        }
      });
    } catch (error) {
      // A concurrent submission of the same identifier won the unique index; our blob is an orphan the sweep removes.
      const winner =
        error instanceof FhirError
          ? undefined
          : await this.findByIdentifier(facts.identifier.system, facts.identifier.value);
      if (winner) {
        return this.retryOutcome(winner, sha256, warnings);
      }
      throw error;
    }
    return {
      created: true,
      bundle: row,
      documentReferenceId: documentReference.id,
      warnings,
      patientNhsNumber: facts.subject.nhsNumber,
    };
  }

  async getBundle(id: string): Promise<DocumentBundleEntity> {
    const row = await this.bundles.findById(id);
    if (!row) {
      throw notFound(`Bundle/${id} is not known to this server`);
    }
    return row;
  }

  /** The NHS number of the patient a stored document is about, for the audit trail. */
  async patientOf(bundleId: string): Promise<string | null> {
    return (await this.documentReferences.findByBundleId(this.dataSource.manager, bundleId))?.patientNhsNumber ?? null;
  }

  /** The exact stored bytes, checked against their recorded SHA-256 before they are served. */
  async readBundleBytes(row: DocumentBundleEntity): Promise<Buffer> {
    return readStoredBytes(this.blobs, row, `Bundle/${row.id}`, this.logger);
  }

  private findByIdentifier(system: string, value: string): Promise<DocumentBundleEntity | null> {
    return this.bundles.findByIdentifier({ system, value });
  }

  private async retryOutcome(
    previous: DocumentBundleEntity,
    sha256: string,
    warnings: OutcomeIssue[],
  ): Promise<SubmittedDocument> {
    if (previous.sha256 !== sha256) {
      throw conflict(
        `A different document with identifier ${previous.identifierSystem}|${previous.identifierValue} is already stored ` +
          `as Bundle/${previous.id}; documents never change: submit a new document that replaces it instead`,
      );
    }
    const index = await this.documentReferences.findByBundleId(this.dataSource.manager, previous.id);
    return { created: false, bundle: previous, documentReferenceId: index?.id ?? '', warnings };
  }
}
