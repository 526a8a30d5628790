import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../database/column-types.js';

/**
 * One recipient organisation's copy of a document's journey (a FHIR Task): stored -> notified -> retrieved ->
 * accepted | rejected, or closed when the document is superseded or withdrawn. Written by the DocumentWriter.
 */
@Entity('delivery_task')
@Index('ux_delivery_task_document_owner', ['documentReferenceId', 'ownerOds'], { unique: true })
@Index('ix_delivery_task_owner', ['ownerOds', 'authoredOnMs'])
@Index('ix_delivery_task_requester', ['requesterOds', 'authoredOnMs'])
// the overdue sweep: Tasks still awaiting retrieval, oldest document first
@Index('ix_delivery_task_awaiting', ['businessStatus', 'authoredOnMs'])
export class DeliveryTaskEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  @Column({ name: 'version_id', type: 'integer' })
  versionId!: number;

  @Column({ name: 'document_reference_id', type: 'varchar', length: 64 })
  documentReferenceId!: string;

  /** The recipient (Task.owner). */
  @Column({ name: 'owner_ods', type: 'varchar', length: 32 })
  ownerOds!: string;

  /** The custodian that sent the document (Task.requester). */
  @Column({ name: 'requester_ods', type: 'varchar', length: 32 })
  requesterOds!: string;

  @Column({ name: 'patient_nhs_number', type: 'varchar', length: 16, nullable: true })
  patientNhsNumber!: string | null;

  /** stored | notified | overdue | retrieved | accepted | rejected | closed */
  @Column({ name: 'business_status', type: 'varchar', length: 16 })
  businessStatus!: string;

  @Column({ name: 'authored_on_ms', type: 'bigint', transformer: bigintAsNumber })
  authoredOnMs!: number;

  @Column({ name: 'last_modified_ms', type: 'bigint', transformer: bigintAsNumber })
  lastModifiedMs!: number;

  /** JSON: the steps so far ({step, at}) and the recipient's reason, if any. */
  @Column({ type: 'text' })
  journey!: string;
}
