import { timingSafeEqual } from 'node:crypto';
import { Controller, Get, Req, Res } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/api-docs.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '../auth/access-rule.decorator.js';
import { unauthorized } from '../common/fhir-error.js';
import { AppConfig } from '../config/app-config.js';
import { Metrics } from './metrics.service.js';

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Prometheus metrics of this process (prom-client). Open unless METRICS_TOKEN is set. */
@ApiTags('Operations')
@Controller('metrics')
export class MetricsController {
  constructor(
    private readonly metrics: Metrics,
    private readonly config: AppConfig,
  ) {}

  @Get()
  @Public()
  @ApiOperation({
    summary: 'Prometheus metrics',
    description: 'Open unless METRICS_TOKEN is set; then it needs Authorization: Bearer <METRICS_TOKEN>.',
  })
  @ApiResponse({
    status: 200,
    description: 'Metrics in the Prometheus text format',
    content: { 'text/plain': { schema: { type: 'string' } } },
  })
  @ApiErrors([401, 'METRICS_TOKEN is set and the request does not carry it'])
  async scrape(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    if (this.config.metricsToken) {
      const given = /^Bearer (.+)$/i.exec(request.headers.authorization ?? '')?.[1] ?? '';
      if (!sameSecret(given, this.config.metricsToken)) {
        throw unauthorized('GET /metrics needs the METRICS_TOKEN bearer token');
      }
    }
    const { registry } = this.metrics;
    await reply.header('content-type', registry.contentType).send(await registry.metrics());
  }
}
