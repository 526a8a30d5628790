import { Injectable } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { insertRows, placeholders, positional, selectRows } from '../database/plain-sql.js';
import { DeliveryTaskEntity } from './delivery-task.entity.js';
import type { TaskSearch } from './delivery-task-search.js';

const isPostgres = (manager: EntityManager) => manager.connection.options.type === 'postgres';

/** Storage of delivery Tasks, in plain SQL behind the writer (writes) and the Task search (reads). */
@Injectable()
export class DeliveryTaskRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insert(manager: EntityManager, rows: DeliveryTaskEntity[]): Promise<void> {
    await insertRows(manager, DeliveryTaskEntity, rows);
  }

  async findById(id: string, manager: EntityManager = this.dataSource.manager): Promise<DeliveryTaskEntity | null> {
    const [row] = await selectRows(manager, DeliveryTaskEntity, 'id = ?', [id]);
    return row ?? null;
  }

  /** The Task row, locked for the rest of the transaction on PostgreSQL (SQLite writes one at a time). */
  async findForUpdate(manager: EntityManager, id: string): Promise<DeliveryTaskEntity | null> {
    const [row] = await selectRows(manager, DeliveryTaskEntity, `id = ?${isPostgres(manager) ? ' FOR UPDATE' : ''}`, [
      id,
    ]);
    return row ?? null;
  }

  /** The document's Tasks (every recipient), locked like findForUpdate. */
  async findByDocument(
    manager: EntityManager,
    documentReferenceId: string,
    lock = false,
  ): Promise<DeliveryTaskEntity[]> {
    return selectRows(
      manager,
      DeliveryTaskEntity,
      `document_reference_id = ? ORDER BY owner_ods${lock && isPostgres(manager) ? ' FOR UPDATE' : ''}`,
      [documentReferenceId],
    );
  }

  /** The document's Tasks, read outside any transaction. */
  listByDocument(documentReferenceId: string): Promise<DeliveryTaskEntity[]> {
    return this.findByDocument(this.dataSource.manager, documentReferenceId);
  }

  /** One recipient's Task for a document, if it has one (`lock`: as findForUpdate). */
  async findFor(
    documentReferenceId: string,
    ownerOds: string,
    manager: EntityManager = this.dataSource.manager,
    lock = false,
  ): Promise<DeliveryTaskEntity | null> {
    const [row] = await selectRows(
      manager,
      DeliveryTaskEntity,
      `document_reference_id = ? AND owner_ods = ?${lock && isPostgres(manager) ? ' FOR UPDATE' : ''}`,
      [documentReferenceId, ownerOds],
    );
    return row ?? null;
  }

  /**
   * Up to `limit` Tasks still awaiting retrieval (`statuses`) whose document was stored before `before`: one range
   * read of ix_delivery_task_awaiting per status.
   */
  async findAwaitingSince(statuses: readonly string[], before: number, limit: number): Promise<DeliveryTaskEntity[]> {
    return selectRows(
      this.dataSource.manager,
      DeliveryTaskEntity,
      `business_status IN (${statuses.map(() => '?').join(', ')}) AND authored_on_ms < ? LIMIT ${Number(limit)}`,
      [...statuses, before],
    );
  }

  async update(manager: EntityManager, row: DeliveryTaskEntity): Promise<void> {
    await manager.query(
      placeholders(
        manager,
        'UPDATE "delivery_task" SET "version_id" = ?, "business_status" = ?, "last_modified_ms" = ?, "journey" = ? WHERE "id" = ?',
      ),
      [row.versionId, row.businessStatus, row.lastModifiedMs, row.journey, row.id],
    );
  }

  /**
   * One page of a Task search, newest document first: keyset on authored_on_ms (which never changes, so a Task that
   * moves on while a client pages cannot jump over the cursor), then id.
   */
  async search(search: TaskSearch): Promise<DeliveryTaskEntity[]> {
    const conditions: string[] = [];
    const named: Record<string, unknown> = {};
    // the caller sees only Tasks it is the recipient or the sender of
    conditions.push('(owner_ods = :caller OR requester_ods = :caller)');
    named.caller = search.callerOds;
    const list = (column: string, name: string, values: string[] | undefined) => {
      if (values?.length) {
        conditions.push(`${column} IN (:...${name})`);
        named[name] = values;
      }
    };
    list('owner_ods', 'owners', search.owners);
    list('requester_ods', 'requesters', search.requesters);
    list('business_status', 'businessStatuses', search.businessStatuses);
    list('document_reference_id', 'focus', search.focus);
    list('patient_nhs_number', 'patients', search.patients);
    list('id', 'ids', search.ids);
    search.lastModified.forEach((range, i) => {
      conditions.push(`last_modified_ms >= :low${i} AND last_modified_ms < :high${i}`);
      named[`low${i}`] = range.low;
      named[`high${i}`] = range.high;
    });
    if (search.after) {
      conditions.push('(authored_on_ms < :afterKey OR (authored_on_ms = :afterKey AND id < :afterId))');
      named.afterKey = search.after.key;
      named.afterId = search.after.id;
    }
    const { sql, parameters } = positional(
      `${conditions.join(' AND ')} ORDER BY authored_on_ms DESC, id DESC LIMIT ${Number(search.count) + 1}`,
      named,
    );
    return selectRows(this.dataSource.manager, DeliveryTaskEntity, sql, parameters);
  }
}
