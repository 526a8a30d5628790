import { MigrationInterface, QueryRunner } from 'typeorm';

export class AuditEvent1795720000000 implements MigrationInterface {
  name = 'AuditEvent1795720000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "audit_event" ("sequence" bigint PRIMARY KEY NOT NULL, "id" varchar(64) NOT NULL, "recorded_ms" bigint NOT NULL, "action" varchar(1) NOT NULL, "subtype" varchar(32) NOT NULL, "outcome" varchar(2) NOT NULL, "agent_subject" varchar(255), "agent_client" varchar(255), "agent_org" varchar(32), "source_ip" varchar(64) NOT NULL, "request_id" varchar(255) NOT NULL, "correlation_id" varchar(255), "patient_nhs_number" varchar(16), "entity" text NOT NULL, "resource" text NOT NULL, "prev_hash" varchar(64) NOT NULL, "hash" varchar(64) NOT NULL)`,
    );
    await queryRunner.query(`CREATE INDEX "ix_audit_event_recorded" ON "audit_event" ("recorded_ms") `);
    await queryRunner.query(`CREATE INDEX "ix_audit_event_agent_org" ON "audit_event" ("agent_org", "recorded_ms") `);
    await queryRunner.query(
      `CREATE INDEX "ix_audit_event_agent_subject" ON "audit_event" ("agent_subject", "recorded_ms") `,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_audit_event_patient_recorded" ON "audit_event" ("patient_nhs_number", "recorded_ms") `,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "uq_audit_event_id" ON "audit_event" ("id") `);
    // Hand-written (TypeORM does not model triggers): the application never changes an audit row.
    await queryRunner.query(
      `CREATE TRIGGER "audit_event_no_update" BEFORE UPDATE ON "audit_event" BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END`,
    );
    await queryRunner.query(
      `CREATE TRIGGER "audit_event_no_delete" BEFORE DELETE ON "audit_event" BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER "audit_event_no_delete"`);
    await queryRunner.query(`DROP TRIGGER "audit_event_no_update"`);
    await queryRunner.query(`DROP INDEX "uq_audit_event_id"`);
    await queryRunner.query(`DROP INDEX "ix_audit_event_patient_recorded"`);
    await queryRunner.query(`DROP INDEX "ix_audit_event_agent_subject"`);
    await queryRunner.query(`DROP INDEX "ix_audit_event_agent_org"`);
    await queryRunner.query(`DROP INDEX "ix_audit_event_recorded"`);
    await queryRunner.query(`DROP TABLE "audit_event"`);
  }
}
