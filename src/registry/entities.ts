import { BinaryEntity } from './binary.entity.js';
import { DeliveryTaskEntity } from './delivery-task.entity.js';
import { DocumentBundleEntity } from './document-bundle.entity.js';
import { DocumentReferenceTokenEntity } from './document-reference-token.entity.js';
import { DocumentReferenceVersionEntity } from './document-reference-version.entity.js';
import { DocumentReferenceEntity } from './document-reference.entity.js';
import { SubmissionSetEntity } from './submission-set.entity.js';

/**
 * The registry's persisted entities: RegistryModule registers them (TypeOrmModule.forFeature),
 * src/entities.ts lists them.
 */
export const REGISTRY_ENTITIES = [
  DocumentBundleEntity,
  BinaryEntity,
  DocumentReferenceEntity,
  DocumentReferenceTokenEntity,
  DocumentReferenceVersionEntity,
  SubmissionSetEntity,
  DeliveryTaskEntity,
];
