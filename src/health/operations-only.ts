import type { FastifyInstance } from 'fastify';
import { notFound } from '../common/fhir-error.js';

const OPERATIONS_PATHS = new Set(['/health/live', '/health/ready', '/metrics']);

/**
 * A worker-only process (APP_ROLES=worker) listens for its own health and metrics, which hold the delivery counters
 * recorded there, and answers 404 to everything else: the FHIR API is the api role's.
 */
export function serveOperationsOnly(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, _reply, done) => {
    const path = request.url.split('?')[0];
    done(
      OPERATIONS_PATHS.has(path)
        ? undefined
        : notFound(`This is a worker process: it serves only ${[...OPERATIONS_PATHS].join(', ')}`),
    );
  });
}
