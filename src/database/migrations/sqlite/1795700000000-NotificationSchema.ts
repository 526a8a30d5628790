import { MigrationInterface, QueryRunner } from 'typeorm';

export class NotificationSchema1795700000000 implements MigrationInterface {
  name = 'NotificationSchema1795700000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "subscription" ("id" varchar(64) PRIMARY KEY NOT NULL, "version_id" integer NOT NULL, "owner_ods" varchar(32) NOT NULL, "status" varchar(16) NOT NULL, "kind" varchar(16) NOT NULL, "match_query" text NOT NULL, "endpoint" varchar(2048) NOT NULL, "payload_content" varchar(16) NOT NULL, "secret" varchar(256) NOT NULL, "heartbeat_period_s" integer, "event_count" integer NOT NULL, "consecutive_failures" integer NOT NULL, "error" text, "last_sent_ms" bigint, "created_at" bigint NOT NULL, "updated_at" bigint NOT NULL, "resource" text NOT NULL)`,
    );
    await queryRunner.query(`CREATE INDEX "ix_subscription_status" ON "subscription" ("status") `);
    await queryRunner.query(`CREATE INDEX "ix_subscription_owner" ON "subscription" ("owner_ods") `);
    await queryRunner.query(
      `CREATE TABLE "notification_outbox" ("id" varchar(64) PRIMARY KEY NOT NULL, "kind" varchar(16) NOT NULL, "document_reference_id" varchar(64) NOT NULL, "version_id" varchar(32) NOT NULL, "created_at" bigint NOT NULL, "routed_at" bigint)`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_notification_outbox_pending" ON "notification_outbox" ("routed_at", "created_at") `,
    );
    await queryRunner.query(
      `CREATE TABLE "subscription_event" ("id" varchar(64) PRIMARY KEY NOT NULL, "subscription_id" varchar(64) NOT NULL, "event_number" integer NOT NULL, "outbox_id" varchar(64) NOT NULL, "kind" varchar(16) NOT NULL, "document_reference_id" varchar(64) NOT NULL, "version_id" varchar(32) NOT NULL, "occurred_at" bigint NOT NULL, "enqueued_at" bigint, "delivered_at" bigint)`,
    );
    await queryRunner.query(`CREATE INDEX "ix_subscription_event_unqueued" ON "subscription_event" ("enqueued_at") `);
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_subscription_event_outbox" ON "subscription_event" ("subscription_id", "outbox_id") `,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_subscription_event_number" ON "subscription_event" ("subscription_id", "event_number") `,
    );
    await queryRunner.query(
      `CREATE TABLE "delivery_attempt" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "subscription_id" varchar(64) NOT NULL, "webhook_id" varchar(128) NOT NULL, "type" varchar(32) NOT NULL, "event_number" integer, "attempted_at" bigint NOT NULL, "status_code" integer, "latency_ms" integer NOT NULL, "error" text)`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_delivery_attempt_subscription" ON "delivery_attempt" ("subscription_id", "attempted_at") `,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "ix_delivery_attempt_subscription"`);
    await queryRunner.query(`DROP TABLE "delivery_attempt"`);
    await queryRunner.query(`DROP INDEX "uq_subscription_event_number"`);
    await queryRunner.query(`DROP INDEX "uq_subscription_event_outbox"`);
    await queryRunner.query(`DROP INDEX "ix_subscription_event_unqueued"`);
    await queryRunner.query(`DROP TABLE "subscription_event"`);
    await queryRunner.query(`DROP INDEX "ix_notification_outbox_pending"`);
    await queryRunner.query(`DROP TABLE "notification_outbox"`);
    await queryRunner.query(`DROP INDEX "ix_subscription_owner"`);
    await queryRunner.query(`DROP INDEX "ix_subscription_status"`);
    await queryRunner.query(`DROP TABLE "subscription"`);
  }
}
