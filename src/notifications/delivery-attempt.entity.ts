import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { bigintAsNumber } from '../database/column-types.js';

export type NotificationType = 'event-notification' | 'handshake' | 'heartbeat';

/** One POST to a subscription endpoint and how it went, for $status. */
@Entity('delivery_attempt')
@Index('ix_delivery_attempt_subscription', ['subscriptionId', 'attemptedAt'])
export class DeliveryAttemptEntity {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column({ name: 'subscription_id', type: 'varchar', length: 64 })
  subscriptionId!: string;

  @Column({ name: 'webhook_id', type: 'varchar', length: 128 })
  webhookId!: string;

  @Column({ type: 'varchar', length: 32 })
  type!: NotificationType;

  @Column({ name: 'event_number', type: 'integer', nullable: true })
  eventNumber!: number | null;

  @Column({ name: 'attempted_at', type: 'bigint', transformer: bigintAsNumber })
  attemptedAt!: number;

  @Column({ name: 'status_code', type: 'integer', nullable: true })
  statusCode!: number | null;

  @Column({ name: 'latency_ms', type: 'integer' })
  latencyMs!: number;

  @Column({ type: 'text', nullable: true })
  error!: string | null;
}
