import type { IncomingMessage } from 'node:http';
import { Controller, Delete, Get, Param, Patch, Post, Put, Req, Res } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import {
  ApiBody,
  ApiConsumes,
  ApiExcludeEndpoint,
  ApiHeader,
  ApiOperation,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import {
  ANY_TYPE,
  ApiErrors,
  ApiFormat,
  ApiIfNoneMatch,
  ApiPreferReturn,
  ApiResourceId,
  FHIR_JSON_TYPE,
  FHIR_XML_TYPE,
  fhirContent,
  responseHeaders,
  schemaRef,
} from '../common/api-docs.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppConfig } from '../config/app-config.js';
import {
  FhirError,
  invalid,
  methodNotAllowed,
  notAcceptable,
  tooLarge,
  unsupportedMediaType,
} from '../common/fhir-error.js';
import { Public, RequireScope } from '../auth/access-rule.decorator.js';
import { principalOf } from '../auth/principal.js';
import { actorOf, auditContext } from '../audit/actor.js';
import { BinaryService } from '../registry/binary.service.js';
import { DeliveryTaskService } from '../registry/delivery-task.service.js';
import type { BinaryEntity } from '../registry/binary.entity.js';
import { servedContentType } from '../registry/content-type.js';
import { parseFhirJson } from '../format/fhir-json.js';
import { parseFhirXml } from '../format/fhir-xml.js';
import { STREAMED_BODY } from './body-parsing.js';
import { parseByteRange } from './byte-range.js';
import { contentEtag, notModified, sendResource, sendWriteResult } from './fhir-response.js';
import { parseMediaType } from '../format/media-type.js';
import { writeFhirXml } from '../format/fhir-xml-writer.js';
import { contentTypeOf, negotiate, OWN_NEGOTIATION, varyOnAccept } from './content-negotiation.js';

const FHIR_RESOURCE_TYPES = new Set(['application/fhir+json', 'application/fhir+xml']);

const BINARY_RESOURCE_TYPES = ['application/fhir+json', 'application/fhir+xml'];

/** The bytes' own type, or a FHIR type for the Binary resource; 406 naming what can be had. */
function negotiateBinary(request: FastifyRequest, contentType: string, id: string): string {
  try {
    return negotiate(request, [contentType, ...BINARY_RESOURCE_TYPES]);
  } catch (error) {
    if (error instanceof FhirError && error.status === 406) {
      throw notAcceptable(
        `Binary/${id} is ${contentType}: ask for that type, a wildcard, or application/fhir+json or ` +
          'application/fhir+xml for the Binary resource',
      );
    }
    throw error;
  }
}

/** FHIR Binary: raw bytes streamed in and out, or the base64 Binary resource for small objects. */
@ApiTags('Binary')
@Controller('fhir/Binary')
export class BinaryController {
  constructor(
    private readonly binaries: BinaryService,
    private readonly tasks: DeliveryTaskService,
    private readonly config: AppConfig,
  ) {}

  @Post()
  @RouteConfig(STREAMED_BODY)
  @RequireScope('Binary', 'c')
  @ApiOperation({
    summary: 'Store bytes as a Binary',
    description:
      'The body is the content itself, of any media type, streamed to the blob store (up to MAX_BINARY_BYTES); ' +
      'or a FHIR Binary resource (application/fhir+json or +xml) with base64 data. The answer is the Binary ' +
      'resource without its data.',
  })
  @ApiConsumes(ANY_TYPE, FHIR_JSON_TYPE, FHIR_XML_TYPE)
  @ApiBody({
    required: true,
    description: 'The bytes (any Content-Type), or a Binary resource with contentType and base64 data',
    schema: schemaRef('Binary'),
    examples: {
      resource: {
        summary: 'A Binary resource',
        value: { resourceType: 'Binary', contentType: 'text/plain', data: 'SGVsbG8sIEdQLg==' },
      },
    },
  })
  @ApiPreferReturn()
  @ApiResponse({
    status: 201,
    description: 'Stored: Location names the Binary',
    content: fhirContent('Binary'),
    headers: responseHeaders(['Location', 'ETag', 'Last-Modified']),
  })
  @ApiErrors(
    [400, 'No body, or a Binary resource without contentType or with data that is not base64'],
    [413, 'The body is larger than MAX_BINARY_BYTES (bytes) or MAX_RESOURCE_BYTES (a Binary resource)'],
    [415, 'No Content-Type'],
  )
  async create(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const mediaType = parseMediaType(request.headers['content-type']);
    if (!mediaType) {
      throw unsupportedMediaType('Content-Type is required: the media type of the bytes, or application/fhir+json');
    }
    const owner = principalOf(request)?.organization ?? null;
    let row: BinaryEntity;
    if (FHIR_RESOURCE_TYPES.has(mediaType.type)) {
      if (!Buffer.isBuffer(request.body) || request.body.length === 0) {
        throw invalid('The request has no body: send a FHIR Binary resource');
      }
      const resource =
        mediaType.type === 'application/fhir+json' ? parseFhirJson(request.body) : parseFhirXml(request.body);
      row = await this.binaries.storeBinaryResource(resource, owner, actorOf(request));
    } else {
      const declared = Number(request.headers['content-length']);
      if (Number.isFinite(declared) && declared > this.config.maxBinaryBytes) {
        throw tooLarge(
          `The Binary is ${declared} bytes; the limit is ${this.config.maxBinaryBytes} (MAX_BINARY_BYTES)`,
        );
      }
      const body = request.body as IncomingMessage | undefined;
      if (!body) {
        throw invalid('The request has no body: send the bytes of the Binary');
      }
      row = await this.binaries.storeBinary(body, request.headers['content-type']!.trim(), owner, actorOf(request));
    }
    auditContext(request).recorded = true; // with the data, in the same transaction
    reply
      .status(201)
      .header('location', `${this.config.baseUrl}/fhir/Binary/${row.id}`)
      .header('etag', contentEtag(row.sha256))
      .header('last-modified', new Date(row.createdAt).toUTCString());
    await sendWriteResult(request, reply, {
      summary: `Stored ${row.size} bytes as Binary/${row.id}`,
      // The metadata only: echoing a large upload back as base64 would defeat streaming it in.
      representation: () => sendResource(reply, 201, this.binaryResource(row)),
    });
  }

  @Get(':id')
  @RouteConfig(OWN_NEGOTIATION)
  @RequireScope('Binary', 'r')
  @ApiOperation({
    summary: 'Read a Binary',
    description:
      'The bytes in their own media type (Range requests supported, If-Range honoured); with Accept (or _format) ' +
      'a FHIR type, the Binary resource with base64 data, up to MAX_RESOURCE_BYTES.',
  })
  @ApiResourceId('Binary')
  @ApiFormat()
  @ApiHeader({ name: 'Range', required: false, description: 'One byte range, e.g. bytes=0-1023' })
  @ApiHeader({ name: 'If-Range', required: false, description: 'The ETag the range applies to' })
  @ApiIfNoneMatch()
  @ApiResponse({
    status: 200,
    description: 'The bytes, or the Binary resource',
    headers: responseHeaders(['ETag', 'Last-Modified']),
    content: {
      [ANY_TYPE]: { schema: { description: 'The bytes, in their stored Content-Type' } },
      ...fhirContent('Binary'),
    },
  })
  @ApiResponse({
    status: 206,
    description: 'The requested range of the bytes',
    headers: responseHeaders(['Content-Range', 'ETag', 'Last-Modified']),
    content: { [ANY_TYPE]: { schema: { description: 'Part of the bytes' } } },
  })
  @ApiErrors(
    404,
    [406, 'Accept names neither the stored type nor a FHIR type, or the Binary is too large for base64'],
    416,
  )
  async read(@Param('id') id: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const row = await this.binaries.getBinary(id);
    const contentType = servedContentType(row.contentType);
    // FHIR R4 binary.html#rest: a FHIR type asks for the Binary resource, anything else for the bytes themselves.
    const mediaType = negotiateBinary(request, contentType, id);
    const asResource = mediaType !== contentType;
    // The Binary resource is other bytes than the content, so it has its own strong ETag.
    const etag = contentEtag(asResource ? `${row.sha256}+${mediaType.endsWith('xml') ? 'xml' : 'json'}` : row.sha256);
    varyOnAccept(reply);
    reply.header('etag', etag).header('last-modified', new Date(row.createdAt).toUTCString());
    if (notModified(request, etag)) {
      await reply.status(304).send();
      return;
    }
    if (asResource) {
      if (row.size > this.config.maxResourceBytes) {
        throw notAcceptable(
          `Binary/${id} is ${row.size} bytes, too large to send as base64 in a Binary resource ` +
            `(MAX_RESOURCE_BYTES ${this.config.maxResourceBytes}): ask for Accept: ${contentType}`,
        );
      }
      const data = (await this.binaries.readBinaryBytes(row)).toString('base64');
      const body = { ...this.binaryResource(row), data };
      const text = mediaType === BINARY_RESOURCE_TYPES[0] ? JSON.stringify(body) : writeFhirXml(body);
      await reply.status(200).header('content-type', contentTypeOf(mediaType)).send(text);
      await this.retrieved(request, row);
      return;
    }
    // If-Range (RFC 9110 13.1.5): the range applies only while the client's copy is still this one.
    const ifRange = request.headers['if-range'];
    const range =
      ifRange === undefined || ifRange === etag ? parseByteRange(request.headers.range, row.size) : undefined;
    reply.header('accept-ranges', 'bytes').header('content-type', contentType);
    if (range) {
      reply
        .status(206)
        .header('content-range', `bytes ${range.start}-${range.end}/${row.size}`)
        .header('content-length', range.end - range.start + 1);
    } else {
      reply.status(200).header('content-length', row.size);
    }
    const stream = await this.binaries.openBinary(row, range);
    // Whatever becomes of the response (sent, withheld after a failed audit, an onSend error, the client gone), the
    // blob's file closes with it rather than waiting for the garbage collector.
    reply.raw.once('close', () => stream.destroy());
    try {
      await reply.send(stream);
    } catch (error) {
      stream.destroy();
      throw error;
    }
    await this.retrieved(request, row);
  }

  /** A recipient that read a document's Binary has it: its delivery Task moves to retrieved, as for a Bundle read. */
  private async retrieved(request: FastifyRequest, row: BinaryEntity): Promise<void> {
    await this.tasks.sawBinary(row.id, row.ownerOds, principalOf(request)?.organization);
  }

  // Immutable content: the methods exist only to say so with a 405 rather than a 404.
  @Put(':id')
  @Public()
  @ApiExcludeEndpoint()
  refuseUpdate(): never {
    throw methodNotAllowed('Binaries are immutable: a stored Binary cannot be updated, patched or deleted', 'GET');
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

  private binaryResource(row: BinaryEntity) {
    return {
      resourceType: 'Binary',
      id: row.id,
      meta: { versionId: '1', lastUpdated: new Date(row.createdAt).toISOString() },
      contentType: servedContentType(row.contentType),
    };
  }
}
