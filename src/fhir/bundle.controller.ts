import { Controller, Delete, Get, Param, Patch, Post, Put, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppConfig } from '../config/app-config.js';
import { invalid, methodNotAllowed } from '../common/fhir-error.js';
import { Public, RequireScope } from '../auth/access-rule.decorator.js';
import { actorOf, auditContext } from '../audit/actor.js';
import { principalOf } from '../auth/principal.js';
import { DocumentService } from '../registry/document.service.js';
import { contentEtag, notModified, sendWriteResult } from './fhir-response.js';
import { parseMediaType, requireFhirFormat } from './media-type.js';

/** FHIR document Bundles: submitted once, read back byte for byte, never changed. */
@Controller('fhir/Bundle')
export class BundleController {
  constructor(
    private readonly documents: DocumentService,
    private readonly config: AppConfig,
  ) {}

  @Post()
  @RequireScope('Bundle', 'c')
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
      representation: async () =>
        reply
          .header('content-type', bundle.contentType)
          .send(result.created ? request.body : await this.documents.readBundleBytes(bundle)),
    });
  }

  @Get(':id')
  @RequireScope('Bundle', 'r')
  async read(@Param('id') id: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const bundle = await this.documents.getBundle(id);
    const patient = await this.documents.patientOf(bundle.id);
    const audit = auditContext(request);
    if (patient) {
      audit.patientNhsNumbers.push(patient);
    }
    if (bundle.custodianOds) {
      audit.custodianOrgs.push(bundle.custodianOds);
    }
    const etag = contentEtag(bundle.sha256);
    reply.header('etag', etag).header('last-modified', new Date(bundle.createdAt).toUTCString());
    if (notModified(request, etag)) {
      await reply.status(304).send();
      return;
    }
    await reply.header('content-type', bundle.contentType).send(await this.documents.readBundleBytes(bundle));
  }

  // Immutable content: the methods exist only to say so with a 405 rather than a 404.
  @Put(':id')
  @Public()
  refuseUpdate(): never {
    throw methodNotAllowed('Documents are immutable: a stored Bundle cannot be updated, patched or deleted', 'GET');
  }

  @Patch(':id')
  @Public()
  refusePatch(): never {
    return this.refuseUpdate();
  }

  @Delete(':id')
  @Public()
  refuseDelete(): never {
    return this.refuseUpdate();
  }
}
