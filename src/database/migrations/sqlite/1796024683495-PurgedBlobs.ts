import { MigrationInterface, QueryRunner } from 'typeorm';

/** The administrative purge's mark on stored bytes, and blob-key lookups for the orphan sweep. */
export class PurgedBlobs1796024683495 implements MigrationInterface {
  name = 'PurgedBlobs1796024683495';

  public async up(queryRunner: QueryRunner): Promise<void> {
    // ADD COLUMN rather than the generator's copy of each table: a nullable column needs no rewrite of stored rows
    await queryRunner.query(`ALTER TABLE "binary" ADD COLUMN "purged_at" bigint`);
    await queryRunner.query(`ALTER TABLE "document_bundle" ADD COLUMN "purged_at" bigint`);
    await queryRunner.query(`CREATE INDEX "ix_binary_blob_key" ON "binary" ("blob_key") `);
    await queryRunner.query(`CREATE INDEX "ix_document_bundle_blob_key" ON "document_bundle" ("blob_key") `);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "ix_document_bundle_blob_key"`);
    await queryRunner.query(`DROP INDEX "ix_binary_blob_key"`);
    await queryRunner.query(`ALTER TABLE "document_bundle" DROP COLUMN "purged_at"`);
    await queryRunner.query(`ALTER TABLE "binary" DROP COLUMN "purged_at"`);
  }
}
