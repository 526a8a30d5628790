import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../database/column-types.js';

/**
 * One stored Binary: metadata only; the bytes live in the BlobStore under blobKey. Never updated, except that the
 * audited administrative purge (legal erasure) sets purgedAt once its bytes are to go.
 */
@Entity('binary')
@Index('ix_binary_blob_key', ['blobKey'])
export class BinaryEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

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

  /** Organisation (ODS code) of the uploader, for access decisions on the bytes. */
  @Column({ name: 'owner_ods', type: 'varchar', length: 32, nullable: true })
  ownerOds!: string | null;

  @Column({ name: 'created_at', type: 'bigint', transformer: bigintAsNumber })
  createdAt!: number;

  /** When the bytes were purged (epoch ms): reads answer 410 Gone and the blob no longer counts as referenced. */
  @Column({ name: 'purged_at', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  purgedAt!: number | null;
}
