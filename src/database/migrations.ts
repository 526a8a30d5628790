import { InitialSchema1795687729458 } from './migrations/postgres/1795687729458-InitialSchema.js';
import { InitialSchema1795687728673 } from './migrations/sqlite/1795687728673-InitialSchema.js';

/** Migrations per dialect, oldest first. `npm run migration:generate -- Name` writes a new file into both folders. */
export const SQLITE_MIGRATIONS: Function[] = [InitialSchema1795687728673];
export const POSTGRES_MIGRATIONS: Function[] = [InitialSchema1795687729458];
