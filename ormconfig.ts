import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadConfig } from './src/config/app-config.js';
import { dataSourceOptions } from './src/database/data-source-options.js';

/** The DataSource the TypeORM CLI uses (migration:generate / migration:run), built from the same config as the server. */
export default new DataSource({ ...dataSourceOptions(loadConfig(process.env)), migrationsRun: false });
