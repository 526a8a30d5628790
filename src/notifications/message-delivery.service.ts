import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import type { DeliveryOutcome } from './delivery.service.js';
import { EndpointGate } from './endpoint-gate.js';
import { OutboundMessageRepository } from './outbound-message.repository.js';
import { type PostResult, WebhookClient } from './webhook-client.service.js';
import { signWebhook } from './webhook-signature.js';

/**
 * Sends one outbound message (an ITK3 business acknowledgement) to its endpoint: POST, signed with
 * MESSAGE_SIGNING_SECRET (Standard Webhooks headers, the message row id as webhook-id), through the same
 * SSRF-checked client and per-endpoint back-off as webhooks. Kept apart from subscription delivery.
 */
@Injectable()
export class MessageDeliveryService {
  private readonly logger = new Logger(MessageDeliveryService.name);
  private readonly gate: EndpointGate;

  constructor(
    private readonly messages: OutboundMessageRepository,
    private readonly webhooks: WebhookClient,
    private readonly config: AppConfig,
  ) {
    this.gate = new EndpointGate({
      maxInFlight: config.notifications.endpointConcurrency,
      backoffBaseMs: config.notifications.backoffBaseMs,
      requestTimeoutMs: config.notifications.deliveryTimeoutMs,
    });
  }

  async deliver(id: string): Promise<DeliveryOutcome> {
    const message = await this.messages.findById(id);
    if (!message) {
      return { result: 'skipped', reason: 'the message is gone' };
    }
    if (message.deliveredAt !== null || message.givenUpAt !== null) {
      return { result: 'skipped', reason: message.deliveredAt !== null ? 'already delivered' : 'given up' };
    }
    let origin: string;
    try {
      origin = new URL(message.endpoint).origin;
    } catch {
      await this.messages.giveUp(id, `endpoint ${message.endpoint} is not a URL`);
      return { result: 'skipped', reason: 'the endpoint is not a URL' };
    }
    const admission = this.gate.admit(origin, Date.now());
    if (!admission.admitted) {
      return { result: 'deferred', reason: admission.reason, retryAt: admission.retryAt };
    }
    let result: PostResult | undefined;
    let retryAt: number | undefined;
    try {
      const secret = this.config.notifications.messageSigningSecret;
      const headers: Record<string, string> = {
        'content-type': message.contentType,
        'user-agent': 'fhir-document-registry-messaging',
        ...(secret
          ? signWebhook(secret, message.id, Math.floor(Date.now() / 1000), message.body)
          : { 'webhook-id': message.id }),
      };
      result = await this.webhooks.send('POST', message.endpoint, message.body, headers);
    } finally {
      const status = result?.statusCode ?? null;
      retryAt = this.gate.settle(
        origin,
        status !== null && status < 500 && status !== 429 && status !== 408,
        Date.now(),
      );
    }
    await this.messages.recordAttempt(id, { delivered: result.ok, error: result.error });
    if (result.ok) {
      return { result: 'sent' };
    }
    const reason = `Sending ${message.kind} to ${message.endpoint} failed: ${result.error ?? 'no response'}`;
    this.logger.warn(reason);
    return { result: 'failed', reason, retryAt };
  }

  async giveUp(id: string, reason: string): Promise<void> {
    await this.messages.giveUp(id, `Gave up after the retry budget: ${reason}`);
  }
}
