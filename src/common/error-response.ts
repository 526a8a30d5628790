import { randomUUID } from 'node:crypto';
import { HttpException, Logger } from '@nestjs/common';
import { databaseFault } from '../database/database-faults.js';
import { FhirError } from './fhir-error.js';
import type { IssueCode, OperationOutcome } from './operation-outcome.js';

export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  outcome: OperationOutcome;
}

const logger = new Logger('Errors');

/** The longest path segment (an id) the router accepts; FHIR ids stop at 64 characters. */
export const MAX_PATH_SEGMENT = 200;

/** FHIR issue code for an HTTP status that reached us as a framework error rather than a FhirError. */
function issueCodeFor(status: number): IssueCode {
  switch (status) {
    case 401:
      return 'login';
    case 403:
      return 'forbidden';
    case 404:
      return 'not-found';
    case 405:
    case 406:
    case 415:
      return 'not-supported';
    case 409:
    case 412:
      return 'conflict';
    case 413:
    case 414:
    case 431:
      return 'too-long';
    case 408:
    case 504:
      return 'timeout';
    case 429:
      return 'throttled';
    default:
      return status >= 500 ? 'exception' : 'invalid';
  }
}

/** Fastify's own errors carry a statusCode and an FST_* code; their messages are safe to show. */
function isFastifyError(error: unknown): error is Error & { statusCode: number; code?: string } {
  return error instanceof Error && typeof (error as { statusCode?: unknown }).statusCode === 'number';
}

// Fastify's own messages for these quote the URL or a header back; ours say what is wrong without echoing it.
const FASTIFY_MESSAGES: Readonly<Record<string, string>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'The request body is larger than this route accepts',
  FST_ERR_BAD_URL: 'The request URL is not valid: a percent-encoded sequence in its path does not decode',
  FST_ERR_MAX_PARAM_LENGTH: `A path segment of the request URL is longer than ${MAX_PATH_SEGMENT} characters`,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'The Content-Type of the request is not one this route accepts',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'The Content-Length header does not match the request body',
};

/** Seconds a client is told to wait when the database is down, full or too slow. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

/**
 * Logs a dependency fault (database or blob store down or full) at most once per kind per LOG_EVERY_MS, with how
 * many there were: an outage under load is thousands of them.
 */
const LOG_EVERY_MS = 10_000;
const faultLog = new Map<string, { loggedAt: number; unlogged: number }>();

export function logFault(kind: string, detail: string): void {
  const now = Date.now();
  const entry = faultLog.get(kind) ?? { loggedAt: 0, unlogged: 0 };
  if (now - entry.loggedAt < LOG_EVERY_MS) {
    entry.unlogged += 1;
    faultLog.set(kind, entry);
    return;
  }
  const more = entry.unlogged > 0 ? ` (and ${entry.unlogged} more since the last report)` : '';
  logger.warn(`Answered ${kind}: ${detail}${more}`);
  faultLog.set(kind, { loggedAt: now, unlogged: 0 });
}

const DATABASE_FAULTS = {
  // statement_timeout (SQLSTATE 57014): overload, not a bug in the request
  timeout: { status: 503, code: 'timeout', diagnostics: 'The database did not answer in time; retry later' },
  unavailable: {
    status: 503,
    code: 'no-store',
    // a connection lost during COMMIT leaves the outcome unknown: a retry of a submission is answered as one if it was kept
    diagnostics: 'The database is not available; retry later',
  },
  full: {
    status: 507,
    code: 'no-store',
    diagnostics: 'The database has no room left; nothing was stored: retry later',
  },
} as const;

function outcome(code: IssueCode, diagnostics: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] };
}

/** Turns anything thrown into an OperationOutcome response; unknown errors get an id that is logged, never a stack. */
export function toErrorResponse(error: unknown): ErrorResponse {
  if (error instanceof FhirError) {
    if (error.status === 503 || error.status === 507) {
      logFault(`${error.status} ${error.name}`, error.message);
    }
    return { status: error.status, headers: error.headers, outcome: error.outcome };
  }
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const message = status === 404 ? 'No such route: check the resource type and path' : error.message;
    return { status, headers: {}, outcome: outcome(issueCodeFor(status), message) };
  }
  if (isFastifyError(error) && error.statusCode >= 400 && error.statusCode < 500) {
    const message = FASTIFY_MESSAGES[error.code ?? ''] ?? error.message;
    return { status: error.statusCode, headers: {}, outcome: outcome(issueCodeFor(error.statusCode), message) };
  }
  const fault = databaseFault(error);
  if (fault) {
    const { status, code, diagnostics } = DATABASE_FAULTS[fault];
    logFault(`${status} database ${fault}`, error instanceof Error ? error.message : String(error));
    return {
      status,
      headers: { 'retry-after': String(DATABASE_RETRY_AFTER_SECONDS) },
      outcome: outcome(code, diagnostics),
    };
  }
  const errorId = randomUUID();
  logger.error(
    `Unhandled error ${errorId}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  );
  return {
    status: 500,
    headers: {},
    outcome: outcome('exception', `The server failed to process the request (error id ${errorId})`),
  };
}
