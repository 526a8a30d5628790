import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import type { AppConfig } from '../config/app-config.js';
import { POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS } from './migrations.js';

interface BetterSqliteHandle {
  pragma(statement: string): unknown;
}

/**
 * TypeORM options for the configured database, without entities: the server's DataSource gets them from each
 * module's TypeOrmModule.forFeature (autoLoadEntities), a standalone one adds `entities: ENTITIES` (src/entities.ts).
 * Schema changes come only from migrations.
 */
export function dataSourceOptions(
  config: Pick<AppConfig, 'database' | 'sqliteSynchronous'> & Partial<Pick<AppConfig, 'requestTimeoutMs'>>,
): DataSourceOptions {
  const common = { migrationsRun: true, synchronize: false, logging: false } as const;
  if (config.database.kind === 'sqlite') {
    const file = config.database.file;
    if (file !== ':memory:') {
      mkdirSync(path.dirname(file), { recursive: true });
    }
    return {
      ...common,
      type: 'better-sqlite3',
      database: file,
      migrations: SQLITE_MIGRATIONS,
      enableWAL: true,
      timeout: 10_000,
      // TypeORM keeps one FIFO statement cache on SQLite's single connection; at its default of 100 the hot inserts
      // and searches were evicted by varying multi-row inserts and prepared again on every request
      statementCacheSize: 2000,
      // WAL with synchronous=FULL: a 201 means the index row survives power loss (NORMAL is opt-in).
      prepareDatabase: (db: BetterSqliteHandle) => {
        db.pragma(`synchronous = ${config.sqliteSynchronous}`);
        db.pragma('foreign_keys = ON');
      },
    };
  }
  return {
    ...common,
    type: 'postgres',
    url: config.database.url,
    migrations: POSTGRES_MIGRATIONS,
    // no statement may outlive the request that started it: a runaway query otherwise holds a core for as long as it runs
    extra: { max: 20, connectionTimeoutMillis: 10_000, statement_timeout: config.requestTimeoutMs ?? 120_000 },
  };
}
