import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { DocumentBundleEntity } from './document-bundle.entity.js';

/** Stored document Bundles: rows are inserted once and never changed. */
@Injectable()
export class DocumentBundleRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insert(manager: EntityManager, row: DocumentBundleEntity): Promise<void> {
    await manager.insert(DocumentBundleEntity, row);
  }

  findById(id: string, manager: EntityManager = this.dataSource.manager): Promise<DocumentBundleEntity | null> {
    return manager.getRepository(DocumentBundleEntity).findOneBy({ id });
  }

  /** The document stored under Bundle.identifier; without `system`, any system with that value. */
  findByIdentifier(
    identifier: { system?: string; value: string },
    manager: EntityManager = this.dataSource.manager,
  ): Promise<DocumentBundleEntity | null> {
    return manager.getRepository(DocumentBundleEntity).findOneBy({
      identifierValue: identifier.value,
      ...(identifier.system ? { identifierSystem: identifier.system } : {}),
    });
  }
}
