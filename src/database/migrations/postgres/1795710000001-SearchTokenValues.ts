import { MigrationInterface, QueryRunner } from 'typeorm';

export class SearchTokenValues1795710000001 implements MigrationInterface {
  name = 'SearchTokenValues1795710000001';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "document_reference_token" ADD "normalized" character varying(512)`);
    await queryRunner.query(`ALTER TABLE "document_reference_token" ADD "low_ms" bigint`);
    await queryRunner.query(`ALTER TABLE "document_reference_token" ADD "high_ms" bigint`);
    await queryRunner.query(
      `CREATE INDEX "ix_document_reference_token_text" ON "document_reference_token"  ("param", "normalized") `,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."ix_document_reference_token_text"`);
    await queryRunner.query(`ALTER TABLE "document_reference_token" DROP COLUMN "high_ms"`);
    await queryRunner.query(`ALTER TABLE "document_reference_token" DROP COLUMN "low_ms"`);
    await queryRunner.query(`ALTER TABLE "document_reference_token" DROP COLUMN "normalized"`);
  }
}
