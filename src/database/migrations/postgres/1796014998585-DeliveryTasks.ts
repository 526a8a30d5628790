import { MigrationInterface, QueryRunner } from 'typeorm';

export class DeliveryTasks1796014998585 implements MigrationInterface {
  name = 'DeliveryTasks1796014998585';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "delivery_task" ("id" character varying(64) NOT NULL, "version_id" integer NOT NULL, "document_reference_id" character varying(64) NOT NULL, "owner_ods" character varying(32) NOT NULL, "requester_ods" character varying(32) NOT NULL, "patient_nhs_number" character varying(16), "business_status" character varying(16) NOT NULL, "authored_on_ms" bigint NOT NULL, "last_modified_ms" bigint NOT NULL, "journey" text NOT NULL, CONSTRAINT "PK_98a914152a8ae66bee78e6d700f" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_delivery_task_requester" ON "delivery_task"  ("requester_ods", "authored_on_ms") `,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_delivery_task_owner" ON "delivery_task"  ("owner_ods", "authored_on_ms") `,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "ux_delivery_task_document_owner" ON "delivery_task"  ("document_reference_id", "owner_ods") `,
    );
    // Documents already addressed to recipients get their delivery Tasks, at the step "stored".
    await queryRunner.query(
      `INSERT INTO "delivery_task" ("id", "version_id", "document_reference_id", "owner_ods", "requester_ods", "patient_nhs_number", "business_status", "authored_on_ms", "last_modified_ms", "journey") SELECT DISTINCT d.id || '.' || t.code, 1, d.id, t.code, d.custodian_ods, d.patient_nhs_number, 'stored', d.last_updated_ms, d.last_updated_ms, '{"steps":[{"step":"stored","at":' || d.last_updated_ms || '}]}' FROM "document_reference" d JOIN "document_reference_token" t ON t.document_reference_id = d.id AND t.param = 'recipient' WHERE d.status = 'current' AND d.custodian_ods IS NOT NULL AND t.code <> d.custodian_ods`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "public"."ux_delivery_task_document_owner"`);
    await queryRunner.query(`DROP INDEX "public"."ix_delivery_task_owner"`);
    await queryRunner.query(`DROP INDEX "public"."ix_delivery_task_requester"`);
    await queryRunner.query(`DROP TABLE "delivery_task"`);
  }
}
