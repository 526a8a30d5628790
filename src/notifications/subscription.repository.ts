import { Injectable } from '@nestjs/common';
import { DataSource, In, type EntityManager } from 'typeorm';
import { DocumentReferenceVersionEntity } from '../registry/document-reference-version.entity.js';
import { DeliveryAttemptEntity } from './delivery-attempt.entity.js';
import { SubscriptionEventEntity } from './subscription-event.entity.js';
import { SubscriptionEntity, type SubscriptionStatus } from './subscription.entity.js';

/** Subscriptions, their numbered events and delivery attempts. */
@Injectable()
export class SubscriptionRepository {
  constructor(private readonly dataSource: DataSource) {}

  findById(id: string): Promise<SubscriptionEntity | null> {
    return this.dataSource.getRepository(SubscriptionEntity).findOneBy({ id });
  }

  findByOwner(ownerOds: string): Promise<SubscriptionEntity[]> {
    return this.dataSource.getRepository(SubscriptionEntity).find({ where: { ownerOds }, order: { createdAt: 'ASC' } });
  }

  /** Subscriptions that receive events: active, or in error but still being retried. */
  findReceiving(manager: EntityManager = this.dataSource.manager): Promise<SubscriptionEntity[]> {
    return manager
      .getRepository(SubscriptionEntity)
      .find({ where: { status: In(['active', 'error']) }, order: { id: 'ASC' } });
  }

  findByStatus(status: SubscriptionStatus): Promise<SubscriptionEntity[]> {
    return this.dataSource.getRepository(SubscriptionEntity).findBy({ status });
  }

  /** How many subscriptions are in each status (through the status index; subscriptions are few). */
  async countByStatus(): Promise<Record<SubscriptionStatus, number>> {
    const rows = await this.dataSource.query<{ status: SubscriptionStatus; n: string | number }[]>(
      'SELECT status, COUNT(*) AS n FROM subscription GROUP BY status',
    );
    const counts: Record<SubscriptionStatus, number> = { requested: 0, active: 0, error: 0, off: 0 };
    for (const row of rows) {
      counts[row.status] = Number(row.n);
    }
    return counts;
  }

  async insert(row: SubscriptionEntity): Promise<void> {
    await this.dataSource.getRepository(SubscriptionEntity).insert(row);
  }

  async update(id: string, changes: Partial<SubscriptionEntity>): Promise<void> {
    await this.dataSource.getRepository(SubscriptionEntity).update({ id }, changes);
  }

  async delete(id: string): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      await manager.delete(DeliveryAttemptEntity, { subscriptionId: id });
      await manager.delete(SubscriptionEventEntity, { subscriptionId: id });
      await manager.delete(SubscriptionEntity, { id });
    });
  }

  /** A 2xx: the subscription is healthy again (unless its owner switched it off meanwhile). */
  async recordSuccess(id: string, now: number): Promise<void> {
    await this.dataSource
      .createQueryBuilder()
      .update(SubscriptionEntity)
      .set({ status: 'active', error: null, consecutiveFailures: 0, lastSentMs: now })
      .where('id = :id AND status IN (:...statuses)', { id, statuses: ['requested', 'active', 'error'] })
      .execute();
  }

  /** A failed attempt; after `threshold` in a row the subscription shows status error with the reason. */
  async recordFailure(id: string, reason: string, threshold: number): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      await manager
        .createQueryBuilder()
        .update(SubscriptionEntity)
        .set({ consecutiveFailures: () => 'consecutive_failures + 1' })
        .where('id = :id', { id })
        .execute();
      await manager
        .createQueryBuilder()
        .update(SubscriptionEntity)
        .set({ status: 'error', error: reason })
        .where('id = :id AND consecutive_failures >= :threshold AND status IN (:...statuses)', {
          id,
          threshold,
          statuses: ['requested', 'active', 'error'],
        })
        .execute();
    });
  }

  async markSent(id: string, now: number): Promise<void> {
    await this.dataSource.getRepository(SubscriptionEntity).update({ id }, { lastSentMs: now });
  }

  findEvent(id: string): Promise<SubscriptionEventEntity | null> {
    return this.dataSource.getRepository(SubscriptionEventEntity).findOneBy({ id });
  }

  async markDelivered(eventId: string, now: number): Promise<void> {
    await this.dataSource.getRepository(SubscriptionEventEntity).update({ id: eventId }, { deliveredAt: now });
  }

  findEvents(subscriptionId: string, since: number, until: number, limit: number): Promise<SubscriptionEventEntity[]> {
    return this.dataSource
      .getRepository(SubscriptionEventEntity)
      .createQueryBuilder('e')
      .where('e.subscription_id = :subscriptionId AND e.event_number >= :since AND e.event_number <= :until', {
        subscriptionId,
        since,
        until,
      })
      .orderBy('e.event_number', 'ASC')
      .limit(limit)
      .getMany();
  }

  async recordAttempt(attempt: Omit<DeliveryAttemptEntity, 'id'>): Promise<void> {
    await this.dataSource.getRepository(DeliveryAttemptEntity).insert(attempt);
  }

  recentAttempts(subscriptionId: string, limit: number): Promise<DeliveryAttemptEntity[]> {
    return this.dataSource
      .getRepository(DeliveryAttemptEntity)
      .find({ where: { subscriptionId }, order: { attemptedAt: 'DESC', id: 'DESC' }, take: limit });
  }

  /** The DocumentReference as it was at one version. */
  async documentReferenceVersion(id: string, versionId: string): Promise<Record<string, unknown> | undefined> {
    const row = await this.dataSource
      .getRepository(DocumentReferenceVersionEntity)
      .findOneBy({ documentReferenceId: id, versionId: Number(versionId) });
    return row ? (JSON.parse(row.resource) as Record<string, unknown>) : undefined;
  }
}
