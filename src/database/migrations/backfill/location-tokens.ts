import type { QueryRunner } from 'typeorm';

const BATCH = 500;

/**
 * Indexes where the content of DocumentReferences stored before is (`location`: each attachment.url), with the same
 * rule indexing uses, so that a read of a Binary held here finds the DocumentReferences pointing at it.
 */
export async function indexLocations(queryRunner: QueryRunner, postgres: boolean): Promise<void> {
  const p = (n: number) => (postgres ? `$${n}` : '?');
  for (let after = ''; ;) {
    const rows = (await queryRunner.query(
      `SELECT id, resource FROM document_reference WHERE id > ${p(1)} ORDER BY id LIMIT ${BATCH}`,
      [after],
    )) as { id: string; resource: string }[];
    for (const row of rows) {
      const resource = JSON.parse(row.resource) as { content?: { attachment?: { url?: unknown } }[] };
      for (const content of resource.content ?? []) {
        const url = content?.attachment?.url;
        if (typeof url === 'string' && url.length <= 512) {
          await queryRunner.query(
            `INSERT INTO document_reference_token (document_reference_id, param, system, code) ` +
              `VALUES (${p(1)}, 'location', NULL, ${p(2)})`,
            [row.id, url],
          );
        }
      }
    }
    if (rows.length < BATCH) {
      return;
    }
    after = rows[rows.length - 1].id;
  }
}
