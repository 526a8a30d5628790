import { timingSafeEqual } from 'node:crypto';
import { Controller, Get, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DataSource } from 'typeorm';
import { Public } from '../auth/access-rule.decorator.js';
import { unauthorized } from '../common/fhir-error.js';
import { AppConfig } from '../config/app-config.js';
import { GroupCommitter } from '../database/group-commit.js';
import { prometheusText, type Sample } from './metrics.js';

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Prometheus metrics: registry sizes, the notification backlog and the process. Open unless METRICS_TOKEN is set. */
@Controller('metrics')
export class MetricsController {
  constructor(
    private readonly dataSource: DataSource,
    private readonly config: AppConfig,
    private readonly committer: GroupCommitter,
  ) {}

  @Get()
  @Public()
  async metrics(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    if (this.config.metricsToken) {
      const given = /^Bearer (.+)$/i.exec(request.headers.authorization ?? '')?.[1] ?? '';
      if (!sameSecret(given, this.config.metricsToken)) {
        throw unauthorized('GET /metrics needs the METRICS_TOKEN bearer token');
      }
    }
    const count = async (sql: string): Promise<{ key: string | null; n: number }[]> => {
      const rows: { key: string | null; n: string | number }[] = await this.dataSource.query(sql);
      return rows.map((r) => ({ key: r.key, n: Number(r.n) }));
    };
    const [documents, binaries, references, outbox, audit] = await Promise.all([
      count('SELECT NULL AS key, COUNT(*) AS n FROM document_bundle'),
      count('SELECT NULL AS key, COUNT(*) AS n FROM "binary"'),
      count('SELECT status AS key, COUNT(*) AS n FROM document_reference GROUP BY status'),
      count('SELECT NULL AS key, COUNT(*) AS n FROM notification_outbox WHERE routed_at IS NULL'),
      count('SELECT NULL AS key, COUNT(*) AS n FROM audit_event'),
    ]);
    const memory = process.memoryUsage();
    const samples: Sample[] = [
      {
        name: 'registry_documents',
        help: 'Stored document Bundles',
        type: 'gauge',
        values: [{ value: documents[0].n }],
      },
      { name: 'registry_binaries', help: 'Stored Binaries', type: 'gauge', values: [{ value: binaries[0].n }] },
      {
        name: 'registry_document_references',
        help: 'DocumentReferences by status',
        type: 'gauge',
        values: references.map((r) => ({ labels: { status: r.key ?? 'unknown' }, value: r.n })),
      },
      {
        name: 'registry_outbox_pending',
        help: 'Document events not yet routed to subscriptions',
        type: 'gauge',
        values: [{ value: outbox[0].n }],
      },
      {
        name: 'registry_audit_events',
        help: 'AuditEvents in the chain',
        type: 'gauge',
        values: [{ value: audit[0].n }],
      },
      {
        name: 'registry_group_commits_total',
        help: 'Durable database commits of the group committer (each holds one or more writes and audit batches)',
        type: 'counter',
        values: [{ value: this.committer.batchesCommitted }],
      },
      {
        name: 'registry_group_commit_units_total',
        help: 'Writes and audit batches committed by the group committer',
        type: 'counter',
        values: [{ value: this.committer.unitsCommitted }],
      },
      {
        name: 'process_resident_memory_bytes',
        help: 'Resident memory',
        type: 'gauge',
        values: [{ value: memory.rss }],
      },
      { name: 'nodejs_heap_used_bytes', help: 'V8 heap in use', type: 'gauge', values: [{ value: memory.heapUsed }] },
      {
        name: 'process_uptime_seconds',
        help: 'Seconds since start',
        type: 'gauge',
        values: [{ value: process.uptime() }],
      },
    ];
    await reply.header('content-type', 'text/plain; version=0.0.4; charset=utf-8').send(prometheusText(samples));
  }
}
