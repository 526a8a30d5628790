import { Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AuthFailureRecorder } from '../auth/auth-failure-recorder.js';
import type { FhirError } from '../common/fhir-error.js';
import { actorOf, auditContext } from './actor.js';
import { AuditService } from './audit.service.js';
import { RefusalTallyService } from './refusal-tally.service.js';
import { describeRequest } from './request-audit.js';

/**
 * Audits every request the guard refuses (401 login-failure, 403 forbidden), on any route, with the refusal's message:
 * 401s counted per address and window, a verified caller's 403 at once. It marks the request recorded, so the audit
 * hook does not write a second event for the same response.
 */
@Injectable()
export class AuditAuthFailureRecorder extends AuthFailureRecorder {
  constructor(
    private readonly audit: AuditService,
    private readonly tally: RefusalTallyService,
  ) {
    super();
  }

  override async recordFailure(request: FastifyRequest, error: FhirError): Promise<void> {
    const context = auditContext(request);
    const facts = { method: request.method, url: request.url, statusCode: error.status, outcomeText: error.message };
    const input = { actor: actorOf(request), ...describeRequest(facts, context) };
    if (!this.tally.absorb(error.status, input)) {
      await this.audit.record(input);
    }
    context.recorded = true;
  }
}
