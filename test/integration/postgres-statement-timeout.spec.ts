import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { toErrorResponse } from '../../src/common/error-response.js';
import { dataSourceOptions } from '../../src/database/data-source-options.js';
import { createTestDatabase, type TestDatabase } from '../utils/postgres.js';

describe('PostgreSQL statements bounded by REQUEST_TIMEOUT_MS', () => {
  let database: TestDatabase;
  let dataSource: DataSource;

  beforeAll(async () => {
    database = await createTestDatabase();
    dataSource = new DataSource(
      dataSourceOptions({
        database: { kind: 'postgres', url: database.url },
        sqliteSynchronous: 'FULL',
        requestTimeoutMs: 300,
      }),
    );
    await dataSource.initialize();
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await database?.drop();
  });

  it('cancels a statement that outlives the request timeout, and answers it as 503 with Retry-After', async () => {
    const started = Date.now();
    const error: unknown = await dataSource.query('SELECT pg_sleep(5)').catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(3000);
    const response = toErrorResponse(error);
    expect(response.status).toBe(503);
    expect(response.headers['retry-after']).toBe('5');
    expect(response.outcome.issue[0].code).toBe('timeout');
    expect(JSON.stringify(response.outcome)).not.toMatch(/pg_sleep|at .*\.(js|ts):\d+/);
  });

  it('leaves the pool usable afterwards', async () => {
    expect(await dataSource.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });
});
