import { randomBytes, randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { canonicalJson } from '../../src/common/canonical-json.js';
import type { FhirResource } from '../../src/format/fhir-json.js';
import { parseFhirXml } from '../../src/format/fhir-xml.js';
import { responseCodesOf } from '../../src/messaging/itk-response.js';
import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { anItkMessageR4, anItkMessageStu3Xml } from '../fixtures/itk3-message.js';
import { aNhsNumber } from '../fixtures/nhs-number.js';
import { aStu3DischargeXml } from '../fixtures/stu3-document.js';
import { json } from '../utils/http.js';
import { BACKENDS, startTestApp, type TestApp } from '../utils/test-app.js';
import { startWebhookReceiver, type WebhookReceiver } from '../utils/webhook-receiver.js';

const FHIR_JSON = 'application/fhir+json';
const FHIR_XML = 'application/fhir+xml';
const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';
const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
const UUID_SYSTEM = 'https://tools.ietf.org/html/rfc4122';
const HOSPITAL = 'RTG';
const GP = 'Y11111';
/** A destination the document itself does not name: only the message addresses it. */
const COMMUNITY_TEAM = 'Y33333';
const STU3_GP = 'Y54321';
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;

type Json = Record<string, any>;
const headerOf = (message: Json): Json => message.entry[0].resource;

describe.each(BACKENDS)('ITK3 messaging on %s with %s blobs', (database, blobs) => {
  let t: TestApp;
  let receiver: WebhookReceiver;
  const ackPath = `/itk-acks-${randomUUID()}`;
  const inboxPath = `/inbox-${COMMUNITY_TEAM}-${randomUUID()}`;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    t = await startTestApp(database, blobs, {
      SUBSCRIPTION_ENDPOINT_ALLOWLIST: '127.0.0.1,localhost',
      OUTBOX_POLL_MS: '50',
      DELIVERY_BACKOFF_BASE_MS: '200',
      MESSAGE_SIGNING_SECRET: SECRET,
    });
    // the community team hears of documents addressed to it, as any recipient does
    const subscribed = await t.fetch('/fhir/Subscription', {
      method: 'POST',
      org: COMMUNITY_TEAM,
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify({
        resourceType: 'Subscription',
        status: 'requested',
        reason: 'Documents for the community team',
        criteria: `DocumentReference?recipient=${ODS}|${COMMUNITY_TEAM}`,
        channel: { type: 'rest-hook', endpoint: receiver.url(inboxPath), payload: FHIR_JSON },
      }),
    });
    expect(subscribed.status).toBe(201);
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  function send(body: string, contentType = FHIR_JSON, init: { org?: string; scope?: string } = {}) {
    return t.fetch('/fhir/$process-message', {
      method: 'POST',
      org: init.org ?? HOSPITAL,
      scope: init.scope,
      headers: { 'content-type': contentType },
      body,
    });
  }

  async function sendJson(message: FhirResource): Promise<{ text: string; ack: Json }> {
    const response = await send(JSON.stringify(message));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain(FHIR_JSON);
    const text = await response.text();
    return { text, ack: JSON.parse(text) as Json };
  }

  async function search(org: string, query: string): Promise<Json[]> {
    const response = await t.fetch(`/fhir/DocumentReference?${query}`, { org });
    expect(response.status).toBe(200);
    return ((await json(response)).entry ?? []).map((e: { resource: Json }) => e.resource);
  }

  function aDocument(nhsNumber: string, identifier = randomUUID()) {
    return aDischargeSummaryR4({ identifier: { system: UUID_SYSTEM, value: identifier }, nhsNumber, gpOds: GP });
  }

  it('stores an R4 message document like a REST submission, for the GP and the message destinations, and answers 20013; the same message again gets the same answer', async () => {
    const nhsNumber = aNhsNumber();
    const document = aDocument(nhsNumber);
    const message = anItkMessageR4(document, {
      recipientOds: [GP, COMMUNITY_TEAM],
      sourceEndpoint: receiver.url(ackPath),
    });
    const messageId = headerOf(message).id as string;
    const first = await sendJson(message);
    expect(responseCodesOf(first.ack)).toEqual(['20013']);
    expect(first.ack.type).toBe('message');
    expect(headerOf(first.ack)).toMatchObject({
      eventCoding: { code: 'ITK008M' },
      response: { identifier: messageId, code: 'ok' },
      destination: [{ endpoint: receiver.url(ackPath) }],
    });

    // indexed: by patient for the sender, by recipient for a destination the document itself does not name
    const [byPatient] = await search(HOSPITAL, `patient.identifier=${NHS}|${nhsNumber}`);
    expect(byPatient).toBeDefined();
    const [byRecipient] = await search(COMMUNITY_TEAM, `recipient=${ODS}|${COMMUNITY_TEAM}`);
    expect(byRecipient?.id).toBe(byPatient.id);
    // the destination's subscription is notified, as for a REST submission
    await receiver.waitFor(
      inboxPath,
      (requests) => requests.some((r) => r.url.endsWith(`/DocumentReference/${byRecipient.id}`)),
      30_000,
    );
    // a delivery Task for each recipient, as for a REST submission
    const taskSearch = await t.fetch(
      `/fhir/Task?requester=${ODS}|${HOSPITAL}&focus=DocumentReference/${byPatient.id}`,
      {
        org: HOSPITAL,
      },
    );
    const owners = ((await json(taskSearch)).entry as { resource: Json }[]).map(
      (e) => e.resource.owner.identifier.value,
    );
    expect(owners.sort()).toEqual([GP, COMMUNITY_TEAM].sort());

    // the embedded document, serialised once in the message's format, is the record read back byte for byte
    const url = byPatient.content[0].attachment.url as string;
    const read = await t.fetch(url, { org: GP });
    expect(read.status).toBe(200);
    const bytes = Buffer.from(await read.arrayBuffer());
    expect(bytes.toString('utf8')).toBe(JSON.stringify(document));
    expect(byPatient.content[0].attachment.size).toBe(bytes.length);

    // audited as a message receipt, in the document's transaction
    const audit = await t.fetch(`/fhir/AuditEvent?entity=DocumentReference/${byPatient.id}`, {
      org: HOSPITAL,
      scope: 'system/AuditEvent.rs',
    });
    const subtypes = ((await json(audit)).entry as { resource: Json }[]).flatMap((e) =>
      (e.resource.subtype as { code: string }[]).map((c) => c.code),
    );
    expect(subtypes).toContain('process-message');

    // the same message again: the very same acknowledgement, nothing stored twice
    const again = await sendJson(message);
    expect(again.text).toBe(first.text);
    expect(await search(HOSPITAL, `patient.identifier=${NHS}|${nhsNumber}`)).toHaveLength(1);
  });

  it('gives two copies of a message sent at once one answer, stored once; a refusal is answered the same way again', async () => {
    const nhsNumber = aNhsNumber();
    const message = JSON.stringify(anItkMessageR4(aDocument(nhsNumber)));
    const answers = await Promise.all([send(message), send(message), send(message)]);
    const texts = await Promise.all(answers.map((r) => r.text()));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(new Set(texts).size).toBe(1);
    expect(responseCodesOf(JSON.parse(texts[0]))).toEqual(['20013']);
    expect(await search(HOSPITAL, `patient.identifier=${NHS}|${nhsNumber}`)).toHaveLength(1);

    const refused = JSON.stringify(anItkMessageR4(aDocument(aNhsNumber()), { omitHandlingKeys: ['SenderReference'] }));
    const first = await (await send(refused)).text();
    expect(responseCodesOf(JSON.parse(first))).toEqual(['10007']);
    expect(await (await send(refused)).text()).toBe(first);
  });

  it('answers 20007 to a message id sent again with other content, and 20008 to another message with a stored document identifier', async () => {
    const nhsNumber = aNhsNumber();
    const identifier = randomUUID();
    const message = anItkMessageR4(aDocument(nhsNumber, identifier));
    expect(responseCodesOf((await sendJson(message)).ack)).toEqual(['20013']);

    const sameIdOtherContent = anItkMessageR4(aDocument(nhsNumber, randomUUID()), {
      messageId: headerOf(message).id as string,
    });
    const duplicateMessage = await sendJson(sameIdOtherContent);
    expect(responseCodesOf(duplicateMessage.ack)).toEqual(['20007']);
    expect(headerOf(duplicateMessage.ack).response.code).toBe('fatal-error');

    const changed = aDocument(nhsNumber, identifier) as Json;
    changed.entry[0].resource.title = 'Discharge summary (amended)';
    const otherDocument = await sendJson(anItkMessageR4(changed as FhirResource));
    expect(responseCodesOf(otherDocument.ack)).toEqual(['20008']);
    const found = await search(HOSPITAL, `patient.identifier=${NHS}|${nhsNumber}`);
    expect(found).toHaveLength(1);
    const kept = await t.fetch(found[0].content[0].attachment.url as string, { org: HOSPITAL });
    expect(await kept.text()).not.toContain('amended');
  });

  it('addresses a stored document to the recipient of another message for it (ITK3: one message per recipient), and its answer goes back to that message', async () => {
    const nhsNumber = aNhsNumber();
    const document = aDocument(nhsNumber);
    const copyTeam = 'Y44444';
    const copyPath = `/copy-acks-${randomUUID()}`;
    const forGp = anItkMessageR4(document, { recipientOds: [GP], recipientType: 'FA' });
    expect(responseCodesOf((await sendJson(forGp)).ack)).toEqual(['20013']);
    const forCopy = anItkMessageR4(document, {
      recipientOds: [copyTeam],
      recipientType: 'FI',
      sourceEndpoint: receiver.url(copyPath),
    });
    // sent three times at once: one answer, one new recipient
    const copies = await Promise.all([1, 2, 3].map(() => send(JSON.stringify(forCopy))));
    const texts = await Promise.all(copies.map((r) => r.text()));
    expect(new Set(texts).size).toBe(1);
    const second = { ack: JSON.parse(texts[0]) as Json };
    expect(responseCodesOf(second.ack)).toEqual(['20013']);
    expect(headerOf(second.ack).response.identifier).toBe(headerOf(forCopy).id);

    const [found] = await search(copyTeam, `recipient=${ODS}|${copyTeam}`);
    expect(found).toBeDefined();
    expect(found.meta.versionId).toBe('2');
    const [original] = await search(HOSPITAL, `patient.identifier=${NHS}|${nhsNumber}`);
    expect(original.id).toBe(found.id);
    const taskSearch = await t.fetch(`/fhir/Task?owner=${ODS}|${copyTeam}&focus=DocumentReference/${found.id}`, {
      org: copyTeam,
    });
    const [task] = ((await json(taskSearch)).entry as { resource: Json }[]).map((e) => e.resource);
    expect(task.requester.identifier.value).toBe(HOSPITAL);

    // a third message bringing nothing new is a duplicate document
    const again = await sendJson(anItkMessageR4(document, { recipientOds: [GP] }));
    expect(responseCodesOf(again.ack)).toEqual(['20008']);

    // the copy team's answer is acknowledged to the message that addressed it
    const accepted = await t.fetch(`/fhir/Task/${task.id}`, {
      method: 'PATCH',
      org: copyTeam,
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'replace', path: '/status', value: 'completed' }]),
    });
    expect(accepted.status).toBe(200);
    const [delivered] = await receiver.waitFor(copyPath, (requests) => requests.length >= 1, 30_000);
    const ack = JSON.parse(delivered.body) as Json;
    expect(headerOf(ack).response.identifier).toBe(headerOf(forCopy).id);
    expect(responseCodesOf(ack)).toEqual(['30001']);
  });

  it('answers 20009 listing each failure of an invalid document, and stores nothing', async () => {
    const nhsNumber = aNhsNumber();
    const document = aDocument(nhsNumber) as Json;
    delete document.entry[0].resource.type;
    delete document.entry[0].resource.title;
    const { ack } = await sendJson(anItkMessageR4(document as FhirResource));
    const codes = responseCodesOf(ack);
    expect(codes.length).toBeGreaterThanOrEqual(2);
    expect(new Set(codes)).toEqual(new Set(['20009']));
    const issues = ack.entry[1].resource.issue as Json[];
    expect(issues.map((i) => i.diagnostics).join(' ')).toMatch(/type/i);
    expect(issues.map((i) => i.diagnostics).join(' ')).toMatch(/title/i);
    expect(headerOf(ack).response.code).toBe('fatal-error');
    expect(await search(HOSPITAL, `patient.identifier=${NHS}|${nhsNumber}`)).toHaveLength(0);
  });

  it('answers 100xx for a missing handling specification and refuses with 400 what no acknowledgement could answer', async () => {
    const { ack } = await sendJson(
      anItkMessageR4(aDocument(aNhsNumber()), { omitHandlingKeys: ['InfAckRequested', 'RecipientType'] }),
    );
    expect(responseCodesOf(ack)).toEqual(['10002', '10010']);

    const notAMessage = await send(JSON.stringify(aDocument(aNhsNumber())));
    expect(notAMessage.status).toBe(400);
    expect((await json(notAMessage)).resourceType).toBe('OperationOutcome');
  });

  it('answers 10003 when a business acknowledgement is asked for at an endpoint webhooks may not reach', async () => {
    for (const endpoint of ['http://10.1.2.3/itk', 'mesh:MAILBOX01', 'https://user:secret@sender.example/itk']) {
      const { ack } = await sendJson(
        anItkMessageR4(aDocument(aNhsNumber()), { busAckRequested: true, sourceEndpoint: endpoint }),
      );
      expect([endpoint, responseCodesOf(ack)]).toEqual([endpoint, ['10003']]);
    }
  });

  it('needs the scope that submitting a document needs', async () => {
    const response = await send(JSON.stringify(anItkMessageR4(aDocument(aNhsNumber()))), FHIR_JSON, {
      scope: 'system/DocumentReference.rs',
    });
    expect(response.status).toBe(403);
  });

  it('stores an STU3 XML message document and answers in STU3 XML; the STU3 GP finds it by recipient', async () => {
    const identifier = randomUUID();
    const documentXml = aStu3DischargeXml({ identifier, nhsNumber: aNhsNumber(), gpOds: STU3_GP });
    const messageXml = anItkMessageStu3Xml(documentXml, { recipientOds: [STU3_GP] });
    const response = await send(messageXml, FHIR_XML);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain(FHIR_XML);
    const ack = parseFhirXml(Buffer.from(await response.text()), { fhirVersion: 'STU3' }) as Json;
    expect(responseCodesOf(ack)).toEqual(['20013']);
    expect(headerOf(ack).event.code).toBe('ITK008M');

    const found = await search(STU3_GP, `recipient=${ODS}|${STU3_GP}&identifier=${UUID_SYSTEM}|${identifier}`);
    expect(found).toHaveLength(1);
    const read = await t.fetch(found[0].content[0].attachment.url as string, {
      org: STU3_GP,
      headers: { accept: FHIR_XML },
    });
    expect(read.status).toBe(200);
    const stored = parseFhirXml(Buffer.from(await read.arrayBuffer()), { fhirVersion: 'STU3' });
    const embedded = parseFhirXml(Buffer.from(documentXml), { fhirVersion: 'STU3' });
    expect(canonicalJson(stored)).toBe(canonicalJson(embedded));
  });

  it('sends a signed business acknowledgement (30002) to the sender when the GP rejects its Task, then the document supersedes like any other', async () => {
    const nhsNumber = aNhsNumber();
    const identifier = randomUUID();
    const path = `/bus-acks-${randomUUID()}`;
    const message = anItkMessageR4(aDocument(nhsNumber, identifier), {
      recipientOds: [GP],
      sourceEndpoint: receiver.url(path),
      busAckRequested: true,
    });
    expect(responseCodesOf((await sendJson(message)).ack)).toEqual(['20013']);
    const [stored] = await search(HOSPITAL, `patient.identifier=${NHS}|${nhsNumber}`);

    const taskSearch = await t.fetch(`/fhir/Task?owner=${ODS}|${GP}&focus=DocumentReference/${stored.id}`, { org: GP });
    const [task] = ((await json(taskSearch)).entry as { resource: Json }[]).map((e) => e.resource);
    receiver.failNext(path, 1, 503); // the sender's endpoint fails once: the acknowledgement is sent again
    const rejected = await t.fetch(`/fhir/Task/${task.id}`, {
      method: 'PATCH',
      org: GP,
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([
        { op: 'replace', path: '/status', value: 'rejected' },
        {
          op: 'add',
          path: '/statusReason',
          value: { coding: [{ system: 'https://fhir.nhs.uk/STU3/CodeSystem/ITK-ResponseCodes-1', code: '30002' }] },
        },
      ]),
    });
    expect(rejected.status).toBe(200);

    const requests = await receiver.waitFor(path, (received) => received.some((r) => r.status === 200), 30_000);
    expect(requests.map((r) => r.status)).toEqual([503, 200]);
    expect(requests[1].headers['webhook-id']).toBe(requests[0].headers['webhook-id']);
    const delivered = requests[1];
    expect(delivered.method).toBe('POST');
    expect(delivered.headers['content-type']).toContain(FHIR_JSON);
    const headers = {
      'webhook-id': String(delivered.headers['webhook-id']),
      'webhook-timestamp': String(delivered.headers['webhook-timestamp']),
      'webhook-signature': String(delivered.headers['webhook-signature']),
    };
    const ack = new Webhook(SECRET).verify(delivered.body, headers) as Json;
    expect(ack.type).toBe('message');
    expect(headerOf(ack)).toMatchObject({
      eventCoding: { code: 'ITK008M' },
      sender: { identifier: { value: GP } },
      response: { identifier: headerOf(message).id, code: 'fatal-error' },
    });
    expect(responseCodesOf(ack)).toEqual(['30002']);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.at(path)).toHaveLength(2);

    // one registry: a REST submission replaces the document that came as a message
    const replacement = aDischargeSummaryR4({
      identifier: { system: UUID_SYSTEM, value: randomUUID() },
      nhsNumber,
      gpOds: GP,
      relatesTo: [{ code: 'replaces', targetIdentifier: { system: UUID_SYSTEM, value: identifier } }],
    });
    const replaced = await t.fetch('/fhir/Bundle', {
      method: 'POST',
      org: HOSPITAL,
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify(replacement),
    });
    expect(replaced.status).toBe(201);
    const old = await json(await t.fetch(`/fhir/DocumentReference/${stored.id}`, { org: HOSPITAL }));
    expect(old.status).toBe('superseded');
  });

  it('sends no business acknowledgement when the sender did not ask for one', async () => {
    const nhsNumber = aNhsNumber();
    const path = `/no-bus-acks-${randomUUID()}`;
    const message = anItkMessageR4(aDocument(nhsNumber), {
      recipientOds: [GP],
      sourceEndpoint: receiver.url(path),
      busAckRequested: false,
    });
    expect(responseCodesOf((await sendJson(message)).ack)).toEqual(['20013']);
    const [stored] = await search(HOSPITAL, `patient.identifier=${NHS}|${nhsNumber}`);
    const taskSearch = await t.fetch(`/fhir/Task?owner=${ODS}|${GP}&focus=DocumentReference/${stored.id}`, { org: GP });
    const [task] = ((await json(taskSearch)).entry as { resource: Json }[]).map((e) => e.resource);
    const accepted = await t.fetch(`/fhir/Task/${task.id}`, {
      method: 'PATCH',
      org: GP,
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'replace', path: '/status', value: 'completed' }]),
    });
    expect(accepted.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(receiver.at(path)).toHaveLength(0);
  });
});
