import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../database/column-types.js';

import type { DocumentEventKind } from '../registry/document-events.js';

/** A DocumentReference change, written in the same transaction as the change; the relay routes it once. */
@Entity('notification_outbox')
@Index('ix_notification_outbox_pending', ['routedAt', 'createdAt'])
export class NotificationOutboxEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  @Column({ type: 'varchar', length: 16 })
  kind!: DocumentEventKind;

  @Column({ name: 'document_reference_id', type: 'varchar', length: 64 })
  documentReferenceId!: string;

  @Column({ name: 'version_id', type: 'varchar', length: 32 })
  versionId!: string;

  /** The delivery Task of a `delivery-status` event (versionId is then the Task's). */
  @Column({ name: 'task_id', type: 'varchar', length: 64, nullable: true })
  taskId!: string | null;

  @Column({ name: 'created_at', type: 'bigint', transformer: bigintAsNumber })
  createdAt!: number;

  /** Set once the matching subscriptions have their events; null while waiting. */
  @Column({ name: 'routed_at', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  routedAt!: number | null;
}
