import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DATABASE_RETRY_AFTER_SECONDS, logFault } from '../common/error-response.js';
import { operationOutcome } from '../common/operation-outcome.js';
import { databaseFault } from '../database/database-faults.js';
import { outcomeBody } from '../fhir/content-negotiation.js';
import { parseFhirXml } from '../format/fhir-xml.js';
import { actorOf, auditContext } from './actor.js';
import type { AuditService } from './audit.service.js';
import type { RefusalTallyService } from './refusal-tally.service.js';
import { describeRequest, isAuditedRequest } from './request-audit.js';

const logger = new Logger('Audit');

// headers that describe the withheld representation and must not outlive it
const REPRESENTATION_HEADERS = [
  'content-length',
  'content-type',
  'content-range',
  'content-encoding',
  'content-disposition',
  'content-location',
  'accept-ranges',
  'etag',
  'last-modified',
  'location',
];

// OperationOutcome bodies are small; anything bigger is not worth parsing for a description
const MAX_OUTCOME_BYTES = 64 * 1024;

/** The first diagnostics of an OperationOutcome body, for AuditEvent.outcomeDesc. */
function outcomeText(payload: unknown): string | undefined {
  const text = Buffer.isBuffer(payload) ? payload.toString('utf8') : payload;
  if (typeof text !== 'string' || text.length > MAX_OUTCOME_BYTES || !text.includes('OperationOutcome')) {
    return undefined;
  }
  try {
    // Errors are written in the client's format, so the outcome may be XML.
    const outcome = (text.trimStart().startsWith('<') ? parseFhirXml(Buffer.from(text, 'utf8')) : JSON.parse(text)) as {
      resourceType?: string;
      issue?: { diagnostics?: string }[];
    };
    return outcome.resourceType === 'OperationOutcome' ? outcome.issue?.[0]?.diagnostics : undefined;
  } catch {
    return undefined;
  }
}

function headerValue(value: unknown): string | undefined {
  return typeof value === 'string' ? value : Array.isArray(value) ? String(value[0]) : undefined;
}

/**
 * Drops the response a client would otherwise get without an audit record, and answers 500 instead (503 with
 * Retry-After when the database is down: retry later).
 */
function withhold(reply: FastifyReply, payload: unknown, errorId: string, databaseDown: boolean): string {
  const stream = payload as { destroy?: () => void } | null;
  if (stream && typeof stream === 'object' && typeof stream.destroy === 'function') {
    stream.destroy();
  }
  for (const header of REPRESENTATION_HEADERS) {
    reply.removeHeader(header);
  }
  const { contentType, body } = outcomeBody(
    reply.request,
    operationOutcome([
      databaseDown
        ? {
            severity: 'error',
            code: 'no-store',
            diagnostics:
              'The request could not be audited because the database is not available, so its result is withheld; retry later',
          }
        : {
            severity: 'error',
            code: 'exception',
            diagnostics: `The request could not be audited, so its result is withheld (error id ${errorId})`,
          },
    ]),
  );
  reply.code(databaseDown ? 503 : 500).header('content-type', contentType);
  if (databaseDown) {
    reply.header('retry-after', String(DATABASE_RETRY_AFTER_SECONDS));
  }
  return body;
}

/**
 * Audits every request under /fhir (except the CapabilityStatement) that has no AuditEvent yet, before its response
 * leaves (refusals are counted per address and window instead: RefusalTallyService). When the write fails a
 * successful response is replaced by a 500: data must not leave unaudited.
 */
export function registerAuditHook(fastify: FastifyInstance, audit: AuditService, tally: RefusalTallyService): void {
  fastify.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (!isAuditedRequest(request.method, request.url)) {
      return payload;
    }
    const context = auditContext(request);
    if (context.recorded) {
      return payload;
    }
    const facts = {
      method: request.method,
      url: request.url,
      statusCode: reply.statusCode,
      location: headerValue(reply.getHeader('location')),
      outcomeText: reply.statusCode >= 400 ? outcomeText(payload) : undefined,
    };
    try {
      const input = { actor: actorOf(request), ...describeRequest(facts, context) };
      if (!tally.absorb(reply.statusCode, input)) {
        await audit.record(input);
      }
      context.recorded = true;
      return payload;
    } catch (error) {
      const errorId = randomUUID();
      const databaseDown = databaseFault(error) !== undefined;
      if (databaseDown) {
        // an outage fails every request's audit: counted, not logged one by one
        logFault('audit not written: database down', error instanceof Error ? error.message : String(error));
      } else {
        logger.error(
          // the route template, not the URL: a search's query names NHS numbers
          `Could not audit ${request.method} ${request.routeOptions.url ?? '(no route)'} (${reply.statusCode}), error id ${errorId}: ` +
            (error instanceof Error ? (error.stack ?? error.message) : String(error)),
        );
      }
      // a refusal carries no data, so it may still go out; anything else is withheld
      return reply.statusCode >= 400 ? payload : withhold(reply, payload, errorId, databaseDown);
    }
  });
}
