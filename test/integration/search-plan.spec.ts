import path from 'node:path';
import { DataSource } from 'typeorm';
import type { AppConfig } from '../../src/config/app-config.js';
import { dataSourceOptions } from '../../src/database/data-source-options.js';
import { ENTITIES } from '../../src/entities.js';
import { DocumentReferenceEntity } from '../../src/registry/document-reference.entity.js';
import { DocumentReferenceTokenEntity } from '../../src/registry/document-reference-token.entity.js';
import { parseSearch } from '../../src/registry/document-reference-search.js';
import { DocumentReferenceSearchRepository } from '../../src/registry/document-reference-search.repository.js';
import { createTestDatabase, type TestDatabase } from '../utils/postgres.js';
import { makeTempDir } from '../utils/temp-dir.js';

const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
const SCT = 'http://snomed.info/sct';
const ROWS = 3000;
const TYPES = ['373942005', '371530004', '820291000000107'];

/** The ITI-67 query every consumer sends: one patient's documents of one type in a date range, newest first. */
const PLAN = parseSearch([
  ['patient.identifier', `${NHS}|9000000${String(18).padStart(3, '0')}`],
  ['type', `${SCT}|373942005`],
  ['date', 'ge2024-01-01'],
  ['date', 'lt2025-01-01'],
]);

/** Enough rows over many patients that only an index makes the query cheap. */
async function fill(dataSource: DataSource): Promise<void> {
  const base = Date.parse('2023-01-01T00:00:00Z');
  for (let start = 0; start < ROWS; start += 500) {
    const documents: Partial<DocumentReferenceEntity>[] = [];
    const tokens: Partial<DocumentReferenceTokenEntity>[] = [];
    for (let i = start; i < Math.min(start + 500, ROWS); i++) {
      const id = `doc-${String(i).padStart(5, '0')}`;
      const typeCode = TYPES[i % TYPES.length];
      const nhsNumber = `9000000${String(i % 300).padStart(3, '0')}`;
      documents.push({
        id,
        versionId: 1,
        status: 'current',
        patientNhsNumber: nhsNumber,
        typeSystem: SCT,
        typeCode,
        custodianOds: 'RTG',
        dateMs: base + i * 21_600_000,
        lastUpdatedMs: base + i * 21_600_000,
        bundleId: null,
        resource: '{}',
      });
      tokens.push(
        { documentReferenceId: id, param: 'type', system: SCT, code: typeCode },
        { documentReferenceId: id, param: 'patient.identifier', system: NHS, code: nhsNumber },
        { documentReferenceId: id, param: 'category', system: SCT, code: '371531000' },
      );
    }
    await dataSource.getRepository(DocumentReferenceEntity).insert(documents);
    await dataSource.getRepository(DocumentReferenceTokenEntity).insert(tokens);
  }
}

function repositoryOn(dataSource: DataSource): DocumentReferenceSearchRepository {
  return new DocumentReferenceSearchRepository(dataSource, { baseUrl: 'http://localhost' } as AppConfig);
}

describe('query plan of the patient.identifier + type + date search', () => {
  it('uses indexes on SQLite, with no full scan of document_reference', async () => {
    const dir = await makeTempDir('search-plan');
    const dataSource = new DataSource({
      ...dataSourceOptions({
        database: { kind: 'sqlite', file: path.join(dir.path, 'plan.db') },
        sqliteSynchronous: 'NORMAL',
      }),
      entities: ENTITIES,
    });
    await dataSource.initialize();
    try {
      await fill(dataSource);
      await dataSource.query('ANALYZE');
      const repository = repositoryOn(dataSource);
      const { sql, parameters } = repository.pageSql(PLAN);
      const rows = await dataSource.query<{ detail: string }[]>(`EXPLAIN QUERY PLAN ${sql}`, parameters);
      const plan = rows.map((r) => r.detail).join('\n');
      expect(plan).toMatch(/SEARCH d USING INDEX ix_document_reference_patient_(type_)?date \(patient_nhs_number=\?/);
      expect(plan).not.toMatch(/SCAN (TABLE )?(document_reference|d)\b(?! USING)/);
      expect(plan).toMatch(/USING INDEX ix_document_reference_token_(owner|lookup)/);
      // The plan is right only if the answer is: patient 18's discharge summaries of 2024.
      const page = await repository.search(PLAN);
      expect(page.total).toBeGreaterThan(0);
      expect(page.rows.every((r) => r.patientNhsNumber === '9000000018' && r.typeCode === '373942005')).toBe(true);
    } finally {
      await dataSource.destroy();
      await dir.remove();
    }
  });

  it('uses index scans on PostgreSQL', async () => {
    const database: TestDatabase = await createTestDatabase();
    const dataSource = new DataSource({
      ...dataSourceOptions({ database: { kind: 'postgres', url: database.url }, sqliteSynchronous: 'NORMAL' }),
      entities: ENTITIES,
    });
    await dataSource.initialize();
    try {
      await fill(dataSource);
      await dataSource.query('ANALYZE');
      const repository = repositoryOn(dataSource);
      const { sql, parameters } = repository.pageSql(PLAN);
      const runner = dataSource.createQueryRunner();
      await runner.connect();
      let plan: string;
      try {
        // Small test tables make sequential scans look cheap; the question is whether an index can serve the query.
        await runner.query('SET enable_seqscan = off');
        const rows = (await runner.query(`EXPLAIN ${sql}`, parameters)) as { 'QUERY PLAN': string }[];
        plan = rows.map((r) => r['QUERY PLAN']).join('\n');
      } finally {
        await runner.release();
      }
      expect(plan).toMatch(
        /(Index (Only )?Scan using|Bitmap Index Scan on) ix_document_reference_patient_(type_)?date /,
      );
      expect(plan).not.toMatch(/Seq Scan on document_reference\b/);
      expect(plan).toMatch(/ix_document_reference_token_(owner|lookup)/);
      const page = await repository.search(PLAN);
      expect(page.total).toBeGreaterThan(0);
      expect(page.rows.every((r) => r.patientNhsNumber === '9000000018' && r.typeCode === '373942005')).toBe(true);
    } finally {
      await dataSource.destroy();
      await database.drop();
    }
  });
});
