import path from 'node:path';
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../src/database/data-source-options.js';
import { ENTITIES } from '../../src/entities.js';
import { serialiseTransactions } from '../../src/database/serial-transactions.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';
import { makeTempDir } from './temp-dir.js';

export type Dialect = 'sqlite' | 'postgres';

/**
 * A migrated registry database of its own (a fresh PostgreSQL database, or a SQLite file in a temp folder with
 * transactions serialised as the server does), and the clean-up that removes it.
 */
export async function openTestDatabase(
  dialect: Dialect,
  sqliteSynchronous: 'FULL' | 'NORMAL' = 'NORMAL',
): Promise<{ dataSource: DataSource; close(): Promise<void> }> {
  let database: TestDatabase | undefined;
  const dir = await makeTempDir('registry-db');
  let dataSource: DataSource;
  if (dialect === 'postgres') {
    database = await createTestDatabase();
    dataSource = new DataSource({
      ...dataSourceOptions({ database: { kind: 'postgres', url: database.url }, sqliteSynchronous }),
      entities: ENTITIES,
    });
  } else {
    const file = path.join(dir.path, 'registry.db');
    dataSource = new DataSource({
      ...dataSourceOptions({ database: { kind: 'sqlite', file }, sqliteSynchronous }),
      entities: ENTITIES,
    });
    serialiseTransactions(dataSource);
  }
  await dataSource.initialize();
  return {
    dataSource,
    close: async () => {
      await dataSource.destroy();
      await database?.drop();
      await dir.remove();
    },
  };
}
