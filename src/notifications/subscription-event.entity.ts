import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../database/column-types.js';
import type { DocumentEventKind } from '../registry/document-events.js';

/** One outbox event as seen by one subscription, numbered gap-free per subscription (backport event-number). */
@Entity('subscription_event')
@Index('uq_subscription_event_number', ['subscriptionId', 'eventNumber'], { unique: true })
@Index('uq_subscription_event_outbox', ['subscriptionId', 'outboxId'], { unique: true })
@Index('ix_subscription_event_unqueued', ['enqueuedAt'])
// the undelivered events only, so finding stale ones does not walk every event ever delivered
@Index('ix_subscription_event_undelivered', ['enqueuedAt'], { where: 'delivered_at IS NULL' })
export class SubscriptionEventEntity {
  /** Also the Standard Webhooks `webhook-id`: stable across retries. */
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  @Column({ name: 'subscription_id', type: 'varchar', length: 64 })
  subscriptionId!: string;

  @Column({ name: 'event_number', type: 'integer' })
  eventNumber!: number;

  @Column({ name: 'outbox_id', type: 'varchar', length: 64 })
  outboxId!: string;

  @Column({ type: 'varchar', length: 16 })
  kind!: DocumentEventKind;

  @Column({ name: 'document_reference_id', type: 'varchar', length: 64 })
  documentReferenceId!: string;

  @Column({ name: 'version_id', type: 'varchar', length: 32 })
  versionId!: string;

  /** The delivery Task of a `delivery-status` event (versionId is then the Task's). */
  @Column({ name: 'task_id', type: 'varchar', length: 64, nullable: true })
  taskId!: string | null;

  @Column({ name: 'occurred_at', type: 'bigint', transformer: bigintAsNumber })
  occurredAt!: number;

  /** Set once the delivery job is in the queue; null rows are re-enqueued (Redis was down). */
  @Column({ name: 'enqueued_at', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  enqueuedAt!: number | null;

  @Column({ name: 'delivered_at', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  deliveredAt!: number | null;
}
