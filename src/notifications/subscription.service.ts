import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { FhirError, businessRule, forbidden, notFound } from '../common/fhir-error.js';
import type { Actor } from '../audit/actor.js';
import type { Principal } from '../auth/principal.js';
import { allows } from '../auth/smart-scopes.js';
import { DeliveryTaskService } from '../registry/delivery-task.service.js';
import type { DocumentEventKind } from '../registry/document-events.js';
import { parseCriteria } from '../registry/document-reference-search.js';
import {
  deliveryStatusViolation,
  isDeliveryStatusCriteria,
  parseDeliveryStatusCriteria,
  TASK_DISCLOSURE_SCOPE,
} from './delivery-status.js';
import { checkEndpointUrl, resolveSafeAddresses, UnsafeEndpointError } from './endpoint-safety.js';
import { notificationBundle, subscriptionStatus, type NotifiedEvent } from './notification-bundle.js';
import { NotificationOutbox } from './notification-outbox.service.js';
import { type Disclosure, SubscriptionDisclosure } from './subscription-disclosure.service.js';
import { reachViolation, recipientViolation } from './subscription-policy.js';
import {
  parseSubscription,
  renderSubscription,
  storedChannel,
  storedResource,
  subscriptionTopicUrl,
  WEBHOOK_SECRET_URL,
  type SubscriptionJson,
  type SubscriptionSpec,
} from './subscription-resource.js';
import type { SubscriptionEntity } from './subscription.entity.js';
import { SubscriptionRepository } from './subscription.repository.js';
import { WebhookClient } from './webhook-client.service.js';
import { generateWebhookSecret, isValidWebhookSecret } from './webhook-signature.js';

const MAX_EVENTS_PER_QUERY = 100;

/** The scopes a subscription keeps from the token that set it up, to re-check before each delivery. */
const grantOf = (principal: Principal | undefined): string =>
  (principal?.scopes ?? []).map((scope) => scope.raw).join(' ');

export interface SubscriptionSearch {
  status?: string;
  url?: string;
  criteria?: string;
}

/** The rules of Subscriptions: ownership, validation of criteria and endpoints, secrets, status and event queries. */
@Injectable()
export class SubscriptionService {
  constructor(
    private readonly subscriptions: SubscriptionRepository,
    private readonly outbox: NotificationOutbox,
    private readonly webhooks: WebhookClient,
    private readonly disclosure: SubscriptionDisclosure,
    private readonly config: AppConfig,
    private readonly tasks: DeliveryTaskService,
  ) {}

  private get fhirBase(): string {
    return `${this.config.baseUrl}/fhir`;
  }

  private ownerOf(principal: Principal | undefined): string {
    if (!principal?.organization) {
      throw forbidden('Subscriptions belong to an organisation: the access token needs an organization claim');
    }
    return principal.organization;
  }

  /** Loads a subscription the caller's organisation owns; another organisation's is refused with 403. */
  async owned(id: string, principal: Principal | undefined): Promise<SubscriptionEntity> {
    const owner = this.ownerOf(principal);
    const row = await this.subscriptions.findById(id);
    if (!row) {
      throw notFound(`Subscription/${id} is not known to this server`);
    }
    if (row.ownerOds !== owner) {
      throw forbidden(
        `Subscription/${id} belongs to another organisation; only the organisation that created a Subscription ` +
          'may read, change, delete it or call $status/$events',
      );
    }
    return row;
  }

  render(row: SubscriptionEntity): Record<string, unknown> {
    return renderSubscription(JSON.parse(row.resource) as Record<string, unknown>, row);
  }

  private async validate(
    json: SubscriptionJson,
    owner: string,
    principal: Principal | undefined,
  ): Promise<SubscriptionSpec> {
    const spec = parseSubscription(json, this.config.baseUrl);
    if (isDeliveryStatusCriteria(spec.criteria)) {
      const violation = deliveryStatusViolation(parseDeliveryStatusCriteria(spec.criteria), owner);
      if (violation) {
        throw forbidden(violation);
      }
      const scopes = principal?.scopes ?? [];
      if (!allows(scopes, 'Task', 'r') || !allows(scopes, 'Task', 's')) {
        throw new FhirError(
          403,
          'forbidden',
          `delivery-status notifications carry Tasks, so subscribing requires scope ${TASK_DISCLOSURE_SCOPE}, ` +
            'which the access token does not grant',
          { headers: { 'www-authenticate': `Bearer error="insufficient_scope", scope="${TASK_DISCLOSURE_SCOPE}"` } },
        );
      }
    } else {
      const plan = parseCriteria(spec.criteria, { baseUrl: this.config.baseUrl });
      const violation =
        recipientViolation(plan, owner) ??
        reachViolation(plan, owner, this.config.notifications.patientWideOrgs.includes(owner));
      if (violation) {
        throw forbidden(violation);
      }
    }
    if (spec.secret !== undefined && !isValidWebhookSecret(spec.secret)) {
      throw businessRule(
        `${WEBHOOK_SECRET_URL} must be whsec_ followed by base64 of 24 to 64 random bytes`,
        'Subscription.extension',
      );
    }
    try {
      const url = checkEndpointUrl(spec.endpoint, this.webhooks.allowlist);
      await resolveSafeAddresses(url.hostname, this.webhooks.allowlist);
    } catch (error) {
      if (error instanceof UnsafeEndpointError) {
        throw businessRule(error.message, 'Subscription.channel.endpoint');
      }
      throw businessRule(
        `channel.endpoint host could not be resolved: ${(error as Error).message}`,
        'Subscription.channel.endpoint',
      );
    }
    return spec;
  }

  /**
   * Creates a subscription, returned with its secret. A topic-based one starts `requested` until the worker's
   * handshake lands; a classic R4 one is `active` at once, since R4 defines no handshake.
   */
  async create(
    json: SubscriptionJson,
    principal: Principal | undefined,
  ): Promise<{ row: SubscriptionEntity; resource: Record<string, unknown> }> {
    const owner = this.ownerOf(principal);
    const spec = await this.validate(json, owner, principal);
    const now = Date.now();
    const secret = spec.secret ?? generateWebhookSecret();
    const row: SubscriptionEntity = {
      id: randomUUID(),
      versionId: 1,
      ownerOds: owner,
      status: startingStatus(spec.kind, spec.requestedStatus),
      kind: spec.kind,
      matchQuery: spec.criteria,
      endpoint: spec.endpoint,
      payloadContent: spec.payloadContent,
      secret,
      heartbeatPeriodSeconds: spec.heartbeatPeriodSeconds,
      eventCount: 0,
      consecutiveFailures: 0,
      error: null,
      lastSentMs: null,
      createdAt: now,
      updatedAt: now,
      grantedScopes: grantOf(principal),
      resource: JSON.stringify(storedResource(json)),
    };
    await this.subscriptions.insert(row);
    this.outbox.poke();
    const resource = this.render(row);
    // The only time the secret is shown: the subscriber needs it to verify signatures.
    const extension = [...((resource.extension as unknown[]) ?? []), { url: WEBHOOK_SECRET_URL, valueString: secret }];
    return { row, resource: { ...resource, extension } };
  }

  /** PUT: change endpoint, headers, criteria or status (off / requested), or rotate the secret. */
  async update(id: string, json: SubscriptionJson, principal: Principal | undefined): Promise<SubscriptionEntity> {
    const current = await this.owned(id, principal);
    if (json.id !== undefined && json.id !== id) {
      throw new FhirError(400, 'invalid', `The body's id (${JSON.stringify(json.id)}) must match the URL (${id})`, {
        expression: 'Subscription.id',
      });
    }
    const spec = await this.validate(json, current.ownerOds, principal);
    // a new endpoint or channel type has not been heard from: topic-based subscriptions shake hands again
    const rehandshake =
      spec.endpoint !== current.endpoint ||
      spec.channelType !== storedChannel(current.resource).type ||
      current.status === 'off';
    const status =
      spec.requestedStatus === 'off'
        ? 'off'
        : rehandshake || (spec.kind === 'classic' && current.status === 'requested')
          ? startingStatus(spec.kind, 'requested')
          : current.status;
    const restarted = rehandshake && status !== 'off';
    const changes: Partial<SubscriptionEntity> = {
      versionId: current.versionId + 1,
      status,
      kind: spec.kind,
      matchQuery: spec.criteria,
      endpoint: spec.endpoint,
      payloadContent: spec.payloadContent,
      heartbeatPeriodSeconds: spec.heartbeatPeriodSeconds,
      secret: spec.secret ?? current.secret,
      error: restarted ? null : current.error,
      consecutiveFailures: restarted ? 0 : current.consecutiveFailures,
      updatedAt: Date.now(),
      grantedScopes: grantOf(principal),
      resource: JSON.stringify(storedResource(json)),
    };
    await this.subscriptions.update(id, changes);
    this.outbox.poke();
    return { ...current, ...changes };
  }

  async delete(id: string, principal: Principal | undefined): Promise<void> {
    await this.owned(id, principal);
    await this.subscriptions.delete(id);
  }

  async search(query: SubscriptionSearch, principal: Principal | undefined): Promise<SubscriptionEntity[]> {
    const rows = await this.subscriptions.findByOwner(this.ownerOf(principal));
    return rows.filter((row) => {
      const resource = JSON.parse(row.resource) as { criteria?: string };
      return (
        (!query.status || query.status.split(',').includes(row.status)) &&
        (!query.url || row.endpoint === query.url) &&
        (!query.criteria || resource.criteria === query.criteria)
      );
    });
  }

  /**
   * $status as the Backport IG defines it: a searchset Bundle whose entry is the SubscriptionStatus (R4: a
   * backport-subscription-status-r4 Parameters, query-status); its `delivery-attempt` parameters list the latest
   * attempts.
   */
  async status(id: string, principal: Principal | undefined): Promise<Record<string, unknown>> {
    const row = await this.owned(id, principal);
    const attempts = await this.subscriptions.recentAttempts(id, 50);
    const subscriptionUrl = `${this.fhirBase}/Subscription/${id}`;
    const status = subscriptionStatus({
      subscriptionUrl,
      topicUrl: row.kind === 'backport' ? subscriptionTopicUrl(row.matchQuery, this.config.baseUrl) : undefined,
      status: row.status,
      type: 'query-status',
      eventsSinceSubscriptionStart: row.eventCount,
      events: [],
      payloadContent: row.payloadContent,
      fhirBase: this.fhirBase,
      error: row.error,
      extraParameters: attempts.map((a) => ({
        name: 'delivery-attempt',
        part: [
          { name: 'webhook-id', valueString: a.webhookId },
          { name: 'type', valueCode: a.type },
          ...(a.eventNumber !== null ? [{ name: 'event-number', valueString: String(a.eventNumber) }] : []),
          { name: 'timestamp', valueInstant: new Date(a.attemptedAt).toISOString() },
          ...(a.statusCode !== null ? [{ name: 'status-code', valueInteger: a.statusCode }] : []),
          { name: 'latency-ms', valueInteger: a.latencyMs },
          ...(a.error ? [{ name: 'error', valueString: a.error }] : []),
        ],
      })),
    });
    return {
      resourceType: 'Bundle',
      type: 'searchset',
      total: 1,
      link: [{ relation: 'self', url: `${subscriptionUrl}/$status` }],
      entry: [{ fullUrl: `urn:uuid:${String(status.id)}`, resource: status, search: { mode: 'match' } }],
    };
  }

  /**
   * $events: the notifications of past events, rebuilt from the stored events (type query-event). Events outside the
   * organisation's reach are left out, and what the answer reveals is audited before it is returned.
   */
  async events(
    id: string,
    range: { since?: string; until?: string },
    principal: Principal | undefined,
    actor: Actor,
  ): Promise<Record<string, unknown>> {
    const row = await this.owned(id, principal);
    const number = (raw: string | undefined, fallback: number, name: string) => {
      if (raw === undefined || raw === '') {
        return fallback;
      }
      if (!/^\d+$/.test(raw)) {
        throw new FhirError(400, 'invalid', `${name} must be a whole number`, { expression: name });
      }
      return Number(raw);
    };
    const until = number(range.until, row.eventCount, 'eventsUntilNumber');
    const since = number(range.since, Math.max(1, until - MAX_EVENTS_PER_QUERY + 1), 'eventsSinceNumber');
    const stored = await this.subscriptions.findEvents(id, since, until, MAX_EVENTS_PER_QUERY);
    const reachable: typeof stored = [];
    for (const event of stored) {
      if (await this.disclosure.reachesEvent(row, event)) {
        reachable.push(event);
      }
    }
    const { events, disclosures } = await this.notifiedEvents(row, reachable);
    await this.disclosure.record(row, disclosures, 'notify-events', actor);
    return notificationBundle({
      subscriptionUrl: `${this.fhirBase}/Subscription/${id}`,
      topicUrl: row.kind === 'backport' ? subscriptionTopicUrl(row.matchQuery, this.config.baseUrl) : undefined,
      status: row.status,
      type: 'query-event',
      eventsSinceSubscriptionStart: row.eventCount,
      events,
      payloadContent: row.payloadContent,
      fhirBase: this.fhirBase,
    });
  }

  /**
   * Stored events as notification content (with the DocumentReference version, or the delivery Task version, when
   * the payload is full), and the versions they reveal: every payload but `empty` names the documents or Tasks.
   */
  async notifiedEvents(
    row: SubscriptionEntity,
    events: {
      eventNumber: number;
      occurredAt: number;
      kind: DocumentEventKind;
      documentReferenceId: string;
      versionId: string;
      taskId?: string | null;
    }[],
  ): Promise<{ events: NotifiedEvent[]; disclosures: Disclosure[] }> {
    const versions = await Promise.all(
      events.map(async (e) => {
        if (row.payloadContent === 'empty') {
          return undefined;
        }
        return e.taskId
          ? (await this.tasks.resourceAt(e.taskId, Number(e.versionId)))?.resource
          : this.subscriptions.documentReferenceVersion(e.documentReferenceId, e.versionId);
      }),
    );
    const notified = events.map((e, i) => ({
      eventNumber: e.eventNumber,
      occurredAt: e.occurredAt,
      kind: e.kind,
      focus: e.taskId ? `Task/${e.taskId}` : `DocumentReference/${e.documentReferenceId}`,
      resource: row.payloadContent === 'full-resource' ? versions[i] : undefined,
    }));
    const disclosures = events.flatMap((e, i) => {
      const resource = versions[i];
      return resource
        ? [
            {
              documentReferenceId: e.documentReferenceId,
              resource,
              ...(e.taskId ? { reference: `Task/${e.taskId}` } : {}),
            },
          ]
        : [];
    });
    return { events: notified, disclosures };
  }
}

/** Where a (re)started subscription begins: topic-based ones wait for their handshake, classic R4 ones have none. */
function startingStatus(
  kind: SubscriptionEntity['kind'],
  requested: 'requested' | 'off',
): SubscriptionEntity['status'] {
  return requested === 'requested' && kind === 'classic' ? 'active' : requested;
}
