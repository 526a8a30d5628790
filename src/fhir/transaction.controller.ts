import { Controller, Post, Req, Res } from '@nestjs/common';
import { ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors, ApiFhirBody, ApiFhirResponse, FHIR_JSON_TYPE, FHIR_XML_TYPE } from '../common/api-docs.js';
import { SYSTEM_INTERACTIONS } from './capabilities.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { invalid } from '../common/fhir-error.js';
import { operationOutcome } from '../common/operation-outcome.js';
import { actorOf, auditContext } from '../audit/actor.js';
import { insufficientScope } from '../auth/bearer-auth.guard.js';
import { allows, type SmartScope } from '../auth/smart-scopes.js';
import type { FhirResource } from '../format/fhir-json.js';
import { RequireScope } from '../auth/access-rule.decorator.js';
import { principalOf } from '../auth/principal.js';
import { parseFhirJson } from '../format/fhir-json.js';
import { parseFhirXml } from '../format/fhir-xml.js';
import { ProvideService } from '../registry/provide.service.js';
import { sendResource } from './fhir-response.js';
import { parseMediaType, requireFhirFormat } from '../format/media-type.js';

/** The system endpoint: a transaction Bundle, which here is an IHE MHD ITI-65 Provide Document Bundle. */
@ApiTags('System')
@Controller('fhir')
export class TransactionController {
  constructor(private readonly provider: ProvideService) {}

  @Post()
  @RequireScope('DocumentReference', 'c')
  @ApiOperation({
    summary: 'Provide Document Bundle (IHE MHD ITI-65)',
    description: SYSTEM_INTERACTIONS[0].documentation,
  })
  @ApiConsumes(FHIR_JSON_TYPE, FHIR_XML_TYPE)
  @ApiFhirBody('Bundle', 'A transaction Bundle: a SubmissionSet List, DocumentReferences and their content')
  @ApiFhirResponse(200, 'Bundle', 'A transaction-response Bundle, one entry per request entry')
  @ApiErrors(
    [400, 'The body does not parse, or is not a transaction Bundle'],
    [403, 'The Bundle carries Binary or Bundle entries the token may not create, or another custodian'],
    [404, 'A DocumentReference to be replaced is not known'],
    [409, 'An identifier is already registered, or appears twice'],
    413,
    415,
    [422, 'The Bundle breaks an MHD rule (entries, references, the SubmissionSet)'],
  )
  async transaction(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const format = requireFhirFormat(parseMediaType(request.headers['content-type']));
    if (!Buffer.isBuffer(request.body) || request.body.length === 0) {
      throw invalid('The request has no body: send a transaction Bundle (IHE MHD ITI-65 Provide Document Bundle)');
    }
    const bundle = format === 'json' ? parseFhirJson(request.body) : parseFhirXml(request.body);
    const principal = principalOf(request);
    checkEntryScopes(bundle, principal?.scopes ?? []);
    const result = await this.provider.provide(bundle, {
      organization: principal?.organization,
      actor: actorOf(request),
    });
    auditContext(request).recorded = true; // with the data, in the same transaction
    await sendResource(reply, 200, {
      resourceType: 'Bundle',
      type: 'transaction-response',
      entry: result.entries.map(({ outcome, ...response }) => ({
        response: { ...response, ...(outcome ? { outcome: operationOutcome(outcome) } : {}) },
      })),
    });
  }
}

/** DocumentReference.c always (the route demands it); Binary.c and Bundle.c when the transaction carries them. */
function checkEntryScopes(bundle: FhirResource, scopes: readonly SmartScope[]): void {
  const types = new Set(
    (Array.isArray(bundle.entry) ? (bundle.entry as { resource?: { resourceType?: unknown } }[]) : []).map(
      (e) => e?.resource?.resourceType,
    ),
  );
  for (const type of ['Binary', 'Bundle'] as const) {
    if (types.has(type) && !allows(scopes, type, 'c')) {
      throw insufficientScope(type, 'c');
    }
  }
}
