import { randomUUID } from 'node:crypto';
import type { FhirResource } from '../format/fhir-json.js';
import { ITK_RESPONSE_SYSTEM } from '../registry/delivery-task.js';

/** ITK-ResponseCodes-1 (https://fhir.nhs.uk/STU3/CodeSystem/ITK-ResponseCodes-1): the codes this service answers. */
export const ITK_RESPONSE_CODES = {
  '10001': 'Handling Specification Error',
  '10002': 'Infrastructure Level Response Value - Processing Error',
  '10003': 'Business Level Response Value - Processing Error',
  '10004': 'Message Definition Value - Processing Error',
  '10007': 'Sender Reference Value - Processing Error',
  '10010': 'Recipient Type - Processing Error',
  '20002': 'Unrecognised Recipient Organisation',
  '20003': 'Unrecognised Sender',
  '20006': 'ITK header validation failure',
  '20007': 'Duplicate Message received',
  '20008': 'Duplicate Document received',
  '20009': 'Payload validation failure',
  '20013': 'Infrastructure Acknowledgement',
  '30001': 'Patient known here and record updated',
  '30002': 'Patient not known here',
  '30003': 'Patient no longer at this care setting',
} as const;

export type ItkResponseCode = keyof typeof ITK_RESPONSE_CODES;

export const ITK_MESSAGE_EVENT_SYSTEM = 'https://fhir.nhs.uk/STU3/CodeSystem/ITK-MessageEvent-2';
export const ITK_RESPONSE_EVENT = { system: ITK_MESSAGE_EVENT_SYSTEM, code: 'ITK008M', display: 'ITK Response' };
export const MESSAGE_HANDLING_URL = 'https://fhir.nhs.uk/STU3/StructureDefinition/Extension-ITK-MessageHandling-2';
export const RECIPIENT_TYPE_SYSTEM = 'https://fhir.nhs.uk/STU3/CodeSystem/ITK-RecipientType-1';
const RESPONSE_DEFINITION = 'https://fhir.nhs.uk/STU3/MessageDefinition/ITK-Response-MessageDefinition-Instance-1';
const UUID_SYSTEM = 'https://tools.ietf.org/html/rfc4122';

/** One finding of an acknowledgement: an ITK3 code and what it is about (never patient-identifiable, FHIR-BA-02). */
export interface ItkIssue {
  code: ItkResponseCode;
  diagnostics: string;
  expression?: string;
}

/** Positive codes: the message was taken (20013) or the patient's record was updated (30001). */
export const isPositive = (code: ItkResponseCode): boolean => code === '20013' || code === '30001';

export interface ResponseMessageInput {
  /** MessageHeader.id of the message answered. */
  inResponseTo: string;
  /** '4.0.1' or '3.0.1': the answer is written in the FHIR version of the message it answers. */
  fhirVersion: string;
  /** Where the answer goes: the incoming MessageHeader.source.endpoint. */
  destinationEndpoint?: string;
  /** This service's messaging endpoint. */
  sourceEndpoint: string;
  /** ODS code the answer is from (a business acknowledgement: the recipient that answered). */
  fromOds?: string;
  issues: ItkIssue[];
  now: Date;
  id?: string;
}

/**
 * An ITK3 Response message (event ITK008M): a `message` Bundle whose MessageHeader answers the incoming message
 * (`response.identifier`, `response.code` ok or fatal-error) and points at an OperationOutcome carrying each ITK3
 * response code in `issue.details`. STU3 messages get the STU3 shape (event, timestamp, ITK profiles); R4 the R4 one.
 */
export function responseMessage(input: ResponseMessageInput): FhirResource {
  const stu3 = input.fhirVersion.startsWith('3.');
  const bundleId = input.id ?? randomUUID();
  const headerId = randomUUID();
  const outcomeId = randomUUID();
  const timestamp = input.now.toISOString();
  const positive = input.issues.every((issue) => isPositive(issue.code));
  const profile = (name: string) =>
    stu3 ? { meta: { profile: [`https://fhir.nhs.uk/STU3/StructureDefinition/${name}`] } } : {};
  const header: FhirResource = {
    resourceType: 'MessageHeader',
    id: headerId,
    ...profile('ITK-MessageHeader-2'),
    extension: [
      {
        url: MESSAGE_HANDLING_URL,
        extension: [
          { url: 'BusAckRequested', valueBoolean: false },
          { url: 'InfAckRequested', valueBoolean: false },
          {
            url: 'RecipientType',
            valueCoding: { system: RECIPIENT_TYPE_SYSTEM, code: 'FA', display: 'For Action' },
          },
          { url: 'MessageDefinition', valueReference: { reference: RESPONSE_DEFINITION } },
          { url: 'SenderReference', valueString: 'None' },
          { url: 'LocalExtension', valueString: 'None' },
        ],
      },
    ],
    ...(stu3 ? { event: ITK_RESPONSE_EVENT } : { eventCoding: ITK_RESPONSE_EVENT }),
    ...(input.destinationEndpoint ? { destination: [{ endpoint: input.destinationEndpoint }] } : {}),
    ...(input.fromOds
      ? {
          sender: {
            identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: input.fromOds },
          },
        }
      : {}),
    ...(stu3 ? { timestamp } : {}),
    source: { endpoint: input.sourceEndpoint },
    response: {
      identifier: input.inResponseTo,
      code: positive ? 'ok' : 'fatal-error',
      details: { reference: `urn:uuid:${outcomeId}` },
    },
  };
  const outcome: FhirResource = {
    resourceType: 'OperationOutcome',
    id: outcomeId,
    ...profile('ITK-Response-OperationOutcome-1'),
    issue: input.issues.map((issue) => ({
      severity: isPositive(issue.code) ? 'information' : 'fatal',
      code: isPositive(issue.code)
        ? 'informational'
        : issue.code === '20007' || issue.code === '20008'
          ? 'duplicate'
          : 'processing',
      details: {
        coding: [{ system: ITK_RESPONSE_SYSTEM, code: issue.code, display: ITK_RESPONSE_CODES[issue.code] }],
      },
      diagnostics: issue.diagnostics,
      ...(issue.expression ? { expression: [issue.expression] } : {}),
    })),
  };
  return {
    resourceType: 'Bundle',
    id: bundleId,
    meta: {
      lastUpdated: timestamp,
      ...(stu3 ? { profile: ['https://fhir.nhs.uk/STU3/StructureDefinition/ITK-Message-Bundle-1'] } : {}),
    },
    identifier: { system: UUID_SYSTEM, value: bundleId },
    type: 'message',
    ...(stu3 ? {} : { timestamp }),
    entry: [
      { fullUrl: `urn:uuid:${headerId}`, resource: header },
      { fullUrl: `urn:uuid:${outcomeId}`, resource: outcome },
    ],
  };
}

/** The ITK3 response codes an acknowledgement message carries, in order. */
export function responseCodesOf(message: unknown): string[] {
  const entries = (message as { entry?: { resource?: { resourceType?: string; issue?: unknown[] } }[] }).entry ?? [];
  const outcome = entries.find((e) => e.resource?.resourceType === 'OperationOutcome')?.resource;
  return ((outcome?.issue ?? []) as { details?: { coding?: { system?: string; code?: string }[] } }[]).flatMap(
    (issue) => (issue.details?.coding ?? []).filter((c) => c.system === ITK_RESPONSE_SYSTEM).map((c) => c.code ?? ''),
  );
}

/**
 * The business acknowledgement (3000x) of a message whose document a recipient answered through its delivery Task:
 * an ITK3 Response to the original message, from the recipient, to the sender's source endpoint.
 */
export function businessAcknowledgement(input: {
  receipt: { messageId: string; fhirVersion: string; sourceEndpoint: string | null };
  code: '30001' | '30002' | '30003';
  recipientOds: string;
  sourceEndpoint: string;
  now: Date;
}): FhirResource & { id: string } {
  const id = randomUUID();
  const message = responseMessage({
    id,
    inResponseTo: input.receipt.messageId,
    fhirVersion: input.receipt.fhirVersion,
    destinationEndpoint: input.receipt.sourceEndpoint ?? undefined,
    sourceEndpoint: input.sourceEndpoint,
    fromOds: input.recipientOds,
    issues: [{ code: input.code, diagnostics: `Recipient ${input.recipientOds}: ${ITK_RESPONSE_CODES[input.code]}` }],
    now: input.now,
  });
  return { ...message, id };
}
