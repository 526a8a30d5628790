import { AUDIT_ENTITIES } from './audit/entities.js';
import { AUTH_ENTITIES } from './auth/entities.js';
import { MESSAGING_ENTITIES } from './messaging/entities.js';
import { NOTIFICATION_ENTITIES } from './notifications/entities.js';
import { REGISTRY_ENTITIES } from './registry/entities.js';

/**
 * Every persisted entity, for DataSources built outside Nest: the migrations' (ormconfig.ts), audit:verify and the
 * tests'. The server's DataSource collects the same lists from each module's TypeOrmModule.forFeature
 * (autoLoadEntities). The migrations in src/database/migrations are generated from these.
 */
export const ENTITIES = [...REGISTRY_ENTITIES, ...AUDIT_ENTITIES, ...NOTIFICATION_ENTITIES, ...AUTH_ENTITIES, ...MESSAGING_ENTITIES];
