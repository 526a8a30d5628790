import { MigrationInterface, QueryRunner } from 'typeorm';

export class SubmissionSet1795734000000 implements MigrationInterface {
  name = 'SubmissionSet1795734000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "submission_set" ("id" varchar(64) PRIMARY KEY NOT NULL, "patient_nhs_number" varchar(16) NOT NULL, "code_system" varchar(255) NOT NULL, "code" varchar(64) NOT NULL, "status" varchar(32) NOT NULL, "date_ms" bigint, "source_ods" varchar(32) NOT NULL, "last_updated_ms" bigint NOT NULL, "resource" text NOT NULL)`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_submission_set_patient_date" ON "submission_set" ("patient_nhs_number", "date_ms") `,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "ix_submission_set_patient_date"`);
    await queryRunner.query(`DROP TABLE "submission_set"`);
  }
}
