import type { MigrationInterface, QueryRunner } from 'typeorm';
import { indexCustodianAndCreation } from '../backfill/custodian-creation-tokens.js';

/** Data only: the custodian and creation search tokens of DocumentReferences stored before (see the function). */
export class CustodianCreationTokens1796011000001 implements MigrationInterface {
  name = 'CustodianCreationTokens1796011000001';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await indexCustodianAndCreation(queryRunner, true);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DELETE FROM document_reference_token WHERE param IN ('custodian', 'creation')");
  }
}
