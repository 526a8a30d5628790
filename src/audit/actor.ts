import { randomUUID } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import type { FastifyRequest } from 'fastify';
import { principalOf } from '../auth/principal.js';
import { correlationIdOf } from '../common/request-ids.js';
import { NHS_NUMBER_SYSTEM, ODS_SYSTEM } from './audit-event-resource.js';

/** Who made a request and how to find it again in the logs: what every AuditEvent says about its caller. */
export interface Actor {
  /** The access token's `sub`; absent when the request carried no valid token. */
  subject?: string;
  clientId?: string;
  /** ODS code of the caller's organisation. */
  organization?: string;
  /** The token's `jti`, recorded as the agent's policy (BALP OAuth pattern). */
  tokenId?: string;
  ip: string;
  /** X-Request-ID as sent, or the UUID the server generated. */
  requestId: string;
  /** The caller's X-Correlation-ID when it is a clean id, else the request id (common/request-ids.ts). */
  correlationId?: string;
}

/** What a request touched, for AuditEvent.entity. */
export interface AuditEntity {
  /** Relative reference, e.g. `DocumentReference/123`; for a query, the resource type searched. */
  reference?: string;
  /** `resource` (default, object-role 4 Domain Resource), `document` (3 Report) or `query` (24 Query). */
  role?: 'resource' | 'document' | 'query';
  /** For a query: the query string as received (stored base64 in AuditEvent.entity.query). */
  query?: string;
}

/** What a handler tells the audit hook about its request. */
export interface AuditContext {
  entities: AuditEntity[];
  patientNhsNumbers: string[];
  /** ODS codes of the custodians of the documents the request touched. */
  custodianOrgs: string[];
  /** A search's parameters as the handler received them (POST _search: the URL's and the form body's). */
  query?: string;
  /** Overrides the subtype the hook derives from the method and path (e.g. `withdraw`). */
  subtype?: string;
  /** True once an AuditEvent for this request is stored (in the service's transaction, or by the auth recorder). */
  recorded: boolean;
}

// request ids and correlation ids come from clients: bounded so a long header cannot make the audit write fail
const MAX_ID_LENGTH = 200;

const contexts = new WeakMap<object, AuditContext>();

// the raw Node request is shared by Nest handlers and Fastify hooks, so it is the one key both can reach
const keyOf = (request: object): object => {
  const raw = (request as { raw?: unknown }).raw;
  return typeof raw === 'object' && raw !== null ? raw : request;
};

const bounded = (value: string): string => value.slice(0, MAX_ID_LENGTH);

/** The caller of a request: the verified principal (if any), its address and its request/correlation ids. */
export function actorOf(request: FastifyRequest): Actor {
  const principal = principalOf(request);
  return {
    subject: principal?.subject,
    clientId: principal?.clientId,
    organization: principal?.organization,
    tokenId: principal?.tokenId,
    ip: request.ip,
    requestId: bounded(String(request.id)),
    correlationId: correlationIdOf(request),
  };
}

/**
 * An operator running an administrative command on a server host (no token, no HTTP request): the command and the
 * account that ran it stand as the client, the host as the network address, and a fresh id as the request id.
 */
export function operatorActor(command: string): Actor {
  let account = 'unknown account';
  try {
    account = userInfo().username;
  } catch {
    // a uid without a passwd entry (some containers)
  }
  return { clientId: bounded(`${command} (${account})`), ip: hostname().slice(0, 64), requestId: randomUUID() };
}

/** The audit context of a request, created on first use; handlers add what they touched to it. */
export function auditContext(request: object): AuditContext {
  const key = keyOf(request);
  let context = contexts.get(key);
  if (!context) {
    context = { entities: [], patientNhsNumbers: [], custodianOrgs: [], recorded: false };
    contexts.set(key, context);
  }
  return context;
}

interface IdentifiedBy {
  identifier?: { system?: unknown; value?: unknown };
}

/**
 * Notes what a DocumentReference names for the audit trail: its patient's NHS number, and its custodian (the stored
 * owner when the caller knows it, else the resource's custodian ODS code).
 */
export function auditDocument(context: AuditContext, document: object, custodianOds?: string | null): void {
  const { subject: named, custodian: held } = document as { subject?: IdentifiedBy; custodian?: IdentifiedBy };
  const subject = named?.identifier;
  if (subject?.system === NHS_NUMBER_SYSTEM && typeof subject.value === 'string') {
    context.patientNhsNumbers.push(subject.value);
  }
  const custodian = held?.identifier;
  const declared =
    custodian?.system === ODS_SYSTEM && typeof custodian.value === 'string' ? custodian.value : undefined;
  const ods = custodianOds ?? declared;
  if (ods) {
    context.custodianOrgs.push(ods);
  }
}
