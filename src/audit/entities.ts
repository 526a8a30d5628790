import { AuditCheckpointEntity } from './audit-checkpoint.entity.js';
import { AuditEventEntity } from './audit-event.entity.js';

/**
 * The audit trail's persisted entities: AuditModule registers them (TypeOrmModule.forFeature),
 * src/entities.ts lists them.
 */
export const AUDIT_ENTITIES = [AuditEventEntity, AuditCheckpointEntity];
