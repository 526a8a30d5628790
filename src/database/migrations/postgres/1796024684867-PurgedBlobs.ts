import { MigrationInterface, QueryRunner } from 'typeorm';

/** The administrative purge's mark on stored bytes, and blob-key lookups for the orphan sweep. */
export class PurgedBlobs1796024684867 implements MigrationInterface {
  name = 'PurgedBlobs1796024684867';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "binary" ADD "purged_at" bigint`);
    await queryRunner.query(`ALTER TABLE "document_bundle" ADD "purged_at" bigint`);
    await queryRunner.query(`CREATE INDEX "ix_binary_blob_key" ON "binary"  ("blob_key") `);
    await queryRunner.query(`CREATE INDEX "ix_document_bundle_blob_key" ON "document_bundle"  ("blob_key") `);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."ix_document_bundle_blob_key"`);
    await queryRunner.query(`DROP INDEX "public"."ix_binary_blob_key"`);
    await queryRunner.query(`ALTER TABLE "document_bundle" DROP COLUMN "purged_at"`);
    await queryRunner.query(`ALTER TABLE "binary" DROP COLUMN "purged_at"`);
  }
}
