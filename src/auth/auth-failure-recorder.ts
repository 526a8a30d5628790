import { Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { FhirError } from '../common/fhir-error.js';

/** Port through which refused requests (401/403) reach the audit trail; the audit module provides the real one. */
export abstract class AuthFailureRecorder {
  /** Called once per refused request, before the error is thrown; must not throw for the refusal to stand. */
  abstract recordFailure(request: FastifyRequest, error: FhirError): Promise<void>;
}

/** Default until auditing is wired in: records nothing. */
@Injectable()
export class NoopAuthFailureRecorder extends AuthFailureRecorder {
  override async recordFailure(): Promise<void> {}
}
