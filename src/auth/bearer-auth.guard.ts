import { type CanActivate, type ExecutionContext, Injectable, Logger } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { FhirError, forbidden } from '../common/fhir-error.js';
import { AccessTokenVerifier } from './access-token-verifier.js';
import { ACCESS_RULE, type AccessRule } from './access-rule.decorator.js';
import { AuthFailureRecorder } from './auth-failure-recorder.js';
import { ClientRateLimiter } from './client-rate-limiter.js';
import { setPrincipal } from './principal.js';
import { allows, hasAdminScope, type Interaction, scopeNeeded } from './smart-scopes.js';

/** The 403 for a missing SMART scope, naming the scope (also for services that check scopes themselves). */
export function insufficientScope(resourceType: string, interaction: Interaction): FhirError {
  const scope = scopeNeeded(resourceType, interaction);
  return new FhirError(
    403,
    'forbidden',
    `This request requires scope ${scope}, which the access token does not grant`,
    {
      headers: { 'www-authenticate': `Bearer error="insufficient_scope", scope="${scope}"` },
    },
  );
}

// RFC 6750 §3.1: a request with no credentials gets a challenge without an error code
function missingToken(message: string): FhirError {
  return new FhirError(401, 'login', message, { headers: { 'www-authenticate': 'Bearer' } });
}

function bearerToken(request: FastifyRequest): string {
  const header = request.headers.authorization;
  if (!header) {
    throw missingToken('This request requires a Bearer access token in the Authorization header');
  }
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  if (!match) {
    throw missingToken('The Authorization header must be "Bearer <access token>"');
  }
  return match[1];
}

/**
 * Global guard: every route must declare @Public(), @RequireScope() or @RequireAdmin(). A route that declares
 * none is refused with 403 (deny by default), so a forgotten decorator fails closed rather than open.
 */
@Injectable()
export class BearerAuthGuard implements CanActivate {
  private readonly logger = new Logger(BearerAuthGuard.name);

  constructor(
    private readonly reflector: Reflector,
    private readonly verifier: AccessTokenVerifier,
    private readonly recorder: AuthFailureRecorder,
    private readonly limiter: ClientRateLimiter,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const rule = this.reflector.getAllAndOverride<AccessRule | undefined>(ACCESS_RULE, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (rule?.kind === 'public') {
      return true;
    }
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    if (!rule || context.getType() !== 'http') {
      const error = forbidden('This route declares no access rule, so it is closed to everyone');
      await this.record(request, error);
      throw error;
    }
    await this.authorize(request, rule);
    return true;
  }

  /**
   * Verifies the request's bearer token against `rule` (and the client's rate limit); a refusal is audited and
   * thrown. Also guards the Fastify routes Nest does not see (the queue dashboard).
   */
  async authorize(request: FastifyRequest, rule: Exclude<AccessRule, { kind: 'public' }>): Promise<void> {
    try {
      const principal = await this.verifier.verify(bearerToken(request));
      setPrincipal(request, principal);
      // before the scope check, so a client cannot flood the audit trail with 403s either
      await this.limiter.admit(principal);
      if (rule.kind === 'admin') {
        if (!hasAdminScope(principal.scopes)) {
          throw new FhirError(403, 'forbidden', 'This operator page requires the admin scope', {
            headers: { 'www-authenticate': 'Bearer error="insufficient_scope", scope="admin"' },
          });
        }
      } else if (!allows(principal.scopes, rule.resourceType, rule.interaction)) {
        throw insufficientScope(rule.resourceType, rule.interaction);
      }
    } catch (error) {
      if (error instanceof FhirError && (error.status === 401 || error.status === 403)) {
        await this.record(request, error);
      }
      throw error;
    }
  }

  private async record(request: FastifyRequest, error: FhirError): Promise<void> {
    try {
      await this.recorder.recordFailure(request, error);
    } catch (recordError) {
      // the refusal must stand even when auditing it fails
      this.logger.error(`Could not record a refused request: ${String(recordError)}`);
    }
  }
}
