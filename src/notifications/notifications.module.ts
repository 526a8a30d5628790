import { type DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module.js';
import { RegistryModule } from '../registry/registry.module.js';
import type { AppConfig } from '../config/app-config.js';
import { DocumentEventLog } from '../registry/document-events.js';
import { DocumentReferenceSearchRepository } from '../registry/document-reference-search.repository.js';
import { DeliveryProcessor } from './delivery.processor.js';
import { DeliveryService } from './delivery.service.js';
import { NOTIFICATION_ENTITIES } from './entities.js';
import { NotificationOutboxRepository } from './notification-outbox.repository.js';
import { NotificationOutbox } from './notification-outbox.service.js';
import { NotificationQueue } from './notification-queue.service.js';
import { OutboxRelay } from './outbox-relay.service.js';
import { MessageDeliveryService } from './message-delivery.service.js';
import { OutboundMessageRepository } from './outbound-message.repository.js';
import { SubscriptionDisclosure } from './subscription-disclosure.service.js';
import { SubscriptionController, SubscriptionTopicController } from './subscription.controller.js';
import { SubscriptionRepository } from './subscription.repository.js';
import { SubscriptionService } from './subscription.service.js';
import { WebhookClient } from './webhook-client.service.js';

/**
 * Subscriptions and webhook delivery. Global so the registry can inject NotificationOutbox (and health the
 * queue, the outbox backlog and subscription counts) without importing this module; the relay and the queue consumer run only in the worker role.
 */
@Module({})
export class NotificationsModule {
  static forRoot(config: AppConfig): DynamicModule {
    const worker = config.appRoles.includes('worker');
    return {
      module: NotificationsModule,
      global: true,
      // disclosures are audited like the registry's own reads: AuditService, which depends on nothing here
      imports: [TypeOrmModule.forFeature(NOTIFICATION_ENTITIES), AuditModule, RegistryModule],
      controllers: [SubscriptionController, SubscriptionTopicController],
      providers: [
        NotificationOutboxRepository,
        OutboundMessageRepository,
        NotificationOutbox,
        { provide: DocumentEventLog, useExisting: NotificationOutbox },
        NotificationQueue,
        SubscriptionRepository,
        SubscriptionService,
        SubscriptionDisclosure,
        WebhookClient,
        DocumentReferenceSearchRepository,
        ...(worker ? [OutboxRelay, DeliveryService, MessageDeliveryService, DeliveryProcessor] : []),
      ],
      exports: [
        NotificationOutbox,
        DocumentEventLog,
        NotificationQueue,
        NotificationOutboxRepository,
        SubscriptionRepository,
      ],
    };
  }
}
