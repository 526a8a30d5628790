import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { insertRows } from '../database/plain-sql.js';
import { type EntityManager } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import type { DocumentEvent } from '../registry/document-events.js';
import { NotificationOutboxEntity } from './notification-outbox.entity.js';
import { SubscriptionEventEntity } from './subscription-event.entity.js';
import { SubscriptionEntity } from './subscription.entity.js';

/** An outbox row waiting to be routed, as the claiming query returns it. */
export interface OutboxRow {
  id: string;
  kind: NotificationOutboxEntity['kind'];
  document_reference_id: string;
  version_id: string;
  task_id: string | null;
  created_at: string | number;
}

/** A subscription event that has no delivery job yet. */
export interface PendingEventRow {
  id: string;
  subscription_id: string;
  outbox_id: string;
}

/**
 * The transactional outbox and the numbered subscription events routed from it. Every method runs inside the
 * caller's transaction (`manager`); PostgreSQL claims rows with FOR UPDATE SKIP LOCKED, SQLite has one writer.
 */
@Injectable()
export class NotificationOutboxRepository {
  constructor(private readonly config: AppConfig) {}

  private get postgres(): boolean {
    return this.config.database.kind === 'postgres';
  }

  /** Writes one outbox row for a DocumentReference change. */
  async append(manager: EntityManager, event: DocumentEvent): Promise<void> {
    await insertRows(manager, NotificationOutboxEntity, [
      {
        id: randomUUID(),
        kind: event.kind,
        documentReferenceId: event.documentReferenceId,
        versionId: String(event.versionId),
        taskId: event.taskId ?? null,
        createdAt: Date.now(),
        routedAt: null,
      },
    ]);
  }

  /** Claims up to `limit` unrouted outbox rows, oldest first (concurrent PostgreSQL relays take different rows). */
  claimUnrouted(manager: EntityManager, limit: number): Promise<OutboxRow[]> {
    return manager.query<OutboxRow[]>(
      `SELECT id, kind, document_reference_id, version_id, task_id, created_at FROM notification_outbox WHERE routed_at IS NULL ` +
        `ORDER BY created_at, id LIMIT ${limit}${this.postgres ? ' FOR UPDATE SKIP LOCKED' : ''}`,
    );
  }

  /**
   * Outbox rows waiting to be routed and when the oldest was written (null when none wait): read through the
   * (routed_at, created_at) index, so the cost follows the backlog, not the table.
   */
  async backlog(manager: EntityManager): Promise<{ depth: number; oldestCreatedAt: number | null }> {
    const [row] = await manager.query<{ depth: string | number; oldest: string | number | null }[]>(
      'SELECT COUNT(*) AS depth, MIN(created_at) AS oldest FROM notification_outbox WHERE routed_at IS NULL',
    );
    return { depth: Number(row.depth), oldestCreatedAt: row.oldest === null ? null : Number(row.oldest) };
  }

  async markRouted(manager: EntityManager, ids: string[], now: number): Promise<void> {
    await manager
      .createQueryBuilder()
      .update(NotificationOutboxEntity)
      .set({ routedAt: now })
      .where('id IN (:...ids)', { ids })
      .execute();
  }

  /**
   * Takes the subscription's next `count` event numbers with one row update (which locks the subscription row);
   * returns the first of them.
   */
  async reserveEventNumbers(manager: EntityManager, subscriptionId: string, count: number): Promise<number> {
    await manager
      .createQueryBuilder()
      .update(SubscriptionEntity)
      .set({ eventCount: () => `event_count + ${count}` })
      .where('id = :id', { id: subscriptionId })
      .execute();
    const { eventCount } = await manager
      .getRepository(SubscriptionEntity)
      .findOneOrFail({ where: { id: subscriptionId }, select: { eventCount: true, id: true } });
    return eventCount - count + 1;
  }

  /** Inserts the subscription's events for `rows`, numbered consecutively from `first`. */
  async appendEvents(manager: EntityManager, subscriptionId: string, first: number, rows: OutboxRow[]): Promise<void> {
    await manager.insert(
      SubscriptionEventEntity,
      rows.map((row, i) => ({
        id: randomUUID(),
        subscriptionId,
        eventNumber: first + i,
        outboxId: row.id,
        kind: row.kind,
        documentReferenceId: row.document_reference_id,
        versionId: row.version_id,
        taskId: row.task_id,
        occurredAt: Number(row.created_at),
        enqueuedAt: null,
        deliveredAt: null,
      })),
    );
  }

  /** Claims up to `limit` events that have no delivery job yet, oldest first. */
  claimUnenqueued(manager: EntityManager, limit: number): Promise<PendingEventRow[]> {
    return manager.query<PendingEventRow[]>(
      `SELECT id, subscription_id, outbox_id FROM subscription_event WHERE enqueued_at IS NULL ` +
        `ORDER BY occurred_at, event_number LIMIT ${limit}${this.postgres ? ' FOR UPDATE SKIP LOCKED' : ''}`,
    );
  }

  /**
   * Claims up to `limit` events of active subscriptions that were queued before `queuedBefore`, are still
   * undelivered and occurred after `occurredAfter` (older ones were given up).
   */
  claimStale(
    manager: EntityManager,
    queuedBefore: number,
    occurredAfter: number,
    limit: number,
  ): Promise<PendingEventRow[]> {
    return manager.query<PendingEventRow[]>(
      `SELECT e.id, e.subscription_id, e.outbox_id FROM subscription_event e ` +
        `JOIN subscription s ON s.id = e.subscription_id ` +
        `WHERE e.enqueued_at < ${Number(queuedBefore)} AND e.delivered_at IS NULL AND e.occurred_at > ${Number(occurredAfter)} ` +
        `AND s.status = 'active' ORDER BY e.enqueued_at LIMIT ${limit}${this.postgres ? ' FOR UPDATE OF e SKIP LOCKED' : ''}`,
    );
  }

  async markEnqueued(manager: EntityManager, ids: string[], now: number): Promise<void> {
    await manager
      .createQueryBuilder()
      .update(SubscriptionEventEntity)
      .set({ enqueuedAt: now })
      .where('id IN (:...ids)', { ids })
      .execute();
  }
}
