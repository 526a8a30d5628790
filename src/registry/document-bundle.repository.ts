import { Injectable } from '@nestjs/common';
import { insertRows, selectRows } from '../database/plain-sql.js';
import { DataSource, type EntityManager } from 'typeorm';
import { DocumentBundleEntity } from './document-bundle.entity.js';

/** Stored document Bundles: rows are inserted once and never changed, but for the purge's mark. */
@Injectable()
export class DocumentBundleRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insert(manager: EntityManager, row: DocumentBundleEntity): Promise<void> {
    await insertRows(manager, DocumentBundleEntity, [row]);
  }

  /** How many documents are stored and their bytes: a full scan, read once at start for the metrics. */
  async totals(): Promise<{ count: number; bytes: number }> {
    const [row] = await this.dataSource.query<{ n: string | number; bytes: string | number | null }[]>(
      'SELECT COUNT(*) AS n, SUM(size) AS bytes FROM document_bundle',
    );
    return { count: Number(row.n), bytes: Number(row.bytes ?? 0) };
  }

  /** The administrative purge: the bytes of these documents are to go (their reads answer 410 Gone from now on). */
  async markPurged(manager: EntityManager, ids: readonly string[], atMs: number): Promise<void> {
    if (ids.length > 0) {
      await manager
        .createQueryBuilder()
        .update(DocumentBundleEntity)
        .set({ purgedAt: atMs })
        .where('id IN (:...ids) AND purged_at IS NULL', { ids })
        .execute();
    }
  }

  findById(id: string, manager: EntityManager = this.dataSource.manager): Promise<DocumentBundleEntity | null> {
    return manager.getRepository(DocumentBundleEntity).findOneBy({ id });
  }

  /** The document stored under Bundle.identifier; without `system`, any system with that value. */
  async findByIdentifier(
    identifier: { system?: string; value: string },
    manager: EntityManager = this.dataSource.manager,
  ): Promise<DocumentBundleEntity | null> {
    const [row] = identifier.system
      ? await selectRows(manager, DocumentBundleEntity, 'identifier_value = ? AND identifier_system = ? LIMIT 1', [
          identifier.value,
          identifier.system,
        ])
      : await selectRows(manager, DocumentBundleEntity, 'identifier_value = ? LIMIT 1', [identifier.value]);
    return row ?? null;
  }
}
