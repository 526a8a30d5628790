import { MigrationInterface, QueryRunner } from 'typeorm';

export class SmartClients1796013331609 implements MigrationInterface {
  name = 'SmartClients1796013331609';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "client_assertion_jti" ("client_id" varchar(128) NOT NULL, "jti" varchar(255) NOT NULL, "expires_ms" bigint NOT NULL, PRIMARY KEY ("client_id", "jti"))`,
    );
    await queryRunner.query(`CREATE INDEX "ix_client_assertion_jti_expires" ON "client_assertion_jti" ("expires_ms") `);
    await queryRunner.query(
      `CREATE TABLE "smart_client" ("client_id" varchar(128) PRIMARY KEY NOT NULL, "name" varchar(200) NOT NULL, "jwks" text, "jwks_uri" varchar(2048), "organization" varchar(32) NOT NULL, "scopes" text NOT NULL, "created_ms" bigint NOT NULL, "disabled_ms" bigint)`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "smart_client"`);
    await queryRunner.query(`DROP INDEX "ix_client_assertion_jti_expires"`);
    await queryRunner.query(`DROP TABLE "client_assertion_jti"`);
  }
}
