import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { dataSourceOptions } from './data-source-options.js';
import { GroupCommitter } from './group-commit.js';
import { serialiseTransactions } from './serial-transactions.js';
import { syncWalOffTheEventLoop } from './sqlite-wal-sync.js';

interface SqliteHandle {
  pragma(statement: string, options: { simple: true }): unknown;
}

/**
 * The registry database (SQLite or PostgreSQL, from DATABASE_URL); migrations run at start-up. Each feature module
 * registers its own entities (TypeOrmModule.forFeature), which autoLoadEntities collects. Writes and audit records
 * share one GroupCommitter.
 */
@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        ...dataSourceOptions(config),
        autoLoadEntities: true,
        retryAttempts: 3,
        retryDelay: 1000,
      }),
      dataSourceFactory: async (options) => {
        const dataSource = new DataSource(options!);
        if (dataSource.options.type !== 'better-sqlite3') {
          return dataSource.initialize();
        }
        serialiseTransactions(dataSource);
        await dataSource.initialize();
        const db = (dataSource.driver as unknown as { databaseConnection: SqliteHandle }).databaseConnection;
        const file = dataSource.options.database;
        // SQLITE_SYNCHRONOUS=FULL (2): delivered as NORMAL plus a WAL flush off the event loop (sqlite-wal-sync.ts)
        if (db.pragma('synchronous', { simple: true }) === 2 && typeof file === 'string' && file !== ':memory:') {
          syncWalOffTheEventLoop(dataSource, file);
        }
        return dataSource;
      },
    }),
  ],
  providers: [GroupCommitter],
  exports: [GroupCommitter],
})
export class DatabaseModule {}
