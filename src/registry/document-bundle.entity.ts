import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../database/column-types.js';

/**
 * One submitted document Bundle: its identity and where its exact bytes are kept. Never updated, except that the
 * audited administrative purge (legal erasure) sets purgedAt once its bytes are to go.
 */
@Entity('document_bundle')
@Index('uq_document_bundle_identifier', ['identifierSystem', 'identifierValue'], { unique: true })
@Index('ix_document_bundle_blob_key', ['blobKey'])
export class DocumentBundleEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  @Column({ name: 'identifier_system', type: 'varchar', length: 512 })
  identifierSystem!: string;

  @Column({ name: 'identifier_value', type: 'varchar', length: 512 })
  identifierValue!: string;

  @Column({ name: 'fhir_version', type: 'varchar', length: 16 })
  fhirVersion!: string;

  @Column({ name: 'content_type', type: 'varchar', length: 255 })
  contentType!: string;

  @Column({ name: 'blob_key', type: 'varchar', length: 512 })
  blobKey!: string;

  @Column({ type: 'bigint', transformer: bigintAsNumber })
  size!: number;

  @Column({ type: 'varchar', length: 64 })
  sha256!: string;

  @Column({ type: 'varchar', length: 32 })
  sha1!: string;

  @Column({ name: 'custodian_ods', type: 'varchar', length: 32, nullable: true })
  custodianOds!: string | null;

  @Column({ name: 'created_at', type: 'bigint', transformer: bigintAsNumber })
  createdAt!: number;

  /** When the bytes were purged (epoch ms): reads answer 410 Gone and the blob no longer counts as referenced. */
  @Column({ name: 'purged_at', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  purgedAt!: number | null;
}
