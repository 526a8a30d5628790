import type { FastifyInstance } from 'fastify';
import { checkSearchSize } from '../common/search-limits.js';

/** Holds every query string to the search size limits, whichever route reads it (Subscription search included). */
export function registerQueryLimits(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, _reply, done) => {
    const question = request.url.indexOf('?');
    if (question < 0) {
      done();
      return;
    }
    try {
      checkSearchSize(new URLSearchParams(request.url.slice(question + 1)));
      done();
    } catch (error) {
      done(error as Error);
    }
  });
}
