import { Controller, Get, Res } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiFhirResponse, ApiFormat, schemaRef } from '../common/api-docs.js';
import type { FastifyReply } from 'fastify';
import { AppConfig } from '../config/app-config.js';
import { Public } from '../auth/access-rule.decorator.js';
import { capabilityStatement, smartConfiguration } from './capability-statement.js';
import { OWN_NEGOTIATION } from './content-negotiation.js';
import { sendResource } from './fhir-response.js';

@ApiTags('System')
@Controller('fhir')
export class MetadataController {
  constructor(private readonly config: AppConfig) {}

  @Get('metadata')
  @Public()
  @ApiOperation({ summary: 'The CapabilityStatement', description: 'Public: no token needed.' })
  @ApiFormat()
  @ApiFhirResponse(200, 'CapabilityStatement', 'What this server supports')
  async read(@Res() reply: FastifyReply): Promise<void> {
    await sendResource(reply, 200, capabilityStatement(this.config, { version: '0.1.0' }));
  }

  // SMART discovery is plain JSON, not a FHIR resource: FHIR negotiation does not apply.
  @Get('.well-known/smart-configuration')
  @RouteConfig(OWN_NEGOTIATION)
  @Public()
  @ApiOperation({ summary: 'SMART configuration', description: 'Public: where and how to get an access token.' })
  @ApiResponse({
    status: 200,
    description: 'The SMART discovery document',
    content: { 'application/json': { schema: schemaRef('SmartConfiguration') } },
  })
  async smart(@Res() reply: FastifyReply): Promise<void> {
    await reply.header('content-type', 'application/json').send(JSON.stringify(smartConfiguration(this.config)));
  }
}
