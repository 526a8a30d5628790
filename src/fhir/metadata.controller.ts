import { Controller, Get, Res } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import type { FastifyReply } from 'fastify';
import { AppConfig } from '../config/app-config.js';
import { Public } from '../auth/access-rule.decorator.js';
import { capabilityStatement, smartConfiguration } from './capability-statement.js';
import { OWN_NEGOTIATION } from './content-negotiation.js';
import { sendResource } from './fhir-response.js';

@Controller('fhir')
export class MetadataController {
  constructor(private readonly config: AppConfig) {}

  @Get('metadata')
  @Public()
  async read(@Res() reply: FastifyReply): Promise<void> {
    await sendResource(reply, 200, capabilityStatement(this.config, { version: '0.1.0' }));
  }

  // SMART discovery is plain JSON, not a FHIR resource: FHIR negotiation does not apply.
  @Get('.well-known/smart-configuration')
  @RouteConfig(OWN_NEGOTIATION)
  @Public()
  async smart(@Res() reply: FastifyReply): Promise<void> {
    await reply.header('content-type', 'application/json').send(JSON.stringify(smartConfiguration(this.config)));
  }
}
