import { type DynamicModule, Module, type ModuleMetadata, type Type } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import {
  ACCESS_TOKEN_VERIFIER_OPTIONS,
  AccessTokenVerifier,
  type AccessTokenVerifierOptions,
} from './access-token-verifier.js';
import { AuthFailureRecorder, NoopAuthFailureRecorder } from './auth-failure-recorder.js';
import { BearerAuthGuard } from './bearer-auth.guard.js';
import { ClientRateLimiter } from './client-rate-limiter.js';

export interface AuthModuleOptions {
  /** Replaces the no-op recorder of refused requests (the audit module's implementation). */
  failureRecorder?: Type<AuthFailureRecorder>;
  /** Modules the recorder needs. */
  imports?: ModuleMetadata['imports'];
  verifier?: AccessTokenVerifierOptions;
}

/** Bearer-token authentication and SMART-scope authorisation for every route; expects a global AppConfig provider. */
@Module({
  providers: [
    AccessTokenVerifier,
    ClientRateLimiter,
    { provide: ACCESS_TOKEN_VERIFIER_OPTIONS, useValue: {} },
    { provide: AuthFailureRecorder, useClass: NoopAuthFailureRecorder },
    BearerAuthGuard,
    { provide: APP_GUARD, useExisting: BearerAuthGuard },
  ],
  exports: [AccessTokenVerifier, AuthFailureRecorder, BearerAuthGuard],
})
export class AuthModule {
  /** The same module with its defaults replaced; Nest adds these providers after the static ones, so they win. */
  static forRoot(options: AuthModuleOptions = {}): DynamicModule {
    return {
      module: AuthModule,
      imports: options.imports ?? [],
      providers: [
        { provide: ACCESS_TOKEN_VERIFIER_OPTIONS, useValue: options.verifier ?? {} },
        { provide: AuthFailureRecorder, useClass: options.failureRecorder ?? NoopAuthFailureRecorder },
      ],
    };
  }
}
