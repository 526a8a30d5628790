import { MigrationInterface, QueryRunner } from 'typeorm';

export class ItkMessaging1796027180570 implements MigrationInterface {
  name = 'ItkMessaging1796027180570';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "itk_message_receipt" ("id" varchar(64) PRIMARY KEY NOT NULL, "sender_ods" varchar(32) NOT NULL, "message_id" varchar(128) NOT NULL, "content_sha256" varchar(64) NOT NULL, "ack_code" varchar(8) NOT NULL, "ack" text NOT NULL, "received_at" bigint NOT NULL, "document_reference_id" varchar(64), "recipients" text NOT NULL, "source_endpoint" varchar(2048), "bus_ack_requested" boolean NOT NULL, "fhir_version" varchar(8) NOT NULL)`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_itk_message_receipt_document" ON "itk_message_receipt" ("document_reference_id") `,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "ux_itk_message_receipt_sender_message" ON "itk_message_receipt" ("sender_ods", "message_id") `,
    );
    await queryRunner.query(
      `CREATE TABLE "outbound_message" ("id" varchar(64) PRIMARY KEY NOT NULL, "kind" varchar(32) NOT NULL, "endpoint" varchar(2048) NOT NULL, "content_type" varchar(128) NOT NULL, "body" text NOT NULL, "created_at" bigint NOT NULL, "enqueued_at" bigint, "delivered_at" bigint, "given_up_at" bigint, "attempts" integer NOT NULL DEFAULT (0), "last_error" varchar(500))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_outbound_message_undelivered" ON "outbound_message" ("delivered_at", "enqueued_at") `,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_outbound_message_pending" ON "outbound_message" ("enqueued_at", "created_at") `,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "ix_outbound_message_pending"`);
    await queryRunner.query(`DROP INDEX "ix_outbound_message_undelivered"`);
    await queryRunner.query(`DROP TABLE "outbound_message"`);
    await queryRunner.query(`DROP INDEX "ux_itk_message_receipt_sender_message"`);
    await queryRunner.query(`DROP INDEX "ix_itk_message_receipt_document"`);
    await queryRunner.query(`DROP TABLE "itk_message_receipt"`);
  }
}
