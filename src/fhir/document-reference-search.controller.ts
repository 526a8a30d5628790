import { Controller, Get, Post, Req, Res } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiErrors, ApiFhirResponse, ApiFormat, ApiSearchParams, FORM_TYPE } from '../common/api-docs.js';
import { DOCUMENT_REFERENCE_SEARCH_PARAMS } from './capabilities.js';
import { SEARCH_FORM_EXAMPLE } from './openapi-examples.js';
import { auditContext } from '../audit/actor.js';
import { AppConfig } from '../config/app-config.js';
import { unsupportedMediaType } from '../common/fhir-error.js';
import { RequireScope } from '../auth/access-rule.decorator.js';
import { parseSearch } from '../registry/document-reference-search.js';
import { DocumentReferenceSearchRepository } from '../registry/document-reference-search.repository.js';
import { encodeCursor } from '../registry/search-cursor.js';
import { useFormFormat } from './content-negotiation.js';
import { RawJson, sendResource } from './fhir-response.js';
import { searchBundle } from './search-bundle.js';
import { requireSearchScope } from './search-scope.js';
import { principalOf } from '../auth/principal.js';

const FORM = FORM_TYPE;

/** `Prefer: handling=strict` (R4 search.html#errors); lenient is the default. */
function strictHandling(request: FastifyRequest): boolean {
  return /(?:^|[;,\s])handling\s*=\s*"?strict"?/i.test(String(request.headers.prefer ?? ''));
}

function queryParams(request: FastifyRequest): [string, string][] {
  const question = request.url.indexOf('?');
  return question < 0 ? [] : [...new URLSearchParams(request.url.slice(question + 1))];
}

/** DocumentReference search (IHE MHD ITI-67): GET with a query string, or POST _search with a form body. */
const STRICT_HANDLING = ApiHeader({
  name: 'Prefer',
  required: false,
  description: 'handling=strict refuses unknown parameters with 400 (lenient, the default, reports them)',
});

const SEARCH_REFUSED: [400, string] = [
  400,
  'A malformed value, a search too costly, one that names no patient, document or own recipient code, or an ' +
    'unknown parameter under Prefer: handling=strict',
];

const RESULT_PARAMS = [
  { name: '_count', documentation: 'Page size: default 20, at most 500; 0 answers the total only' },
  { name: '_sort', documentation: 'date or _lastUpdated, - for descending' },
  { name: '_total', documentation: 'none | estimate | accurate' },
  { name: '_summary', documentation: 'count' },
  { name: '_cursor', documentation: 'The opaque page position of a next or previous link' },
];

@ApiTags('DocumentReference')
@Controller('fhir/DocumentReference')
export class DocumentReferenceSearchController {
  constructor(
    private readonly documentReferences: DocumentReferenceSearchRepository,
    private readonly config: AppConfig,
  ) {}

  @Get()
  @RequireScope('DocumentReference', 's')
  @ApiOperation({
    summary: 'Find documents (IHE MHD ITI-67)',
    description:
      'A searchset Bundle of DocumentReferences. A search must say whose records it wants (a patient, _id, ' +
      'identifier, or recipient with your own ODS code). ' +
      'Unknown parameters are reported in an OperationOutcome entry.',
  })
  @ApiSearchParams([...DOCUMENT_REFERENCE_SEARCH_PARAMS, ...RESULT_PARAMS])
  @ApiFormat()
  @STRICT_HANDLING
  @ApiFhirResponse(200, 'Bundle', 'A searchset Bundle, with next and previous links')
  @ApiErrors(SEARCH_REFUSED)
  async search(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    await this.respond(request, reply, queryParams(request));
  }

  @Post('_search')
  @RequireScope('DocumentReference', 's')
  @ApiOperation({
    summary: 'Find documents with a form body',
    description: 'The same search as GET, its parameters in the body (and the URL; both apply).',
  })
  @ApiConsumes(FORM_TYPE)
  @ApiBody({
    required: false,
    description: 'Search parameters, application/x-www-form-urlencoded',
    schema: { type: 'object', additionalProperties: { type: 'string' } },
    examples: {
      dischargeSummaries: { summary: "A patient's current discharge summaries", value: SEARCH_FORM_EXAMPLE },
    },
  })
  @STRICT_HANDLING
  @ApiFhirResponse(200, 'Bundle', 'A searchset Bundle')
  @ApiErrors(SEARCH_REFUSED, 413, [415, 'The body is not application/x-www-form-urlencoded'])
  async searchByPost(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const type = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (body.length > 0 && type !== FORM) {
      throw unsupportedMediaType(`POST _search takes its parameters as ${FORM}, not ${type || 'an untyped body'}`);
    }
    // R4 http.html#search: parameters may come in both the URL and the body; both apply.
    const params: [string, string][] = [...queryParams(request), ...new URLSearchParams(body.toString('utf8'))];
    const format = params.find(([name, value]) => name === '_format' && value !== '')?.[1];
    if (format !== undefined) {
      useFormFormat(request, format);
    }
    // the audit trail records the parameters wherever they came from, not only the URL's
    auditContext(request).query = new URLSearchParams(params).toString();
    await this.respond(request, reply, params);
  }

  private async respond(request: FastifyRequest, reply: FastifyReply, params: [string, string][]): Promise<void> {
    const plan = parseSearch(params, { strict: strictHandling(request), baseUrl: this.config.baseUrl });
    // after the parser's own refusals (limits, malformed values); paging links repeat the parameters, so they pass
    requireSearchScope(params, principalOf(request)?.organization, 'DocumentReference');
    const page = await this.documentReferences.search(plan);
    // whose records left: the patients and custodians of the results, besides the patients the query names
    const audit = auditContext(request);
    for (const row of page.rows) {
      if (row.patientNhsNumber) {
        audit.patientNhsNumbers.push(row.patientNhsNumber);
      }
      if (row.custodianOds) {
        audit.custodianOrgs.push(row.custodianOds);
      }
    }
    await sendResource(
      reply,
      200,
      searchBundle({
        base: `${this.config.baseUrl}/fhir`,
        resourceType: 'DocumentReference',
        params: plan.used,
        cursor: plan.cursor ? encodeCursor(plan.cursor) : undefined,
        next: page.next ? encodeCursor(page.next) : undefined,
        previous: page.previous ? encodeCursor(page.previous) : undefined,
        total: page.total,
        // stored JSON goes out as it is: parsing and re-serialising it was a fifth of a search's CPU
        resources: page.rows.map((row) => ({ id: row.id, resource: new RawJson(row.resource) })),
        issues: plan.issues,
      }),
    );
  }
}
