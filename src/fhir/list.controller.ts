import { Controller, Get, Param, Req, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors, ApiFhirResponse, ApiFormat, ApiResourceId, ApiSearchParams } from '../common/api-docs.js';
import { RESOURCE_CAPABILITIES } from './capabilities.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppConfig } from '../config/app-config.js';
import { RequireScope } from '../auth/access-rule.decorator.js';
import { ProvideService } from '../registry/provide.service.js';
import { parseSubmissionSetSearch } from '../registry/submission-set-search.js';
import { sendResource, versionEtag } from './fhir-response.js';
import { searchBundle } from './search-bundle.js';
import { requireSearchScope } from './search-scope.js';
import { principalOf } from '../auth/principal.js';

/** SubmissionSet Lists from ITI-65 submissions: read, and IHE MHD ITI-66 Find Lists. */
@ApiTags('List')
@Controller('fhir/List')
export class ListController {
  constructor(
    private readonly provider: ProvideService,
    private readonly config: AppConfig,
  ) {}

  @Get()
  @RequireScope('List', 's')
  @ApiOperation({
    summary: 'Find SubmissionSets (IHE MHD ITI-66)',
    description: 'Newest first; _count (default 20, at most 500) limits the page. A search must name a patient or _id.',
  })
  @ApiSearchParams([
    ...RESOURCE_CAPABILITIES.find((c) => c.type === 'List')!.searchParams,
    { name: '_count', documentation: 'Page size: default 20, at most 500' },
  ])
  @ApiFormat()
  @ApiFhirResponse(200, 'Bundle', 'A searchset Bundle of Lists')
  @ApiErrors([400, 'A malformed value, a search that names no patient or _id, or an unknown parameter under strict'])
  async search(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const question = request.url.indexOf('?');
    const params = question < 0 ? [] : [...new URLSearchParams(request.url.slice(question + 1))];
    const strict = /(?:^|[;,\s])handling\s*=\s*"?strict"?/i.test(String(request.headers.prefer ?? ''));
    const search = parseSubmissionSetSearch(params, { strict });
    requireSearchScope(params, principalOf(request)?.organization, 'List');
    const page = await this.provider.searchLists(search);
    await sendResource(
      reply,
      200,
      searchBundle({
        base: `${this.config.baseUrl}/fhir`,
        resourceType: 'List',
        params: search.used,
        total: page.total,
        resources: page.resources,
        issues: search.issues,
      }),
    );
  }

  @Get(':id')
  @RequireScope('List', 'r')
  @ApiOperation({ summary: 'Read a SubmissionSet List' })
  @ApiResourceId('List')
  @ApiFhirResponse(200, 'List', 'The SubmissionSet', ['ETag', 'Last-Modified'])
  @ApiErrors(404)
  async read(@Param('id') id: string, @Res() reply: FastifyReply): Promise<void> {
    const resource = await this.provider.readList(id);
    const meta = resource.meta as { versionId: string; lastUpdated: string };
    reply.header('etag', versionEtag(meta.versionId)).header('last-modified', new Date(meta.lastUpdated).toUTCString());
    await sendResource(reply, 200, resource);
  }
}
