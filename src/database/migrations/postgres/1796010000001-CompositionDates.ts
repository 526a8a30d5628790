import type { MigrationInterface, QueryRunner } from 'typeorm';
import { redateByComposition } from '../backfill/composition-dates.js';

/** Data only: DocumentReference.date from Composition.date (see redateByComposition). */
export class CompositionDates1796010000001 implements MigrationInterface {
  name = 'CompositionDates1796010000001';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await redateByComposition(queryRunner, true);
  }

  public async down(): Promise<void> {
    // the earlier dates are not kept: re-dating is one-way
  }
}
