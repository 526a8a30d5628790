import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../database/column-types.js';

/**
 * One AuditEvent, append-only and hash-chained: `sequence` is the chain order and each row's hash covers the
 * previous row's hash plus its own columns (see audit-chain.ts). Never updated or deleted by the application.
 */
@Entity('audit_event')
@Index('uq_audit_event_id', ['id'], { unique: true })
@Index('ix_audit_event_patient_recorded', ['patientNhsNumber', 'recordedMs'])
@Index('ix_audit_event_agent_subject', ['agentSubject', 'recordedMs'])
@Index('ix_audit_event_agent_org', ['agentOrg', 'recordedMs'])
@Index('ix_audit_event_recorded', ['recordedMs'])
export class AuditEventEntity {
  /** 1, 2, 3 ... without gaps; bigint because an audit trail outlives 2^31 requests. */
  @PrimaryColumn({ type: 'bigint', transformer: bigintAsNumber })
  sequence!: number;

  @Column({ type: 'varchar', length: 64 })
  id!: string;

  @Column({ name: 'recorded_ms', type: 'bigint', transformer: bigintAsNumber })
  recordedMs!: number;

  @Column({ type: 'varchar', length: 1 })
  action!: string;

  @Column({ type: 'varchar', length: 32 })
  subtype!: string;

  @Column({ type: 'varchar', length: 2 })
  outcome!: string;

  @Column({ name: 'agent_subject', type: 'varchar', length: 255, nullable: true })
  agentSubject!: string | null;

  @Column({ name: 'agent_client', type: 'varchar', length: 255, nullable: true })
  agentClient!: string | null;

  /** ODS code of the caller's organisation. */
  @Column({ name: 'agent_org', type: 'varchar', length: 32, nullable: true })
  agentOrg!: string | null;

  @Column({ name: 'source_ip', type: 'varchar', length: 64 })
  sourceIp!: string;

  @Column({ name: 'request_id', type: 'varchar', length: 255 })
  requestId!: string;

  @Column({ name: 'correlation_id', type: 'varchar', length: 255, nullable: true })
  correlationId!: string | null;

  /** The first patient concerned (indexed; all of them are in patientNhsNumbers). */
  @Column({ name: 'patient_nhs_number', type: 'varchar', length: 16, nullable: true })
  patientNhsNumber!: string | null;

  /** Every patient concerned, space-separated, for `patient.identifier=` search; null when none. */
  @Column({ name: 'patient_nhs_numbers', type: 'text', nullable: true })
  patientNhsNumbers!: string | null;

  /** Custodian ODS codes of the documents concerned, space-separated: whose auditors see the event besides the actor's. */
  @Column({ name: 'custodian_orgs', type: 'text', nullable: true })
  custodianOrgs!: string | null;

  /** Space-separated references of the resources touched, for `entity=` search. */
  @Column({ type: 'text' })
  entity!: string;

  /** The R4 AuditEvent JSON. */
  @Column({ type: 'text' })
  resource!: string;

  @Column({ name: 'prev_hash', type: 'varchar', length: 64 })
  prevHash!: string;

  @Column({ type: 'varchar', length: 64 })
  hash!: string;
}
