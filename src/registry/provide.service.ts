import { Injectable } from '@nestjs/common';
import type { Actor } from '../audit/actor.js';
import { AppConfig } from '../config/app-config.js';
import { FhirError, notFound } from '../common/fhir-error.js';
import type { OutcomeIssue } from '../common/operation-outcome.js';
import { DocumentWriter } from './document-writer.js';
import type { FhirResource } from '../format/fhir-json.js';
import { DOCUMENT_CONTENT_TYPE, planProvideBundle, type ProvidePlan } from './provide-document-bundle.js';
import type { SubmissionSetSearch } from './submission-set-search.js';
import { SubmissionSetRepository } from './submission-set.repository.js';
import { custodianRule } from './write-plan.js';

/** Who provides: the token's organisation (scopes are checked at the HTTP edge). */
export interface Provider {
  organization?: string;
  actor: Actor;
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
    private readonly writer: DocumentWriter,
    private readonly submissionSets: SubmissionSetRepository,
    private readonly config: AppConfig,
  ) {}

  /**
   * Validates the whole transaction first (a pure plan), then hands it to the writer: the bytes, then every row in
   * one transaction, so nothing is visible unless everything is.
   */
  async provide(bundle: FhirResource, provider: Provider): Promise<ProvideResult> {
    const ownerOds = custodianRule(undefined, provider.organization, 'provide documents');
    const now = new Date();
    const plan = planProvideBundle(bundle, { baseUrl: this.config.baseUrl, ownerOds, now });
    for (const binary of plan.binaries) {
      if (binary.bytes.length > this.config.maxBinaryBytes) {
        throw new FhirError(
          413,
          'too-long',
          `The Binary is ${binary.bytes.length} bytes; the limit is ${this.config.maxBinaryBytes} (MAX_BINARY_BYTES)`,
          { expression: `Bundle.entry[${binary.index}]` },
        );
      }
    }
    const written = await this.writer.create({
      kind: 'create',
      ownerOds,
      binaries: plan.binaries.map((b) => ({
        id: b.id,
        contentType: b.contentType,
        blob: { bytes: b.bytes, contentType: b.contentType },
      })),
      documents: plan.documents.map((d) => ({
        id: d.id,
        identifier: d.facts.identifier,
        fhirVersion: d.fhirVersion,
        contentType: DOCUMENT_CONTENT_TYPE,
        blob: { bytes: d.bytes, contentType: DOCUMENT_CONTENT_TYPE },
        expression: `Bundle.entry[${d.index}]`,
      })),
      documentReferences: plan.documentReferences.map((planned) => ({
        resource: planned.resource,
        nhsNumber: planned.nhsNumber,
        bundleId: planned.documentIds[0] ?? null,
        // without relatesTo of its own, a DocumentReference takes its document's (Composition.relatesTo)
        relations:
          planned.relations.length > 0
            ? planned.relations
            : plan.documents.filter((d) => planned.documentIds.includes(d.id)).flatMap((d) => d.facts.relatesTo),
        expression: `Bundle.entry[${planned.index}]`,
      })),
      submissionSet: plan.submissionSet,
      onStoredIdentifier: 'conflict',
      audit: { actor: provider.actor, subtype: 'transaction', transaction: 'ITI-65' },
      now,
    });
    const sha256 = new Map([...written.binaries, ...written.documents].map((row) => [row.id, row.sha256]));
    return {
      entries: responseEntries(plan, sha256, now.getTime()),
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
}

function responseEntries(plan: ProvidePlan, sha256: Map<string, string>, now: number): ProvidedEntry[] {
  const lastModified = new Date(now).toISOString();
  return plan.entries.map((entry): ProvidedEntry => {
    switch (entry.kind) {
      case 'Binary':
      case 'Bundle':
        return {
          status: '201 Created',
          location: `${entry.kind}/${entry.id!}`,
          etag: `"${sha256.get(entry.id!)!}"`,
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
