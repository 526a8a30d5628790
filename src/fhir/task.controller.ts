import { Controller, Delete, Get, Param, Patch, Post, Put, Req, Res } from '@nestjs/common';
import { ApiConsumes, ApiExcludeEndpoint, ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  ApiErrors,
  ApiFhirBody,
  ApiFhirResponse,
  ApiFormat,
  ApiIfMatch,
  ApiIfNoneMatch,
  ApiResourceId,
  ApiSearchParams,
  type ErrorStatus,
  FHIR_JSON_TYPE,
  FHIR_XML_TYPE,
  JSON_PATCH_TYPE,
} from '../common/api-docs.js';
import { RESOURCE_CAPABILITIES } from './capabilities.js';
import { TASK_ACCEPT_PATCH_EXAMPLE } from './openapi-examples.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppConfig } from '../config/app-config.js';
import { invalid, methodNotAllowed, unsupportedMediaType } from '../common/fhir-error.js';
import { Public, RequireScope } from '../auth/access-rule.decorator.js';
import { actorOf, auditContext } from '../audit/actor.js';
import { principalOf } from '../auth/principal.js';
import type { DeliveryTaskEntity } from '../registry/delivery-task.entity.js';
import { DeliveryTaskService } from '../registry/delivery-task.service.js';
import { taskResource } from '../registry/delivery-task.js';
import { parseFhirJson, parseJsonBody } from '../format/fhir-json.js';
import { parseFhirXml } from '../format/fhir-xml.js';
import { notModified, sendResource, versionEtag } from './fhir-response.js';
import { parseMediaType, requireFhirFormat } from '../format/media-type.js';
import { searchBundle } from './search-bundle.js';

function requireBody(request: FastifyRequest): Buffer {
  if (!Buffer.isBuffer(request.body) || request.body.length === 0) {
    throw invalid('The request has no body');
  }
  return request.body;
}

const TASK_ANSWER_ERRORS: (ErrorStatus | [ErrorStatus, string])[] = [
  [400, 'The body does not parse, or a patch operation does not apply'],
  [403, 'Only the recipient (owner) answers'],
  [404, 'No such Task, or not one of your organisation'],
  [409, 'The Task is already answered or closed'],
  412,
  413,
  [422, 'A change other than status and statusReason, or a statusReason that is not an ITK3 code or text'],
];

/**
 * Delivery tracking: one Task per (document, recipient organisation). A practice's inbox and a hospital's outbox are
 * Task searches; the recipient answers (accepted / rejected with an ITK3 business code) with PATCH or PUT.
 */
@ApiTags('Task')
@Controller('fhir/Task')
export class TaskController {
  constructor(
    private readonly tasks: DeliveryTaskService,
    private readonly config: AppConfig,
  ) {}

  @Get()
  @RequireScope('Task', 's')
  @ApiOperation({
    summary: 'Find delivery Tasks',
    description: "A practice's inbox (owner) or a sender's outbox (requester): a search must name your organisation.",
  })
  @ApiSearchParams(RESOURCE_CAPABILITIES.find((c) => c.type === 'Task')!.searchParams)
  @ApiFormat()
  @ApiFhirResponse(200, 'Bundle', 'A searchset Bundle of Tasks')
  @ApiErrors(
    [400, 'A malformed value, or a search that names neither owner nor requester as your organisation'],
    [403, 'The token names no organisation'],
  )
  async search(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const question = request.url.indexOf('?');
    const params = question < 0 ? [] : [...new URLSearchParams(request.url.slice(question + 1))];
    const page = await this.tasks.search(params, principalOf(request)?.organization);
    const audit = auditContext(request);
    for (const { resource } of page.resources) {
      const patient = (resource.for as { identifier?: { value?: string } } | undefined)?.identifier?.value;
      if (patient) {
        audit.patientNhsNumbers.push(patient);
      }
    }
    await sendResource(
      reply,
      200,
      searchBundle({
        base: `${this.config.baseUrl}/fhir`,
        resourceType: 'Task',
        params: page.used,
        next: page.next,
        resources: page.resources,
        issues: [],
      }),
    );
  }

  @Get(':id')
  @RequireScope('Task', 'r')
  @ApiOperation({ summary: 'Read a delivery Task', description: 'Visible to its owner and requester only.' })
  @ApiResourceId('Task')
  @ApiIfNoneMatch()
  @ApiFhirResponse(200, 'Task', 'The Task', ['ETag', 'Last-Modified'])
  @ApiErrors([404, 'No such Task, or not one of your organisation'])
  async read(@Param('id') id: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const { row, resource } = await this.tasks.read(id, principalOf(request)?.organization);
    this.audited(request, row);
    const etag = versionEtag(row.versionId);
    reply.header('etag', etag).header('last-modified', new Date(row.lastModifiedMs).toUTCString());
    if (notModified(request, etag)) {
      await reply.status(304).send();
      return;
    }
    await sendResource(reply, 200, resource);
  }

  /** The recipient's answer as a JSON Patch of status and statusReason. */
  @Patch(':id')
  @RequireScope('Task', 'u')
  @ApiOperation({
    summary: "The recipient's answer, as a JSON Patch",
    description: 'status completed (accepted) or rejected, statusReason an ITK3 code 30001, 30002 or 30003, or text.',
  })
  @ApiResourceId('Task')
  @ApiConsumes(JSON_PATCH_TYPE)
  @ApiFhirBody('JsonPatch', 'An RFC 6902 JSON Patch of status and statusReason', {
    accept: { summary: 'Accept the document (ITK3 30001)', value: TASK_ACCEPT_PATCH_EXAMPLE },
  })
  @ApiIfMatch()
  @ApiFhirResponse(200, 'Task', 'The answered Task', ['ETag', 'Last-Modified'])
  @ApiErrors(...TASK_ANSWER_ERRORS, [415, 'The Content-Type is not application/json-patch+json'])
  async patch(@Param('id') id: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    if (parseMediaType(request.headers['content-type'])?.type !== 'application/json-patch+json') {
      throw unsupportedMediaType('PATCH takes a JSON Patch: send Content-Type application/json-patch+json');
    }
    const operations = parseJsonBody(requireBody(request));
    await this.answer(request, reply, id, { kind: 'patch', operations }, 'patch');
  }

  /** The recipient's answer as the whole Task with status and statusReason changed. */
  @Put(':id')
  @RequireScope('Task', 'u')
  @ApiOperation({ summary: "The recipient's answer, as the whole Task with status and statusReason changed" })
  @ApiResourceId('Task')
  @ApiConsumes(FHIR_JSON_TYPE, FHIR_XML_TYPE)
  @ApiFhirBody('Task', 'The Task as read, with status and statusReason changed')
  @ApiIfMatch()
  @ApiFhirResponse(200, 'Task', 'The answered Task', ['ETag', 'Last-Modified'])
  @ApiErrors(...TASK_ANSWER_ERRORS, 415)
  async update(@Param('id') id: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const body = requireBody(request);
    const format = requireFhirFormat(parseMediaType(request.headers['content-type']));
    const resource = format === 'json' ? parseFhirJson(body) : parseFhirXml(body);
    await this.answer(request, reply, id, { kind: 'update', resource }, 'update');
  }

  @Post()
  @Public()
  @ApiExcludeEndpoint()
  refuseCreate(): never {
    throw methodNotAllowed(
      'Delivery Tasks are created by the server with each document addressed to a recipient',
      'GET',
    );
  }

  @Delete(':id')
  @Public()
  @ApiExcludeEndpoint()
  refuseDelete(): never {
    throw methodNotAllowed('Delivery Tasks are kept: answer one with PATCH or PUT', 'GET, PUT, PATCH');
  }

  private async answer(
    request: FastifyRequest,
    reply: FastifyReply,
    id: string,
    change: { kind: 'patch'; operations: unknown } | { kind: 'update'; resource: Record<string, unknown> },
    subtype: string,
  ): Promise<void> {
    const row = await this.tasks.answer({
      id,
      change,
      actorOds: principalOf(request)?.organization,
      ifMatch: request.headers['if-match'],
      audit: { actor: actorOf(request), subtype },
    });
    auditContext(request).recorded = true;
    reply
      .header('etag', versionEtag(row.versionId))
      .header('last-modified', new Date(row.lastModifiedMs).toUTCString());
    await sendResource(reply, 200, taskResource(row, `${this.config.baseUrl}/fhir`));
  }

  private audited(request: FastifyRequest, row: DeliveryTaskEntity): void {
    const audit = auditContext(request);
    audit.entities.push({ reference: `Task/${row.id}` }, { reference: `DocumentReference/${row.documentReferenceId}` });
    if (row.patientNhsNumber) {
      audit.patientNhsNumbers.push(row.patientNhsNumber);
    }
    audit.custodianOrgs.push(row.requesterOds);
  }
}
