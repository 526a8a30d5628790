import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadConfig } from './src/config/app-config.js';
import { dataSourceOptions } from './src/database/data-source-options.js';
import { ENTITIES } from './src/entities.js';

/**
 * The DataSource the TypeORM CLI uses (migration:generate / migration:run), built from the same config as the server,
 * with every entity the modules register (src/entities.ts).
 */
export default new DataSource({
  ...dataSourceOptions(loadConfig(process.env)),
  entities: ENTITIES,
  migrationsRun: false,
});
