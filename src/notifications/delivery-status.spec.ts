import { FhirError } from '../common/fhir-error.js';
import {
  deliveryStatusViolation,
  matchesDeliveryStatus,
  parseDeliveryStatusCriteria,
  taskGrantRefusal,
} from './delivery-status.js';
import { parseSubscription } from './subscription-resource.js';

const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';
const task = { businessStatus: 'rejected', ownerOds: 'Y12345', requesterOds: 'RTG', documentReferenceId: 'd1' };

describe('delivery-status filters', () => {
  it('match the sender only, and every filter given', () => {
    const all = parseDeliveryStatusCriteria('Task?');
    expect(matchesDeliveryStatus(all, task, 'RTG')).toBe(true);
    // the recipient, or anyone else, never hears of a Task it did not send
    expect(matchesDeliveryStatus(all, task, 'Y12345')).toBe(false);
    const filter = parseDeliveryStatusCriteria(
      `Task?business-status=rejected,overdue&recipient=${ODS}|y12345&focus=DocumentReference/d1`,
    );
    expect(filter).toEqual({ businessStatuses: ['rejected', 'overdue'], owners: ['Y12345'], focus: ['d1'] });
    expect(matchesDeliveryStatus(filter, task, 'RTG')).toBe(true);
    expect(matchesDeliveryStatus(filter, { ...task, businessStatus: 'accepted' }, 'RTG')).toBe(false);
    expect(matchesDeliveryStatus(filter, { ...task, ownerOds: 'Y99999' }, 'RTG')).toBe(false);
    // steps the topic does not report are never news, whatever the filters
    expect(matchesDeliveryStatus(all, { ...task, businessStatus: 'retrieved' }, 'RTG')).toBe(false);
  });

  it('refuse unknown parameters and steps the topic does not report, rather than widen the subscription', () => {
    expect(() => parseDeliveryStatusCriteria('Task?colour=red')).toThrow(FhirError);
    expect(() => parseDeliveryStatusCriteria('Task?business-status=retrieved')).toThrow(/not reported/);
    expect(() => parseDeliveryStatusCriteria('Task?recipient=http://other|Y1')).toThrow(/ODS code/);
  });

  it("let a subscriber name only itself as requester: a practice cannot listen to a hospital's deliveries", () => {
    expect(deliveryStatusViolation(parseDeliveryStatusCriteria('Task?requester=RTG'), 'RTG')).toBeUndefined();
    expect(deliveryStatusViolation(parseDeliveryStatusCriteria('Task?requester=RTG'), 'Y12345')).toMatch(
      /Only the sender/,
    );
  });

  it('need a grant of Task read and search', () => {
    expect(taskGrantRefusal('system/DocumentReference.rs system/Task.rs')).toBeUndefined();
    expect(taskGrantRefusal('system/DocumentReference.rs')).toMatch(/system\/Task.rs/);
    expect(taskGrantRefusal(null)).toBeDefined();
  });

  it('come from the backport filter criteria of a subscription to the delivery-status topic', () => {
    const spec = parseSubscription(
      {
        resourceType: 'Subscription',
        criteria: 'https://r.example/fhir/SubscriptionTopic/delivery-status',
        _criteria: {
          extension: [
            {
              url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria',
              valueString: 'Task?business-status=rejected',
            },
          ],
        },
        channel: { type: 'rest-hook', endpoint: 'https://rtg.example/hooks', payload: 'application/fhir+json' },
      },
      'https://r.example',
    );
    expect(spec).toMatchObject({ kind: 'backport', criteria: 'Task?business-status=rejected' });
    // a DocumentReference filter on the Task topic is a mistake, said so
    expect(() =>
      parseSubscription(
        {
          resourceType: 'Subscription',
          criteria: 'https://r.example/fhir/SubscriptionTopic/delivery-status',
          _criteria: {
            extension: [
              {
                url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria',
                valueString: 'DocumentReference?status=current',
              },
            ],
          },
          channel: { type: 'rest-hook', endpoint: 'https://rtg.example/hooks' },
        },
        'https://r.example',
      ),
    ).toThrow(/Task\?/);
  });
});
