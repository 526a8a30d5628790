import { MigrationInterface, QueryRunner } from 'typeorm';

export class AuditEventParties1795760000001 implements MigrationInterface {
  name = 'AuditEventParties1795760000001';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "audit_event" ADD "patient_nhs_numbers" text`);
    await queryRunner.query(`ALTER TABLE "audit_event" ADD "custodian_orgs" text`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "audit_event" DROP COLUMN "custodian_orgs"`);
    await queryRunner.query(`ALTER TABLE "audit_event" DROP COLUMN "patient_nhs_numbers"`);
  }
}
