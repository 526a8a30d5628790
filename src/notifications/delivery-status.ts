import { allows, parseScopes } from '../auth/smart-scopes.js';
import { FhirError } from '../common/fhir-error.js';
import { BUSINESS_STATUS_SYSTEM, REPORTED_STEPS } from '../registry/delivery-task.js';
import { ODS_ORGANIZATION_SYSTEM } from '../registry/nhs-number.js';

/**
 * The delivery-status SubscriptionTopic: a sender hears when a recipient accepted or rejected its document, or when
 * nobody retrieved it in time (overdue). Its subscriptions keep `Task?<filters>` as their criteria; only the sender
 * (the Task's requester, the document's custodian) ever receives a Task's events.
 */
export const DELIVERY_STATUS_TOPIC_ID = 'delivery-status';

export const deliveryStatusTopicUrl = (baseUrl: string): string =>
  `${baseUrl}/fhir/SubscriptionTopic/${DELIVERY_STATUS_TOPIC_ID}`;

/** What a delivery-status subscriber needs: reading and searching its Tasks. */
export const TASK_DISCLOSURE_SCOPE = 'system/Task.rs';

/** Whether stored criteria are a delivery-status subscription's (`Task?...`) rather than a DocumentReference search. */
export const isDeliveryStatusCriteria = (criteria: string): boolean => criteria.startsWith('Task?');

/** The filters of a delivery-status subscription; each list is OR-ed inside, the lists AND-ed. */
export interface DeliveryStatusFilter {
  businessStatuses?: string[];
  owners?: string[];
  requesters?: string[];
  focus?: string[];
}

/** The filter parameters of the topic, with what each matches (also its SubscriptionTopic.canFilterBy). */
export const DELIVERY_STATUS_FILTERS: Readonly<Record<string, string>> = {
  'business-status': `what happened: ${REPORTED_STEPS.join(', ')}`,
  recipient: 'the recipient organisation (Task.owner): an ODS code, with or without its system',
  owner: 'the same as recipient (the Task search name)',
  requester: "the sender (Task.requester): only the subscriber's own ODS code",
  focus: 'the DocumentReference: DocumentReference/{id}',
};

const refuse = (message: string) =>
  new FhirError(422, 'value', message, { expression: 'Subscription.criteria.extension' });

function odsCode(name: string, value: string): string {
  const bar = value.indexOf('|');
  const system = bar < 0 ? undefined : value.slice(0, bar);
  const code = bar < 0 ? value : value.slice(bar + 1);
  if ((system !== undefined && system !== ODS_ORGANIZATION_SYSTEM) || !/^[A-Z0-9]{3,12}$/i.test(code)) {
    throw refuse(
      `delivery-status filter ${name}: '${value}' is not an ODS code (CODE or ${ODS_ORGANIZATION_SYSTEM}|CODE)`,
    );
  }
  return code.toUpperCase();
}

/** Parses `Task?name=value&...` (what filtersToCriteria joined); an unknown filter is refused, never ignored. */
export function parseDeliveryStatusCriteria(criteria: string): DeliveryStatusFilter {
  if (!isDeliveryStatusCriteria(criteria)) {
    throw refuse('delivery-status filters are Task?<parameters>');
  }
  const filter: DeliveryStatusFilter = {};
  const add = (key: keyof DeliveryStatusFilter, values: string[]) => {
    const current = filter[key];
    filter[key] = current ? current.filter((v) => values.includes(v)) : values;
  };
  for (const [name, raw] of new URLSearchParams(criteria.slice('Task?'.length))) {
    const values = raw
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean);
    if (values.length === 0) {
      throw refuse(`delivery-status filter ${name} has no value`);
    }
    switch (name) {
      case 'business-status': {
        const codes = values.map((v) => v.slice(v.indexOf('|') + 1));
        const unknown = codes.filter((c) => !(REPORTED_STEPS as readonly string[]).includes(c));
        if (unknown.length > 0) {
          throw refuse(
            `delivery-status filter business-status: ${unknown.join(', ')} is not reported on this topic (${REPORTED_STEPS.join(', ')})`,
          );
        }
        add('businessStatuses', codes);
        break;
      }
      case 'recipient':
      case 'owner':
        add(
          'owners',
          values.map((v) => odsCode(name, v)),
        );
        break;
      case 'requester':
        add(
          'requesters',
          values.map((v) => odsCode(name, v)),
        );
        break;
      case 'focus':
        add(
          'focus',
          values.map((v) => {
            const match = /(?:^|\/)DocumentReference\/([A-Za-z0-9.-]{1,64})$/.exec(v);
            if (!match) {
              throw refuse(`delivery-status filter focus: '${v}' is not DocumentReference/{id}`);
            }
            return match[1];
          }),
        );
        break;
      default:
        throw refuse(
          `${name} is not a filter of the delivery-status topic (${Object.keys(DELIVERY_STATUS_FILTERS).join(', ')})`,
        );
    }
  }
  return filter;
}

/**
 * Only the sender hears of its deliveries: a `requester` filter may name the subscriber's own ODS code alone.
 * Returns the refusal, or undefined.
 */
export function deliveryStatusViolation(filter: DeliveryStatusFilter, ownerOds: string): string | undefined {
  const foreign = (filter.requesters ?? []).filter((code) => code !== ownerOds);
  if (foreign.length > 0) {
    return (
      `Only the sender of a document hears of its delivery: a delivery-status subscription of ${ownerOds} may not ` +
      `ask for Tasks of ${foreign.join(', ')} (requester may only be ${ODS_ORGANIZATION_SYSTEM}|${ownerOds})`
    );
  }
  return undefined;
}

/** Why a delivery-status subscription's stored grant no longer lets it receive Tasks, or undefined. */
export function taskGrantRefusal(grantedScopes: string | null): string | undefined {
  const scopes = parseScopes(grantedScopes ?? '');
  if (!allows(scopes, 'Task', 'r') || !allows(scopes, 'Task', 's')) {
    return `the token that set up the subscription does not grant ${TASK_DISCLOSURE_SCOPE}, so no Task is sent`;
  }
  return undefined;
}

/** The facts of one Task version a delivery-status filter looks at. */
export interface TaskFacts {
  businessStatus: string;
  ownerOds: string;
  requesterOds: string;
  documentReferenceId: string;
}

/** Whether a Task version is news for this subscriber: it is the Task's sender, and the filters all match. */
export function matchesDeliveryStatus(filter: DeliveryStatusFilter, task: TaskFacts, subscriberOds: string): boolean {
  const within = (list: string[] | undefined, value: string) => list === undefined || list.includes(value);
  return (
    task.requesterOds === subscriberOds &&
    (REPORTED_STEPS as readonly string[]).includes(task.businessStatus) &&
    within(filter.businessStatuses, task.businessStatus) &&
    within(filter.owners, task.ownerOds) &&
    within(filter.requesters, task.requesterOds) &&
    within(filter.focus, task.documentReferenceId)
  );
}

/** The SubscriptionTopic resource of delivery-status, served as document-available is (the R5 shape, as JSON). */
export function deliveryStatusTopic(baseUrl: string): Record<string, unknown> {
  return {
    resourceType: 'SubscriptionTopic',
    id: DELIVERY_STATUS_TOPIC_ID,
    url: deliveryStatusTopicUrl(baseUrl),
    title: 'Delivery status',
    status: 'active',
    description:
      'A delivery Task of a document you sent moved: its recipient accepted or rejected the document (ITK3 ' +
      'business codes 30001, 30002, 30003), or nobody retrieved it within the time this server allows ' +
      '(overdue). Only the sender (Task.requester, the custodian) may subscribe; the notification focus is the Task.',
    resourceTrigger: [
      {
        description: 'A delivery Task becomes accepted, rejected or overdue',
        resource: 'Task',
        supportedInteraction: ['update'],
        queryCriteria: {
          current: `Task?business-status=${REPORTED_STEPS.map((s) => `${BUSINESS_STATUS_SYSTEM}|${s}`).join(',')}`,
        },
      },
    ],
    canFilterBy: Object.entries(DELIVERY_STATUS_FILTERS).map(([filterParameter, description]) => ({
      resource: 'Task',
      filterParameter,
      description,
    })),
    notificationShape: [{ resource: 'Task' }],
  };
}
