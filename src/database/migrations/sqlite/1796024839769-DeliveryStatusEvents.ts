import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Delivery-status events: outbox rows and subscription events may name the delivery Task that moved, and the overdue
 * sweep reads Tasks still awaiting retrieval by status and age. Columns are added in place (no table copy: the outbox
 * and event tables can be large).
 */
export class DeliveryStatusEvents1796024839769 implements MigrationInterface {
  name = 'DeliveryStatusEvents1796024839769';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "notification_outbox" ADD COLUMN "task_id" varchar(64)`);
    await queryRunner.query(`ALTER TABLE "subscription_event" ADD COLUMN "task_id" varchar(64)`);
    await queryRunner.query(
      `CREATE INDEX "ix_delivery_task_awaiting" ON "delivery_task" ("business_status", "authored_on_ms") `,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "ix_delivery_task_awaiting"`);
    await queryRunner.query(`ALTER TABLE "subscription_event" DROP COLUMN "task_id"`);
    await queryRunner.query(`ALTER TABLE "notification_outbox" DROP COLUMN "task_id"`);
  }
}
