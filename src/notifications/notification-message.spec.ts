import { parseFhirXml } from '../format/fhir-xml.js';
import { subscriptionStatus } from './notification-bundle.js';
import {
  messageIdFor,
  NOTIFICATION_TYPE_SYSTEM,
  notificationMessage,
  processMessageUrl,
  serialiseMessage,
  type MessageInput,
} from './notification-message.js';

const FHIR_BASE = 'https://registry.example/fhir';
const TOPIC = 'https://registry.example/fhir/SubscriptionTopic/document-available';
const EVENT_ID = '6f1c1f1e-2b7a-4d0e-9a53-0d6c2a3f9b11';
const documentReference = { resourceType: 'DocumentReference', id: 'dr-1', status: 'current' };

const anInput = (changes: Partial<MessageInput> = {}): MessageInput => ({
  fhirBase: FHIR_BASE,
  endpoint: 'https://gp.example/fhir',
  receiverOds: 'Y12345',
  type: 'event-notification',
  topicUrl: TOPIC,
  messageId: EVENT_ID,
  focus: 'DocumentReference/dr-1',
  ...changes,
});

type Entry = { fullUrl: string; resource: Record<string, any> };

describe('notificationMessage', () => {
  it('builds a message Bundle led by a MessageHeader whose focus is the DocumentReference, by its full URL', () => {
    const bundle = notificationMessage(anInput({ resource: documentReference }));
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'message' });
    expect(bundle.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Date(bundle.timestamp as string).getTime()).not.toBeNaN();
    const [header, document, ...rest] = bundle.entry as Entry[];
    expect(rest).toEqual([]);
    expect(header.resource).toEqual({
      resourceType: 'MessageHeader',
      id: EVENT_ID,
      eventUri: TOPIC,
      destination: [
        {
          endpoint: 'https://gp.example/fhir',
          receiver: { identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'Y12345' } },
        },
      ],
      source: { software: 'fhir-document-registry', endpoint: FHIR_BASE },
      focus: [{ reference: `${FHIR_BASE}/DocumentReference/dr-1` }],
    });
    expect(header.fullUrl).toBe(`urn:uuid:${EVENT_ID}`);
    expect(document).toEqual({ fullUrl: `${FHIR_BASE}/DocumentReference/dr-1`, resource: documentReference });
  });

  it('gives every message a fresh Bundle id but keeps the MessageHeader id of the notification it carries', () => {
    const first = notificationMessage(anInput());
    const again = notificationMessage(anInput());
    expect(first.id).not.toBe(again.id);
    expect((first.entry as Entry[])[0].resource.id).toBe((again.entry as Entry[])[0].resource.id);
  });

  it('references the DocumentReference without including it for an id-only payload', () => {
    const bundle = notificationMessage(anInput());
    const entries = bundle.entry as Entry[];
    expect(entries).toHaveLength(1);
    expect(entries[0].resource.focus).toEqual([{ reference: `${FHIR_BASE}/DocumentReference/dr-1` }]);
  });

  it('names no document for an empty payload', () => {
    const bundle = notificationMessage(anInput({ focus: undefined }));
    const entries = bundle.entry as Entry[];
    expect(entries).toHaveLength(1);
    expect(entries[0].resource.focus).toBeUndefined();
    expect(JSON.stringify(bundle)).not.toContain('DocumentReference');
  });

  it('carries the SubscriptionStatus of a topic-based subscription as a second focus', () => {
    const status = subscriptionStatus({
      subscriptionUrl: `${FHIR_BASE}/Subscription/s-1`,
      topicUrl: TOPIC,
      status: 'active',
      type: 'event-notification',
      eventsSinceSubscriptionStart: 3,
      events: [{ eventNumber: 3, occurredAt: 0, kind: 'created', focus: 'DocumentReference/dr-1' }],
      payloadContent: 'full-resource',
      fhirBase: FHIR_BASE,
    });
    const bundle = notificationMessage(anInput({ resource: documentReference, status }));
    const entries = bundle.entry as Entry[];
    expect(entries.map((e) => e.resource.resourceType)).toEqual(['MessageHeader', 'DocumentReference', 'Parameters']);
    expect(entries[2].fullUrl).toBe(`urn:uuid:${String(status.id)}`);
    expect(entries[0].resource.focus).toEqual([
      { reference: `${FHIR_BASE}/DocumentReference/dr-1` },
      { reference: `urn:uuid:${String(status.id)}` },
    ]);
  });

  it('codes a handshake or heartbeat with the subscription-notification-type, focused on the status alone', () => {
    const status = subscriptionStatus({
      subscriptionUrl: `${FHIR_BASE}/Subscription/s-1`,
      topicUrl: TOPIC,
      status: 'requested',
      type: 'handshake',
      eventsSinceSubscriptionStart: 0,
      events: [],
      payloadContent: 'id-only',
      fhirBase: FHIR_BASE,
    });
    const bundle = notificationMessage(
      anInput({ type: 'handshake', messageId: 'handshake:s-1:1', focus: undefined, status }),
    );
    const [header, parameters] = bundle.entry as Entry[];
    expect(header.resource.eventCoding).toEqual({ system: NOTIFICATION_TYPE_SYSTEM, code: 'handshake' });
    expect(header.resource.eventUri).toBeUndefined();
    expect(header.resource.focus).toEqual([{ reference: parameters.fullUrl }]);
    expect(header.resource.id).toBe(messageIdFor('handshake:s-1:1'));
  });
});

describe('messageIdFor', () => {
  it('keeps a UUID, and turns anything else into the same UUID every time', () => {
    expect(messageIdFor(EVENT_ID)).toBe(EVENT_ID);
    const derived = messageIdFor('heartbeat:s-1:42');
    expect(derived).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(messageIdFor('heartbeat:s-1:42')).toBe(derived);
    expect(messageIdFor('heartbeat:s-1:43')).not.toBe(derived);
  });
});

describe('processMessageUrl', () => {
  it.each([
    ['https://gp.example/fhir', 'https://gp.example/fhir/$process-message'],
    ['https://gp.example/fhir/', 'https://gp.example/fhir/$process-message'],
    ['https://gp.example', 'https://gp.example/$process-message'],
    ['https://gp.example/fhir/$process-message', 'https://gp.example/fhir/$process-message'],
    ['https://gp.example/fhir?key=1', 'https://gp.example/fhir/$process-message?key=1'],
  ])('%s', (endpoint, expected) => {
    expect(processMessageUrl(endpoint)).toBe(expected);
  });
});

describe('serialiseMessage', () => {
  it('writes FHIR XML when the subscription asked for it, JSON otherwise', () => {
    const bundle = notificationMessage(anInput({ resource: documentReference }));
    expect(JSON.parse(serialiseMessage(bundle, 'application/fhir+json'))).toEqual(bundle);
    expect(JSON.parse(serialiseMessage(bundle, undefined))).toEqual(bundle);
    const xml = serialiseMessage(bundle, 'application/fhir+xml');
    expect(xml).toMatch(/^<\?xml[^>]*\?><Bundle xmlns="http:\/\/hl7.org\/fhir">/);
    expect(xml).toContain(`<eventUri value="${TOPIC}"/>`);
    expect(parseFhirXml(Buffer.from(xml))).toMatchObject({ resourceType: 'Bundle', type: 'message' });
  });
});
