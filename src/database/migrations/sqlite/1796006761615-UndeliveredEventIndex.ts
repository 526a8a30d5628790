import { MigrationInterface, QueryRunner } from 'typeorm';

export class UndeliveredEventIndex1796006761615 implements MigrationInterface {
  name = 'UndeliveredEventIndex1796006761615';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE INDEX "ix_subscription_event_undelivered" ON "subscription_event" ("enqueued_at") WHERE delivered_at IS NULL`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "ix_subscription_event_undelivered"`);
  }
}
