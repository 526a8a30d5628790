import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { Actor } from '../audit/actor.js';
import { AppConfig } from '../config/app-config.js';
import { notFound } from '../common/fhir-error.js';
import {
  DocumentReferenceRepository,
  parseStored,
  type StoredDocumentReference,
} from './document-reference.repository.js';
import { DocumentWriter } from './document-writer.js';
import type { FhirResource } from '../format/fhir-json.js';
import { validatePointer } from './pointer.js';
import { custodianRule, type ChangePlan } from './write-plan.js';

/** The DocumentReference lifecycle: read, history, supersede, withdraw, and pointers to documents held elsewhere. */
@Injectable()
export class DocumentReferenceService {
  constructor(
    private readonly documentReferences: DocumentReferenceRepository,
    private readonly writer: DocumentWriter,
    private readonly config: AppConfig,
  ) {}

  async read(id: string): Promise<{ resource: StoredDocumentReference; custodianOds: string | null }> {
    const row = await this.documentReferences.findById(id);
    if (!row) {
      throw notFound(`DocumentReference/${id} is not known to this server`);
    }
    return { resource: parseStored(row), custodianOds: row.custodianOds };
  }

  async history(id: string): Promise<StoredDocumentReference[]> {
    const versions = await this.documentReferences.history(id);
    if (versions.length === 0) {
      throw notFound(`DocumentReference/${id} is not known to this server`);
    }
    return versions.map(parseStored);
  }

  async version(id: string, versionId: string): Promise<StoredDocumentReference> {
    const version = /^\d+$/.test(versionId) ? await this.documentReferences.version(id, Number(versionId)) : null;
    if (!version) {
      throw notFound(`DocumentReference/${id}/_history/${versionId} is not known to this server`);
    }
    return parseStored(version);
  }

  /** Withdraws or relabels a DocumentReference (the writer checks custodian, If-Match and what may change). */
  change(plan: Omit<ChangePlan, 'kind'>): Promise<StoredDocumentReference> {
    return this.writer.change({ kind: 'change', ...plan });
  }

  /**
   * Registers a pointer (NRL style) to a document held elsewhere or to a Binary held here. The custodian must be the
   * caller's organisation.
   */
  async createPointer(
    resource: FhirResource,
    actorOds: string | undefined,
    actor: Actor,
  ): Promise<StoredDocumentReference> {
    const pointer = validatePointer(resource, this.config.baseUrl);
    const ownerOds = custodianRule(pointer.custodianOds, actorOds, 'register a pointer');
    const now = new Date();
    const draft: StoredDocumentReference = {
      ...pointer.resource,
      id: randomUUID(),
      meta: { versionId: '1', lastUpdated: now.toISOString() },
      status: 'current',
      date: typeof pointer.resource.date === 'string' ? pointer.resource.date : now.toISOString(),
      content: pointer.content.map((c) => c.entry),
    };
    delete draft.relatesTo;
    const localBinaries = pointer.content.flatMap((c, contentIndex) =>
      c.binaryId ? [{ contentIndex, binaryId: c.binaryId }] : [],
    );
    const written = await this.writer.create({
      kind: 'create',
      ownerOds,
      binaries: [],
      documents: [],
      documentReferences: [
        { resource: draft, nhsNumber: pointer.nhsNumber, bundleId: null, relations: pointer.relations, localBinaries },
      ],
      onStoredIdentifier: 'conflict',
      audit: { actor, subtype: 'create' },
      now,
    });
    return written.documentReferences[0];
  }
}
