import { Injectable } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import { FhirError } from '../common/fhir-error.js';

/** Probes a load balancer or orchestrator keeps asking while the process drains. */
const PROBES = new Set(['/health/live', '/health/ready']);
// a client refused during a drain should try again at once: another replica takes it
const RETRY_AFTER_SECONDS = '1';

/**
 * Whether the process was told to stop (SIGTERM): from then on readiness answers 503, requests already running
 * finish, and requests that still arrive on open connections are refused with 503 before they touch anything.
 */
@Injectable()
export class Draining {
  private startedAt?: number;

  get active(): boolean {
    return this.startedAt !== undefined;
  }

  begin(): void {
    this.startedAt ??= Date.now();
  }
}

/**
 * While draining, a request that arrives is refused with 503, Retry-After and an OperationOutcome (except the health
 * probes), and its connection closed after the answer. The answers already running get Connection: close from
 * bootstrap's drain, not from an onSend hook here: with one, a client that stopped reading a streamed Binary was no
 * longer cut off at SOCKET_IDLE_TIMEOUT_MS (abusive-clients fault test).
 */
export function refuseWhileDraining(fastify: FastifyInstance, draining: Draining): void {
  fastify.addHook('onRequest', (request, reply, done) => {
    if (!draining.active) {
      done();
      return;
    }
    void reply.header('connection', 'close');
    done(
      PROBES.has(request.url.split('?')[0])
        ? undefined
        : new FhirError(503, 'transient', 'The server is shutting down: send the request again (to another instance)', {
            headers: { 'retry-after': RETRY_AFTER_SECONDS },
          }),
    );
  });
}
