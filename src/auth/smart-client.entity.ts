import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../database/column-types.js';

/** A SMART Backend Services client registered with the local token endpoint: its keys, organisation and scopes. */
@Entity('smart_client')
export class SmartClientEntity {
  @PrimaryColumn({ name: 'client_id', type: 'varchar', length: 128 })
  clientId!: string;

  @Column({ type: 'varchar', length: 200 })
  name!: string;

  /** The client's public JWKS as JSON, when registered inline; null when it publishes one at jwksUri. */
  @Column({ type: 'text', nullable: true })
  jwks!: string | null;

  @Column({ name: 'jwks_uri', type: 'varchar', length: 2048, nullable: true })
  jwksUri!: string | null;

  /** ODS code put in the 'organization' claim of every token the client gets. */
  @Column({ type: 'varchar', length: 32 })
  organization!: string;

  /** Space-separated SMART scopes the client may be granted. */
  @Column({ type: 'text' })
  scopes!: string;

  @Column({ name: 'created_ms', type: 'bigint', transformer: bigintAsNumber })
  createdMs!: number;

  @Column({ name: 'disabled_ms', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  disabledMs!: number | null;
}
