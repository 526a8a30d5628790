import { Injectable } from '@nestjs/common';
import { insertRows } from '../database/plain-sql.js';
import { DataSource, type EntityManager } from 'typeorm';
import { BinaryEntity } from './binary.entity.js';

/** Stored Binaries: rows are inserted once and never changed. */
@Injectable()
export class BinaryRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insert(row: BinaryEntity, manager: EntityManager = this.dataSource.manager): Promise<void> {
    await insertRows(manager, BinaryEntity, [row]);
  }

  findById(id: string, manager: EntityManager = this.dataSource.manager): Promise<BinaryEntity | null> {
    return manager.getRepository(BinaryEntity).findOneBy({ id });
  }
}
