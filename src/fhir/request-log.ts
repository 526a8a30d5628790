import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { principalOf } from '../auth/principal.js';
import { requestLogs } from '../common/app-logger.js';
import { correlationIdOf } from '../common/request-ids.js';

/**
 * One log line per request (its logger already carries the requestId): correlation id, organisation, method, route
 * template, status and latency. Never the raw URL (a search names NHS numbers), a header or a body.
 */
export function registerRequestLog(fastify: FastifyInstance): void {
  // after the body is read: stream events run outside any context entered earlier
  fastify.addHook('preHandler', (request, _reply, done) => {
    requestLogs.run(request.log, done);
  });
  fastify.addHook('onResponse', (request, reply, done) => {
    logRequest(request, reply);
    done();
  });
}

/** The request's log line; also called for the router's own errors, which skip the hooks. */
export function logRequest(request: FastifyRequest, reply: FastifyReply): void {
  request.log.info(
    {
      correlationId: correlationIdOf(request),
      organisation: principalOf(request)?.organization,
      method: request.method,
      route: request.routeOptions.url ?? null,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
    },
    'request',
  );
}
