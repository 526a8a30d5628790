import type { QueryRunner } from 'typeorm';

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const BATCH = 500;

/**
 * Re-dates the DocumentReferences of stored documents by Composition.date, as indexing now does: rows written
 * before took Bundle.timestamp first. Composition.date was kept as content[0].attachment.creation; where it is an
 * instant it becomes DocumentReference.date and date_ms (the `date` search and `_sort=date`); date-only ones keep the
 * date they had, which is what indexing still chooses. Only the current row changes, and only `date`: the text
 * keeps its key order, the version history stays as it was written.
 */
export async function redateByComposition(queryRunner: QueryRunner, postgres: boolean): Promise<void> {
  const p = (n: number) => (postgres ? `$${n}` : '?');
  for (let after = ''; ;) {
    const rows = (await queryRunner.query(
      `SELECT id, resource FROM document_reference WHERE bundle_id IS NOT NULL AND id > ${p(1)} ORDER BY id LIMIT ${BATCH}`,
      [after],
    )) as { id: string; resource: string }[];
    for (const row of rows) {
      const resource = JSON.parse(row.resource) as {
        date?: string;
        content?: { attachment?: { creation?: unknown } }[];
      };
      const creation = resource.content?.[0]?.attachment?.creation;
      if (typeof creation !== 'string' || !INSTANT.test(creation) || creation === resource.date) {
        continue;
      }
      const dateMs = Date.parse(creation);
      if (Number.isNaN(dateMs)) {
        continue;
      }
      resource.date = creation;
      await queryRunner.query(
        `UPDATE document_reference SET resource = ${p(1)}, date_ms = ${p(2)} WHERE id = ${p(3)}`,
        [JSON.stringify(resource), dateMs, row.id],
      );
    }
    if (rows.length < BATCH) {
      return;
    }
    after = rows[rows.length - 1].id;
  }
}
