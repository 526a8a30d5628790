import { createHash, randomUUID } from 'node:crypto';
import { writeFhirXml } from '../format/fhir-xml-writer.js';
import { ODS_ORGANIZATION_SYSTEM } from '../registry/nhs-number.js';
import { FHIR_XML } from './subscription-resource.js';

/** The operation a message channel delivers to: `[base]/$process-message` (R4 MessageHeader-process-message). */
export const PROCESS_MESSAGE = '$process-message';
/** R5's notification type codes (the Backport's SubscriptionStatus `type`), the event of a handshake or heartbeat. */
export const NOTIFICATION_TYPE_SYSTEM = 'http://hl7.org/fhir/subscription-notification-type';

export interface MessageInput {
  /** This server's FHIR base (`{BASE_URL}/fhir`): the message's source, and the base of the focus reference. */
  fhirBase: string;
  /** The subscriber's `channel.endpoint`, the message's destination. */
  endpoint: string;
  /** ODS code of the subscribing organisation, the destination's receiver. */
  receiverOds: string;
  /** A document event, or (topic-based subscriptions) a handshake or heartbeat. */
  type: 'event-notification' | 'handshake' | 'heartbeat';
  /** The definition of the document event: the SubscriptionTopic's canonical URL. */
  topicUrl: string;
  /** Stable across retries of one notification (the `webhook-id`), so a receiver can recognise a resent message. */
  messageId: string;
  /**
   * What the event is about, relative to fhirBase: `DocumentReference/{id}`, or `Task/{id}` for a delivery-status
   * event; absent for an `empty` payload, which names nothing.
   */
  focus?: string;
  /** The focus as it was at the event, for a `full-resource` payload. */
  resource?: Record<string, unknown>;
  /** The Backport SubscriptionStatus Parameters of a topic-based subscription. */
  status?: Record<string, unknown>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** `value` if it is a UUID, else a name-based UUID (version 5 layout, SHA-256) derived from it: same in, same out. */
export function messageIdFor(value: string): string {
  if (UUID.test(value)) {
    return value;
  }
  const hex = createHash('sha256').update(value).digest('hex');
  const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * A FHIR message Bundle announcing a notification: the MessageHeader first (R4 messaging: bdl rule for `message`),
 * whose focus is what the event is about (the DocumentReference, or a delivery-status event's Task, by its full URL)
 * and, for a topic-based subscription, the SubscriptionStatus; then that resource when the payload is full, then the
 * SubscriptionStatus. An event's event is `eventUri` = the SubscriptionTopic that defines it; a handshake or
 * heartbeat is `eventCoding` from R5's subscription-notification-type.
 */
export function notificationMessage(input: MessageInput): Record<string, unknown> {
  const documentUrl = input.focus ? `${input.fhirBase}/${input.focus}` : undefined;
  const statusUrl = input.status ? `urn:uuid:${String(input.status.id)}` : undefined;
  const focus = [documentUrl, statusUrl].filter((url): url is string => url !== undefined);
  const headerId = messageIdFor(input.messageId);
  const header = {
    resourceType: 'MessageHeader',
    id: headerId,
    ...(input.type === 'event-notification'
      ? { eventUri: input.topicUrl }
      : { eventCoding: { system: NOTIFICATION_TYPE_SYSTEM, code: input.type } }),
    destination: [
      {
        endpoint: input.endpoint,
        receiver: { identifier: { system: ODS_ORGANIZATION_SYSTEM, value: input.receiverOds } },
      },
    ],
    source: { software: 'fhir-document-registry', endpoint: input.fhirBase },
    ...(focus.length > 0 ? { focus: focus.map((reference) => ({ reference })) } : {}),
  };
  const entry: Record<string, unknown>[] = [{ fullUrl: `urn:uuid:${headerId}`, resource: header }];
  if (documentUrl && input.resource) {
    entry.push({ fullUrl: documentUrl, resource: input.resource });
  }
  if (statusUrl) {
    entry.push({ fullUrl: statusUrl, resource: input.status });
  }
  return {
    resourceType: 'Bundle',
    id: randomUUID(),
    type: 'message',
    timestamp: new Date().toISOString(),
    entry,
  };
}

/** `{base}/$process-message`: the endpoint read as the subscriber's FHIR base, unless it names the operation itself. */
export function processMessageUrl(endpoint: string): string {
  const url = new URL(endpoint);
  const path = url.pathname.replace(/\/+$/, '');
  if (!path.endsWith(`/${PROCESS_MESSAGE}`)) {
    url.pathname = `${path}/${PROCESS_MESSAGE}`;
  }
  return url.toString();
}

/** The message as sent: FHIR XML when the subscription asked for it, else FHIR JSON. */
export function serialiseMessage(bundle: Record<string, unknown>, payload: string | undefined): string {
  return payload === FHIR_XML ? writeFhirXml(bundle as { resourceType: string }) : JSON.stringify(bundle);
}
