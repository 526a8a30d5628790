import { MigrationInterface, QueryRunner } from 'typeorm';

export class SubmissionSet1795734000001 implements MigrationInterface {
  name = 'SubmissionSet1795734000001';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "submission_set" ("id" character varying(64) NOT NULL, "patient_nhs_number" character varying(16) NOT NULL, "code_system" character varying(255) NOT NULL, "code" character varying(64) NOT NULL, "status" character varying(32) NOT NULL, "date_ms" bigint, "source_ods" character varying(32) NOT NULL, "last_updated_ms" bigint NOT NULL, "resource" text NOT NULL, CONSTRAINT "PK_b8e2b73603eb946d20573215ec3" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_submission_set_patient_date" ON "submission_set"  ("patient_nhs_number", "date_ms") `,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."ix_submission_set_patient_date"`);
    await queryRunner.query(`DROP TABLE "submission_set"`);
  }
}
