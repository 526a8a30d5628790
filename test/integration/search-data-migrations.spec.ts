import type { DataSource } from 'typeorm';
import { redateByComposition } from '../../src/database/migrations/backfill/composition-dates.js';
import { indexCustodianAndCreation } from '../../src/database/migrations/backfill/custodian-creation-tokens.js';
import { indexLocations } from '../../src/database/migrations/backfill/location-tokens.js';
import { openTestDatabase, type Dialect } from '../utils/database.js';

/** The data migrations of the search changes: re-dating by Composition.date, custodian and creation tokens. */
describe.each<Dialect>(['sqlite', 'postgres'])('search data migrations on %s', (dialect) => {
  let dataSource: DataSource;
  let cleanup: () => Promise<void>;
  const p = (n: number) => (dialect === 'postgres' ? `$${n}` : '?');

  beforeEach(async () => {
    const opened = await openTestDatabase(dialect);
    dataSource = opened.dataSource;
    cleanup = opened.close;
  });
  afterEach(async () => {
    await cleanup();
  });

  const insert = async (id: string, bundleId: string | null, date: string, creation: string) => {
    // as indexing wrote it before: date from Bundle.timestamp, Composition.date kept as attachment.creation
    const resource = {
      resourceType: 'DocumentReference',
      id,
      meta: { versionId: '1', lastUpdated: '2024-01-01T00:00:00.000Z' },
      status: 'current',
      date,
      content: [{ attachment: { contentType: 'application/fhir+json', creation } }],
    };
    await dataSource.query(
      `INSERT INTO document_reference (id, version_id, status, date_ms, last_updated_ms, bundle_id, resource) ` +
        `VALUES (${p(1)}, 1, 'current', ${p(2)}, 0, ${p(3)}, ${p(4)})`,
      [id, Date.parse(date), bundleId, JSON.stringify(resource)],
    );
    return JSON.stringify(resource);
  };
  const read = async (id: string) => {
    const [row] = await dataSource.query<{ resource: string; date_ms: string | number }[]>(
      `SELECT resource, date_ms FROM document_reference WHERE id = ${p(1)}`,
      [id],
    );
    return { resource: row.resource, dateMs: Number(row.date_ms) };
  };

  it('takes Composition.date where it is an instant, and leaves everything else as it was', async () => {
    await insert('hl7', 'b1', '2013-05-28T22:12:21Z', '2013-02-01T12:30:02Z');
    const dateOnly = await insert('date-only', 'b2', '2024-03-08T16:25:00+00:00', '2024-03-08');
    const pointer = await insert('pointer', null, '2024-03-08T16:25:00Z', '2020-01-01T00:00:00Z');
    const runner = dataSource.createQueryRunner();
    try {
      await redateByComposition(runner, dialect === 'postgres');
    } finally {
      await runner.release();
    }
    const hl7 = await read('hl7');
    expect(JSON.parse(hl7.resource).date).toBe('2013-02-01T12:30:02Z');
    expect(hl7.dateMs).toBe(Date.parse('2013-02-01T12:30:02Z'));
    // only the date changed, in place: same keys in the same order
    expect(Object.keys(JSON.parse(hl7.resource))).toEqual(['resourceType', 'id', 'meta', 'status', 'date', 'content']);
    expect((await read('date-only')).resource).toBe(dateOnly);
    expect((await read('pointer')).resource).toBe(pointer);
  });

  it('indexes custodian references and attachment creation for DocumentReferences stored before', async () => {
    await insert('old', 'b3', '2013-02-01T12:30:02Z', '2013-02-01T12:30:02Z');
    await dataSource.query(`UPDATE document_reference SET resource = ${p(1)} WHERE id = 'old'`, [
      JSON.stringify({
        ...JSON.parse((await read('old')).resource),
        custodian: { reference: 'Organization/rx9' },
        author: [{ reference: '#local' }],
      }),
    ]);
    const runner = dataSource.createQueryRunner();
    try {
      await indexCustodianAndCreation(runner, dialect === 'postgres');
    } finally {
      await runner.release();
    }
    const tokens = await dataSource.query<{ param: string; code: string; low_ms: string; high_ms: string }[]>(
      `SELECT param, code, low_ms, high_ms FROM document_reference_token WHERE document_reference_id = 'old' ORDER BY param`,
    );
    expect(tokens.map((t) => [t.param, t.code])).toEqual([
      ['creation', '2013-02-01T12:30:02Z'],
      ['custodian', 'Organization/rx9'],
    ]);
    // the second the value names, inclusive
    expect([Number(tokens[0].low_ms), Number(tokens[0].high_ms)]).toEqual([
      Date.parse('2013-02-01T12:30:02Z'),
      Date.parse('2013-02-01T12:30:02Z') + 999,
    ]);
  });

  it('indexes where the content of DocumentReferences stored before is, so a Binary read finds them', async () => {
    await insert('pointer-to-binary', null, '2024-03-08T16:25:00Z', '2024-03-08T16:25:00Z');
    await dataSource.query(`UPDATE document_reference SET resource = ${p(1)} WHERE id = 'pointer-to-binary'`, [
      JSON.stringify({
        ...JSON.parse((await read('pointer-to-binary')).resource),
        content: [{ attachment: { contentType: 'application/pdf', url: 'https://r.example/fhir/Binary/b-1' } }],
      }),
    ]);
    const runner = dataSource.createQueryRunner();
    try {
      await indexLocations(runner, dialect === 'postgres');
    } finally {
      await runner.release();
    }
    const tokens = await dataSource.query<{ code: string; system: string | null }[]>(
      `SELECT code, system FROM document_reference_token WHERE document_reference_id = 'pointer-to-binary' AND param = 'location'`,
    );
    expect(tokens).toEqual([{ code: 'https://r.example/fhir/Binary/b-1', system: null }]);
  });
});
