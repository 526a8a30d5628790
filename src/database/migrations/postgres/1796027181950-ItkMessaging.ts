import { MigrationInterface, QueryRunner } from 'typeorm';

export class ItkMessaging1796027181950 implements MigrationInterface {
  name = 'ItkMessaging1796027181950';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "itk_message_receipt" ("id" character varying(64) NOT NULL, "sender_ods" character varying(32) NOT NULL, "message_id" character varying(128) NOT NULL, "content_sha256" character varying(64) NOT NULL, "ack_code" character varying(8) NOT NULL, "ack" text NOT NULL, "received_at" bigint NOT NULL, "document_reference_id" character varying(64), "recipients" text NOT NULL, "source_endpoint" character varying(2048), "bus_ack_requested" boolean NOT NULL, "fhir_version" character varying(8) NOT NULL, CONSTRAINT "PK_26f6a2370c8bd1dd39923ae11fc" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_itk_message_receipt_document" ON "itk_message_receipt"  ("document_reference_id") `,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "ux_itk_message_receipt_sender_message" ON "itk_message_receipt"  ("sender_ods", "message_id") `,
    );
    await queryRunner.query(
      `CREATE TABLE "outbound_message" ("id" character varying(64) NOT NULL, "kind" character varying(32) NOT NULL, "endpoint" character varying(2048) NOT NULL, "content_type" character varying(128) NOT NULL, "body" text NOT NULL, "created_at" bigint NOT NULL, "enqueued_at" bigint, "delivered_at" bigint, "given_up_at" bigint, "attempts" integer NOT NULL DEFAULT '0', "last_error" character varying(500), CONSTRAINT "PK_53741fe5d4d5e2cb54dc4a5f446" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_outbound_message_undelivered" ON "outbound_message"  ("delivered_at", "enqueued_at") `,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_outbound_message_pending" ON "outbound_message"  ("enqueued_at", "created_at") `,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."ix_outbound_message_pending"`);
    await queryRunner.query(`DROP INDEX "public"."ix_outbound_message_undelivered"`);
    await queryRunner.query(`DROP TABLE "outbound_message"`);
    await queryRunner.query(`DROP INDEX "public"."ux_itk_message_receipt_sender_message"`);
    await queryRunner.query(`DROP INDEX "public"."ix_itk_message_receipt_document"`);
    await queryRunner.query(`DROP TABLE "itk_message_receipt"`);
  }
}
