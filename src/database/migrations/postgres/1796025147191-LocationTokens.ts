import type { MigrationInterface, QueryRunner } from 'typeorm';
import { indexLocations } from '../backfill/location-tokens.js';

/** Data only: the location tokens (attachment.url) of DocumentReferences stored before (see the function). */
export class LocationTokens1796025147191 implements MigrationInterface {
  name = 'LocationTokens1796025147191';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await indexLocations(queryRunner, true);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DELETE FROM document_reference_token WHERE param = 'location'");
  }
}
