import type { QueryRunner } from 'typeorm';
import { creationTokens } from '../../../common/fhir-date.js';

const BATCH = 500;

/**
 * Indexes the `custodian` (reference) and `creation` search parameters for DocumentReferences stored before they
 * existed, with the same token rules indexing uses (a local `#` reference is not a custodian to search by).
 */
export async function indexCustodianAndCreation(queryRunner: QueryRunner, postgres: boolean): Promise<void> {
  const p = (n: number) => (postgres ? `$${n}` : '?');
  for (let after = ''; ;) {
    const rows = (await queryRunner.query(
      `SELECT id, resource FROM document_reference WHERE id > ${p(1)} ORDER BY id LIMIT ${BATCH}`,
      [after],
    )) as { id: string; resource: string }[];
    for (const row of rows) {
      const resource = JSON.parse(row.resource) as {
        custodian?: { reference?: unknown };
        content?: { attachment?: { creation?: unknown } }[];
      };
      const reference = resource.custodian?.reference;
      const tokens = [
        ...(typeof reference === 'string' && reference !== '' && !reference.startsWith('#')
          ? [{ param: 'custodian', system: null, code: reference, lowMs: null, highMs: null }]
          : []),
        ...(resource.content ?? []).flatMap((c) => creationTokens(c?.attachment?.creation)),
      ];
      for (const token of tokens) {
        await queryRunner.query(
          `INSERT INTO document_reference_token (document_reference_id, param, system, code, low_ms, high_ms) ` +
            `VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, ${p(6)})`,
          [row.id, token.param, token.system, token.code, token.lowMs, token.highMs],
        );
      }
    }
    if (rows.length < BATCH) {
      return;
    }
    after = rows[rows.length - 1].id;
  }
}
