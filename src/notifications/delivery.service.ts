import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { Metrics } from '../health/metrics.service.js';
import { DeliveryTaskService } from '../registry/delivery-task.service.js';
import type { NotificationType } from './delivery-attempt.entity.js';
import { EndpointGate } from './endpoint-gate.js';
import { bareHost } from './endpoint-safety.js';
import { type NotifiedEvent, notificationBundle, subscriptionStatus } from './notification-bundle.js';
import { notificationMessage, processMessageUrl, serialiseMessage } from './notification-message.js';
import { type Disclosure, SubscriptionDisclosure } from './subscription-disclosure.service.js';
import { taskGrantRefusal } from './delivery-status.js';
import { grantRefusal, standingViolation } from './subscription-policy.js';
import { FHIR_JSON, FHIR_XML, storedChannel, subscriptionTopicUrl } from './subscription-resource.js';
import type { SubscriptionEntity } from './subscription.entity.js';
import { SubscriptionRepository } from './subscription.repository.js';
import { SubscriptionService } from './subscription.service.js';
import { type PostResult, WebhookClient } from './webhook-client.service.js';
import { signWebhook } from './webhook-signature.js';

export type DeliveryRequest =
  | { type: 'event-notification'; subscriptionEventId: string }
  | { type: 'handshake' | 'heartbeat'; subscriptionId: string; webhookId: string };

/**
 * What became of one attempt: sent (2xx), skipped (nothing to do any more), failed (retry later), or deferred (not
 * sent, because the endpoint is busy or backing off; not an attempt). A retry time comes from the endpoint's state.
 */
export type DeliveryOutcome =
  | { result: 'sent' }
  | { result: 'skipped'; reason: string }
  | { result: 'failed' | 'deferred'; reason: string; retryAt?: number };

interface Message {
  subscription: SubscriptionEntity;
  /** A classic subscription with a payload updates `{endpoint}/DocumentReference/{id}` (R4 rest-hook); else POST. */
  method: 'POST' | 'PUT';
  url: string;
  webhookId: string;
  type: NotificationType;
  eventNumber: number | null;
  body: string;
  /** The body's media type when not FHIR JSON (a message channel may ask for FHIR XML). */
  contentType?: string;
  subscriptionEventId?: string;
  /** The DocumentReference an event notification is about (its recipient's delivery Task moves to notified). */
  documentReferenceId?: string;
  /** When the change an event-notification reports was committed (epoch ms), for the delivery latency. */
  committedAt?: number;
  /** The document versions the body reveals, audited before it is sent. */
  disclosures?: Disclosure[];
}

/** An event the subscription may not be sent: recorded as a failed attempt, and nothing leaves. */
interface Refusal {
  subscription: SubscriptionEntity;
  webhookId: string;
  eventNumber: number;
  refused: string;
  /** The subscriber must act (re-authorise), so the subscription shows status error at once. */
  blocking: boolean;
}

/** Sends one notification: re-reads and re-checks the subscription, signs, POSTs, records the attempt. */
@Injectable()
export class DeliveryService {
  private readonly logger = new Logger(DeliveryService.name);
  private readonly gate: EndpointGate;

  constructor(
    private readonly subscriptions: SubscriptionRepository,
    private readonly subscriptionService: SubscriptionService,
    private readonly disclosure: SubscriptionDisclosure,
    private readonly webhooks: WebhookClient,
    private readonly tasks: DeliveryTaskService,
    private readonly config: AppConfig,
    private readonly metrics: Metrics,
  ) {
    this.gate = new EndpointGate({
      maxInFlight: config.notifications.endpointConcurrency,
      backoffBaseMs: config.notifications.backoffBaseMs,
      requestTimeoutMs: config.notifications.deliveryTimeoutMs,
    });
  }

  /** Endpoints this process is backing off. */
  get failingEndpoints(): number {
    return this.gate.failing;
  }

  async deliver(request: DeliveryRequest): Promise<DeliveryOutcome> {
    const message = await this.compose(request);
    if ('reason' in message) {
      return { result: 'skipped', reason: message.reason };
    }
    if ('refused' in message) {
      return this.refuse(message);
    }
    const { subscription } = message;
    // a busy or failing endpoint costs a deferral, not a slot held for the whole timeout (no head-of-line blocking)
    const origin = new URL(subscription.endpoint).origin;
    const admission = this.gate.admit(origin, Date.now());
    if (!admission.admitted) {
      return { result: 'deferred', reason: admission.reason, retryAt: admission.retryAt };
    }
    let result: PostResult | undefined;
    let retryAt: number | undefined;
    const attemptedAt = Date.now();
    try {
      result = await this.send(message);
    } finally {
      retryAt = this.gate.settle(origin, result && answeredInTime(result), Date.now());
    }
    await this.subscriptions.recordAttempt({
      subscriptionId: subscription.id,
      webhookId: message.webhookId,
      type: message.type,
      eventNumber: message.eventNumber,
      attemptedAt,
      statusCode: result.statusCode,
      latencyMs: result.latencyMs,
      error: result.error,
    });
    this.metrics.recordDelivery(message.type, result.ok ? 'success' : 'failure', message.committedAt);
    if (result.ok) {
      await this.subscriptions.recordSuccess(subscription.id, Date.now());
      if (message.subscriptionEventId) {
        await this.subscriptions.markDelivered(message.subscriptionEventId, Date.now());
      }
      if (message.documentReferenceId) {
        await this.tasks.saw(message.documentReferenceId, subscription.ownerOds, 'notified');
      }
      return { result: 'sent' };
    }
    const reason = `Delivery to ${message.url} failed: ${result.error ?? 'no response'}`;
    await this.subscriptions.recordFailure(subscription.id, reason, this.config.notifications.failuresBeforeError);
    // a 4xx is this subscription's problem, not the endpoint's health: the job's own backoff applies
    return { result: 'failed', reason, retryAt };
  }

  /** Audits what the message reveals, then signs and sends it. */
  private async send(message: Message): Promise<PostResult> {
    const { subscription } = message;
    if (message.disclosures?.length) {
      const url = new URL(subscription.endpoint);
      await this.disclosure.record(subscription, message.disclosures, 'notify', {
        clientId: subscription.endpoint,
        ip: bareHost(url.hostname),
        requestId: message.webhookId,
      });
    }
    const timestamp = Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = {
      ...Object.fromEntries(this.customHeaders(subscription)),
      ...signWebhook(subscription.secret, message.webhookId, timestamp, message.body),
      'user-agent': 'fhir-document-registry-webhooks',
    };
    if (message.body !== '') {
      headers['content-type'] = message.contentType ?? FHIR_JSON;
    }
    return this.webhooks.send(message.method, message.url, message.body, headers);
  }

  private async refuse(refusal: Refusal): Promise<DeliveryOutcome> {
    const { subscription } = refusal;
    await this.subscriptions.recordAttempt({
      subscriptionId: subscription.id,
      webhookId: refusal.webhookId,
      type: 'event-notification',
      eventNumber: refusal.eventNumber,
      attemptedAt: Date.now(),
      statusCode: null,
      latencyMs: 0,
      error: `Not sent: ${refusal.refused}`,
    });
    this.metrics.recordDelivery('event-notification', 'refused');
    if (refusal.blocking) {
      await this.subscriptions.recordFailure(subscription.id, `Not sent: ${refusal.refused}`, 1);
    }
    this.logger.warn(`Subscription/${subscription.id} event ${refusal.eventNumber} not sent: ${refusal.refused}`);
    // retrying cannot help: the event stays available through $events once the grant is renewed
    return { result: 'skipped', reason: refusal.refused };
  }

  /** A retry budget ran out: the subscription shows why, and the event stays available through $events. */
  async giveUp(request: DeliveryRequest, reason: string): Promise<void> {
    const subscriptionId =
      request.type === 'event-notification'
        ? (await this.subscriptions.findEvent(request.subscriptionEventId))?.subscriptionId
        : request.subscriptionId;
    if (subscriptionId) {
      await this.subscriptions.update(subscriptionId, {
        status: 'error',
        error: `Gave up after the retry budget: ${reason}`,
      });
    }
  }

  private customHeaders(subscription: SubscriptionEntity): [string, string][] {
    const header = (JSON.parse(subscription.resource) as { channel?: { header?: string[] } }).channel?.header ?? [];
    return header.map((h) => {
      const colon = h.indexOf(':');
      return [h.slice(0, colon).trim(), h.slice(colon + 1).trim()];
    });
  }

  private async compose(request: DeliveryRequest): Promise<Message | Refusal | { reason: string }> {
    if (request.type === 'event-notification') {
      const event = await this.subscriptions.findEvent(request.subscriptionEventId);
      if (!event) {
        return { reason: 'the event or its subscription was deleted' };
      }
      const subscription = await this.subscriptions.findById(event.subscriptionId);
      const refused = this.refusal(subscription, ['active', 'error']);
      if (refused || !subscription) {
        return { reason: refused ?? 'deleted' };
      }
      const unsent = { subscription, webhookId: event.id, eventNumber: event.eventNumber };
      const grant =
        grantRefusal(subscription.grantedScopes) ??
        (event.taskId ? taskGrantRefusal(subscription.grantedScopes) : undefined);
      if (grant) {
        return { ...unsent, refused: grant, blocking: true };
      }
      if (!(await this.disclosure.reachesEvent(subscription, event))) {
        const refused = event.taskId
          ? `Task/${event.taskId} is not one ${subscription.ownerOds} sent`
          : `DocumentReference/${event.documentReferenceId} is neither addressed to nor held by ${subscription.ownerOds}`;
        return { ...unsent, refused, blocking: false };
      }
      const {
        events: [notified],
        disclosures,
      } = await this.subscriptionService.notifiedEvents(subscription, [event]);
      let body: string;
      let method: Message['method'] = 'POST';
      let url = subscription.endpoint;
      let contentType: string | undefined;
      if (storedChannel(subscription.resource).type === 'message') {
        ({ url, body, contentType } = this.asMessage(subscription, 'event-notification', event.id, notified));
      } else if (subscription.kind === 'classic') {
        // R4 rest-hook: with a payload "the URL is interpreted as the service base, and an update (PUT) is made";
        // without one (or when the version is gone) a POST with no body tells the subscriber to go and look.
        body =
          subscription.payloadContent === 'full-resource' && notified.resource ? JSON.stringify(notified.resource) : '';
        if (body !== '') {
          method = 'PUT';
          url = resourceUrl(subscription.endpoint, `DocumentReference/${event.documentReferenceId}`);
        }
      } else {
        body = JSON.stringify(
          notificationBundle({ ...this.statusBase(subscription), type: 'event-notification', events: [notified] }),
        );
      }
      return {
        subscription,
        method,
        url,
        webhookId: event.id,
        type: 'event-notification',
        eventNumber: event.eventNumber,
        body,
        contentType,
        subscriptionEventId: event.id,
        // a delivery-status event goes to the sender: no recipient's Task moves
        documentReferenceId: event.taskId ? undefined : event.documentReferenceId,
        // the outbox row is written in the change's transaction, so its time is the commit's to within that transaction
        committedAt: event.occurredAt,
        // a classic subscription without payload, or one whose version is gone, sends an empty body
        disclosures: body === '' ? [] : disclosures,
      };
    }
    const subscription = await this.subscriptions.findById(request.subscriptionId);
    const refused = this.refusal(
      subscription,
      request.type === 'handshake' ? ['requested', 'error'] : ['active', 'error'],
    );
    if (refused || !subscription) {
      return { reason: refused ?? 'deleted' };
    }
    if (subscription.kind === 'classic') {
      if (request.type === 'handshake') {
        // R4 defines no handshake: a classic subscription left requested (created before this rule) starts now.
        await this.subscriptions.recordSuccess(subscription.id, Date.now());
      }
      return { reason: `classic R4 subscriptions have no ${request.type}` };
    }
    if (storedChannel(subscription.resource).type === 'message') {
      const sent = this.asMessage(subscription, request.type, request.webhookId);
      return {
        subscription,
        method: 'POST',
        ...sent,
        webhookId: request.webhookId,
        type: request.type,
        eventNumber: null,
      };
    }
    const body = JSON.stringify(
      notificationBundle({ ...this.statusBase(subscription), type: request.type, events: [] }),
    );
    return {
      subscription,
      method: 'POST',
      url: subscription.endpoint,
      webhookId: request.webhookId,
      type: request.type,
      eventNumber: null,
      body,
    };
  }

  /** Why a subscription may not be sent to now (deleted, off, or its owner lost the right), if so. */
  private refusal(
    subscription: SubscriptionEntity | null,
    statuses: SubscriptionEntity['status'][],
  ): string | undefined {
    if (!subscription) {
      return 'the subscription was deleted';
    }
    if (!statuses.includes(subscription.status)) {
      return `the subscription is ${subscription.status}`;
    }
    try {
      return standingViolation(subscription.matchQuery, subscription.ownerOds, this.config.baseUrl);
    } catch (error) {
      this.logger.warn(`Subscription/${subscription.id} criteria no longer parse: ${(error as Error).message}`);
      return 'the criteria no longer parse';
    }
  }

  /** A message channel's request: the notification as a FHIR message Bundle for `{endpoint}/$process-message`. */
  private asMessage(
    subscription: SubscriptionEntity,
    type: NotificationType,
    messageId: string,
    notified?: NotifiedEvent,
  ): { url: string; body: string; contentType: string } {
    const { payload } = storedChannel(subscription.resource);
    const base = this.statusBase(subscription);
    const bundle = notificationMessage({
      fhirBase: base.fhirBase,
      endpoint: subscription.endpoint,
      receiverOds: subscription.ownerOds,
      type,
      topicUrl: base.topicUrl,
      messageId,
      // an empty payload names no document, as on rest-hook
      focus: subscription.payloadContent === 'empty' ? undefined : notified?.focus,
      resource: notified?.resource,
      status:
        subscription.kind === 'backport'
          ? subscriptionStatus({ ...base, type, events: notified ? [notified] : [] })
          : undefined,
    });
    return {
      url: processMessageUrl(subscription.endpoint),
      body: serialiseMessage(bundle, payload),
      contentType: payload === FHIR_XML ? FHIR_XML : FHIR_JSON,
    };
  }

  private statusBase(subscription: SubscriptionEntity) {
    const fhirBase = `${this.config.baseUrl}/fhir`;
    return {
      subscriptionUrl: `${fhirBase}/Subscription/${subscription.id}`,
      topicUrl: subscriptionTopicUrl(subscription.matchQuery, this.config.baseUrl),
      // Status as the subscriber will see it once this notification lands.
      status: subscription.status === 'requested' ? ('requested' as const) : ('active' as const),
      eventsSinceSubscriptionStart: subscription.eventCount,
      payloadContent: subscription.payloadContent,
      fhirBase,
    };
  }
}

/** `{base}/{path}`, the endpoint read as a FHIR service base (its query, if any, kept). */
export function resourceUrl(base: string, path: string): string {
  const url = new URL(base);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/${path}`;
  return url.toString();
}

/** Whether the endpoint is healthy by this answer: it answered in time, with neither a 5xx nor 429/408 (busy). */
function answeredInTime(result: PostResult): boolean {
  const status = result.statusCode;
  return status !== null && status < 500 && status !== 429 && status !== 408;
}
