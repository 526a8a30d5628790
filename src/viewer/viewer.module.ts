import { Logger, Module, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { AuditModule } from '../audit/audit.module.js';
import { RegistryModule } from '../registry/registry.module.js';
import { OidcSignIn } from './oidc-sign-in.js';
import { SignInController } from './sign-in.controller.js';
import { RootController, ViewerAssetsController, ViewerController } from './viewer.controller.js';
import { registerViewerHeaders } from './viewer-headers.js';
import { ViewerKey } from './viewer-key.js';
import { ViewerSessionGuard } from './viewer-session.guard.js';
import { ViewerService } from './viewer.service.js';

/**
 * The clinician document viewer: server-rendered HTML pages under /app (no client build, works without JavaScript),
 * signed-cookie sessions from the local issuer's form or OpenID Connect, read through the registry's services.
 */
@Module({
  imports: [RegistryModule, AuditModule],
  controllers: [RootController, ViewerAssetsController, SignInController, ViewerController],
  providers: [ViewerKey, ViewerService, ViewerSessionGuard, OidcSignIn],
})
export class ViewerModule implements OnModuleInit {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    if (!fastify) {
      new Logger(ViewerModule.name).debug('No HTTP server: the viewer headers are not registered');
      return;
    }
    registerViewerHeaders(fastify);
  }
}
