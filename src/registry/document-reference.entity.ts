import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../database/column-types.js';

/**
 * The current version of one DocumentReference: the FHIR JSON plus the columns searches filter and sort on.
 * Multi-valued search values live in document_reference_token.
 */
@Entity('document_reference')
@Index('ix_document_reference_patient_type_date', ['patientNhsNumber', 'typeCode', 'dateMs'])
@Index('ix_document_reference_patient_date', ['patientNhsNumber', 'dateMs'])
@Index('ix_document_reference_last_updated', ['lastUpdatedMs', 'id'])
@Index('ix_document_reference_bundle', ['bundleId'])
export class DocumentReferenceEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  @Column({ name: 'version_id', type: 'integer' })
  versionId!: number;

  @Column({ type: 'varchar', length: 32 })
  status!: string;

  @Column({ name: 'patient_nhs_number', type: 'varchar', length: 16, nullable: true })
  patientNhsNumber!: string | null;

  @Column({ name: 'type_system', type: 'varchar', length: 255, nullable: true })
  typeSystem!: string | null;

  @Column({ name: 'type_code', type: 'varchar', length: 128, nullable: true })
  typeCode!: string | null;

  @Column({ name: 'custodian_ods', type: 'varchar', length: 32, nullable: true })
  custodianOds!: string | null;

  /** DocumentReference.date as epoch milliseconds. */
  @Column({ name: 'date_ms', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  dateMs!: number | null;

  @Column({ name: 'last_updated_ms', type: 'bigint', transformer: bigintAsNumber })
  lastUpdatedMs!: number;

  /** The stored document Bundle this indexes, when the document is held here. */
  @Column({ name: 'bundle_id', type: 'varchar', length: 64, nullable: true })
  bundleId!: string | null;

  @Column({ type: 'text' })
  resource!: string;
}
