import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../database/column-types.js';

/**
 * A FHIR message Bundle to POST to one endpoint (an ITK3 business acknowledgement), written in the same transaction
 * as what caused it; the relay queues it and the worker sends it, signed, until it is answered 2xx or given up.
 */
@Entity('outbound_message')
@Index('ix_outbound_message_pending', ['enqueuedAt', 'createdAt'])
@Index('ix_outbound_message_undelivered', ['deliveredAt', 'enqueuedAt'])
export class OutboundMessageEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  /** What the message is, e.g. `itk-business-ack`. */
  @Column({ type: 'varchar', length: 32 })
  kind!: string;

  @Column({ type: 'varchar', length: 2048 })
  endpoint!: string;

  @Column({ name: 'content_type', type: 'varchar', length: 128 })
  contentType!: string;

  @Column({ type: 'text' })
  body!: string;

  @Column({ name: 'created_at', type: 'bigint', transformer: bigintAsNumber })
  createdAt!: number;

  @Column({ name: 'enqueued_at', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  enqueuedAt!: number | null;

  @Column({ name: 'delivered_at', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  deliveredAt!: number | null;

  @Column({ name: 'given_up_at', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  givenUpAt!: number | null;

  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @Column({ name: 'last_error', type: 'varchar', length: 500, nullable: true })
  lastError!: string | null;
}
