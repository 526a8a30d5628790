import { randomUUID } from 'node:crypto';
import { Injectable, Optional } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { businessRule, conflict, forbidden, notFound, preconditionFailed } from '../common/fhir-error.js';
import { BinaryRepository } from './binary.repository.js';
import { DocumentBundleRepository } from './document-bundle.repository.js';
import type { DocumentRelation } from './document-bundle.js';
import { DocumentEventLog, type DocumentEvent } from './document-events.js';
import { checkedChange, nextVersion } from './document-lifecycle.js';
import {
  DocumentReferenceRepository,
  parseStored,
  type DocumentReferenceRow,
  type StoredDocumentReference,
} from './document-reference.repository.js';
import type { FhirResource } from './fhir-json.js';
import { applyJsonPatch } from './json-patch.js';
import { validatePointer } from './pointer.js';

export interface RelatesTo {
  code: string;
  target: { reference?: string; identifier?: { system?: string; value: string } };
}

/** A change a custodian asks for: a whole new resource (PUT) or a JSON Patch. */
export type DocumentReferenceChange =
  { kind: 'update'; resource: Record<string, unknown> } | { kind: 'patch'; operations: unknown };

/** The DocumentReference lifecycle: read, history, supersede, withdraw, and pointers to documents held elsewhere. */
@Injectable()
export class DocumentReferenceService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly documentReferences: DocumentReferenceRepository,
    private readonly bundles: DocumentBundleRepository,
    private readonly binaries: BinaryRepository,
    private readonly config: AppConfig,
    @Optional() private readonly events?: DocumentEventLog,
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

  /** Records a change event in the caller's transaction (the outbox the notifications relay reads). */
  async recordEvent(manager: EntityManager, event: DocumentEvent): Promise<void> {
    await this.events?.append(manager, event);
  }

  /**
   * Withdraws or relabels a DocumentReference. Only its custodian may; only status (current ->
   * entered-in-error) and securityLabel may change; `If-Match` must name the current version when given.
   */
  async change(id: string, change: DocumentReferenceChange, actorOds: string | undefined, ifMatch?: string) {
    return this.dataSource.transaction(async (manager) => {
      const row = await this.documentReferences.findForUpdate(manager, id);
      if (!row) {
        throw notFound(`DocumentReference/${id} is not known to this server`);
      }
      if (!actorOds || row.custodianOds !== actorOds) {
        throw forbidden(
          `Only the custodian (${row.custodianOds ?? 'unknown'}) may change DocumentReference/${id}; your organisation is ${actorOds ?? 'not given'}`,
        );
      }
      const current = parseStored(row);
      if (ifMatch !== undefined && !etagMatches(ifMatch, current.meta.versionId)) {
        throw preconditionFailed(
          `If-Match ${ifMatch} does not match the current version W/"${current.meta.versionId}" of DocumentReference/${id}`,
        );
      }
      const proposed = change.kind === 'patch' ? applyJsonPatch(current, change.operations) : change.resource;
      const changed = checkedChange(current, proposed);
      if (JSON.stringify(changed) === JSON.stringify(current)) {
        return current;
      }
      const next = nextVersion(changed, new Date());
      await this.documentReferences.save(manager, rowOf(next, row));
      if (next.status !== current.status) {
        await this.recordEvent(manager, { kind: 'withdrawn', documentReferenceId: id, versionId: next.meta.versionId });
      }
      return next;
    });
  }

  /**
   * Applies a new document's relations inside its transaction: `replaces` supersedes the target (which must be
   * current and owned by the same custodian); transforms, signs and appends are recorded without changing status.
   */
  async applyRelations(manager: EntityManager, relations: DocumentRelation[], ownerOds: string): Promise<RelatesTo[]> {
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
      relatesTo.push({ code: 'replaces', target: { reference: `DocumentReference/${targetId}` } });
    }
    return relatesTo;
  }

  /**
   * Registers a pointer (NRL style) to a document held elsewhere or to a Binary held here. The custodian
   * must be the caller's organisation.
   */
  async createPointer(resource: FhirResource, actorOds: string | undefined): Promise<StoredDocumentReference> {
    const pointer = validatePointer(resource, this.config.baseUrl);
    if (!actorOds || pointer.custodianOds !== actorOds) {
      throw forbidden(
        `DocumentReference.custodian is ${pointer.custodianOds} but the token's organisation is ${actorOds ?? 'not given'}: only the custodian may register a pointer`,
      );
    }
    return this.dataSource.transaction(async (manager) => {
      if (pointer.masterIdentifier && (await this.identifierTaken(manager, pointer.masterIdentifier))) {
        throw conflict(
          `A DocumentReference with masterIdentifier ${pointer.masterIdentifier.system ?? ''}|${pointer.masterIdentifier.value} is already registered`,
        );
      }
      const content = await Promise.all(pointer.content.map((c) => this.withLocalBinary(manager, c, actorOds)));
      const now = new Date();
      const draft: StoredDocumentReference = {
        ...pointer.resource,
        id: randomUUID(),
        meta: { versionId: '1', lastUpdated: now.toISOString() },
        status: 'current',
        date: typeof pointer.resource.date === 'string' ? pointer.resource.date : now.toISOString(),
        content,
      };
      delete draft.relatesTo;
      const relatesTo = await this.applyRelations(manager, pointer.relations, actorOds);
      const stored: StoredDocumentReference = relatesTo.length > 0 ? { ...draft, relatesTo } : draft;
      await this.documentReferences.save(manager, {
        resource: stored,
        patientNhsNumber: pointer.nhsNumber,
        custodianOds: actorOds,
        bundleId: null,
      });
      await this.recordEvent(manager, { kind: 'created', documentReferenceId: stored.id, versionId: '1' });
      return stored;
    });
  }

  private async identifierTaken(
    manager: EntityManager,
    identifier: { system?: string; value: string },
  ): Promise<boolean> {
    return (await this.documentReferences.findIdByIdentifier(manager, identifier)) !== undefined;
  }

  /**
   * A pointer to a Binary of this server: it must exist and have been stored by the caller's organisation; its
   * size, hash and type are taken from what is stored.
   */
  private async withLocalBinary(
    manager: EntityManager,
    content: PointerContent,
    actorOds: string,
  ): Promise<Record<string, unknown>> {
    if (!content.binaryId) {
      return content.entry;
    }
    const binary = await this.binaries.findById(content.binaryId, manager);
    if (!binary) {
      throw businessRule(
        `attachment.url points at Binary/${content.binaryId}, which is not stored here`,
        'DocumentReference.content.attachment.url',
      );
    }
    if (binary.ownerOds !== actorOds) {
      throw forbidden(
        `attachment.url points at Binary/${binary.id}, which your organisation (${actorOds}) did not store: a pointer may only reference your own Binaries`,
      );
    }
    const attachment: Record<string, unknown> = content.entry.attachment ?? {};
    for (const [field, actual] of [
      ['contentType', binary.contentType],
      ['size', binary.size],
      ['hash', binary.sha1],
    ] as const) {
      if (attachment[field] !== undefined && attachment[field] !== actual) {
        throw businessRule(
          `attachment.${field} (${JSON.stringify(attachment[field])}) does not match the stored Binary/${binary.id} (${actual})`,
          `DocumentReference.content.attachment.${field}`,
        );
      }
    }
    return {
      ...content.entry,
      attachment: {
        ...attachment,
        url: `${this.config.baseUrl}/fhir/Binary/${binary.id}`,
        contentType: binary.contentType,
        size: binary.size,
        hash: binary.sha1,
      },
    };
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
}

interface PointerContent {
  entry: Record<string, unknown> & { attachment?: Record<string, unknown> };
  binaryId?: string;
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
