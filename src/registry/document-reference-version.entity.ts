import { Column, Entity, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../database/column-types.js';

/** Every version a DocumentReference has had, for _history. Append-only. */
@Entity('document_reference_version')
export class DocumentReferenceVersionEntity {
  @PrimaryColumn({ name: 'document_reference_id', type: 'varchar', length: 64 })
  documentReferenceId!: string;

  @PrimaryColumn({ name: 'version_id', type: 'integer' })
  versionId!: number;

  @Column({ name: 'last_updated_ms', type: 'bigint', transformer: bigintAsNumber })
  lastUpdatedMs!: number;

  @Column({ type: 'text' })
  resource!: string;
}
