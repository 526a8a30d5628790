import { ClientAssertionJtiEntity } from './client-assertion-jti.entity.js';
import { SmartClientEntity } from './smart-client.entity.js';

/**
 * The token endpoint's persisted entities: SmartTokenModule registers them (TypeOrmModule.forFeature),
 * src/entities.ts lists them.
 */
export const AUTH_ENTITIES = [SmartClientEntity, ClientAssertionJtiEntity];
