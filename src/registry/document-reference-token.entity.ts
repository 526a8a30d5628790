import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** One token search value of a DocumentReference (type, category, identifier, recipient, ...). */
@Entity('document_reference_token')
@Index('ix_document_reference_token_lookup', ['param', 'code', 'system'])
@Index('ix_document_reference_token_owner', ['documentReferenceId'])
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
}
