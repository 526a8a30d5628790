import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { bigintAsNumber } from '../database/column-types.js';

/**
 * One search value of a DocumentReference: a token (type, category, identifier, recipient, ...), a reference
 * (`code` holds `Type/id`), a string (`normalized` holds the case- and accent-folded text) or a period
 * (`lowMs`..`highMs`, both inclusive).
 */
@Entity('document_reference_token')
@Index('ix_document_reference_token_lookup', ['param', 'code', 'system'])
@Index('ix_document_reference_token_owner', ['documentReferenceId'])
@Index('ix_document_reference_token_text', ['param', 'normalized'])
export class DocumentReferenceTokenEntity {
  @PrimaryGeneratedColumn()
  id!: number;

  @Column({ name: 'document_reference_id', type: 'varchar', length: 64 })
  documentReferenceId!: string;

  @Column({ type: 'varchar', length: 64 })
  param!: string;

  @Column({ type: 'varchar', length: 512, nullable: true })
  system!: string | null;

  @Column({ type: 'varchar', length: 512 })
  code!: string;

  @Column({ type: 'varchar', length: 512, nullable: true })
  normalized!: string | null;

  @Column({ name: 'low_ms', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  lowMs!: number | null;

  @Column({ name: 'high_ms', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  highMs!: number | null;
}
