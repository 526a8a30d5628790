import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../database/column-types.js';

/**
 * A signed checkpoint of the audit chain (see audit-chain.ts): the head it reached, when, and an HMAC under the key
 * kept outside the database. Append-only like the events; a checkpoint beyond the chain's end shows a truncation.
 */
@Entity('audit_checkpoint')
export class AuditCheckpointEntity {
  /** The sequence of the newest event sealed. */
  @PrimaryColumn({ type: 'bigint', transformer: bigintAsNumber })
  sequence!: number;

  /** The hash of that event. */
  @Column({ type: 'varchar', length: 64 })
  hash!: string;

  @Column({ name: 'created_ms', type: 'bigint', transformer: bigintAsNumber })
  createdMs!: number;

  @Column({ type: 'varchar', length: 64 })
  mac!: string;
}
