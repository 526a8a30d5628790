import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { dataSourceOptions } from './data-source-options.js';
import { GroupCommitter } from './group-commit.js';
import { serialiseTransactions } from './serial-transactions.js';

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
        if (dataSource.options.type === 'better-sqlite3') {
          serialiseTransactions(dataSource);
        }
        return dataSource.initialize();
      },
    }),
  ],
  providers: [GroupCommitter],
  exports: [GroupCommitter],
})
export class DatabaseModule {}
