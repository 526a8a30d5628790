import { FhirError, businessRule, invalid } from '../common/fhir-error.js';
import { deliveryStatusTopicUrl, isDeliveryStatusCriteria } from './delivery-status.js';
import type { PayloadContent, SubscriptionKind, SubscriptionStatus } from './subscription.entity.js';

export const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
export const FILTER_CRITERIA_URL = `${BACKPORT}/backport-filter-criteria`;
export const PAYLOAD_CONTENT_URL = `${BACKPORT}/backport-payload-content`;
export const HEARTBEAT_PERIOD_URL = `${BACKPORT}/backport-heartbeat-period`;
export const TIMEOUT_URL = `${BACKPORT}/backport-timeout`;
export const MAX_COUNT_URL = `${BACKPORT}/backport-max-count`;
/** Our extension carrying the Standard Webhooks secret on create and PUT; never returned by reads. */
export const WEBHOOK_SECRET_URL = 'urn:fhir-document-registry:webhook-secret';
export const TOPIC_ID = 'document-available';
export const FHIR_JSON = 'application/fhir+json';
export const FHIR_XML = 'application/fhir+xml';

/** The canonical URL of the document-available SubscriptionTopic. */
export const topicUrl = (baseUrl: string): string => `${baseUrl}/fhir/SubscriptionTopic/${TOPIC_ID}`;

/** The topic a topic-based subscription's stored criteria belong to: document-available or delivery-status. */
export const subscriptionTopicUrl = (matchQuery: string, baseUrl: string): string =>
  isDeliveryStatusCriteria(matchQuery) ? deliveryStatusTopicUrl(baseUrl) : topicUrl(baseUrl);

interface Extension {
  url?: string;
  valueString?: string;
  valueCode?: string;
  valueUnsignedInt?: number;
  valuePositiveInt?: number;
}

/** The Subscription JSON as a client sends it (R4 core plus backport extensions). */
export interface SubscriptionJson {
  resourceType?: unknown;
  id?: unknown;
  status?: unknown;
  criteria?: unknown;
  _criteria?: { extension?: Extension[] };
  extension?: Extension[];
  channel?: {
    type?: unknown;
    endpoint?: unknown;
    payload?: unknown;
    _payload?: { extension?: Extension[] };
    header?: unknown;
    extension?: Extension[];
  };
  [key: string]: unknown;
}

/** How notifications travel: a webhook (rest-hook), or a FHIR message to the endpoint's `$process-message`. */
export type ChannelType = 'rest-hook' | 'message';

/** What a Subscription asks for, validated. */
export interface SubscriptionSpec {
  kind: SubscriptionKind;
  channelType: ChannelType;
  requestedStatus: 'requested' | 'off';
  /** The DocumentReference criteria to match (`DocumentReference?...`), or delivery-status filters (`Task?...`). */
  criteria: string;
  endpoint: string;
  payloadContent: PayloadContent;
  headers: [string, string][];
  heartbeatPeriodSeconds: number | null;
  secret?: string;
}

const extensionsOf = (list: Extension[] | undefined, url: string): Extension[] =>
  Array.isArray(list) ? list.filter((e) => e?.url === url) : [];

// Headers we set ourselves, or that would let a subscriber smuggle a second request.
const RESERVED_HEADERS = new Set([
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'upgrade',
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
]);

/** Parses `channel.header` entries ("Name: value"), refusing malformed and reserved ones. */
export function parseHeaders(raw: unknown): [string, string][] {
  if (raw === undefined) {
    return [];
  }
  if (!Array.isArray(raw)) {
    throw invalid(
      'Subscription.channel.header must be an array of "Name: value" strings',
      'Subscription.channel.header',
    );
  }
  return raw.map((entry, i) => {
    const match = typeof entry === 'string' ? /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\r\n]*)$/.exec(entry) : null;
    if (!match) {
      throw invalid(
        `Subscription.channel.header[${i}] must be "Name: value" on one line`,
        `Subscription.channel.header[${i}]`,
      );
    }
    if (RESERVED_HEADERS.has(match[1].toLowerCase())) {
      throw businessRule(
        `Subscription.channel.header may not set ${match[1]}; the server sets it`,
        `Subscription.channel.header[${i}]`,
      );
    }
    return [match[1], match[2].trim()];
  });
}

/**
 * Joins backport filter criteria (each `DocumentReference?a=b`, or `Task?a=b` for delivery-status) into one
 * criteria string of that resource type.
 */
export function filtersToCriteria(
  filters: string[],
  resourceType: 'DocumentReference' | 'Task' = 'DocumentReference',
): string {
  const pattern = new RegExp(`^(?:${resourceType})?\\?(.*)$`, 's');
  const parts = filters.map((filter, i) => {
    const match = pattern.exec(filter.trim());
    if (!match) {
      throw new FhirError(422, 'value', `backport-filter-criteria[${i}] must be ${resourceType}?<search parameters>`, {
        expression: 'Subscription.criteria.extension',
      });
    }
    return match[1];
  });
  return `${resourceType}?${parts.filter(Boolean).join('&')}`;
}

/** Validates a Subscription (R4 core or Subscriptions Backport IG; rest-hook or message) into what the server needs. */
export function parseSubscription(json: SubscriptionJson, baseUrl: string): SubscriptionSpec {
  if (json?.resourceType !== 'Subscription') {
    throw invalid('The body must be a Subscription resource');
  }
  const status = json.status ?? 'requested';
  if (status !== 'requested' && status !== 'active' && status !== 'off') {
    throw businessRule(
      `Subscription.status may be requested or off (got ${JSON.stringify(status)}); the server sets the rest`,
      'Subscription.status',
    );
  }
  if (typeof json.criteria !== 'string' || json.criteria.trim() === '') {
    throw invalid('Subscription.criteria is required', 'Subscription.criteria');
  }
  const channel = json.channel;
  if (channel?.type !== 'rest-hook' && channel?.type !== 'message') {
    throw new FhirError(
      422,
      'not-supported',
      `Only rest-hook and message channels are supported (got ${String(channel?.type)})`,
      { expression: 'Subscription.channel.type' },
    );
  }
  if (typeof channel.endpoint !== 'string' || channel.endpoint === '') {
    throw invalid(`Subscription.channel.endpoint is required for ${channel.type}`, 'Subscription.channel.endpoint');
  }
  // a message may be sent as XML (the Bundle is built here); a rest-hook PUT carries the DocumentReference as stored
  const mimeTypes = channel.type === 'message' ? [FHIR_JSON, FHIR_XML] : [FHIR_JSON];
  if (channel.payload !== undefined && !mimeTypes.includes(channel.payload as string)) {
    throw new FhirError(
      422,
      'not-supported',
      `Subscription.channel.payload may only be ${mimeTypes.join(' or ')} or absent for ${channel.type}`,
      { expression: 'Subscription.channel.payload' },
    );
  }
  const deliveryStatus = json.criteria === deliveryStatusTopicUrl(baseUrl);
  const backport = json.criteria === topicUrl(baseUrl) || deliveryStatus;
  let criteria: string;
  let payloadContent: PayloadContent;
  if (backport) {
    const filters = extensionsOf(json._criteria?.extension, FILTER_CRITERIA_URL).map((e) => e.valueString ?? '');
    criteria = filtersToCriteria(filters, deliveryStatus ? 'Task' : 'DocumentReference');
    const content = extensionsOf(channel._payload?.extension, PAYLOAD_CONTENT_URL)[0]?.valueCode ?? 'id-only';
    if (content !== 'empty' && content !== 'id-only' && content !== 'full-resource') {
      throw businessRule(
        `backport-payload-content must be empty, id-only or full-resource (got ${content})`,
        'Subscription.channel.payload',
      );
    }
    payloadContent = content;
  } else if (/^DocumentReference\?/.test(json.criteria)) {
    criteria = json.criteria;
    payloadContent = channel.payload === undefined ? 'empty' : 'full-resource';
  } else {
    throw new FhirError(
      422,
      'not-supported',
      `Subscription.criteria must be a DocumentReference search or one of the topics ${topicUrl(baseUrl)}, ` +
        deliveryStatusTopicUrl(baseUrl),
      { expression: 'Subscription.criteria' },
    );
  }
  // a delivery-status subscription without filters hears of every Task it sent
  if (!deliveryStatus && !/^DocumentReference\?.*[^=&]=[^&]/.test(criteria)) {
    throw businessRule('Subscription criteria must name at least one search parameter', 'Subscription.criteria');
  }
  const heartbeat = extensionsOf(channel.extension, HEARTBEAT_PERIOD_URL)[0]?.valueUnsignedInt;
  if (heartbeat !== undefined && (!Number.isInteger(heartbeat) || heartbeat < 1)) {
    throw invalid(
      'backport-heartbeat-period must be a positive whole number of seconds',
      'Subscription.channel.extension',
    );
  }
  const secret = extensionsOf(json.extension, WEBHOOK_SECRET_URL)[0]?.valueString;
  return {
    kind: backport ? 'backport' : 'classic',
    channelType: channel.type,
    requestedStatus: status === 'off' ? 'off' : 'requested',
    criteria,
    endpoint: channel.endpoint,
    payloadContent,
    headers: parseHeaders(channel.header),
    heartbeatPeriodSeconds: heartbeat ?? null,
    secret,
  };
}

/** The channel of a stored Subscription (its JSON as kept in the row): type, and the payload MIME type if any. */
export function storedChannel(resource: string): { type: ChannelType; payload?: string } {
  const channel = (JSON.parse(resource) as SubscriptionJson).channel;
  return {
    type: channel?.type === 'message' ? 'message' : 'rest-hook',
    ...(typeof channel?.payload === 'string' ? { payload: channel.payload } : {}),
  };
}

/**
 * The stored copy of what the client sent: without the secret, id and the server's meta fields (versionId,
 * lastUpdated); the client's `meta.profile` (e.g. the Backport IG's backport-subscription) is kept.
 */
export function storedResource(json: SubscriptionJson): Record<string, unknown> {
  const { id: _id, meta, status: _status, error: _error, extension, ...rest } = json;
  const kept = (extension ?? []).filter((e) => e?.url !== WEBHOOK_SECRET_URL);
  const profile = (meta as { profile?: unknown } | undefined)?.profile;
  const profiles = Array.isArray(profile) ? profile.filter((p): p is string => typeof p === 'string') : [];
  return {
    ...(profiles.length > 0 ? { meta: { profile: profiles } } : {}),
    ...rest,
    ...(kept.length > 0 ? { extension: kept } : {}),
  };
}

/** The Subscription as reads return it: the stored JSON with the server's id, version, status and error. */
export function renderSubscription(
  stored: Record<string, unknown>,
  row: { id: string; versionId: number; updatedAt: number; status: SubscriptionStatus; error: string | null },
): Record<string, unknown> {
  const { resourceType, meta, ...rest } = stored;
  return {
    resourceType,
    id: row.id,
    meta: {
      ...(meta as Record<string, unknown> | undefined),
      versionId: String(row.versionId),
      lastUpdated: new Date(row.updatedAt).toISOString(),
    },
    ...rest,
    status: row.status,
    ...(row.error ? { error: row.error } : {}),
  };
}

/** The SubscriptionTopic this server offers: a DocumentReference was created, superseded or withdrawn. */
export function documentAvailableTopic(baseUrl: string): Record<string, unknown> {
  return {
    resourceType: 'SubscriptionTopic',
    id: TOPIC_ID,
    url: topicUrl(baseUrl),
    title: 'Document available',
    status: 'active',
    description:
      'A DocumentReference was created, superseded or withdrawn in this registry. Filter with any DocumentReference ' +
      'search parameter this server supports (e.g. patient.identifier, type, recipient).',
    resourceTrigger: [
      {
        description: 'A DocumentReference is created or its status changes',
        resource: 'DocumentReference',
        supportedInteraction: ['create', 'update'],
      },
    ],
    canFilterBy: ['patient.identifier', 'type', 'category', 'custodian.identifier', 'recipient', 'status'].map(
      (filterParameter) => ({ resource: 'DocumentReference', filterParameter }),
    ),
    notificationShape: [{ resource: 'DocumentReference' }],
  };
}
