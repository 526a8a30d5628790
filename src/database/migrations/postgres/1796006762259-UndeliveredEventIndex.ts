import { MigrationInterface, QueryRunner } from 'typeorm';

export class UndeliveredEventIndex1796006762259 implements MigrationInterface {
  name = 'UndeliveredEventIndex1796006762259';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE INDEX "ix_subscription_event_undelivered" ON "subscription_event"  ("enqueued_at") WHERE delivered_at IS NULL`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."ix_subscription_event_undelivered"`);
  }
}
