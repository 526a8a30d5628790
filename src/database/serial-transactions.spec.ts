import { DataSource } from 'typeorm';
import { serialiseTransactions } from './serial-transactions.js';

describe('serialiseTransactions on SQLite', () => {
  let dataSource: DataSource;

  beforeEach(async () => {
    dataSource = await new DataSource({ type: 'better-sqlite3', database: ':memory:' }).initialize();
    await dataSource.query('CREATE TABLE t (v INTEGER)');
  });
  afterEach(async () => {
    await dataSource.destroy();
  });

  async function race(): Promise<number[]> {
    const slowFailure = dataSource.transaction(async (manager) => {
      await manager.query('INSERT INTO t VALUES (1)');
      await new Promise((resolve) => setTimeout(resolve, 20));
      throw new Error('roll me back');
    });
    const success = dataSource.transaction(async (manager) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      await manager.query('INSERT INTO t VALUES (2)');
    });
    await Promise.allSettled([slowFailure, success]);
    const rows: { v: number }[] = await dataSource.query('SELECT v FROM t ORDER BY v');
    return rows.map((r) => r.v);
  }

  it('without it, a rollback undoes a concurrent transaction that succeeded (the bug it exists for)', async () => {
    expect(await race()).not.toEqual([2]);
  });

  it('keeps a successful transaction when a concurrent one rolls back', async () => {
    serialiseTransactions(dataSource);
    expect(await race()).toEqual([2]);
  });

  it('lets a transaction started inside another nest instead of deadlocking', async () => {
    serialiseTransactions(dataSource);
    await dataSource.transaction(async () => {
      await dataSource.transaction(async (inner) => inner.query('INSERT INTO t VALUES (3)'));
    });
    expect(await dataSource.query('SELECT v FROM t')).toEqual([{ v: 3 }]);
  });
});
