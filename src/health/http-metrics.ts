import type { FastifyInstance } from 'fastify';
import type { Metrics } from './metrics.service.js';

/**
 * Counts and times every response by route template (`/fhir/DocumentReference/:id`, never the raw URL, so the
 * series stay bounded); requests no route matched share one label.
 */
export function recordHttpMetrics(fastify: FastifyInstance, metrics: Metrics): void {
  fastify.addHook('onResponse', async (request, reply) => {
    const labels = {
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status: String(reply.statusCode),
    };
    metrics.httpRequests.inc(labels);
    metrics.httpDuration.observe(labels, reply.elapsedTime / 1000);
  });
}
