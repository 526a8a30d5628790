import { MigrationInterface, QueryRunner } from 'typeorm';

export class AuditEventParties1795760000000 implements MigrationInterface {
  name = 'AuditEventParties1795760000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    // Hand-written: ADD COLUMN keeps the rows and the append-only triggers, where a generated table rebuild would not.
    await queryRunner.query(`ALTER TABLE "audit_event" ADD COLUMN "patient_nhs_numbers" text`);
    await queryRunner.query(`ALTER TABLE "audit_event" ADD COLUMN "custodian_orgs" text`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "audit_event" DROP COLUMN "custodian_orgs"`);
    await queryRunner.query(`ALTER TABLE "audit_event" DROP COLUMN "patient_nhs_numbers"`);
  }
}
