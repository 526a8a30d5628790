import { MigrationInterface, QueryRunner } from 'typeorm';

export class AuditCheckpoint1795745000000 implements MigrationInterface {
  name = 'AuditCheckpoint1795745000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "audit_checkpoint" ("sequence" bigint PRIMARY KEY NOT NULL, "hash" varchar(64) NOT NULL, "created_ms" bigint NOT NULL, "mac" varchar(64) NOT NULL)`,
    );
    // Hand-written (TypeORM does not model triggers). BEFORE INSERT fires even for INSERT OR REPLACE, whose implicit
    // delete fires no DELETE trigger; the id check stops REPLACE on the unique id from dropping an older event.
    await queryRunner.query(
      `CREATE TRIGGER "audit_event_append_at_end" BEFORE INSERT ON "audit_event" WHEN NEW."sequence" IS NOT COALESCE((SELECT MAX("sequence") FROM "audit_event"), 0) + 1 OR EXISTS (SELECT 1 FROM "audit_event" WHERE "id" = NEW."id") BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: a new event takes the next sequence and a new id'); END`,
    );
    await queryRunner.query(
      `CREATE TRIGGER "audit_checkpoint_no_update" BEFORE UPDATE ON "audit_checkpoint" BEGIN SELECT RAISE(ABORT, 'audit_checkpoint is append-only'); END`,
    );
    await queryRunner.query(
      `CREATE TRIGGER "audit_checkpoint_no_delete" BEFORE DELETE ON "audit_checkpoint" BEGIN SELECT RAISE(ABORT, 'audit_checkpoint is append-only'); END`,
    );
    await queryRunner.query(
      `CREATE TRIGGER "audit_checkpoint_append_at_end" BEFORE INSERT ON "audit_checkpoint" WHEN NEW."sequence" <= COALESCE((SELECT MAX("sequence") FROM "audit_checkpoint"), 0) OR NOT EXISTS (SELECT 1 FROM "audit_event" WHERE "sequence" = NEW."sequence" AND "hash" = NEW."hash") BEGIN SELECT RAISE(ABORT, 'audit_checkpoint is append-only: a checkpoint seals an existing event beyond the newest checkpoint'); END`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER "audit_checkpoint_append_at_end"`);
    await queryRunner.query(`DROP TRIGGER "audit_checkpoint_no_delete"`);
    await queryRunner.query(`DROP TRIGGER "audit_checkpoint_no_update"`);
    await queryRunner.query(`DROP TRIGGER "audit_event_append_at_end"`);
    await queryRunner.query(`DROP TABLE "audit_checkpoint"`);
  }
}
