import { DeliveryAttemptEntity } from './delivery-attempt.entity.js';
import { NotificationOutboxEntity } from './notification-outbox.entity.js';
import { OutboundMessageEntity } from './outbound-message.entity.js';
import { SubscriptionEventEntity } from './subscription-event.entity.js';
import { SubscriptionEntity } from './subscription.entity.js';

/**
 * The notifications' persisted entities: NotificationsModule registers them (TypeOrmModule.forFeature),
 * src/entities.ts lists them.
 */
export const NOTIFICATION_ENTITIES = [
  SubscriptionEntity,
  NotificationOutboxEntity,
  SubscriptionEventEntity,
  DeliveryAttemptEntity,
  OutboundMessageEntity,
];
