import { Controller, Get, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AppConfig } from '../config/app-config.js';
import { Public } from '../auth/access-rule.decorator.js';
import { capabilityStatement, smartConfiguration } from './capability-statement.js';
import { sendJson } from './fhir-response.js';

@Controller('fhir')
export class MetadataController {
  constructor(private readonly config: AppConfig) {}

  @Get('metadata')
  @Public()
  async read(@Res() reply: FastifyReply): Promise<void> {
    await sendJson(reply, 200, capabilityStatement(this.config, { version: '0.1.0' }));
  }

  @Get('.well-known/smart-configuration')
  @Public()
  async smart(@Res() reply: FastifyReply): Promise<void> {
    await reply.header('content-type', 'application/json').send(JSON.stringify(smartConfiguration(this.config)));
  }
}
