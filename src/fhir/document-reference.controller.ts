import { Controller, Delete, Get, Param, Patch, Post, Put, Req, Res } from '@nestjs/common';
import { ApiConsumes, ApiExcludeEndpoint, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  ApiErrors,
  ApiFhirBody,
  ApiFhirResponse,
  ApiIfMatch,
  ApiIfNoneMatch,
  ApiPreferReturn,
  ApiResourceId,
  FHIR_JSON_TYPE,
  FHIR_XML_TYPE,
  JSON_PATCH_TYPE,
} from '../common/api-docs.js';
import { PURGE_PARAMETERS_EXAMPLE, WITHDRAW_PATCH_EXAMPLE } from './openapi-examples.js';
import { AppConfig } from '../config/app-config.js';
import { invalid, methodNotAllowed, unsupportedMediaType } from '../common/fhir-error.js';
import { Public, RequireAdmin, RequireScope } from '../auth/access-rule.decorator.js';
import { actorOf, auditContext, auditDocument } from '../audit/actor.js';
import { principalOf } from '../auth/principal.js';
import { DocumentPurgeService } from '../registry/document-purge.service.js';
import { DocumentReferenceService } from '../registry/document-reference.service.js';
import type { StoredDocumentReference } from '../registry/document-reference.repository.js';
import { parseFhirJson, parseJsonBody } from '../format/fhir-json.js';
import { notModified, sendOutcome, sendResource, sendWriteResult, versionEtag } from './fhir-response.js';
import { parseMediaType, requireFhirFormat } from '../format/media-type.js';
import { parseFhirXml } from '../format/fhir-xml.js';

/** Tells the audit trail which DocumentReference, patient and custodian a request touched. */
function audited(
  request: FastifyRequest,
  resource: StoredDocumentReference,
  custodianOds?: string | null,
): StoredDocumentReference {
  const context = auditContext(request);
  context.entities.push({ reference: `DocumentReference/${resource.id}` });
  auditDocument(context, resource, custodianOds);
  return resource;
}

/** The `reason` of a $purge call: a Parameters resource with one valueString parameter of that name. */
export function purgeReasonParameter(body: Record<string, unknown>): string | undefined {
  if (body.resourceType !== 'Parameters') {
    throw invalid('$purge takes a Parameters resource with a reason (valueString)', 'Parameters');
  }
  const parameters = Array.isArray(body.parameter) ? (body.parameter as Record<string, unknown>[]) : [];
  const reason = parameters.find((p) => typeof p === 'object' && p !== null && p.name === 'reason');
  return typeof reason?.valueString === 'string' ? reason.valueString : undefined;
}

function requireBody(request: FastifyRequest): Buffer {
  if (!Buffer.isBuffer(request.body) || request.body.length === 0) {
    throw invalid('The request has no body');
  }
  return request.body;
}

/** The registry's DocumentReferences: read, history, withdraw (PUT/PATCH), and NRL-style pointers (POST). */
@ApiTags('DocumentReference')
@Controller('fhir/DocumentReference')
export class DocumentReferenceController {
  constructor(
    private readonly documentReferences: DocumentReferenceService,
    private readonly purges: DocumentPurgeService,
    private readonly config: AppConfig,
  ) {}

  @Post()
  @RequireScope('DocumentReference', 'c')
  @ApiOperation({
    summary: 'Register a pointer',
    description:
      'NRL-style: a DocumentReference pointing at content held elsewhere (content.attachment.url), created as ' +
      'version 1 for the organisation of the token (the custodian).',
  })
  @ApiConsumes(FHIR_JSON_TYPE, FHIR_XML_TYPE)
  @ApiFhirBody('DocumentReference', 'A DocumentReference whose attachment has a url, not data')
  @ApiPreferReturn()
  @ApiFhirResponse(201, 'DocumentReference', 'Created: Location names version 1', ['Location', 'ETag', 'Last-Modified'])
  @ApiErrors(
    [400, 'The body is not FHIR JSON or XML'],
    [403, 'The custodian is not the organisation of the token'],
    [409, 'The identifier is already registered'],
    413,
    415,
    [422, 'The pointer breaks a rule (no attachment url, unknown subject, inline data)'],
  )
  async create(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const resource = this.parseResource(request);
    const stored = await this.documentReferences.createPointer(
      resource,
      principalOf(request)?.organization,
      actorOf(request),
    );
    auditContext(request).recorded = true; // with the data, in the same transaction
    await this.sendVersion(request, reply, 201, stored);
  }

  @Get(':id')
  @RequireScope('DocumentReference', 'r')
  @ApiOperation({ summary: 'Read a DocumentReference (its current version)' })
  @ApiResourceId('DocumentReference')
  @ApiIfNoneMatch()
  @ApiFhirResponse(200, 'DocumentReference', 'The current version', ['ETag', 'Last-Modified'])
  @ApiErrors(404)
  async read(@Param('id') id: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const { resource: stored, custodianOds } = await this.documentReferences.read(id);
    const resource = audited(request, stored, custodianOds);
    const etag = versionEtag(resource.meta.versionId);
    reply.header('etag', etag).header('last-modified', new Date(resource.meta.lastUpdated).toUTCString());
    if (notModified(request, etag)) {
      await reply.status(304).send();
      return;
    }
    await sendResource(reply, 200, resource);
  }

  @Get(':id/_history')
  @RequireScope('DocumentReference', 'r')
  @ApiOperation({ summary: 'The version history of a DocumentReference', description: 'Newest first.' })
  @ApiResourceId('DocumentReference')
  @ApiFhirResponse(200, 'Bundle', 'A history Bundle')
  @ApiErrors(404)
  async history(@Param('id') id: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const versions = await this.documentReferences.history(id);
    // every version names the same patient and custodian: the newest one stands for them
    if (versions.length > 0) {
      audited(request, versions[0]);
    }
    const base = `${this.config.baseUrl}/fhir/DocumentReference/${id}`;
    await sendResource(reply, 200, {
      resourceType: 'Bundle',
      type: 'history',
      total: versions.length,
      link: [{ relation: 'self', url: `${base}/_history` }],
      entry: versions.map((resource) => ({
        fullUrl: base,
        resource,
        request: { method: resource.meta.versionId === '1' ? 'POST' : 'PUT', url: `DocumentReference/${id}` },
        response: {
          status: resource.meta.versionId === '1' ? '201 Created' : '200 OK',
          etag: versionEtag(resource.meta.versionId),
          lastModified: resource.meta.lastUpdated,
        },
      })),
    });
  }

  @Get(':id/_history/:vid')
  @RequireScope('DocumentReference', 'r')
  @ApiOperation({ summary: 'Read one version of a DocumentReference' })
  @ApiResourceId('DocumentReference')
  @ApiParam({ name: 'vid', description: 'The versionId', schema: { type: 'string' } })
  @ApiFhirResponse(200, 'DocumentReference', 'That version', ['ETag', 'Last-Modified'])
  @ApiErrors([404, 'No such DocumentReference or version'])
  async vread(
    @Param('id') id: string,
    @Param('vid') vid: string,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const resource = audited(request, await this.documentReferences.version(id, vid));
    reply
      .header('etag', versionEtag(resource.meta.versionId))
      .header('last-modified', new Date(resource.meta.lastUpdated).toUTCString());
    await sendResource(reply, 200, resource);
  }

  /** Withdraw or relabel with a whole resource: only status and securityLabel may differ. */
  @Put(':id')
  @RequireScope('DocumentReference', 'u')
  @ApiOperation({
    summary: 'Withdraw or relabel with a whole resource',
    description:
      'Only status (current -> entered-in-error) and securityLabel may differ from the current version; the ' +
      "custodian's organisation only.",
  })
  @ApiResourceId('DocumentReference')
  @ApiConsumes(FHIR_JSON_TYPE, FHIR_XML_TYPE)
  @ApiFhirBody('DocumentReference', 'The current DocumentReference with status or securityLabel changed')
  @ApiIfMatch()
  @ApiPreferReturn()
  @ApiFhirResponse(200, 'DocumentReference', 'The new version', ['ETag', 'Last-Modified'])
  @ApiErrors(
    [400, 'The body is not FHIR JSON or XML, or its id differs from the URL'],
    [403, 'The DocumentReference belongs to another custodian'],
    404,
    [409, 'The document is no longer current'],
    412,
    413,
    415,
    [422, 'A change other than status or securityLabel'],
  )
  async update(@Param('id') id: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const resource = this.parseResource(request);
    const next = await this.documentReferences.change({
      id,
      change: { kind: 'update', resource },
      actorOds: principalOf(request)?.organization,
      ifMatch: request.headers['if-match'],
      audit: { actor: actorOf(request), subtype: 'update' },
    });
    auditContext(request).recorded = true;
    await this.sendVersion(request, reply, 200, next);
  }

  /** Withdraw or relabel with a JSON Patch (application/json-patch+json). */
  @Patch(':id')
  @RequireScope('DocumentReference', 'u')
  @ApiOperation({
    summary: 'Withdraw or relabel with a JSON Patch',
    description: 'The same rule as PUT: only status and securityLabel may change.',
  })
  @ApiResourceId('DocumentReference')
  @ApiConsumes(JSON_PATCH_TYPE)
  @ApiFhirBody('JsonPatch', 'An RFC 6902 JSON Patch', {
    withdraw: { summary: 'Withdraw (entered-in-error)', value: WITHDRAW_PATCH_EXAMPLE },
  })
  @ApiIfMatch()
  @ApiPreferReturn()
  @ApiFhirResponse(200, 'DocumentReference', 'The new version', ['ETag', 'Last-Modified'])
  @ApiErrors(
    [400, 'The body is not a JSON Patch, or an operation does not apply'],
    [403, 'The DocumentReference belongs to another custodian'],
    404,
    [409, 'The document is no longer current'],
    412,
    413,
    [415, 'The Content-Type is not application/json-patch+json'],
    [422, 'A change other than status or securityLabel'],
  )
  async patch(@Param('id') id: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const mediaType = parseMediaType(request.headers['content-type']);
    if (mediaType?.type !== 'application/json-patch+json') {
      throw unsupportedMediaType('PATCH takes a JSON Patch: send Content-Type application/json-patch+json');
    }
    const operations = parseJsonBody(requireBody(request));
    const next = await this.documentReferences.change({
      id,
      change: { kind: 'patch', operations },
      actorOds: principalOf(request)?.organization,
      ifMatch: request.headers['if-match'],
      audit: { actor: actorOf(request), subtype: 'patch' },
    });
    auditContext(request).recorded = true;
    await this.sendVersion(request, reply, 200, next);
  }

  /**
   * `$purge` (operators, admin scope): legal erasure of the document's bytes, with a mandatory reason. The
   * DocumentReference stays, entered-in-error with the reason; its Bundle and Binaries answer 410 Gone.
   */
  @Post(':id/$purge')
  @RequireAdmin()
  @ApiOperation({
    summary: "Purge a document's bytes (legal erasure)",
    description:
      'Operators only (admin scope). The one exception to immutable bytes: the Bundle and Binaries the ' +
      'DocumentReference points at are removed and answer 410 Gone; the DocumentReference stays, entered-in-error ' +
      'with the reason. Audited. Repeating it is harmless.',
  })
  @ApiResourceId('DocumentReference')
  @ApiFhirBody('Parameters', 'A Parameters resource with one valueString parameter, reason', {
    purge: { summary: 'Purge with a reason', value: PURGE_PARAMETERS_EXAMPLE },
  })
  @ApiFhirResponse(
    200,
    'OperationOutcome',
    'What was purged, or that it already was; a warning for bytes left to the sweep',
  )
  @ApiErrors([400, 'No reason, or not a Parameters resource'], 404, 413, 415)
  async purge(@Param('id') id: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const reason = purgeReasonParameter(this.parseResource(request));
    const result = await this.purges.purge(id, reason, actorOf(request));
    auditContext(request).recorded = true; // with the rows, in the writer's transaction
    const released = result.released.map((r) => r.reference).join(', ') || 'no bytes held here';
    await sendOutcome(reply, 200, [
      {
        severity: 'information',
        code: 'informational',
        diagnostics: `${result.changed ? 'Purged' : 'Already purged'} DocumentReference/${id} (entered-in-error): ${released}`,
      },
      ...result.leftBehind.map((blob) => ({
        severity: 'warning' as const,
        code: 'transient' as const,
        diagnostics: `The bytes of ${blob.reference} could not be removed now (${blob.reason}); its record says purged, and a repeated $purge or the orphan sweep removes them`,
      })),
    ]);
  }

  @Delete(':id')
  @Public()
  @ApiExcludeEndpoint()
  refuseDelete(): never {
    throw methodNotAllowed(
      'DocumentReferences are not deleted: withdraw one by setting status to entered-in-error (PATCH or PUT)',
      'GET, PUT, PATCH',
    );
  }

  private parseResource(request: FastifyRequest) {
    const body = requireBody(request);
    const format = requireFhirFormat(parseMediaType(request.headers['content-type']));
    return format === 'json' ? parseFhirJson(body) : parseFhirXml(body);
  }

  private async sendVersion(
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    resource: StoredDocumentReference,
  ) {
    reply
      .status(status)
      .header('etag', versionEtag(resource.meta.versionId))
      .header('last-modified', new Date(resource.meta.lastUpdated).toUTCString());
    if (status === 201) {
      reply.header(
        'location',
        `${this.config.baseUrl}/fhir/DocumentReference/${resource.id}/_history/${resource.meta.versionId}`,
      );
    }
    await sendWriteResult(request, reply, {
      summary: `DocumentReference/${resource.id} version ${resource.meta.versionId}`,
      representation: () => sendResource(reply, status, resource),
    });
  }
}
