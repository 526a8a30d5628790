import { Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type Bull from 'bull';
import { AppConfig } from '../config/app-config.js';
import { DeliveryService, type DeliveryOutcome, type DeliveryRequest } from './delivery.service.js';
import { MessageDeliveryService } from './message-delivery.service.js';
import { DeliveryJobName, NotificationQueue, RetryLater, type DeliveryJobData } from './notification-queue.service.js';
import { OutboxRelay } from './outbox-relay.service.js';

/** Worker role: the queue consumer (thin: turns a job into a DeliveryService call) and the outbox relay. */
@Injectable()
export class DeliveryProcessor implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(DeliveryProcessor.name);

  constructor(
    private readonly queue: NotificationQueue,
    private readonly delivery: DeliveryService,
    private readonly messages: MessageDeliveryService,
    private readonly relay: OutboxRelay,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.queue.process((job) => this.handle(job));
    this.relay.start();
  }

  async onModuleDestroy(): Promise<void> {
    await this.relay.stop();
  }

  private async handle(job: Bull.Job<DeliveryJobData>): Promise<void> {
    if (job.data.outboundMessageId !== undefined) {
      const id = job.data.outboundMessageId;
      const outcome = await this.messages.deliver(id);
      return this.settle(job, outcome, (reason) => this.messages.giveUp(id, reason));
    }
    const request: DeliveryRequest =
      job.name === (DeliveryJobName.Event as string)
        ? { type: 'event-notification', subscriptionEventId: job.data.subscriptionEventId! }
        : {
            type: job.name as 'handshake' | 'heartbeat',
            subscriptionId: job.data.subscriptionId!,
            webhookId: String(job.id),
          };
    const outcome = await this.delivery.deliver(request);
    return this.settle(job, outcome, (reason) => this.delivery.giveUp(request, reason));
  }

  private async settle(
    job: Bull.Job<DeliveryJobData>,
    outcome: DeliveryOutcome,
    giveUp: (reason: string) => Promise<void>,
  ): Promise<void> {
    if (outcome.result === 'sent' || outcome.result === 'skipped') {
      return;
    }
    // DELIVERY_RETRY_HOURS counts from when the job was first queued; after that the job is dropped.
    if (Date.now() - job.timestamp >= this.config.notifications.retryHours * 3_600_000) {
      this.logger.warn(`Giving up job ${String(job.id)}: ${outcome.reason}`);
      await giveUp(outcome.reason);
      await job.discard();
    }
    throw new RetryLater(outcome.reason, outcome.retryAt);
  }
}
