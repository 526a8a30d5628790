import { Readable } from 'node:stream';
import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { FhirError, conflict, forbidden, notFound, tooLarge } from '../common/fhir-error.js';
import type { OutcomeIssue } from '../common/operation-outcome.js';
import { insufficientScope } from '../auth/bearer-auth.guard.js';
import { allows, type SmartScope } from '../auth/smart-scopes.js';
import { BlobStore, BlobTooLargeError, type StoredBlob } from '../storage/blob-store.js';
import { DocumentReferenceRepository } from './document-reference.repository.js';
import { BinaryRepository } from './binary.repository.js';
import { DocumentBundleRepository } from './document-bundle.repository.js';
import { DocumentReferenceService } from './document-reference.service.js';
import type { FhirResource } from './fhir-json.js';
import { DOCUMENT_CONTENT_TYPE, planProvideBundle, type ProvidePlan } from './provide-document-bundle.js';
import type { SubmissionSetSearch } from './submission-set-search.js';
import { SubmissionSetRepository } from './submission-set.repository.js';

/** Who provides: the token's organisation and scopes. */
export interface Provider {
  organization?: string;
  scopes: readonly SmartScope[];
}

/** The outcome of one request entry, in request order (an entry of the transaction-response). */
export interface ProvidedEntry {
  status: '201 Created' | '200 OK';
  location?: string;
  etag?: string;
  lastModified?: string;
  outcome?: OutcomeIssue[];
}

export interface ProvideResult {
  entries: ProvidedEntry[];
  submissionSetId: string;
  /** The patients of the provided documents, for the audit trail. */
  patientNhsNumbers: string[];
  warnings: OutcomeIssue[];
}

/** IHE MHD ITI-65 Provide Document Bundle: every document, pointer and the SubmissionSet stored all-or-nothing. */
@Injectable()
export class ProvideService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly blobs: BlobStore,
    private readonly documentReferences: DocumentReferenceRepository,
    private readonly bundles: DocumentBundleRepository,
    private readonly binaries: BinaryRepository,
    private readonly lifecycle: DocumentReferenceService,
    private readonly submissionSets: SubmissionSetRepository,
    private readonly config: AppConfig,
  ) {}

  /**
   * Validates the whole transaction first, then writes the bytes (orphans the sweep removes if anything later
   * fails), then every row in one database transaction: nothing is visible unless everything is.
   */
  async provide(bundle: FhirResource, provider: Provider): Promise<ProvideResult> {
    this.checkScopes(bundle, provider.scopes);
    if (!provider.organization) {
      throw forbidden(
        'The access token carries no organization claim: providing documents needs the ODS code of the sender',
      );
    }
    const ownerOds = provider.organization;
    const now = Date.now();
    const plan = planProvideBundle(bundle, { baseUrl: this.config.baseUrl, ownerOds, now: new Date(now) });
    for (const binary of plan.binaries) {
      if (binary.bytes.length > this.config.maxBinaryBytes) {
        throw new FhirError(
          413,
          'too-long',
          `The Binary is ${binary.bytes.length} bytes; the limit is ${this.config.maxBinaryBytes} (MAX_BINARY_BYTES)`,
          {
            expression: `Bundle.entry[${binary.index}]`,
          },
        );
      }
    }

    const stored = new Map<number, StoredBlob>();
    for (const item of [...plan.binaries, ...plan.documents]) {
      const contentType = 'contentType' in item ? item.contentType : DOCUMENT_CONTENT_TYPE;
      stored.set(item.index, await this.put(item.bytes, contentType));
    }
    await this.dataSource.transaction(async (manager) => {
      await this.refuseDuplicates(manager, plan);
      for (const binary of plan.binaries) {
        const blob = stored.get(binary.index)!;
        await this.binaries.insert(
          {
            id: binary.id,
            contentType: binary.contentType,
            blobKey: blob.key,
            size: blob.size,
            sha256: blob.sha256,
            sha1: blob.sha1,
            ownerOds,
            createdAt: now,
          },
          manager,
        );
      }
      for (const document of plan.documents) {
        const blob = stored.get(document.index)!;
        await this.bundles.insert(manager, {
          id: document.id,
          identifierSystem: document.facts.identifier.system,
          identifierValue: document.facts.identifier.value,
          fhirVersion: document.fhirVersion,
          contentType: DOCUMENT_CONTENT_TYPE,
          blobKey: blob.key,
          size: blob.size,
          sha256: blob.sha256,
          sha1: blob.sha1,
          custodianOds: ownerOds,
          createdAt: now,
        });
      }
      for (const planned of plan.documentReferences) {
        const contentDocuments = plan.documents.filter((d) => planned.documentIds.includes(d.id));
        // Without relatesTo of its own, a DocumentReference takes its document's (Composition.relatesTo).
        const relations =
          planned.relations.length > 0 ? planned.relations : contentDocuments.flatMap((d) => d.facts.relatesTo);
        const relatesTo = await this.lifecycle.applyRelations(manager, relations, ownerOds);
        const resource = relatesTo.length > 0 ? { ...planned.resource, relatesTo } : planned.resource;
        await this.documentReferences.save(manager, {
          resource,
          patientNhsNumber: planned.nhsNumber,
          custodianOds: ownerOds,
          bundleId: planned.documentIds[0] ?? null,
        });
        await this.lifecycle.recordEvent(manager, {
          kind: 'created',
          documentReferenceId: resource.id,
          versionId: '1',
        });
      }
      const { submissionSet } = plan;
      await this.submissionSets.insert(manager, {
        id: submissionSet.resource.id,
        patientNhsNumber: submissionSet.nhsNumber,
        codeSystem: submissionSet.code.system,
        code: submissionSet.code.code,
        status: submissionSet.status,
        dateMs: submissionSet.dateMs,
        sourceOds: ownerOds,
        lastUpdatedMs: now,
        resource: JSON.stringify(submissionSet.resource),
      });
    });
    return {
      entries: responseEntries(plan, stored, now),
      submissionSetId: plan.submissionSet.resource.id,
      patientNhsNumbers: [...new Set(plan.documentReferences.map((d) => d.nhsNumber))],
      warnings: plan.warnings,
    };
  }

  async readList(id: string): Promise<FhirResource> {
    const row = await this.submissionSets.findById(id);
    if (!row) {
      throw notFound(`List/${id} is not known to this server`);
    }
    return JSON.parse(row.resource) as FhirResource;
  }

  async searchLists(
    search: SubmissionSetSearch,
  ): Promise<{ resources: { id: string; resource: FhirResource }[]; total: number }> {
    const { rows, total } = await this.submissionSets.search(search);
    return {
      resources: rows.map((row) => ({ id: row.id, resource: JSON.parse(row.resource) as FhirResource })),
      total,
    };
  }

  /** DocumentReference.c always (the route demands it); Binary.c and Bundle.c when the transaction carries them. */
  private checkScopes(bundle: FhirResource, scopes: readonly SmartScope[]): void {
    const types = new Set(
      (Array.isArray(bundle.entry) ? (bundle.entry as { resource?: { resourceType?: unknown } }[]) : []).map(
        (e) => e?.resource?.resourceType,
      ),
    );
    for (const type of ['Binary', 'Bundle'] as const) {
      if (types.has(type) && !allows(scopes, type, 'c')) {
        throw insufficientScope(type, 'c');
      }
    }
  }

  private async put(bytes: Buffer, contentType: string): Promise<StoredBlob> {
    try {
      return await this.blobs.put(Readable.from([bytes]), { contentType, maxBytes: bytes.length });
    } catch (error) {
      if (error instanceof BlobTooLargeError) {
        throw tooLarge(error.message);
      }
      throw error;
    }
  }

  /** Documents never change: an identifier already stored (as a document or a DocumentReference) is a conflict. */
  private async refuseDuplicates(manager: EntityManager, plan: ProvidePlan): Promise<void> {
    for (const document of plan.documents) {
      const { system, value } = document.facts.identifier;
      const existing = await this.bundles.findByIdentifier({ system, value }, manager);
      if (existing) {
        throw new FhirError(
          409,
          'duplicate',
          `A document with identifier ${system}|${value} is already stored as Bundle/${existing.id}; documents never change: provide a new document that replaces it`,
          {
            expression: `Bundle.entry[${document.index}]`,
          },
        );
      }
    }
    for (const planned of plan.documentReferences) {
      const master = planned.resource.masterIdentifier as { system?: string; value?: string } | undefined;
      if (!master?.value) {
        continue;
      }
      const taken = await this.documentReferences.findIdByIdentifier(manager, {
        system: master.system,
        value: master.value,
      });
      if (taken !== undefined) {
        throw conflict(
          `A DocumentReference with masterIdentifier ${master.system ?? ''}|${master.value} is already registered (Bundle.entry[${planned.index}])`,
        );
      }
    }
  }
}

function responseEntries(plan: ProvidePlan, stored: Map<number, StoredBlob>, now: number): ProvidedEntry[] {
  const lastModified = new Date(now).toISOString();
  return plan.entries.map((entry): ProvidedEntry => {
    switch (entry.kind) {
      case 'Binary':
      case 'Bundle':
        return {
          status: '201 Created',
          location: `${entry.kind}/${entry.id!}`,
          etag: `"${stored.get(entry.index)!.sha256}"`,
          lastModified,
        };
      case 'DocumentReference':
        return {
          status: '201 Created',
          location: `DocumentReference/${entry.id!}/_history/1`,
          etag: 'W/"1"',
          lastModified,
        };
      case 'List':
        return { status: '201 Created', location: `List/${entry.id!}`, etag: 'W/"1"', lastModified };
      case 'Patient':
      case 'Organization':
        return {
          status: '200 OK',
          outcome: [
            {
              severity: 'information',
              code: 'informational',
              diagnostics: `The ${entry.kind} was read to resolve references (NHS number, ODS code) and is not stored here`,
            },
          ],
        };
    }
  });
}
