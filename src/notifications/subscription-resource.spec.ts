import { FhirError } from '../common/fhir-error.js';
import { parseSubscription, storedChannel, storedResource, type SubscriptionJson } from './subscription-resource.js';

const BASE = 'https://registry.example';
const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition';
const CRITERIA = 'DocumentReference?recipient=https://fhir.nhs.uk/Id/ods-organization-code|Y12345';

const aClassic = (channel: Record<string, unknown>): SubscriptionJson => ({
  resourceType: 'Subscription',
  status: 'requested',
  criteria: CRITERIA,
  channel: { endpoint: 'https://gp.example/fhir', ...channel },
});

function refusal(json: SubscriptionJson): FhirError {
  try {
    parseSubscription(json, BASE);
  } catch (error) {
    return error as FhirError;
  }
  throw new Error('the Subscription was accepted');
}

describe('parseSubscription channels', () => {
  it('accepts a classic message channel: full resource with a payload, empty without', () => {
    expect(parseSubscription(aClassic({ type: 'message', payload: 'application/fhir+json' }), BASE)).toMatchObject({
      kind: 'classic',
      channelType: 'message',
      payloadContent: 'full-resource',
    });
    expect(parseSubscription(aClassic({ type: 'message' }), BASE)).toMatchObject({
      channelType: 'message',
      payloadContent: 'empty',
    });
    expect(parseSubscription(aClassic({ type: 'message', payload: 'application/fhir+xml' }), BASE)).toMatchObject({
      payloadContent: 'full-resource',
    });
  });

  it('accepts a topic-based message channel with its backport payload content', () => {
    const spec = parseSubscription(
      {
        resourceType: 'Subscription',
        criteria: `${BASE}/fhir/SubscriptionTopic/document-available`,
        _criteria: { extension: [{ url: `${BACKPORT}/backport-filter-criteria`, valueString: CRITERIA }] },
        channel: {
          type: 'message',
          endpoint: 'https://gp.example/fhir',
          payload: 'application/fhir+json',
          _payload: { extension: [{ url: `${BACKPORT}/backport-payload-content`, valueCode: 'id-only' }] },
        },
      },
      BASE,
    );
    expect(spec).toMatchObject({ kind: 'backport', channelType: 'message', payloadContent: 'id-only' });
  });

  it('keeps rest-hook as it was: JSON only', () => {
    expect(parseSubscription(aClassic({ type: 'rest-hook' }), BASE).channelType).toBe('rest-hook');
    const xml = refusal(aClassic({ type: 'rest-hook', payload: 'application/fhir+xml' }));
    expect([xml.status, xml.issues[0].code]).toEqual([422, 'not-supported']);
  });

  it.each(['websocket', 'email', 'sms', 'Message', undefined])(
    'refuses channel type %s with 422 not-supported',
    (type) => {
      const error = refusal(aClassic({ type }));
      expect(error).toBeInstanceOf(FhirError);
      expect([error.status, error.issues[0].code]).toEqual([422, 'not-supported']);
      expect(error.message).toContain('rest-hook and message');
    },
  );

  it('refuses a message channel without an endpoint, or with a payload that is not FHIR', () => {
    expect(refusal(aClassic({ type: 'message', endpoint: undefined })).message).toContain('endpoint is required');
    expect(refusal(aClassic({ type: 'message', payload: 'text/plain' })).status).toBe(422);
  });
});

describe('storedChannel', () => {
  it('reads the channel type and payload back from the stored resource, rest-hook when unsure', () => {
    const stored = (json: SubscriptionJson) => JSON.stringify(storedResource(json));
    expect(storedChannel(stored(aClassic({ type: 'message', payload: 'application/fhir+xml' })))).toEqual({
      type: 'message',
      payload: 'application/fhir+xml',
    });
    expect(storedChannel(stored(aClassic({ type: 'rest-hook' })))).toEqual({ type: 'rest-hook' });
    expect(storedChannel('{}')).toEqual({ type: 'rest-hook' });
  });
});
