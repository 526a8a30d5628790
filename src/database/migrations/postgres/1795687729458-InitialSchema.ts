import { MigrationInterface, QueryRunner } from 'typeorm';

export class InitialSchema1795687729458 implements MigrationInterface {
  name = 'InitialSchema1795687729458';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "binary" ("id" character varying(64) NOT NULL, "content_type" character varying(255) NOT NULL, "blob_key" character varying(512) NOT NULL, "size" bigint NOT NULL, "sha256" character varying(64) NOT NULL, "sha1" character varying(32) NOT NULL, "owner_ods" character varying(32), "created_at" bigint NOT NULL, CONSTRAINT "PK_6e5119f7f7f1c02c1d83d9470d7" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "document_bundle" ("id" character varying(64) NOT NULL, "identifier_system" character varying(512) NOT NULL, "identifier_value" character varying(512) NOT NULL, "fhir_version" character varying(16) NOT NULL, "content_type" character varying(255) NOT NULL, "blob_key" character varying(512) NOT NULL, "size" bigint NOT NULL, "sha256" character varying(64) NOT NULL, "sha1" character varying(32) NOT NULL, "custodian_ods" character varying(32), "created_at" bigint NOT NULL, CONSTRAINT "PK_5a5820386b35f5c51adcd90fcc5" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_document_bundle_identifier" ON "document_bundle"  ("identifier_system", "identifier_value") `,
    );
    await queryRunner.query(
      `CREATE TABLE "document_reference" ("id" character varying(64) NOT NULL, "version_id" integer NOT NULL, "status" character varying(32) NOT NULL, "patient_nhs_number" character varying(16), "type_system" character varying(255), "type_code" character varying(128), "custodian_ods" character varying(32), "date_ms" bigint, "last_updated_ms" bigint NOT NULL, "bundle_id" character varying(64), "resource" text NOT NULL, CONSTRAINT "PK_9e0f286a86278fc8b2c17790cef" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE INDEX "ix_document_reference_bundle" ON "document_reference"  ("bundle_id") `);
    await queryRunner.query(
      `CREATE INDEX "ix_document_reference_last_updated" ON "document_reference"  ("last_updated_ms", "id") `,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_document_reference_patient_date" ON "document_reference"  ("patient_nhs_number", "date_ms") `,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_document_reference_patient_type_date" ON "document_reference"  ("patient_nhs_number", "type_code", "date_ms") `,
    );
    await queryRunner.query(
      `CREATE TABLE "document_reference_token" ("id" SERIAL NOT NULL, "document_reference_id" character varying(64) NOT NULL, "param" character varying(64) NOT NULL, "system" character varying(512), "code" character varying(512) NOT NULL, CONSTRAINT "PK_efcb027d0118fd8539dc8569826" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_document_reference_token_owner" ON "document_reference_token"  ("document_reference_id") `,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_document_reference_token_lookup" ON "document_reference_token"  ("param", "code", "system") `,
    );
    await queryRunner.query(
      `CREATE TABLE "document_reference_version" ("document_reference_id" character varying(64) NOT NULL, "version_id" integer NOT NULL, "last_updated_ms" bigint NOT NULL, "resource" text NOT NULL, CONSTRAINT "PK_0e8d0a21101636fc3b94a80a420" PRIMARY KEY ("document_reference_id", "version_id"))`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "document_reference_version"`);
    await queryRunner.query(`DROP INDEX "public"."ix_document_reference_token_lookup"`);
    await queryRunner.query(`DROP INDEX "public"."ix_document_reference_token_owner"`);
    await queryRunner.query(`DROP TABLE "document_reference_token"`);
    await queryRunner.query(`DROP INDEX "public"."ix_document_reference_patient_type_date"`);
    await queryRunner.query(`DROP INDEX "public"."ix_document_reference_patient_date"`);
    await queryRunner.query(`DROP INDEX "public"."ix_document_reference_last_updated"`);
    await queryRunner.query(`DROP INDEX "public"."ix_document_reference_bundle"`);
    await queryRunner.query(`DROP TABLE "document_reference"`);
    await queryRunner.query(`DROP INDEX "public"."uq_document_bundle_identifier"`);
    await queryRunner.query(`DROP TABLE "document_bundle"`);
    await queryRunner.query(`DROP TABLE "binary"`);
  }
}
