import { Column, Entity, Index, PrimaryColumn, type ValueTransformer } from 'typeorm';
import { bigintAsNumber } from '../database/column-types.js';

const jsonList: ValueTransformer = {
  to: (value: string[] | undefined) => (value === undefined ? value : JSON.stringify(value)),
  from: (value: string | null) => (value === null ? [] : (JSON.parse(value) as string[])),
};

/**
 * One ITK3 message received (keyed by its sender and MessageHeader.id) and the acknowledgement it was answered with,
 * written in the same transaction as the document it brought.
 */
@Entity('itk_message_receipt')
@Index('ux_itk_message_receipt_sender_message', ['senderOds', 'messageId'], { unique: true })
@Index('ix_itk_message_receipt_document', ['documentReferenceId'])
export class MessageReceiptEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  @Column({ name: 'sender_ods', type: 'varchar', length: 32 })
  senderOds!: string;

  @Column({ name: 'message_id', type: 'varchar', length: 128 })
  messageId!: string;

  @Column({ name: 'content_sha256', type: 'varchar', length: 64 })
  contentSha256!: string;

  @Column({ name: 'ack_code', type: 'varchar', length: 8 })
  ackCode!: string;

  /** The infrastructure acknowledgement message Bundle (JSON), answered again to a duplicate. */
  @Column({ type: 'text' })
  ack!: string;

  @Column({ name: 'received_at', type: 'bigint', transformer: bigintAsNumber })
  receivedAt!: number;

  @Column({ name: 'document_reference_id', type: 'varchar', length: 64, nullable: true })
  documentReferenceId!: string | null;

  /** JSON array of the ODS codes this message addressed the document to. */
  @Column({ type: 'text', transformer: jsonList })
  recipients!: string[];

  @Column({ name: 'source_endpoint', type: 'varchar', length: 2048, nullable: true })
  sourceEndpoint!: string | null;

  @Column({ name: 'bus_ack_requested', type: 'boolean' })
  busAckRequested!: boolean;

  @Column({ name: 'fhir_version', type: 'varchar', length: 8 })
  fhirVersion!: string;
}
