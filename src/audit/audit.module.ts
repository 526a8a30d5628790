import { Logger, Module, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { FastifyInstance } from 'fastify';
import { AuditAuthFailureRecorder } from './audit-auth-failure-recorder.js';
import { AuditChainRepository } from './audit-chain.repository.js';
import { AuditChainKey } from './audit-chain-key.js';
import { AuditEventRepository } from './audit-event.repository.js';
import { registerAuditHook } from './audit-hook.js';
import { AuditService } from './audit.service.js';
import { AUDIT_ENTITIES } from './entities.js';
import { RefusalTallyService } from './refusal-tally.service.js';

/** AuditEvent writing (a hash chain), the per-request audit hook, refusals counted per window, and AuditEvent search. */
@Module({
  imports: [TypeOrmModule.forFeature(AUDIT_ENTITIES)],
  providers: [
    AuditChainKey,
    AuditChainRepository,
    AuditService,
    AuditEventRepository,
    RefusalTallyService,
    AuditAuthFailureRecorder,
  ],
  exports: [AuditService, AuditEventRepository, RefusalTallyService, AuditAuthFailureRecorder],
})
export class AuditModule implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly audit: AuditService,
    private readonly tally: RefusalTallyService,
  ) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    if (!fastify) {
      // a process without HTTP (worker) serves no requests to audit
      new Logger(AuditModule.name).debug('No HTTP server: the audit hook is not registered');
      return;
    }
    registerAuditHook(fastify, this.audit, this.tally);
  }
}
