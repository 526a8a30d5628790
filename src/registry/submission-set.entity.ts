import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../database/column-types.js';

/** One IHE MHD SubmissionSet (a FHIR List) from an ITI-65 Provide Document Bundle: the List JSON plus ITI-66 search columns. */
@Entity('submission_set')
@Index('ix_submission_set_patient_date', ['patientNhsNumber', 'dateMs'])
export class SubmissionSetEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  @Column({ name: 'patient_nhs_number', type: 'varchar', length: 16 })
  patientNhsNumber!: string;

  @Column({ name: 'code_system', type: 'varchar', length: 255 })
  codeSystem!: string;

  @Column({ type: 'varchar', length: 64 })
  code!: string;

  @Column({ type: 'varchar', length: 32 })
  status!: string;

  /** List.date as epoch milliseconds. */
  @Column({ name: 'date_ms', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  dateMs!: number | null;

  /** Organisation (ODS code) that provided it. */
  @Column({ name: 'source_ods', type: 'varchar', length: 32 })
  sourceOds!: string;

  @Column({ name: 'last_updated_ms', type: 'bigint', transformer: bigintAsNumber })
  lastUpdatedMs!: number;

  @Column({ type: 'text' })
  resource!: string;
}
