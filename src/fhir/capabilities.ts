import { TASK_SEARCH_PARAMETERS } from '../registry/delivery-task-search.js';
/**
 * What the server supports, declared once: the CapabilityStatement is generated from this, the search
 * parser accepts exactly these parameters, and a test checks every interaction has a route (and back).
 */
export type TypeInteraction =
  'read' | 'vread' | 'update' | 'patch' | 'delete' | 'history-instance' | 'create' | 'search-type';

export interface SearchParamDeclaration {
  name: string;
  type: 'token' | 'reference' | 'date' | 'string' | 'uri' | 'number' | 'special';
  documentation: string;
}

export interface ResourceCapability {
  type: string;
  interactions: TypeInteraction[];
  searchParams: SearchParamDeclaration[];
  documentation: string;
}

const TOKEN_FORMS = 'system|code, code, system| or |code; comma = OR; :not supported';

export const DOCUMENT_REFERENCE_SEARCH_PARAMS: SearchParamDeclaration[] = [
  { name: '_id', type: 'token', documentation: 'Logical id of the DocumentReference; comma = OR' },
  {
    name: '_lastUpdated',
    type: 'date',
    documentation: 'When the index entry last changed; prefixes eq ne lt gt le ge sa eb ap, precision as given',
  },
  {
    name: 'identifier',
    type: 'token',
    documentation: `masterIdentifier or identifier (the document Bundle identifier); ${TOKEN_FORMS}`,
  },
  {
    name: 'status',
    type: 'token',
    documentation: 'current | superseded | entered-in-error; all statuses when absent; :not supported',
  },
  {
    name: 'type',
    type: 'token',
    documentation: `Document type, e.g. http://snomed.info/sct|373942005; ${TOKEN_FORMS}`,
  },
  { name: 'category', type: 'token', documentation: `Document category (Composition.category); ${TOKEN_FORMS}` },
  {
    name: 'patient',
    type: 'reference',
    documentation:
      'Patient/id. Documents indexed from Bundles name their patient by identifier only (subject.identifier), so ' +
      'this matches only entries whose subject carries a reference; use patient.identifier or patient:identifier',
  },
  {
    name: 'patient.identifier',
    type: 'token',
    documentation: `The patient's identifier, e.g. https://fhir.nhs.uk/Id/nhs-number|9434765919; ${TOKEN_FORMS}`,
  },
  {
    name: 'subject',
    type: 'reference',
    documentation: 'Type/id of the subject; see patient. subject:identifier works',
  },
  { name: 'subject.identifier', type: 'token', documentation: 'Same as patient.identifier' },
  {
    name: 'date',
    type: 'date',
    documentation:
      'DocumentReference.date; prefixes eq ne lt gt le ge sa eb ap; 2024-03 means all of March; times without a ' +
      'zone are UTC; ap is +-10% of the gap between the value and now',
  },
  {
    name: 'period',
    type: 'date',
    documentation: 'context.period (the episode the document covers), compared as a range with the same prefixes',
  },
  {
    name: 'creation',
    type: 'date',
    documentation:
      'content.attachment.creation (IHE MHD: when the document was written), compared as a range with the same prefixes as date',
  },
  {
    name: 'custodian',
    type: 'reference',
    documentation:
      'Organization/id (or its absolute URL) as DocumentReference.custodian references it; custodian:identifier=system|code is custodian.identifier',
  },
  {
    name: 'custodian.identifier',
    type: 'token',
    documentation: `ODS code of the custodian, e.g. https://fhir.nhs.uk/Id/ods-organization-code|RTG; ${TOKEN_FORMS}`,
  },
  {
    name: 'author.identifier',
    type: 'token',
    documentation: `Identifier of an author (ODS or GMC code); ${TOKEN_FORMS}`,
  },
  {
    name: 'author.given',
    type: 'string',
    documentation: 'Given name of a person author: starts-with, case- and accent-insensitive; :exact and :contains',
  },
  {
    name: 'author.family',
    type: 'string',
    documentation: 'Family name of a person author: starts-with, case- and accent-insensitive; :exact and :contains',
  },
  { name: 'setting', type: 'token', documentation: `context.practiceSetting (NHS care setting); ${TOKEN_FORMS}` },
  { name: 'facility', type: 'token', documentation: `context.facilityType; ${TOKEN_FORMS}` },
  { name: 'event', type: 'token', documentation: `context.event; ${TOKEN_FORMS}` },
  { name: 'format', type: 'token', documentation: `content.format; ${TOKEN_FORMS}` },
  {
    name: 'security-label',
    type: 'token',
    documentation: `securityLabel (confidentiality and meta.security); ${TOKEN_FORMS}`,
  },
  { name: 'contenttype', type: 'token', documentation: 'content.attachment.contentType, e.g. application/fhir+json' },
  {
    name: 'recipient',
    type: 'token',
    documentation: `ODS codes the document is addressed to (registered GP, information recipients); ${TOKEN_FORMS}`,
  },
  { name: 'relation', type: 'token', documentation: 'relatesTo.code: replaces | transforms | signs | appends' },
  { name: 'relatesto', type: 'reference', documentation: 'relatesTo.target: DocumentReference/id or id' },
  { name: 'related', type: 'reference', documentation: 'context.related: Type/id or an absolute URL' },
];

/** Result parameters of DocumentReference search, documented on the resource (they are not search parameters). */
const DOCUMENT_REFERENCE_RESULT_PARAMS =
  '_count (default 20, max 500; 0 = total only), _sort (date, _lastUpdated; - for descending; ties by id), ' +
  '_summary=count, _total (none | estimate | accurate), _format (json | xml, as on every interaction), ' +
  '_include (accepted and reported: no separate Patient or ' +
  'Practitioner resources exist here). Pages follow opaque next/previous links. Unknown parameters and modifiers ' +
  'are ignored and reported in an OperationOutcome entry, or refused with 400 under Prefer: handling=strict; a ' +
  'malformed value of a supported filter is always refused with 400 (dropping it would widen the result). ' +
  'POST DocumentReference/_search takes the same parameters as application/x-www-form-urlencoded.';

export const RESOURCE_CAPABILITIES: ResourceCapability[] = [
  {
    type: 'Bundle',
    interactions: ['create', 'read'],
    searchParams: [],
    documentation:
      'FHIR document Bundles (R4 and STU3, JSON and XML), stored byte for byte and indexed as DocumentReferences. ' +
      'Read returns the stored bytes when Accept allows their format (or is absent or */*), and converts between ' +
      'FHIR JSON and XML when the client asks for the other (Accept or _format; its own strong ETag)',
  },
  {
    type: 'DocumentReference',
    interactions: ['create', 'read', 'vread', 'update', 'patch', 'history-instance', 'search-type'],
    searchParams: DOCUMENT_REFERENCE_SEARCH_PARAMS,
    documentation: `The registry index: one DocumentReference per stored document. Search: ${DOCUMENT_REFERENCE_RESULT_PARAMS}`,
  },
  {
    type: 'Binary',
    interactions: ['create', 'read'],
    searchParams: [],
    documentation:
      'Raw bytes of any type, streamed; Range requests supported. Read with Accept application/fhir+json or ' +
      'application/fhir+xml (or _format) returns the Binary resource with base64 data, up to MAX_RESOURCE_BYTES',
  },
  {
    type: 'List',
    interactions: ['read', 'search-type'],
    searchParams: [
      {
        name: 'patient.identifier',
        type: 'token',
        documentation: `The patient's NHS number, e.g. https://fhir.nhs.uk/Id/nhs-number|9434765919; comma = OR`,
      },
      {
        name: 'code',
        type: 'token',
        documentation:
          'List.code, e.g. https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes|submissionset; with or without system',
      },
      { name: 'status', type: 'token', documentation: 'current (SubmissionSets are stored current)' },
      { name: 'date', type: 'date', documentation: 'List.date (submission time); prefixes eq ne lt gt le ge sa eb ap' },
      { name: '_id', type: 'token', documentation: 'Logical id of the List; comma = OR' },
    ],
    documentation:
      'IHE MHD SubmissionSets stored by ITI-65 (POST /fhir); ITI-66 Find Lists. _count (default 20, max 500) limits ' +
      'the page, newest first; there are no next links; _format (json | xml) picks the response format. Unknown ' +
      'parameters are ignored and reported, or refused with 400 under Prefer: handling=strict',
  },
  {
    type: 'Subscription',
    interactions: ['create', 'read', 'update', 'delete', 'search-type'],
    searchParams: [
      { name: 'status', type: 'token', documentation: 'requested | active | error | off' },
      { name: 'url', type: 'uri', documentation: 'channel.endpoint' },
      { name: 'criteria', type: 'string', documentation: 'The criteria string, exactly' },
    ],
    documentation:
      'Subscriptions owned by the creating organisation: classic R4 criteria (a DocumentReference search) or ' +
      'the R5 Subscriptions Backport IG topics SubscriptionTopic/document-available and SubscriptionTopic/delivery-status ' +
      "(a sender hears of its documents' delivery Tasks accepted, rejected or overdue); $status and $events operations. " +
      'channel.type rest-hook or message (a FHIR message Bundle, MessageHeader focus the DocumentReference, POSTed to ' +
      '{endpoint}/$process-message; payload application/fhir+json or application/fhir+xml); notifications signed per ' +
      'Standard Webhooks',
  },
  {
    type: 'Task',
    interactions: ['read', 'update', 'patch', 'search-type'],
    searchParams: Object.entries(TASK_SEARCH_PARAMETERS).map(([name, documentation]) => ({
      name,
      type: name === '_lastUpdated' ? 'date' : name === 'focus' ? 'reference' : 'token',
      documentation,
    })),
    documentation:
      'Delivery tracking: one Task per (document, recipient organisation), created with the DocumentReference. ' +
      'businessStatus stored -> notified (a notification to the recipient answered 2xx) -> retrieved (the recipient read ' +
      'the document) -> accepted | rejected (the recipient answers with PATCH or PUT: status completed or rejected, ' +
      'statusReason an ITK3 code 30001, 30002 or 30003, or text); closed when the document is superseded or withdrawn. ' +
      'Visible to its recipient (owner) and sender (requester) only; a search must name your organisation as one of them',
  },
  {
    type: 'AuditEvent',
    interactions: ['read', 'search-type'],
    searchParams: [
      { name: 'patient.identifier', type: 'token', documentation: "The patient's NHS number (system|value)" },
      {
        name: 'date',
        type: 'date',
        documentation: 'AuditEvent.recorded, with prefixes ge le gt lt eq; repeat for AND',
      },
      { name: 'agent', type: 'token', documentation: "The token's sub, or the agent organisation's ODS code" },
      { name: 'entity', type: 'reference', documentation: 'A resource touched, e.g. DocumentReference/123' },
      { name: 'action', type: 'token', documentation: 'C | R | U | D | E' },
    ],
    documentation:
      'Append-only, hash-chained record of every access (IHE BALP, MHD audit profiles); npm run audit:verify',
  },
];

/** System-level interactions (POST /fhir): the transaction is the IHE MHD ITI-65 Provide Document Bundle. */
export const SYSTEM_INTERACTIONS: { code: 'transaction'; documentation: string }[] = [
  {
    code: 'transaction',
    documentation:
      'IHE MHD ITI-65 Provide Document Bundle only: one SubmissionSet List, DocumentReferences, their Binary or document ' +
      'Bundle content, optional Patient and Organization entries; all POST with urn:uuid fullUrls; all-or-nothing. Needs ' +
      'system/DocumentReference.c, plus system/Binary.c and system/Bundle.c when those entries are present',
  },
];

/** The HTTP method and path (Fastify pattern) that serve each interaction. */
export function routeOf(type: string, interaction: TypeInteraction): { method: string; url: string } {
  switch (interaction) {
    case 'read':
      return { method: 'GET', url: `/fhir/${type}/:id` };
    case 'vread':
      return { method: 'GET', url: `/fhir/${type}/:id/_history/:vid` };
    case 'update':
      return { method: 'PUT', url: `/fhir/${type}/:id` };
    case 'patch':
      return { method: 'PATCH', url: `/fhir/${type}/:id` };
    case 'delete':
      return { method: 'DELETE', url: `/fhir/${type}/:id` };
    case 'history-instance':
      return { method: 'GET', url: `/fhir/${type}/:id/_history` };
    case 'create':
      return { method: 'POST', url: `/fhir/${type}` };
    case 'search-type':
      return { method: 'GET', url: `/fhir/${type}` };
  }
}
