import path from 'node:path';
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../src/database/data-source-options.js';
import { serialiseTransactions } from '../../src/database/serial-transactions.js';
import { syncWalOffTheEventLoop, type WalSync } from '../../src/database/sqlite-wal-sync.js';
import { ENTITIES } from '../../src/entities.js';
import { makeTempDir } from '../utils/temp-dir.js';

/** SQLITE_SYNCHRONOUS=FULL as the server delivers it: NORMAL, plus a WAL flush before any write is reported done. */
describe('SQLite commits flushed off the event loop', () => {
  let dir: Awaited<ReturnType<typeof makeTempDir>>;
  let dataSource: DataSource;
  let wal: WalSync;

  beforeEach(async () => {
    dir = await makeTempDir('wal-sync');
    const file = path.join(dir.path, 'registry.db');
    dataSource = new DataSource({
      ...dataSourceOptions({ database: { kind: 'sqlite', file }, sqliteSynchronous: 'FULL' }),
      entities: ENTITIES,
    });
    serialiseTransactions(dataSource);
    await dataSource.initialize();
    wal = syncWalOffTheEventLoop(dataSource, file);
    await dataSource.query('CREATE TABLE t (id integer PRIMARY KEY)');
  });
  afterEach(async () => {
    await dataSource.destroy();
    await dir.remove();
  });

  it('runs the connection at NORMAL and flushes the WAL before a transaction reports its commit', async () => {
    expect(await dataSource.query('PRAGMA synchronous')).toEqual([{ synchronous: 1 }]);
    const before = wal.flushes;
    await dataSource.transaction(async (manager) => {
      await manager.query('INSERT INTO t (id) VALUES (1)');
      await manager.query('INSERT INTO t (id) VALUES (2)');
      // nothing is flushed while the transaction is open
      expect(wal.flushes).toBe(before);
    });
    expect(wal.flushes).toBe(before + 1);
  });

  it('flushes after a write outside a transaction, but not after reads or a rollback', async () => {
    let flushes = wal.flushes;
    await dataSource.query('INSERT INTO t (id) VALUES (3)');
    expect(wal.flushes).toBe(++flushes);
    await dataSource.query('SELECT * FROM t');
    await expect(
      dataSource.transaction(async (manager) => {
        await manager.query('INSERT INTO t (id) VALUES (4)');
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(wal.flushes).toBe(flushes);
    expect(await dataSource.query('SELECT id FROM t')).toEqual([{ id: 3 }]);
  });

  it('lets concurrent commits share flushes', async () => {
    const before = wal.flushes;
    await Promise.all(Array.from({ length: 50 }, (_, i) => dataSource.query(`INSERT INTO t (id) VALUES (${100 + i})`)));
    const flushed = wal.flushes - before;
    expect(flushed).toBeGreaterThanOrEqual(1);
    expect(flushed).toBeLessThan(50);
    expect(await dataSource.query('SELECT COUNT(*) AS n FROM t')).toEqual([{ n: 50 }]);
  });
});
