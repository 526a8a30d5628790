import { MigrationInterface, QueryRunner } from 'typeorm';

export class SubscriptionGrant1795740000000 implements MigrationInterface {
  name = 'SubscriptionGrant1795740000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "subscription" ADD COLUMN "granted_scopes" text`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "subscription" DROP COLUMN "granted_scopes"`);
  }
}
