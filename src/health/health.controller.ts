import { Controller, Get, Optional, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { DataSource } from 'typeorm';
import { Public } from '../auth/access-rule.decorator.js';
import { NotificationQueue } from '../notifications/notification-queue.service.js';
import { BlobStore } from '../storage/blob-store.js';

@Controller('health')
export class HealthController {
  constructor(
    private readonly dataSource: DataSource,
    private readonly blobs: BlobStore,
    @Optional() private readonly queue?: NotificationQueue,
  ) {}

  /** The process is up. */
  @Get('live')
  @Public()
  async live(@Res() reply: FastifyReply): Promise<void> {
    await reply.send({ status: 'ok' });
  }

  /** Dependencies answer: the database and the blob store. */
  @Get('ready')
  @Public()
  async ready(@Res() reply: FastifyReply): Promise<void> {
    const checks: Record<string, string> = {};
    try {
      await this.dataSource.query('SELECT 1');
      checks.database = 'ok';
    } catch (error) {
      checks.database = `failing: ${(error as Error).message}`;
    }
    try {
      await this.blobs.probe();
      checks.blobStore = 'ok';
    } catch (error) {
      checks.blobStore = `failing: ${(error as Error).message}`;
    }
    // Redis only delays notifications (they wait in the outbox), so it is reported but does not fail readiness.
    const redis = this.queue ? await this.queue.ping() : undefined;
    const ok = Object.values(checks).every((c) => c === 'ok');
    if (redis) {
      checks.redis = redis;
    }
    await reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks });
  }
}
