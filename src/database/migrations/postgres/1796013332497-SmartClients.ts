import { MigrationInterface, QueryRunner } from 'typeorm';

export class SmartClients1796013332497 implements MigrationInterface {
  name = 'SmartClients1796013332497';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "client_assertion_jti" ("client_id" character varying(128) NOT NULL, "jti" character varying(255) NOT NULL, "expires_ms" bigint NOT NULL, CONSTRAINT "PK_6ec23ede109c4555ba1bfdb8026" PRIMARY KEY ("client_id", "jti"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_client_assertion_jti_expires" ON "client_assertion_jti"  ("expires_ms") `,
    );
    await queryRunner.query(
      `CREATE TABLE "smart_client" ("client_id" character varying(128) NOT NULL, "name" character varying(200) NOT NULL, "jwks" text, "jwks_uri" character varying(2048), "organization" character varying(32) NOT NULL, "scopes" text NOT NULL, "created_ms" bigint NOT NULL, "disabled_ms" bigint, CONSTRAINT "PK_fd468eb41a72d5dfc213e62fd79" PRIMARY KEY ("client_id"))`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "smart_client"`);
    await queryRunner.query(`DROP INDEX "public"."ix_client_assertion_jti_expires"`);
    await queryRunner.query(`DROP TABLE "client_assertion_jti"`);
  }
}
