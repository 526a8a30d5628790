import { MigrationInterface, QueryRunner } from 'typeorm';

export class InitialSchema1795687728673 implements MigrationInterface {
  name = 'InitialSchema1795687728673';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "binary" ("id" varchar(64) PRIMARY KEY NOT NULL, "content_type" varchar(255) NOT NULL, "blob_key" varchar(512) NOT NULL, "size" bigint NOT NULL, "sha256" varchar(64) NOT NULL, "sha1" varchar(32) NOT NULL, "owner_ods" varchar(32), "created_at" bigint NOT NULL)`,
    );
    await queryRunner.query(
      `CREATE TABLE "document_bundle" ("id" varchar(64) PRIMARY KEY NOT NULL, "identifier_system" varchar(512) NOT NULL, "identifier_value" varchar(512) NOT NULL, "fhir_version" varchar(16) NOT NULL, "content_type" varchar(255) NOT NULL, "blob_key" varchar(512) NOT NULL, "size" bigint NOT NULL, "sha256" varchar(64) NOT NULL, "sha1" varchar(32) NOT NULL, "custodian_ods" varchar(32), "created_at" bigint NOT NULL)`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "uq_document_bundle_identifier" ON "document_bundle" ("identifier_system", "identifier_value") `,
    );
    await queryRunner.query(
      `CREATE TABLE "document_reference" ("id" varchar(64) PRIMARY KEY NOT NULL, "version_id" integer NOT NULL, "status" varchar(32) NOT NULL, "patient_nhs_number" varchar(16), "type_system" varchar(255), "type_code" varchar(128), "custodian_ods" varchar(32), "date_ms" bigint, "last_updated_ms" bigint NOT NULL, "bundle_id" varchar(64), "resource" text NOT NULL)`,
    );
    await queryRunner.query(`CREATE INDEX "ix_document_reference_bundle" ON "document_reference" ("bundle_id") `);
    await queryRunner.query(
      `CREATE INDEX "ix_document_reference_last_updated" ON "document_reference" ("last_updated_ms", "id") `,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_document_reference_patient_date" ON "document_reference" ("patient_nhs_number", "date_ms") `,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_document_reference_patient_type_date" ON "document_reference" ("patient_nhs_number", "type_code", "date_ms") `,
    );
    await queryRunner.query(
      `CREATE TABLE "document_reference_token" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "document_reference_id" varchar(64) NOT NULL, "param" varchar(64) NOT NULL, "system" varchar(512), "code" varchar(512) NOT NULL)`,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_document_reference_token_owner" ON "document_reference_token" ("document_reference_id") `,
    );
    await queryRunner.query(
      `CREATE INDEX "ix_document_reference_token_lookup" ON "document_reference_token" ("param", "code", "system") `,
    );
    await queryRunner.query(
      `CREATE TABLE "document_reference_version" ("document_reference_id" varchar(64) NOT NULL, "version_id" integer NOT NULL, "last_updated_ms" bigint NOT NULL, "resource" text NOT NULL, PRIMARY KEY ("document_reference_id", "version_id"))`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "document_reference_version"`);
    await queryRunner.query(`DROP INDEX "ix_document_reference_token_lookup"`);
    await queryRunner.query(`DROP INDEX "ix_document_reference_token_owner"`);
    await queryRunner.query(`DROP TABLE "document_reference_token"`);
    await queryRunner.query(`DROP INDEX "ix_document_reference_patient_type_date"`);
    await queryRunner.query(`DROP INDEX "ix_document_reference_patient_date"`);
    await queryRunner.query(`DROP INDEX "ix_document_reference_last_updated"`);
    await queryRunner.query(`DROP INDEX "ix_document_reference_bundle"`);
    await queryRunner.query(`DROP TABLE "document_reference"`);
    await queryRunner.query(`DROP INDEX "uq_document_bundle_identifier"`);
    await queryRunner.query(`DROP TABLE "document_bundle"`);
    await queryRunner.query(`DROP TABLE "binary"`);
  }
}
