import { Injectable } from '@nestjs/common';
import { insertRows, selectRows } from '../database/plain-sql.js';
import { DataSource, type EntityManager } from 'typeorm';
import type { FhirResource } from '../format/fhir-json.js';
import { DocumentReferenceEntity } from './document-reference.entity.js';
import { DocumentReferenceTokenEntity } from './document-reference-token.entity.js';
import { DocumentReferenceVersionEntity } from './document-reference-version.entity.js';
import { documentReferenceTokens } from './document-reference-tokens.js';
import { recipientsOf } from './document-reference-recipients.js';

/** A DocumentReference resource as this server keeps it: id, meta.versionId and meta.lastUpdated always set. */
export type StoredDocumentReference = FhirResource & {
  id: string;
  status: string;
  date?: string;
  meta: { versionId: string; lastUpdated: string; [key: string]: unknown };
  type?: { coding?: { system?: string; code?: string }[] };
};

export interface DocumentReferenceRow {
  resource: StoredDocumentReference;
  patientNhsNumber: string | null;
  custodianOds: string | null;
  bundleId: string | null;
}

/** Storage of DocumentReferences: current row, search tokens and the version history, always written together. */
@Injectable()
export class DocumentReferenceRepository {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Writes a version of a DocumentReference inside the caller's transaction: version 1 inserts, later versions
   * replace the current row and its tokens. Every version is also appended to the history.
   */
  async save(manager: EntityManager, doc: DocumentReferenceRow): Promise<void> {
    const { resource } = doc;
    const versionId = Number(resource.meta.versionId);
    const lastUpdatedMs = Date.parse(resource.meta.lastUpdated);
    const json = JSON.stringify(resource);
    const firstType = resource.type?.coding?.find((c) => c.code);
    const row = {
      id: resource.id,
      versionId,
      status: resource.status,
      patientNhsNumber: doc.patientNhsNumber,
      typeSystem: firstType?.system ?? null,
      typeCode: firstType?.code ?? null,
      custodianOds: doc.custodianOds,
      dateMs: resource.date ? Date.parse(resource.date) : null,
      lastUpdatedMs,
      bundleId: doc.bundleId,
      resource: json,
    };
    if (versionId === 1) {
      await insertRows(manager, DocumentReferenceEntity, [row]);
    } else {
      const { id, ...changes } = row;
      await manager.update(DocumentReferenceEntity, { id }, changes);
      await manager.delete(DocumentReferenceTokenEntity, { documentReferenceId: id });
    }
    const tokens = documentReferenceTokens(resource, recipientsOf(resource));
    await insertRows(
      manager,
      DocumentReferenceTokenEntity,
      tokens.map((t) => ({ ...t, documentReferenceId: resource.id }) as DocumentReferenceTokenEntity),
    );
    await insertRows(manager, DocumentReferenceVersionEntity, [
      { documentReferenceId: resource.id, versionId, lastUpdatedMs, resource: json },
    ]);
  }

  async findById(
    id: string,
    manager: EntityManager = this.dataSource.manager,
  ): Promise<DocumentReferenceEntity | null> {
    return manager.getRepository(DocumentReferenceEntity).findOneBy({ id });
  }

  /** The current row, locked for the rest of the transaction on PostgreSQL (SQLite transactions are serial). */
  async findForUpdate(manager: EntityManager, id: string): Promise<DocumentReferenceEntity | null> {
    const query = manager.getRepository(DocumentReferenceEntity).createQueryBuilder('d').where('d.id = :id', { id });
    if (manager.connection.options.type === 'postgres') {
      query.setLock('pessimistic_write');
    }
    return query.getOne();
  }

  /** The DocumentReference whose identifier (masterIdentifier or identifier) is this one; any system when none. */
  async findIdByIdentifier(
    manager: EntityManager,
    identifier: { system?: string; value: string },
  ): Promise<string | undefined> {
    const [token] = identifier.system
      ? await selectRows(manager, DocumentReferenceTokenEntity, 'param = ? AND code = ? AND system = ? LIMIT 1', [
          'identifier',
          identifier.value,
          identifier.system,
        ])
      : await selectRows(manager, DocumentReferenceTokenEntity, 'param = ? AND code = ? LIMIT 1', [
          'identifier',
          identifier.value,
        ]);
    return token?.documentReferenceId;
  }

  /** The DocumentReferences whose content is at `url` (their `location` token), through the token lookup index. */
  async findIdsByLocation(url: string): Promise<string[]> {
    const tokens = await selectRows(
      this.dataSource.manager,
      DocumentReferenceTokenEntity,
      'param = ? AND code = ? AND system IS NULL LIMIT 20',
      ['location', url],
    );
    return [...new Set(tokens.map((t) => t.documentReferenceId))];
  }

  async findByBundleId(manager: EntityManager | undefined, bundleId: string): Promise<DocumentReferenceEntity | null> {
    const [row] = await selectRows(
      manager ?? this.dataSource.manager,
      DocumentReferenceEntity,
      'bundle_id = ? LIMIT 1',
      [bundleId],
    );
    return row ?? null;
  }

  /** Every version, newest first. */
  async history(id: string): Promise<DocumentReferenceVersionEntity[]> {
    return this.dataSource
      .getRepository(DocumentReferenceVersionEntity)
      .find({ where: { documentReferenceId: id }, order: { versionId: 'DESC' } });
  }

  async version(id: string, versionId: number): Promise<DocumentReferenceVersionEntity | null> {
    return this.dataSource
      .getRepository(DocumentReferenceVersionEntity)
      .findOneBy({ documentReferenceId: id, versionId });
  }
}

export function parseStored(row: { resource: string }): StoredDocumentReference {
  return JSON.parse(row.resource) as StoredDocumentReference;
}
