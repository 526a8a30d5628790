import type { DocumentEventKind } from '../registry/document-events.js';
import { randomUUID } from 'node:crypto';
import { BACKPORT } from './subscription-resource.js';
import type { PayloadContent, SubscriptionStatus } from './subscription.entity.js';

export type StatusType = 'handshake' | 'heartbeat' | 'event-notification' | 'query-status' | 'query-event';

export interface NotifiedEvent {
  eventNumber: number;
  occurredAt: number;
  kind: DocumentEventKind;
  documentReferenceId: string;
  /** The DocumentReference as it was at this event, for full-resource payloads. */
  resource?: Record<string, unknown>;
}

export interface StatusInput {
  subscriptionUrl: string;
  /** The SubscriptionTopic of a topic-based subscription; none for a classic R4 (criteria) one. */
  topicUrl?: string;
  status: SubscriptionStatus;
  type: StatusType;
  eventsSinceSubscriptionStart: number;
  events: NotifiedEvent[];
  payloadContent: PayloadContent;
  /** fhirUrl of this server, for focus references. */
  fhirBase: string;
  error?: string | null;
  extraParameters?: Record<string, unknown>[];
}

/** The backport-subscription-status-r4 Parameters (Subscriptions Backport IG, R4 SubscriptionStatus). */
export function subscriptionStatus(input: StatusInput): Record<string, unknown> {
  const parameter: Record<string, unknown>[] = [
    { name: 'subscription', valueReference: { reference: input.subscriptionUrl } },
    // a classic subscription has criteria, not a topic: a search string is no canonical URL
    ...(input.topicUrl ? [{ name: 'topic', valueCanonical: input.topicUrl }] : []),
    { name: 'status', valueCode: input.status },
    { name: 'type', valueCode: input.type },
    { name: 'events-since-subscription-start', valueString: String(input.eventsSinceSubscriptionStart) },
  ];
  for (const event of input.events) {
    const part: Record<string, unknown>[] = [
      { name: 'event-number', valueString: String(event.eventNumber) },
      { name: 'timestamp', valueInstant: new Date(event.occurredAt).toISOString() },
    ];
    if (input.payloadContent !== 'empty') {
      part.push({
        name: 'focus',
        valueReference: { reference: `${input.fhirBase}/DocumentReference/${event.documentReferenceId}` },
      });
    }
    parameter.push({ name: 'notification-event', part });
  }
  if (input.error) {
    parameter.push({
      name: 'error',
      valueCodeableConcept: {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/subscription-error', code: 'no-response' }],
        text: input.error,
      },
    });
  }
  parameter.push(...(input.extraParameters ?? []));
  return {
    resourceType: 'Parameters',
    id: randomUUID(),
    meta: { profile: [`${BACKPORT}/backport-subscription-status-r4`] },
    parameter,
  };
}

/** A backport-subscription-notification-r4 history Bundle: the status first, then the focus resources if full. */
export function notificationBundle(input: StatusInput): Record<string, unknown> {
  const status = subscriptionStatus(input);
  const entry: Record<string, unknown>[] = [
    {
      fullUrl: `urn:uuid:${status.id as string}`,
      resource: status,
      request: { method: 'GET', url: `${input.subscriptionUrl}/$status` },
      response: { status: '200' },
    },
  ];
  if (input.payloadContent === 'full-resource') {
    for (const event of input.events.filter((e) => e.resource)) {
      const created = event.kind === 'created';
      entry.push({
        fullUrl: `${input.fhirBase}/DocumentReference/${event.documentReferenceId}`,
        resource: event.resource,
        request: created
          ? { method: 'POST', url: 'DocumentReference' }
          : { method: 'PUT', url: `DocumentReference/${event.documentReferenceId}` },
        response: { status: created ? '201' : '200' },
      });
    }
  }
  return {
    resourceType: 'Bundle',
    id: randomUUID(),
    meta: { profile: [`${BACKPORT}/backport-subscription-notification-r4`] },
    type: 'history',
    timestamp: new Date().toISOString(),
    entry,
  };
}
