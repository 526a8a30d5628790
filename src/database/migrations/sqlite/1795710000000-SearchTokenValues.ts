import { MigrationInterface, QueryRunner } from 'typeorm';

export class SearchTokenValues1795710000000 implements MigrationInterface {
  name = 'SearchTokenValues1795710000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "document_reference_token" ADD COLUMN "normalized" varchar(512)`);
    await queryRunner.query(`ALTER TABLE "document_reference_token" ADD COLUMN "low_ms" bigint`);
    await queryRunner.query(`ALTER TABLE "document_reference_token" ADD COLUMN "high_ms" bigint`);
    await queryRunner.query(
      `CREATE INDEX "ix_document_reference_token_text" ON "document_reference_token" ("param", "normalized") `,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "ix_document_reference_token_text"`);
    await queryRunner.query(`ALTER TABLE "document_reference_token" DROP COLUMN "high_ms"`);
    await queryRunner.query(`ALTER TABLE "document_reference_token" DROP COLUMN "low_ms"`);
    await queryRunner.query(`ALTER TABLE "document_reference_token" DROP COLUMN "normalized"`);
  }
}
