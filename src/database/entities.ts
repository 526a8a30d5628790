import { AuditCheckpointEntity } from '../audit/audit-checkpoint.entity.js';
import { AuditEventEntity } from '../audit/audit-event.entity.js';
import { BinaryEntity } from '../registry/binary.entity.js';
import { DeliveryAttemptEntity } from '../notifications/delivery-attempt.entity.js';
import { NotificationOutboxEntity } from '../notifications/notification-outbox.entity.js';
import { SubscriptionEventEntity } from '../notifications/subscription-event.entity.js';
import { SubscriptionEntity } from '../notifications/subscription.entity.js';
import { DocumentBundleEntity } from '../registry/document-bundle.entity.js';
import { DocumentReferenceEntity } from '../registry/document-reference.entity.js';
import { DocumentReferenceTokenEntity } from '../registry/document-reference-token.entity.js';
import { DocumentReferenceVersionEntity } from '../registry/document-reference-version.entity.js';
import { SubmissionSetEntity } from '../registry/submission-set.entity.js';

/** Every persisted entity; the migrations in migrations/sqlite and migrations/postgres are generated from these. */
export const ENTITIES = [
  DocumentBundleEntity,
  BinaryEntity,
  DocumentReferenceEntity,
  DocumentReferenceTokenEntity,
  DocumentReferenceVersionEntity,
  SubmissionSetEntity,
  AuditEventEntity,
  AuditCheckpointEntity,
  SubscriptionEntity,
  NotificationOutboxEntity,
  SubscriptionEventEntity,
  DeliveryAttemptEntity,
];
