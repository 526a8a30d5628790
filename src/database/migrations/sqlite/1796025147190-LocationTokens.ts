import type { MigrationInterface, QueryRunner } from 'typeorm';
import { indexLocations } from '../backfill/location-tokens.js';

/** Data only: the location tokens (attachment.url) of DocumentReferences stored before (see the function). */
export class LocationTokens1796025147190 implements MigrationInterface {
  name = 'LocationTokens1796025147190';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await indexLocations(queryRunner, false);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DELETE FROM document_reference_token WHERE param = 'location'");
  }
}
