import { Injectable } from '@nestjs/common';
import { insertRows } from '../database/plain-sql.js';
import { DataSource, type EntityManager, In } from 'typeorm';
import { BinaryEntity } from './binary.entity.js';

/** Stored Binaries: rows are inserted once and never changed, but for the purge's mark. */
@Injectable()
export class BinaryRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insert(row: BinaryEntity, manager: EntityManager = this.dataSource.manager): Promise<void> {
    await insertRows(manager, BinaryEntity, [row]);
  }

  /** How many Binaries are stored and their bytes: a full scan, read once at start for the metrics. */
  async totals(): Promise<{ count: number; bytes: number }> {
    const [row] = await this.dataSource.query<{ n: string | number; bytes: string | number | null }[]>(
      'SELECT COUNT(*) AS n, SUM(size) AS bytes FROM "binary"',
    );
    return { count: Number(row.n), bytes: Number(row.bytes ?? 0) };
  }

  /** The administrative purge: the bytes of these Binaries are to go (their reads answer 410 Gone from now on). */
  async markPurged(manager: EntityManager, ids: readonly string[], atMs: number): Promise<void> {
    if (ids.length > 0) {
      await manager
        .createQueryBuilder()
        .update(BinaryEntity)
        .set({ purgedAt: atMs })
        .where('id IN (:...ids) AND purged_at IS NULL', { ids })
        .execute();
    }
  }

  /** Binaries by id (those that exist). */
  async findByIds(ids: readonly string[], manager: EntityManager = this.dataSource.manager): Promise<BinaryEntity[]> {
    return ids.length === 0 ? [] : manager.getRepository(BinaryEntity).findBy({ id: In([...ids]) });
  }

  findById(id: string, manager: EntityManager = this.dataSource.manager): Promise<BinaryEntity | null> {
    return manager.getRepository(BinaryEntity).findOneBy({ id });
  }
}
