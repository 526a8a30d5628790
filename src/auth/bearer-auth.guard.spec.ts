import { jest } from '@jest/globals';
import { Controller, Get, Logger, type Type } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import type { FastifyRequest } from 'fastify';
import { FhirError, unauthorized } from '../common/fhir-error.js';
import type { AccessTokenVerifier } from './access-token-verifier.js';
import { Public, RequireAdmin, RequireScope } from './access-rule.decorator.js';
import { AuthFailureRecorder } from './auth-failure-recorder.js';
import { BearerAuthGuard } from './bearer-auth.guard.js';
import { ClientRateLimiter } from './client-rate-limiter.js';
import type { AppConfig } from '../config/app-config.js';
import { type Principal, principalOf } from './principal.js';
import { parseScopes } from './smart-scopes.js';

const unlimited = new ClientRateLimiter({ rateLimitPerMinute: Number.MAX_SAFE_INTEGER } as AppConfig);

@Controller('documents')
class DocumentsController {
  @Public()
  @Get('metadata')
  capabilities(): void {}

  @RequireScope('DocumentReference', 's')
  @Get()
  search(): void {}

  @RequireAdmin()
  @Get('purge')
  purge(): void {}

  @Get('forgotten')
  forgotten(): void {}
}

@RequireScope('Binary', 'r')
@Controller('binaries')
class BinariesController {
  @Get(':id')
  read(): void {}

  @Public()
  @Get('public')
  open(): void {}
}

class RecordingFailures extends AuthFailureRecorder {
  readonly failures: FhirError[] = [];
  override recordFailure(_request: FastifyRequest, error: FhirError): Promise<void> {
    this.failures.push(error);
    return Promise.resolve();
  }
}

function principal(scope: string): Principal {
  return { subject: 'alice', organization: 'RTG', scopes: parseScopes(scope) };
}

function requestWith(authorization?: string): FastifyRequest {
  return { headers: authorization ? { authorization } : {}, raw: {} } as unknown as FastifyRequest;
}

describe('BearerAuthGuard', () => {
  let verify: jest.Mock<(token: string) => Promise<Principal>>;
  let recorder: RecordingFailures;
  let guard: BearerAuthGuard;

  beforeEach(() => {
    verify = jest.fn<(token: string) => Promise<Principal>>();
    recorder = new RecordingFailures();
    guard = new BearerAuthGuard(new Reflector(), { verify } as unknown as AccessTokenVerifier, recorder, unlimited);
  });

  function run(controller: Type, method: string, request: FastifyRequest): Promise<boolean> {
    const handler = (controller.prototype as Record<string, () => void>)[method];
    return guard.canActivate(new ExecutionContextHost([request, {}], controller, handler));
  }

  async function refusal(promise: Promise<boolean>): Promise<FhirError> {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!(error instanceof FhirError)) {
      throw new Error(`expected a FhirError, got ${String(error)}`);
    }
    return error;
  }

  const documents = DocumentsController;
  const binaries = BinariesController;

  it('lets a public route through without a token or a verification', async () => {
    await expect(run(documents, 'capabilities', requestWith())).resolves.toBe(true);
    expect(verify).not.toHaveBeenCalled();
  });

  it('answers 401 with a Bearer challenge when the token is missing', async () => {
    const error = await refusal(run(documents, 'search', requestWith()));
    expect(error.status).toBe(401);
    expect(error.issues[0].code).toBe('login');
    expect(error.headers['www-authenticate']).toBe('Bearer');
    expect(error.message).toMatch(/requires a Bearer access token/);
    expect(verify).not.toHaveBeenCalled();
    expect(recorder.failures).toEqual([error]);
  });

  it('answers 401 when the Authorization header uses another scheme', async () => {
    const error = await refusal(run(documents, 'search', requestWith('Basic YWxpY2U6c2VjcmV0')));
    expect(error.status).toBe(401);
    expect(error.message).toMatch(/must be "Bearer <access token>"/);
  });

  it('passes the verifier 401 through and records it', async () => {
    const expired = unauthorized('The access token expired at 2020-01-01T00:00:00.000Z');
    verify.mockRejectedValue(expired);
    const error = await refusal(run(documents, 'search', requestWith('Bearer abc.def.ghi')));
    expect(error).toBe(expired);
    expect(error.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
    expect(verify).toHaveBeenCalledWith('abc.def.ghi');
    expect(recorder.failures).toEqual([expired]);
  });

  it('allows a token whose scopes grant the interaction and puts the principal on the request', async () => {
    const caller = principal('system/DocumentReference.rs');
    verify.mockResolvedValue(caller);
    const request = requestWith('bearer abc.def.ghi');
    await expect(run(documents, 'search', request)).resolves.toBe(true);
    expect(principalOf(request)).toBe(caller);
    expect(principalOf(request.raw)).toBe(caller);
    expect(recorder.failures).toEqual([]);
  });

  it('answers 403 naming the missing scope', async () => {
    verify.mockResolvedValue(principal('system/DocumentReference.r system/Binary.s'));
    const error = await refusal(run(documents, 'search', requestWith('Bearer abc.def.ghi')));
    expect(error.status).toBe(403);
    expect(error.issues[0].code).toBe('forbidden');
    expect(error.message).toContain('requires scope system/DocumentReference.s');
    expect(error.headers['www-authenticate']).toBe(
      'Bearer error="insufficient_scope", scope="system/DocumentReference.s"',
    );
    expect(recorder.failures).toEqual([error]);
  });

  it('refuses a route without an access rule with 403, even with a good token', async () => {
    verify.mockResolvedValue(principal('system/*.cruds admin'));
    const error = await refusal(run(documents, 'forgotten', requestWith('Bearer abc.def.ghi')));
    expect(error.status).toBe(403);
    expect(error.message).toMatch(/declares no access rule/);
    expect(verify).not.toHaveBeenCalled();
  });

  it('demands the admin scope on operator routes', async () => {
    verify.mockResolvedValue(principal('system/*.cruds'));
    const error = await refusal(run(documents, 'purge', requestWith('Bearer abc.def.ghi')));
    expect(error.status).toBe(403);
    expect(error.message).toMatch(/requires the admin scope/);

    verify.mockResolvedValue(principal('admin'));
    await expect(run(documents, 'purge', requestWith('Bearer abc.def.ghi'))).resolves.toBe(true);
  });

  it('applies a class-level rule to its handlers and lets a handler rule override it', async () => {
    verify.mockResolvedValue(principal('system/DocumentReference.cruds'));
    const error = await refusal(run(binaries, 'read', requestWith('Bearer abc.def.ghi')));
    expect(error.message).toContain('system/Binary.r');
    await expect(run(binaries, 'open', requestWith())).resolves.toBe(true);
  });

  it('keeps the refusal when recording it fails', async () => {
    const failing = new (class extends AuthFailureRecorder {
      override recordFailure(): Promise<void> {
        return Promise.reject(new Error('audit store down'));
      }
    })();
    const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    guard = new BearerAuthGuard(new Reflector(), { verify } as unknown as AccessTokenVerifier, failing, unlimited);
    const error = await refusal(run(documents, 'search', requestWith()));
    expect(error.status).toBe(401);
    expect(logged).toHaveBeenCalledWith(expect.stringContaining('audit store down'));
    logged.mockRestore();
  });
});
