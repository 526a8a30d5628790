import { Logger, Module, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { AuditAuthFailureRecorder } from './audit-auth-failure-recorder.js';
import { AuditEventController } from './audit-event.controller.js';
import { registerAuditHook } from './audit-hook.js';
import { AuditService } from './audit.service.js';

/** AuditEvent writing (a hash chain), the per-request audit hook, and AuditEvent search. */
@Module({
  controllers: [AuditEventController],
  providers: [AuditService, AuditAuthFailureRecorder],
  exports: [AuditService, AuditAuthFailureRecorder],
})
export class AuditModule implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly audit: AuditService,
  ) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    if (!fastify) {
      // a process without HTTP (worker) serves no requests to audit
      new Logger(AuditModule.name).debug('No HTTP server: the audit hook is not registered');
      return;
    }
    registerAuditHook(fastify, this.audit);
  }
}
