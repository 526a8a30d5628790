import { MigrationInterface, QueryRunner } from 'typeorm';

export class AuditCheckpoint1795745000001 implements MigrationInterface {
  name = 'AuditCheckpoint1795745000001';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "audit_checkpoint" ("sequence" bigint NOT NULL, "hash" character varying(64) NOT NULL, "created_ms" bigint NOT NULL, "mac" character varying(64) NOT NULL, CONSTRAINT "PK_f21aba985cbbd4eeea9f06c588f" PRIMARY KEY ("sequence"))`,
    );
    // Hand-written (TypeORM does not model triggers): an insert may only extend the chain, never refill a gap.
    await queryRunner.query(
      `CREATE FUNCTION "audit_event_append_at_end"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW."sequence" IS DISTINCT FROM COALESCE((SELECT MAX("sequence") FROM "audit_event"), 0) + 1 THEN RAISE EXCEPTION 'audit_event is append-only: a new event takes the next sequence'; END IF; RETURN NEW; END $$`,
    );
    await queryRunner.query(
      `CREATE TRIGGER "audit_event_append_at_end" BEFORE INSERT ON "audit_event" FOR EACH ROW EXECUTE FUNCTION "audit_event_append_at_end"()`,
    );
    await queryRunner.query(
      `CREATE FUNCTION "audit_checkpoint_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit_checkpoint is append-only'; END $$`,
    );
    await queryRunner.query(
      `CREATE TRIGGER "audit_checkpoint_no_change" BEFORE UPDATE OR DELETE ON "audit_checkpoint" FOR EACH ROW EXECUTE FUNCTION "audit_checkpoint_append_only"()`,
    );
    await queryRunner.query(
      `CREATE TRIGGER "audit_checkpoint_no_truncate" BEFORE TRUNCATE ON "audit_checkpoint" FOR EACH STATEMENT EXECUTE FUNCTION "audit_checkpoint_append_only"()`,
    );
    await queryRunner.query(
      `CREATE FUNCTION "audit_checkpoint_append_at_end"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW."sequence" <= COALESCE((SELECT MAX("sequence") FROM "audit_checkpoint"), 0) OR NOT EXISTS (SELECT 1 FROM "audit_event" WHERE "sequence" = NEW."sequence" AND "hash" = NEW."hash") THEN RAISE EXCEPTION 'audit_checkpoint is append-only: a checkpoint seals an existing event beyond the newest checkpoint'; END IF; RETURN NEW; END $$`,
    );
    await queryRunner.query(
      `CREATE TRIGGER "audit_checkpoint_append_at_end" BEFORE INSERT ON "audit_checkpoint" FOR EACH ROW EXECUTE FUNCTION "audit_checkpoint_append_at_end"()`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER "audit_checkpoint_append_at_end" ON "audit_checkpoint"`);
    await queryRunner.query(`DROP FUNCTION "audit_checkpoint_append_at_end"()`);
    await queryRunner.query(`DROP TRIGGER "audit_checkpoint_no_truncate" ON "audit_checkpoint"`);
    await queryRunner.query(`DROP TRIGGER "audit_checkpoint_no_change" ON "audit_checkpoint"`);
    await queryRunner.query(`DROP FUNCTION "audit_checkpoint_append_only"()`);
    await queryRunner.query(`DROP TRIGGER "audit_event_append_at_end" ON "audit_event"`);
    await queryRunner.query(`DROP FUNCTION "audit_event_append_at_end"()`);
    await queryRunner.query(`DROP TABLE "audit_checkpoint"`);
  }
}
