import { Injectable } from '@nestjs/common';
import { DataSource, IsNull, type EntityManager } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { insertRows } from '../database/plain-sql.js';
import { OutboundMessageEntity } from './outbound-message.entity.js';

/** A message to send, as the registry's side hands it over. */
export interface OutboundMessage {
  id: string;
  kind: string;
  endpoint: string;
  contentType: string;
  body: string;
}

/** Outbound message rows: appended in the caller's transaction, claimed by the relay, settled by the worker. */
@Injectable()
export class OutboundMessageRepository {
  constructor(
    private readonly dataSource: DataSource,
    private readonly config: AppConfig,
  ) {}

  private get postgres(): boolean {
    return this.config.database.kind === 'postgres';
  }

  async append(manager: EntityManager, message: OutboundMessage, now = Date.now()): Promise<void> {
    await insertRows(manager, OutboundMessageEntity, [
      {
        ...message,
        createdAt: now,
        enqueuedAt: null,
        deliveredAt: null,
        givenUpAt: null,
        attempts: 0,
        lastError: null,
      },
    ]);
  }

  /** Claims up to `limit` messages that have no delivery job yet, oldest first. */
  claimUnenqueued(manager: EntityManager, limit: number): Promise<{ id: string }[]> {
    return manager.query<{ id: string }[]>(
      `SELECT id FROM outbound_message WHERE enqueued_at IS NULL ORDER BY created_at, id LIMIT ${Number(limit)}` +
        (this.postgres ? ' FOR UPDATE SKIP LOCKED' : ''),
    );
  }

  /**
   * Claims up to `limit` messages queued before `queuedBefore`, still unsent, not given up and created after
   * `createdAfter`: their job may be lost (read through the (delivered_at, enqueued_at) index).
   */
  claimStale(
    manager: EntityManager,
    queuedBefore: number,
    createdAfter: number,
    limit: number,
  ): Promise<{ id: string }[]> {
    return manager.query<{ id: string }[]>(
      `SELECT id FROM outbound_message WHERE delivered_at IS NULL AND enqueued_at < ${Number(queuedBefore)} ` +
        `AND given_up_at IS NULL AND created_at > ${Number(createdAfter)} ORDER BY enqueued_at, id ` +
        `LIMIT ${Number(limit)}${this.postgres ? ' FOR UPDATE SKIP LOCKED' : ''}`,
    );
  }

  async markEnqueued(manager: EntityManager, ids: string[], now: number): Promise<void> {
    await manager
      .createQueryBuilder()
      .update(OutboundMessageEntity)
      .set({ enqueuedAt: now })
      .where('id IN (:...ids)', { ids })
      .execute();
  }

  findById(id: string): Promise<OutboundMessageEntity | null> {
    return this.dataSource.getRepository(OutboundMessageEntity).findOne({ where: { id } });
  }

  /** Counts an attempt; `delivered` settles the message. */
  async recordAttempt(
    id: string,
    outcome: { delivered: boolean; error: string | null },
    now = Date.now(),
  ): Promise<void> {
    await this.dataSource
      .createQueryBuilder()
      .update(OutboundMessageEntity)
      .set({
        attempts: () => 'attempts + 1',
        lastError: outcome.error?.slice(0, 500) ?? null,
        ...(outcome.delivered ? { deliveredAt: now } : {}),
      })
      .where({ id, deliveredAt: IsNull() })
      .execute();
  }

  async giveUp(id: string, reason: string, now = Date.now()): Promise<void> {
    await this.dataSource
      .createQueryBuilder()
      .update(OutboundMessageEntity)
      .set({ givenUpAt: now, lastError: reason.slice(0, 500) })
      .where({ id, deliveredAt: IsNull() })
      .execute();
  }
}
