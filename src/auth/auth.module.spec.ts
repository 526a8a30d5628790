import { jest } from '@jest/globals';
import {
  type ArgumentsHost,
  Catch,
  Controller,
  type ExceptionFilter,
  Get,
  Global,
  Injectable,
  Module,
  type Type,
} from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { FhirError } from '../common/fhir-error.js';
import { AppConfig, loadConfig } from '../config/app-config.js';
import { AccessTokenVerifier } from './access-token-verifier.js';
import { CurrentPrincipal, Public, RequireScope } from './access-rule.decorator.js';
import { AuthFailureRecorder } from './auth-failure-recorder.js';
import { AuthModule } from './auth.module.js';
import type { Principal } from './principal.js';
import { parseScopes } from './smart-scopes.js';

@Controller()
class ProbeController {
  @Public()
  @Get('open')
  open(@CurrentPrincipal() principal: Principal | undefined): { principal: string } {
    return { principal: principal?.subject ?? 'none' };
  }

  @RequireScope('DocumentReference', 's')
  @Get('documents')
  search(@CurrentPrincipal() principal: Principal): { subject: string; organization?: string } {
    return { subject: principal.subject, organization: principal.organization };
  }
}

// stands in for the app's global filter, which lives outside this module
@Catch(FhirError)
class FhirErrorFilter implements ExceptionFilter {
  catch(error: FhirError, host: ArgumentsHost): void {
    void host
      .switchToHttp()
      .getResponse<FastifyReply>()
      .status(error.status)
      .headers(error.headers)
      .send(error.outcome);
  }
}

@Injectable()
class RecordingFailures extends AuthFailureRecorder {
  static readonly failures: FhirError[] = [];
  override recordFailure(_request: FastifyRequest, error: FhirError): Promise<void> {
    RecordingFailures.failures.push(error);
    return Promise.resolve();
  }
}

@Global()
@Module({ providers: [{ provide: AppConfig, useValue: loadConfig({}) }], exports: [AppConfig] })
class ConfigStub {}

const verify = jest.fn<(token: string) => Promise<Principal>>();

async function appWith(auth: Type | ReturnType<typeof AuthModule.forRoot>): Promise<NestFastifyApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [ConfigStub, auth], controllers: [ProbeController] })
    .overrideProvider(AccessTokenVerifier)
    .useValue({ verify })
    .compile();
  const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
  app.useGlobalFilters(new FhirErrorFilter());
  // real loopback HTTP: fastify's inject() pulls in an ESM-only dependency jest's VM cannot require
  await app.listen(0, '127.0.0.1');
  return app;
}

async function get(app: NestFastifyApplication, path: string, authorization?: string): Promise<Response> {
  return fetch(`${await app.getUrl()}${path}`, { headers: authorization ? { authorization } : {} });
}

describe('AuthModule', () => {
  let app: NestFastifyApplication | undefined;

  beforeEach(() => {
    verify.mockReset();
    RecordingFailures.failures.length = 0;
  });

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('guards every route globally and hands the principal to the handler', async () => {
    app = await appWith(AuthModule);
    verify.mockResolvedValue({ subject: 'alice', organization: 'RTG', scopes: parseScopes('system/*.rs') });

    const open = await get(app, '/open');
    expect(await open.json()).toEqual({ principal: 'none' });

    const missing = await get(app, '/documents');
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    expect(await missing.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'login' }] });

    const ok = await get(app, '/documents', 'Bearer t0k3n');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ subject: 'alice', organization: 'RTG' });
    expect(verify).toHaveBeenCalledTimes(1);
    expect(verify).toHaveBeenCalledWith('t0k3n');
  });

  it('answers 403 naming the scope over HTTP', async () => {
    app = await appWith(AuthModule);
    verify.mockResolvedValue({ subject: 'bob', scopes: parseScopes('system/DocumentReference.r') });
    const response = await get(app, '/documents', 'Bearer x');
    expect(response.status).toBe(403);
    expect(((await response.json()) as { issue: { diagnostics: string }[] }).issue[0].diagnostics).toContain(
      'system/DocumentReference.s',
    );
  });

  it('lets forRoot plug in a failure recorder, which sees each refusal once', async () => {
    app = await appWith(AuthModule.forRoot({ failureRecorder: RecordingFailures }));
    verify.mockResolvedValue({ subject: 'bob', scopes: [] });
    await get(app, '/documents');
    await get(app, '/documents', 'Bearer x');
    expect(RecordingFailures.failures.map((f) => f.status)).toEqual([401, 403]);

    verify.mockResolvedValue({ subject: 'carol', scopes: parseScopes('system/DocumentReference.s') });
    expect((await get(app, '/documents', 'Bearer y')).status).toBe(200);
    // one verification per request: the guard is registered once even though forRoot re-declares providers
    expect(verify).toHaveBeenCalledTimes(2);
  });
});
