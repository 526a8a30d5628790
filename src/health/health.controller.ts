import { Controller, Get, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { DataSource } from 'typeorm';
import { Public } from '../auth/access-rule.decorator.js';
import { BlobStore } from '../storage/blob-store.js';

@Controller('health')
export class HealthController {
  constructor(
    private readonly dataSource: DataSource,
    private readonly blobs: BlobStore,
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
      await this.blobs.exists({ key: 'readiness-probe' });
      checks.blobStore = 'ok';
    } catch (error) {
      checks.blobStore = `failing: ${(error as Error).message}`;
    }
    const ok = Object.values(checks).every((c) => c === 'ok');
    await reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks });
  }
}
