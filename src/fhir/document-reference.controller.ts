import { Controller, Get, Param, Query, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppConfig } from '../config/app-config.js';
import { invalid, notFound } from '../common/fhir-error.js';
import { RequireScope } from '../auth/access-rule.decorator.js';
import { DocumentReferenceRepository } from '../registry/document-reference.repository.js';
import { notModified, sendJson, versionEtag } from './fhir-response.js';

/** Splits a token search value `system|code` (FHIR R4 search.html#token). */
function parseToken(value: string): { system: string | null; code: string } {
  const bar = value.indexOf('|');
  return bar < 0 ? { system: null, code: value } : { system: value.slice(0, bar), code: value.slice(bar + 1) };
}

@Controller('fhir/DocumentReference')
export class DocumentReferenceController {
  constructor(
    private readonly documentReferences: DocumentReferenceRepository,
    private readonly config: AppConfig,
  ) {}

  @Get()
  @RequireScope('DocumentReference', 's')
  async search(@Query('patient.identifier') patientIdentifier: string | undefined, @Res() reply: FastifyReply) {
    if (!patientIdentifier) {
      throw invalid('Search needs patient.identifier, e.g. patient.identifier=https://fhir.nhs.uk/Id/nhs-number|9434765919');
    }
    const { system, code } = parseToken(patientIdentifier);
    const rows = await this.documentReferences.findByPatientIdentifier(system || null, code, 500);
    const base = `${this.config.baseUrl}/fhir`;
    await sendJson(reply, 200, {
      resourceType: 'Bundle',
      type: 'searchset',
      total: rows.length,
      link: [{ relation: 'self', url: `${base}/DocumentReference?patient.identifier=${encodeURIComponent(patientIdentifier)}` }],
      entry: rows.map((row) => ({
        fullUrl: `${base}/DocumentReference/${row.id}`,
        resource: JSON.parse(row.resource) as unknown,
        search: { mode: 'match' },
      })),
    });
  }

  @Get(':id')
  @RequireScope('DocumentReference', 'r')
  async read(@Param('id') id: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const row = await this.documentReferences.findById(id);
    if (!row) {
      throw notFound(`DocumentReference/${id} is not known to this server`);
    }
    const etag = versionEtag(row.versionId);
    reply.header('etag', etag).header('last-modified', new Date(row.lastUpdatedMs).toUTCString());
    if (notModified(request, etag)) {
      await reply.status(304).send();
      return;
    }
    await sendJson(reply, 200, JSON.parse(row.resource));
  }
}
