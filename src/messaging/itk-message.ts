import { invalid } from '../common/fhir-error.js';
import type { FhirResource } from '../format/fhir-json.js';
import { ODS_ORGANIZATION_SYSTEM, ODS_SITE_SYSTEM } from '../registry/nhs-number.js';
import type { ItkIssue } from './itk-response.js';

type Json = Record<string, unknown>;

const isRecord = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const records = (value: unknown): Json[] =>
  (Array.isArray(value) ? value : value === undefined ? [] : [value]).filter(isRecord);
const str = (value: unknown): string | undefined =>
  typeof value === 'string' && value.trim() ? value.trim() : undefined;

/** Extension-ITK-MessageHandling-2 (STU3), and the same extension wherever an R4 profile republished it. */
const HANDLING_URL = /\/Extension-ITK-MessageHandling(-\d+)?$/;
/** An ODS code written as an ITK address (`urn:nhs-uk:addressing:ods:Y12345`). */
const ODS_ADDRESS = /^urn:nhs-uk:addressing:ods:([A-Za-z0-9]{3,12})$/i;
const ODS_CODE = /^[A-Za-z0-9]{3,12}$/;
/** ITK-MessageEvent-2 codes of clinical documents (ITK003D eDischarge ... ITK007C GP Connect Send Document). */
const DOCUMENT_EVENT = /^ITK\d{3}[CD]$/;
const MAX_MESSAGE_ID = 128;

export type RecipientType = 'FA' | 'FI';

/** Extension-ITK-MessageHandling-2, as the sender set it. */
export interface MessageHandling {
  busAckRequested: boolean;
  infAckRequested: boolean;
  recipientType: RecipientType;
  messageDefinition: string;
  senderReference: string;
  localExtension: string;
}

/** An ITK3 message read from its Bundle: what the service needs to store its document and answer it. */
export interface ItkMessage {
  /** MessageHeader.id: what acknowledgements answer (`response.identifier`) and duplicates are known by. */
  messageId: string;
  fhirVersion: '4.0.1' | '3.0.1';
  event?: { system?: string; code?: string; display?: string };
  /** MessageHeader.source.endpoint: where acknowledgements go. */
  sourceEndpoint?: string;
  /** ODS code of MessageHeader.sender, when it is an Organization. */
  senderOds?: string;
  /** The ODS codes the message is addressed to (destination receivers and endpoints, STU3 receiver). */
  recipients: string[];
  handling?: MessageHandling;
  /** The document Bundle the MessageHeader focuses on. */
  document?: FhirResource;
  /** Everything wrong with the message, as ITK3 response codes; empty when it may be processed. */
  issues: ItkIssue[];
}

/** The FHIR version of a message: STU3 when its MessageHeader has `event` (R4: eventCoding) or an STU3 profile. */
function messageVersion(bundle: Json, header: Json): '4.0.1' | '3.0.1' {
  const profiles = [bundle, header].flatMap((r) =>
    isRecord(r.meta) && Array.isArray(r.meta.profile) ? (r.meta.profile as unknown[]) : [],
  );
  if (header.event !== undefined || profiles.some((p) => typeof p === 'string' && /\/STU3\//.test(p))) {
    return '3.0.1';
  }
  return '4.0.1';
}

/** Resolves a Reference against the message's entries: by fullUrl, or by `Type/id`. */
function resolve(entries: Json[], reference: unknown): Json | undefined {
  const ref = isRecord(reference) ? str(reference.reference) : undefined;
  if (!ref) {
    return undefined;
  }
  for (const entry of entries) {
    const resource = isRecord(entry.resource) ? entry.resource : undefined;
    if (!resource) {
      continue;
    }
    const fullUrl = str(entry.fullUrl);
    if (
      fullUrl === ref ||
      (fullUrl && fullUrl.endsWith(`/${ref}`)) ||
      `${String(resource.resourceType)}/${String(resource.id)}` === ref
    ) {
      return resource;
    }
  }
  return undefined;
}

/** The ODS code a Reference stands for: its identifier, or the Organization entry it points at. */
function odsOf(entries: Json[], reference: unknown): string | undefined {
  if (!isRecord(reference)) {
    return undefined;
  }
  const fromIdentifier = (identifiers: unknown) =>
    records(identifiers).find((i) => i.system === ODS_ORGANIZATION_SYSTEM || i.system === ODS_SITE_SYSTEM)?.value;
  const direct = fromIdentifier(reference.identifier);
  if (typeof direct === 'string') {
    return direct.trim();
  }
  const target = resolve(entries, reference);
  if (target?.resourceType === 'Organization') {
    const code = fromIdentifier(target.identifier);
    return typeof code === 'string' ? code.trim() : undefined;
  }
  return undefined;
}

const isDocumentBundle = (resource: Json | undefined): resource is FhirResource =>
  resource?.resourceType === 'Bundle' && resource.type === 'document';

function readHandling(header: Json, issues: ItkIssue[]): MessageHandling | undefined {
  const where = 'MessageHeader.extension';
  const extension = records(header.extension).find((e) => typeof e.url === 'string' && HANDLING_URL.test(e.url));
  if (!extension) {
    issues.push({
      code: '10001',
      diagnostics: 'The MessageHeader has no Extension-ITK-MessageHandling-2',
      expression: where,
    });
    return undefined;
  }
  const keys = new Map(records(extension.extension).map((e) => [String(e.url), e]));
  const bool = (key: string, code: ItkIssue['code']): boolean => {
    const value = keys.get(key)?.valueBoolean;
    if (value === true || value === 'true') {
      return true;
    }
    if (value === false || value === 'false') {
      return false;
    }
    issues.push({
      code,
      diagnostics: `The handling specification ${key} is missing or not a boolean`,
      expression: `${where}.extension('${key}')`,
    });
    return false;
  };
  const text = (key: string, code: ItkIssue['code']): string => {
    const entry = keys.get(key);
    const value =
      str(entry?.valueString) ?? (isRecord(entry?.valueReference) ? str(entry.valueReference.reference) : undefined);
    if (value === undefined) {
      issues.push({
        code,
        diagnostics: `The handling specification ${key} is missing or empty`,
        expression: `${where}.extension('${key}')`,
      });
      return '';
    }
    return value;
  };
  const busAckRequested = bool('BusAckRequested', '10003');
  const infAckRequested = bool('InfAckRequested', '10002');
  const recipientCoding = keys.get('RecipientType')?.valueCoding;
  const recipientType = isRecord(recipientCoding) ? str(recipientCoding.code) : undefined;
  if (recipientType !== 'FA' && recipientType !== 'FI') {
    issues.push({
      code: '10010',
      diagnostics: `The handling specification RecipientType must be FA (for action) or FI (for information), not ${recipientType ?? 'missing'}`,
      expression: `${where}.extension('RecipientType')`,
    });
  }
  const messageDefinition = text('MessageDefinition', '10004');
  const senderReference = text('SenderReference', '10007');
  const localExtension = text('LocalExtension', '10001');
  return {
    busAckRequested,
    infAckRequested,
    recipientType: recipientType === 'FI' ? 'FI' : 'FA',
    messageDefinition,
    senderReference,
    localExtension,
  };
}

/**
 * Reads and checks an ITK3 message Bundle (R4 or STU3): the first entry is a MessageHeader with an id, an ITK3
 * document event, a source endpoint, at least one destination ODS code and a complete handling specification, and its
 * focus (or, in STU3 messages that leave it out, an entry) is a document Bundle. What is wrong is listed with its
 * ITK3 response code; only a Bundle that is no message at all, or whose MessageHeader has no id to answer, is refused
 * outright (400), because no acknowledgement could name what it answers.
 */
export function readItkMessage(bundle: FhirResource): ItkMessage {
  if (bundle.resourceType !== 'Bundle' || bundle.type !== 'message') {
    throw invalid(
      `$process-message takes a Bundle of type message, not ${bundle.resourceType === 'Bundle' ? `a ${String(bundle.type)} Bundle` : bundle.resourceType}`,
      'Bundle.type',
    );
  }
  const entries = records(bundle.entry);
  const header = isRecord(entries[0]?.resource) ? entries[0].resource : undefined;
  if (header?.resourceType !== 'MessageHeader') {
    throw invalid('The first entry of a message Bundle must be its MessageHeader', 'Bundle.entry[0].resource');
  }
  const messageId = str(header.id);
  if (!messageId || messageId.length > MAX_MESSAGE_ID) {
    throw invalid(
      `The MessageHeader needs an id (1 to ${MAX_MESSAGE_ID} characters): acknowledgements answer it`,
      'MessageHeader.id',
    );
  }
  const fhirVersion = messageVersion(bundle, header);
  const issues: ItkIssue[] = [];
  const handling = readHandling(header, issues);

  const eventCoding = isRecord(header.eventCoding)
    ? header.eventCoding
    : isRecord(header.event)
      ? header.event
      : undefined;
  const event = eventCoding
    ? { system: str(eventCoding.system), code: str(eventCoding.code), display: str(eventCoding.display) }
    : undefined;
  if (!event?.code) {
    issues.push({
      code: '20006',
      diagnostics: 'The MessageHeader has no event coding',
      expression: 'MessageHeader.event',
    });
  } else if (!DOCUMENT_EVENT.test(event.code)) {
    issues.push({
      code: '10004',
      diagnostics: `Message event ${event.code} is not supported here: only ITK3 document messages (ITK003D to ITK007C and other document events) are stored`,
      expression: 'MessageHeader.event',
    });
  }

  const source = isRecord(header.source) ? header.source : {};
  const sourceEndpoint = str(source.endpoint);
  if (!sourceEndpoint) {
    issues.push({
      code: '20006',
      diagnostics: 'The MessageHeader has no source.endpoint: acknowledgements would have nowhere to go',
      expression: 'MessageHeader.source.endpoint',
    });
  }

  const addressed: (string | undefined)[] = [];
  for (const destination of records(header.destination)) {
    addressed.push(odsOf(entries, destination.receiver));
    const endpoint = str(destination.endpoint);
    const match = endpoint ? ODS_ADDRESS.exec(endpoint) : null;
    if (match) {
      addressed.push(match[1]);
    }
  }
  if (header.receiver !== undefined) {
    addressed.push(odsOf(entries, header.receiver));
  }
  const recipients = [...new Set(addressed.filter((code): code is string => code !== undefined))].map((c) =>
    c.toUpperCase(),
  );
  const badCodes = recipients.filter((code) => !ODS_CODE.test(code));
  if (recipients.length === 0) {
    issues.push({
      code: '20006',
      diagnostics:
        'The message names no recipient organisation: give destination.receiver (an Organization with an ODS code) or destination.endpoint urn:nhs-uk:addressing:ods:CODE',
      expression: 'MessageHeader.destination',
    });
  }
  for (const code of badCodes) {
    issues.push({
      code: '20002',
      diagnostics: `Recipient ${code} is not an ODS organisation code`,
      expression: 'MessageHeader.destination',
    });
  }

  const senderOds = odsOf(entries, header.sender);

  const focus = records(header.focus);
  let document = focus.map((f) => resolve(entries, f)).find(isDocumentBundle);
  if (!document && focus.length === 0) {
    document = entries
      .slice(1)
      .map((e) => (isRecord(e.resource) ? e.resource : undefined))
      .find(isDocumentBundle);
  }
  if (!document) {
    issues.push({
      code: '20009',
      diagnostics: focus.length
        ? 'MessageHeader.focus does not point at a document Bundle in this message'
        : 'The message carries no document Bundle',
      expression: 'MessageHeader.focus',
    });
  }
  return {
    messageId,
    fhirVersion,
    event,
    sourceEndpoint,
    senderOds,
    recipients: recipients.filter((code) => ODS_CODE.test(code)),
    handling,
    document,
    issues,
  };
}
