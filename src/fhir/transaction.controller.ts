import { Controller, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { invalid } from '../common/fhir-error.js';
import { operationOutcome } from '../common/operation-outcome.js';
import { auditContext } from '../audit/actor.js';
import { RequireScope } from '../auth/access-rule.decorator.js';
import { principalOf } from '../auth/principal.js';
import { parseFhirJson } from '../registry/fhir-json.js';
import { parseFhirXml } from '../registry/fhir-xml.js';
import { ProvideService } from '../registry/provide.service.js';
import { sendJson } from './fhir-response.js';
import { parseMediaType, requireFhirFormat } from './media-type.js';

/** The system endpoint: a transaction Bundle, which here is an IHE MHD ITI-65 Provide Document Bundle. */
@Controller('fhir')
export class TransactionController {
  constructor(private readonly provider: ProvideService) {}

  @Post()
  @RequireScope('DocumentReference', 'c')
  async transaction(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const format = requireFhirFormat(parseMediaType(request.headers['content-type']));
    if (!Buffer.isBuffer(request.body) || request.body.length === 0) {
      throw invalid('The request has no body: send a transaction Bundle (IHE MHD ITI-65 Provide Document Bundle)');
    }
    const bundle = format === 'json' ? parseFhirJson(request.body) : parseFhirXml(request.body);
    const principal = principalOf(request);
    const result = await this.provider.provide(bundle, {
      organization: principal?.organization,
      scopes: principal?.scopes ?? [],
    });
    auditContext(request).patientNhsNumbers.push(...result.patientNhsNumbers);
    await sendJson(reply, 200, {
      resourceType: 'Bundle',
      type: 'transaction-response',
      entry: result.entries.map(({ outcome, ...response }) => ({
        response: { ...response, ...(outcome ? { outcome: operationOutcome(outcome) } : {}) },
      })),
    });
  }
}
