import { Controller, Get, Res, ServiceUnavailableException } from '@nestjs/common';
import {
  HealthCheck,
  type HealthCheckResult,
  HealthCheckService,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { schemaRef } from '../common/api-docs.js';
import type { FastifyReply } from 'fastify';
import { DataSource } from 'typeorm';
import { Public } from '../auth/access-rule.decorator.js';
import { AppConfig } from '../config/app-config.js';
import { NotificationOutboxRepository } from '../notifications/notification-outbox.repository.js';
import { NotificationQueue } from '../notifications/notification-queue.service.js';
import { BlobStore } from '../storage/blob-store.js';
import { Draining } from './draining.js';

const HEALTH_JSON = { 'application/json': { schema: schemaRef('HealthCheck') } };

// Each check gives up after this long, so that a probe answers within about a second whatever hangs.
export const CHECK_TIMEOUT_MS = 1000;

/**
 * Liveness and readiness in terminus's shape ({ status, info, error, details }). Ready needs the database and the
 * blob store; Redis and the outbox lag only delay notifications (events wait in the outbox), so they are reported
 * as degraded and readiness stays 200.
 */
@ApiTags('Operations')
@Controller('health')
@Public()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly database: TypeOrmHealthIndicator,
    private readonly dataSource: DataSource,
    private readonly blobs: BlobStore,
    private readonly queue: NotificationQueue,
    private readonly outbox: NotificationOutboxRepository,
    private readonly config: AppConfig,
    private readonly draining: Draining,
  ) {}

  /** The process is up and its event loop turns; no dependency is asked. */
  @Get('live')
  // documented here rather than by terminus, whose decorator documents only when it can require() @nestjs/swagger
  @HealthCheck({ noCache: true, swaggerDocumentation: false })
  @ApiResponse({ status: 200, description: 'Alive', content: HEALTH_JSON })
  @ApiOperation({ summary: 'Liveness', description: 'The process is up; no dependency is asked.' })
  async live(@Res() reply: FastifyReply): Promise<void> {
    await this.answer(reply, () => this.health.check([]));
  }

  /** Down from the moment the process is told to stop, so that a load balancer sends nothing more. */
  @Get('ready')
  @HealthCheck({ noCache: true, swaggerDocumentation: false })
  @ApiResponse({ status: 200, description: 'Ready (some dependencies may be degraded)', content: HEALTH_JSON })
  @ApiResponse({
    status: 503,
    description: 'Not ready: the database or blob store does not answer',
    content: HEALTH_JSON,
  })
  @ApiOperation({
    summary: 'Readiness',
    description:
      'The database and blob store answer (503 when either does not, within a second each); Redis and the outbox ' +
      'lag are reported as degraded without failing readiness.',
  })
  async ready(@Res() reply: FastifyReply): Promise<void> {
    if (this.draining.active) {
      // terminus's shape, without its error log line for every probe while the process drains
      const shutdown = { shutdown: { status: 'down', message: 'draining requests, then exiting' } };
      await reply
        .header('cache-control', 'no-cache, no-store, must-revalidate')
        .status(503)
        .send({ status: 'error', info: {}, error: shutdown, details: shutdown });
      return;
    }
    await this.answer(reply, () =>
      this.health.check([
        () => this.database.pingCheck('database', { connection: this.dataSource, timeout: CHECK_TIMEOUT_MS }),
        () =>
          this.indicators
            .check('blobStore')
            .attempt(({ signal }) => this.blobs.probe(signal))
            .withTimeout(CHECK_TIMEOUT_MS),
        () => this.redis(),
        () => this.outboxLag(),
      ]),
    );
  }

  /** Sends terminus's result, 200 or 503, as terminus shapes it (not as an OperationOutcome). */
  private async answer(reply: FastifyReply, check: () => Promise<HealthCheckResult>): Promise<void> {
    void reply.header('cache-control', 'no-cache, no-store, must-revalidate');
    try {
      await reply.status(200).send(await check());
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) {
        throw error;
      }
      await reply.status(503).send(error.getResponse());
    }
  }

  /** Runs `fn` under the check timeout: whether it answered, and terminus's measure of it (responseTime, message). */
  private async timed(fn: (signal: AbortSignal) => Promise<Record<string, unknown> | void>) {
    const result = await this.indicators
      .check('attempt')
      .attempt(({ signal }) => fn(signal))
      .withTimeout(CHECK_TIMEOUT_MS);
    const { status, ...data } = result.attempt;
    return { answered: status === 'up', data };
  }

  private async redis() {
    const { answered, data } = await this.timed((signal) => this.queue.ping(signal));
    const redis = this.indicators.check('redis');
    return answered ? redis.up(data) : redis.degraded(data);
  }

  /** The oldest event not yet routed: older than OUTBOX_LAG_THRESHOLD_SECONDS means the worker is behind or down. */
  private async outboxLag() {
    const thresholdSeconds = this.config.notifications.outboxLagThresholdSeconds;
    const { answered, data } = await this.timed(async () => {
      const { depth, oldestCreatedAt } = await this.outbox.backlog(this.dataSource.manager);
      const oldestAgeSeconds = oldestCreatedAt === null ? 0 : Math.max(0, (Date.now() - oldestCreatedAt) / 1000);
      return { depth, oldestAgeSeconds: Math.round(oldestAgeSeconds * 10) / 10, thresholdSeconds };
    });
    const late = typeof data.oldestAgeSeconds === 'number' && data.oldestAgeSeconds > thresholdSeconds;
    const outbox = this.indicators.check('outbox');
    return answered && !late ? outbox.up(data) : outbox.degraded(data);
  }
}
