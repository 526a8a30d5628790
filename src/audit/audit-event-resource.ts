import type { Actor, AuditEntity } from './actor.js';

/** AuditEvent.action: Create, Read, Update, Delete, Execute (searches and operations). */
export type AuditAction = 'C' | 'R' | 'U' | 'D' | 'E';

/** AuditEvent.outcome: success, minor failure, serious failure, major failure. */
export type AuditOutcome = '0' | '4' | '8' | '12';

/** The IHE MHD transactions this server takes part in, as Document Recipient / Responder. */
export type IheTransaction = 'ITI-65' | 'ITI-67' | 'ITI-68';

/** One thing that happened, as the services and the hook describe it. */
export interface AuditInput {
  actor: Actor;
  action: AuditAction;
  /** create, read, vread, search, update, patch, delete, history, withdraw, notify, login (a token issued), login-failure, forbidden ... */
  subtype: string;
  outcome: AuditOutcome;
  outcomeDescription?: string;
  entities: AuditEntity[];
  patientNhsNumbers?: string[];
  /** ODS codes of the custodians of the documents concerned: their auditors see the event too. */
  custodianOrgs?: string[];
  transaction?: IheTransaction;
  /** For an event that stands for several alike requests (refusals counted per address and window). */
  aggregate?: { count: number; start: Date; end: Date };
  /** Why an operator did this (a purge's legal ground): AuditEvent.purposeOfEvent text. */
  reason?: string;
  /** What an administrative job found and did (a sweep's counts): details of a Job entity. */
  details?: { type: string; value: string }[];
}

/** This server, as the observer of every event. */
export interface AuditObserver {
  baseUrl: string;
  /** Issuer of access tokens: the namespace of the `sub` recorded as the user's identifier. */
  issuer: string;
}

export type AuditEventResource = Record<string, unknown> & { resourceType: 'AuditEvent'; id: string };

interface Coding {
  system: string;
  code: string;
  display?: string;
}

export const NHS_NUMBER_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';
export const ODS_SYSTEM = 'https://fhir.nhs.uk/Id/ods-organization-code';
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const IHE_EVENT = 'urn:ihe:event-type-code';
const REST_INTERACTION = 'http://hl7.org/fhir/restful-interaction';
const LOCAL_SUBTYPE = 'urn:fhir-document-registry:audit-subtype';
/** Extension on an aggregate AuditEvent: how many requests it stands for (AuditEvent.period says when). */
export const AUDIT_COUNT_EXTENSION = 'urn:fhir-document-registry:audit-event-count';
const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';

const REST_TYPE: Coding = {
  system: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
  code: 'rest',
  display: 'RESTful Operation',
};

// MHD (ITI TF-2 3.65-3.68): the audit type and name of each transaction at the recipient/responder
const TRANSACTIONS: Record<IheTransaction, { type: Coding; name: string }> = {
  'ITI-65': { type: { system: DCM, code: '110107', display: 'Import' }, name: 'Provide Document Bundle' },
  'ITI-67': { type: { system: DCM, code: '110112', display: 'Query' }, name: 'Find Document References' },
  'ITI-68': { type: { system: DCM, code: '110106', display: 'Export' }, name: 'Retrieve Document' },
};

// our subtypes that are FHIR RESTful interactions (http://hl7.org/fhir/restful-interaction)
const REST_INTERACTIONS: Record<string, string> = {
  create: 'create',
  read: 'read',
  vread: 'vread',
  update: 'update',
  patch: 'patch',
  delete: 'delete',
  history: 'history-instance',
  search: 'search-type',
  'search-system': 'search-system',
  capabilities: 'capabilities',
  transaction: 'transaction',
  batch: 'batch',
  operation: 'operation',
};

const SOURCE_ROLE: Coding = { system: DCM, code: '110153', display: 'Source Role ID' };
const DESTINATION_ROLE: Coding = { system: DCM, code: '110152', display: 'Destination Role ID' };

const ENTITY_ROLES: Record<NonNullable<AuditEntity['role']>, Coding> = {
  resource: { system: OBJECT_ROLE, code: '4', display: 'Domain Resource' },
  document: { system: OBJECT_ROLE, code: '3', display: 'Report' },
  query: { system: OBJECT_ROLE, code: '24', display: 'Query' },
};
const JOB_ROLE: Coding = { system: OBJECT_ROLE, code: '20', display: 'Job' };
const SYSTEM_OBJECT: Coding = { system: ENTITY_TYPE, code: '2', display: 'System Object' };

function eventType(input: AuditInput): { type: Coding; subtype: Coding[] } {
  const rest = REST_INTERACTIONS[input.subtype];
  const restCoding: Coding[] = rest ? [{ system: REST_INTERACTION, code: rest }] : [];
  if (input.subtype === 'login' || input.subtype === 'login-failure') {
    return {
      type: { system: DCM, code: '110114', display: 'User Authentication' },
      subtype: [{ system: DCM, code: '110122', display: 'Login' }],
    };
  }
  if (input.subtype === 'login' || input.subtype === 'logout') {
    // a clinician viewer session starting or ending (the API itself has no sessions)
    return {
      type: { system: DCM, code: '110114', display: 'User Authentication' },
      subtype: [
        input.subtype === 'login'
          ? { system: DCM, code: '110122', display: 'Login' }
          : { system: DCM, code: '110123', display: 'Logout' },
      ],
    };
  }
  if (input.subtype === 'throttled') {
    return {
      type: { system: DCM, code: '110113', display: 'Security Alert' },
      subtype: [{ system: LOCAL_SUBTYPE, code: 'throttled' }],
    };
  }
  if (input.subtype === 'forbidden') {
    return {
      type: { system: DCM, code: '110113', display: 'Security Alert' },
      subtype: [{ system: DCM, code: '110132', display: 'Use of Restricted Function' }],
    };
  }
  if (input.transaction) {
    const { type, name } = TRANSACTIONS[input.transaction];
    return { type, subtype: [{ system: IHE_EVENT, code: input.transaction, display: name }, ...restCoding] };
  }
  return { type: REST_TYPE, subtype: rest ? restCoding : [{ system: LOCAL_SUBTYPE, code: input.subtype }] };
}

function agents(input: AuditInput, observer: AuditObserver): unknown[] {
  const { actor } = input;
  // BALP: whoever the data flows from is the Source; a client that writes is the source, one that reads the destination
  const clientWrites = input.action === 'C' || input.action === 'U' || input.action === 'D';
  const list: unknown[] = [];
  if (actor.subject) {
    list.push({
      type: {
        coding: [{ system: 'https://profiles.ihe.net/ITI/BALP/CodeSystem/UserAgentTypes', code: 'UserOauthAgent' }],
      },
      who: { identifier: { system: observer.issuer, value: actor.subject } },
      requestor: true,
      ...(actor.tokenId ? { policy: [actor.tokenId] } : {}),
    });
  }
  list.push({
    type: { coding: [clientWrites ? SOURCE_ROLE : DESTINATION_ROLE] },
    who: actor.clientId ? { identifier: { value: actor.clientId } } : { display: 'client' },
    requestor: !actor.subject,
    network: { address: actor.ip, type: '2' },
  });
  if (actor.organization) {
    // modelled on BALP's agent[userorg]: the organisation the user acts for
    list.push({
      type: {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/v3-RoleClass',
            code: 'PROV',
            display: 'healthcare provider',
          },
        ],
      },
      who: { identifier: { system: ODS_SYSTEM, value: actor.organization } },
      requestor: false,
    });
  }
  list.push({
    type: { coding: [clientWrites ? DESTINATION_ROLE : SOURCE_ROLE] },
    who: { identifier: { value: observer.baseUrl }, display: 'FHIR document registry' },
    requestor: false,
    network: { address: observer.baseUrl, type: '5' },
  });
  return list;
}

function entities(input: AuditInput): unknown[] {
  const list: unknown[] = input.entities.map((entity) => {
    const role = ENTITY_ROLES[entity.role ?? 'resource'];
    if (entity.role === 'query') {
      return {
        type: SYSTEM_OBJECT,
        role,
        ...(entity.reference ? { description: `${entity.reference} search` } : {}),
        query: Buffer.from(entity.query ?? '', 'utf8').toString('base64'),
      };
    }
    return { what: { reference: entity.reference }, type: SYSTEM_OBJECT, role };
  });
  if (input.details?.length) {
    list.push({
      what: { display: input.subtype },
      type: SYSTEM_OBJECT,
      role: JOB_ROLE,
      detail: input.details.map((d) => ({ type: d.type, valueString: d.value })),
    });
  }
  for (const nhsNumber of input.patientNhsNumbers ?? []) {
    list.push({
      what: { identifier: { system: NHS_NUMBER_SYSTEM, value: nhsNumber } },
      type: { system: ENTITY_TYPE, code: '1', display: 'Person' },
      role: { system: OBJECT_ROLE, code: '1', display: 'Patient' },
    });
  }
  // BALP: the transport's X-Request-ID as an entity; the correlation id has no BALP code, so it rides as a detail
  list.push({
    what: { identifier: { value: input.actor.requestId } },
    type: {
      system: 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType',
      code: 'XrequestId',
      display: 'transport specific unique identifier where http X-Request-Id is used',
    },
    ...(input.actor.correlationId
      ? { detail: [{ type: 'X-Correlation-ID', valueString: input.actor.correlationId }] }
      : {}),
  });
  return list;
}

/**
 * An R4 AuditEvent for one access, after IHE BALP (RESTful and OAuth patterns) and the MHD audit profiles:
 * the user, client, organisation and this server as agents; the resources, patients, query and X-Request-ID as entities.
 */
export function buildAuditEvent(
  input: AuditInput,
  event: { id: string; recorded: Date; observer: AuditObserver },
): AuditEventResource {
  const { type, subtype } = eventType(input);
  const { aggregate } = input;
  return {
    resourceType: 'AuditEvent',
    id: event.id,
    ...(aggregate ? { extension: [{ url: AUDIT_COUNT_EXTENSION, valueInteger: aggregate.count }] } : {}),
    type,
    subtype,
    action: input.action,
    ...(aggregate ? { period: { start: aggregate.start.toISOString(), end: aggregate.end.toISOString() } } : {}),
    recorded: event.recorded.toISOString(),
    outcome: input.outcome,
    ...(input.outcome !== '0' && input.outcomeDescription ? { outcomeDesc: input.outcomeDescription } : {}),
    ...(input.reason ? { purposeOfEvent: [{ text: input.reason }] } : {}),
    agent: agents(input, event.observer),
    source: {
      site: event.observer.baseUrl,
      observer: { identifier: { value: event.observer.baseUrl }, display: 'FHIR document registry' },
      type: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/security-source-type',
          code: '4',
          display: 'Application Server',
        },
      ],
    },
    entity: entities(input),
  };
}
