import { Controller, Delete, Get, Param, Patch, Post, Put, Req, Res } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import { ApiConsumes, ApiExcludeEndpoint, ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  ApiErrors,
  ApiFhirBody,
  ApiFhirResponse,
  ApiFormat,
  ApiIfNoneMatch,
  ApiPreferReturn,
  ApiResourceId,
  FHIR_JSON_TYPE,
  FHIR_XML_TYPE,
} from '../common/api-docs.js';
import { DOCUMENT_BUNDLE_EXAMPLE } from './openapi-examples.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppConfig } from '../config/app-config.js';
import { invalid, methodNotAllowed } from '../common/fhir-error.js';
import { Public, RequireScope } from '../auth/access-rule.decorator.js';
import { actorOf, auditContext } from '../audit/actor.js';
import { principalOf } from '../auth/principal.js';
import { DeliveryTaskService } from '../registry/delivery-task.service.js';
import type { DocumentBundleEntity } from '../registry/document-bundle.entity.js';
import { DocumentService } from '../registry/document.service.js';
import { contentEtag, notModified, sendWriteResult } from './fhir-response.js';
import { parseFhirJson } from '../format/fhir-json.js';
import { writeFhirXml } from '../format/fhir-xml-writer.js';
import { parseFhirXml } from '../format/fhir-xml.js';
import { type FhirFormat, parseMediaType, requireFhirFormat } from '../format/media-type.js';
import {
  contentTypeOf,
  fhirCandidates,
  fhirFormatOfType,
  negotiate,
  OWN_NEGOTIATION,
  varyOnAccept,
} from './content-negotiation.js';

/** The format and bare media type of a stored Bundle, from the Content-Type it was submitted with. */
function storedRepresentation(contentType: string): { format: FhirFormat; mediaType: string } {
  const mediaType = contentType.split(';')[0].trim().toLowerCase();
  return { format: fhirFormatOfType(mediaType) ?? 'json', mediaType };
}

// The stored type first (so a wildcard or absent Accept gets the stored bytes), then its format, then the other.
function bundleCandidates(stored: { format: FhirFormat; mediaType: string }): string[] {
  return [...new Set([stored.mediaType, ...fhirCandidates(stored.format)])];
}

/** FHIR document Bundles: submitted once, read back byte for byte, never changed. */
@ApiTags('Bundle')
@Controller('fhir/Bundle')
export class BundleController {
  constructor(
    private readonly documents: DocumentService,
    private readonly tasks: DeliveryTaskService,
    private readonly config: AppConfig,
  ) {}

  @Post()
  @RequireScope('Bundle', 'c')
  @ApiOperation({
    summary: 'Submit a FHIR document',
    description:
      'Stores a document Bundle (R4 or STU3, JSON or XML) byte for byte and indexes it as a DocumentReference ' +
      '(Link header, rel=related). A retry of a stored document (same identifier, same bytes) answers 200.',
  })
  @ApiConsumes(FHIR_JSON_TYPE, FHIR_XML_TYPE)
  @ApiFhirBody('Bundle', 'A FHIR document Bundle (type document, Composition first)', {
    dischargeSummary: { summary: 'A discharge summary from trust RTG', value: DOCUMENT_BUNDLE_EXAMPLE },
  })
  @ApiPreferReturn()
  @ApiFhirResponse(201, 'Bundle', 'Stored: Location names the Bundle, Link its DocumentReference', [
    'Location',
    'Link',
    'ETag',
    'Last-Modified',
  ])
  @ApiFhirResponse(200, 'Bundle', 'Already stored (a retry of the same document)', [
    'Location',
    'Link',
    'ETag',
    'Last-Modified',
  ])
  @ApiErrors(
    [400, 'The body is not FHIR JSON or XML'],
    [403, 'The Composition names a custodian other than the organisation of the token'],
    [409, 'The identifier is already used by another document, or the replaced document is not current'],
    413,
    [415, 'The Content-Type is not a FHIR JSON or XML media type'],
    [422, 'The Bundle breaks a FHIR document rule (e.g. bdl-9, Composition first, references that resolve)'],
  )
  async submit(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const mediaType = parseMediaType(request.headers['content-type']);
    const format = requireFhirFormat(mediaType);
    if (!Buffer.isBuffer(request.body) || request.body.length === 0) {
      throw invalid('The request has no body: send a FHIR document Bundle');
    }
    const result = await this.documents.submitDocument({
      body: request.body,
      format,
      contentType: request.headers['content-type']!.trim(),
      declaredFhirVersion: mediaType?.fhirVersion,
      submitterOds: principalOf(request)?.organization,
      actor: actorOf(request),
    });
    const { bundle } = result;
    const audit = auditContext(request);
    audit.recorded = result.created;
    audit.entities.push({ reference: `DocumentReference/${result.documentReferenceId}` });
    if (result.patientNhsNumber) {
      audit.patientNhsNumbers.push(result.patientNhsNumber);
    }
    const indexUrl = `${this.config.baseUrl}/fhir/DocumentReference/${result.documentReferenceId}`;
    reply
      .status(result.created ? 201 : 200)
      .header('location', `${this.config.baseUrl}/fhir/Bundle/${bundle.id}`)
      // the index entry of what was sent (RFC 8288), so a client need not search by identifier
      .header('link', `<${indexUrl}>; rel="related"`)
      .header('etag', contentEtag(bundle.sha256))
      .header('last-modified', new Date(bundle.createdAt).toUTCString());
    await sendWriteResult(request, reply, {
      summary: result.created
        ? `Stored as Bundle/${bundle.id}, indexed as ${indexUrl}`
        : `Already stored as Bundle/${bundle.id}, indexed as ${indexUrl}: this submission was a retry`,
      warnings: result.warnings,
      // a new document's stored bytes are the request's (the store measured them as they went in): reading them
      // back would answer a committed write with a 503 should the store fail in between
      representation: () =>
        this.sendBundle(request, reply, bundle, {
          conditional: false,
          bytes: result.created && Buffer.isBuffer(request.body) ? request.body : undefined,
        }),
    });
  }

  @Get(':id')
  @RouteConfig(OWN_NEGOTIATION)
  @RequireScope('Bundle', 'r')
  @ApiOperation({
    summary: 'Read a stored document',
    description:
      'The stored bytes when Accept allows their format (or is absent), else the document converted to the FHIR ' +
      'format asked for (Accept or _format), with its own strong ETag.',
  })
  @ApiResourceId('Bundle')
  @ApiFormat()
  @ApiIfNoneMatch()
  @ApiFhirResponse(200, 'Bundle', 'The document', ['ETag', 'Last-Modified'])
  @ApiErrors(404, [406, 'Neither FHIR format is acceptable'])
  async read(@Param('id') id: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const bundle = await this.documents.getBundle(id);
    const index = await this.documents.indexOf(bundle.id);
    const audit = auditContext(request);
    if (index?.patientNhsNumber) {
      audit.patientNhsNumbers.push(index.patientNhsNumber);
    }
    if (bundle.custodianOds) {
      audit.custodianOrgs.push(bundle.custodianOds);
    }
    await this.sendBundle(request, reply, bundle, { conditional: true });
    if (index) {
      // a recipient that read its document has it: its delivery Task moves to retrieved
      await this.tasks.saw(index.documentReferenceId, principalOf(request)?.organization, 'retrieved');
    }
  }

  /**
   * The stored bytes when the client accepts their format (or does not say), else the document converted to the
   * FHIR format it asks for, with its own strong ETag; 406 when it accepts neither. The stored bytes stay the record.
   */
  private async sendBundle(
    request: FastifyRequest,
    reply: FastifyReply,
    bundle: DocumentBundleEntity,
    options: { conditional: boolean; bytes?: Buffer },
  ): Promise<void> {
    const stored = storedRepresentation(bundle.contentType);
    const mediaType = negotiate(request, bundleCandidates(stored));
    const format = fhirFormatOfType(mediaType) ?? stored.format;
    const converted = format !== stored.format;
    const etag = converted ? contentEtag(`${bundle.sha256}+${format}`) : contentEtag(bundle.sha256);
    varyOnAccept(reply);
    reply.header('etag', etag).header('last-modified', new Date(bundle.createdAt).toUTCString());
    if (options.conditional && notModified(request, etag)) {
      await reply.status(304).send();
      return;
    }
    const bytes = options.bytes ?? (await this.documents.readBundleBytes(bundle));
    if (!converted) {
      const contentType = mediaType === stored.mediaType ? bundle.contentType : contentTypeOf(mediaType);
      await reply.header('content-type', contentType).send(bytes);
    } else {
      const stu3 = bundle.fhirVersion.startsWith('3.');
      const body =
        format === 'json'
          ? JSON.stringify(parseFhirXml(bytes, { fhirVersion: stu3 ? 'STU3' : 'R4' }))
          : writeFhirXml(parseFhirJson(bytes));
      // STU3 content stays STU3 in the other format; say so (FHIR R4 http.html#version-parameter).
      await reply.header('content-type', `${contentTypeOf(mediaType)}${stu3 ? '; fhirVersion=3.0' : ''}`).send(body);
    }
  }

  // Immutable content: the methods exist only to say so with a 405 rather than a 404.
  @Put(':id')
  @Public()
  @ApiExcludeEndpoint()
  refuseUpdate(): never {
    throw methodNotAllowed('Documents are immutable: a stored Bundle cannot be updated, patched or deleted', 'GET');
  }

  @Patch(':id')
  @Public()
  @ApiExcludeEndpoint()
  refusePatch(): never {
    return this.refuseUpdate();
  }

  @Delete(':id')
  @Public()
  @ApiExcludeEndpoint()
  refuseDelete(): never {
    return this.refuseUpdate();
  }
}
