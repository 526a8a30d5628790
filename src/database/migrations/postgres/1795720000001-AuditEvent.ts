import { MigrationInterface, QueryRunner } from 'typeorm';

export class AuditEvent1795720000001 implements MigrationInterface {
  name = 'AuditEvent1795720000001';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "audit_event" ("sequence" bigint NOT NULL, "id" character varying(64) NOT NULL, "recorded_ms" bigint NOT NULL, "action" character varying(1) NOT NULL, "subtype" character varying(32) NOT NULL, "outcome" character varying(2) NOT NULL, "agent_subject" character varying(255), "agent_client" character varying(255), "agent_org" character varying(32), "source_ip" character varying(64) NOT NULL, "request_id" character varying(255) NOT NULL, "correlation_id" character varying(255), "patient_nhs_number" character varying(16), "entity" text NOT NULL, "resource" text NOT NULL, "prev_hash" character varying(64) NOT NULL, "hash" character varying(64) NOT NULL, CONSTRAINT "PK_66828d3e1b4bbb935f84fdf5447" PRIMARY KEY ("sequence"))`,
    );
    await queryRunner.query(`CREATE INDEX "ix_audit_event_recorded" ON "audit_event"  ("recorded_ms") `);
    await queryRunner.query(`CREATE INDEX "ix_audit_event_agent_org" ON "audit_event"  ("agent_org", "recorded_ms") `);
    await queryRunner.query(
      `CREATE INDEX "ix_audit_event_agent_subject" ON "audit_event"  ("agent_subject", "recorded_ms") `,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_audit_event_patient_recorded" ON "audit_event"  ("patient_nhs_number", "recorded_ms") `,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "uq_audit_event_id" ON "audit_event"  ("id") `);
    // Hand-written (TypeORM does not model triggers): the application never changes an audit row.
    await queryRunner.query(
      `CREATE FUNCTION "audit_event_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit_event is append-only'; END $$`,
    );
    await queryRunner.query(
      `CREATE TRIGGER "audit_event_no_change" BEFORE UPDATE OR DELETE ON "audit_event" FOR EACH ROW EXECUTE FUNCTION "audit_event_append_only"()`,
    );
    await queryRunner.query(
      `CREATE TRIGGER "audit_event_no_truncate" BEFORE TRUNCATE ON "audit_event" FOR EACH STATEMENT EXECUTE FUNCTION "audit_event_append_only"()`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER "audit_event_no_truncate" ON "audit_event"`);
    await queryRunner.query(`DROP TRIGGER "audit_event_no_change" ON "audit_event"`);
    await queryRunner.query(`DROP FUNCTION "audit_event_append_only"()`);
    await queryRunner.query(`DROP INDEX "public"."uq_audit_event_id"`);
    await queryRunner.query(`DROP INDEX "public"."ix_audit_event_patient_recorded"`);
    await queryRunner.query(`DROP INDEX "public"."ix_audit_event_agent_subject"`);
    await queryRunner.query(`DROP INDEX "public"."ix_audit_event_agent_org"`);
    await queryRunner.query(`DROP INDEX "public"."ix_audit_event_recorded"`);
    await queryRunner.query(`DROP TABLE "audit_event"`);
  }
}
