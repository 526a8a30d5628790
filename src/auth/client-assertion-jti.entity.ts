import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../database/column-types.js';

/** A client assertion's jti seen by the token endpoint, kept until the assertion could no longer be accepted. */
@Entity('client_assertion_jti')
@Index('ix_client_assertion_jti_expires', ['expiresMs'])
export class ClientAssertionJtiEntity {
  @PrimaryColumn({ name: 'client_id', type: 'varchar', length: 128 })
  clientId!: string;

  @PrimaryColumn({ type: 'varchar', length: 255 })
  jti!: string;

  @Column({ name: 'expires_ms', type: 'bigint', transformer: bigintAsNumber })
  expiresMs!: number;
}
