import { Controller, Delete, Get, HttpCode, Param, Post, Put, Query, Req, Res } from '@nestjs/common';
import { ApiConsumes, ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import {
  ApiErrors,
  ApiFhirBody,
  ApiFhirResponse,
  ApiFormat,
  ApiResourceId,
  ApiSearchParams,
  type ErrorStatus,
  FHIR_JSON_TYPE,
  fhirContent,
  responseHeaders,
} from '../common/api-docs.js';
import { RESOURCE_CAPABILITIES } from '../fhir/capabilities.js';
import { SUBSCRIPTION_EXAMPLE } from '../fhir/openapi-examples.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public, RequireScope } from '../auth/access-rule.decorator.js';
import { actorOf } from '../audit/actor.js';
import { type Principal, principalOf } from '../auth/principal.js';
import { FhirError, invalid, notFound, unsupportedMediaType } from '../common/fhir-error.js';
import { AppConfig } from '../config/app-config.js';
import { sendResource, versionEtag } from '../fhir/fhir-response.js';
import { parseFhirJson } from '../format/fhir-json.js';
import { allowsDisclosure, DISCLOSURE_SCOPE } from './subscription-policy.js';
import { deliveryStatusTopic, DELIVERY_STATUS_TOPIC_ID } from './delivery-status.js';
import { documentAvailableTopic, type SubscriptionJson } from './subscription-resource.js';
import type { SubscriptionEntity } from './subscription.entity.js';
import { SubscriptionService, type SubscriptionSearch } from './subscription.service.js';

function jsonBody(request: FastifyRequest): SubscriptionJson {
  const type = String(request.headers['content-type'] ?? '')
    .split(';')[0]
    .trim()
    .toLowerCase();
  if (type !== 'application/fhir+json' && type !== 'application/json') {
    throw unsupportedMediaType(`Content-Type ${type || '(none)'} is not accepted here: send application/fhir+json`);
  }
  if (!Buffer.isBuffer(request.body) || request.body.length === 0) {
    throw invalid('The request has no body: send a Subscription resource');
  }
  const resource: SubscriptionJson = parseFhirJson(request.body);
  return resource;
}

const SUBSCRIPTION_WRITE_ERRORS: (ErrorStatus | [ErrorStatus, string])[] = [
  [400, 'The body does not parse, or its id differs from the URL'],
  [403, 'No system/DocumentReference.rs, no organisation in the token, or criteria beyond what the token may read'],
  413,
  [415, 'The Content-Type is not application/fhir+json'],
  [422, 'The Subscription breaks a rule (criteria, channel, an endpoint that is not https or not public)'],
];

/** Subscriptions hand out DocumentReferences, so setting one up or reading its events needs the scopes to read them. */
function requireDisclosureScope(principal: Principal | undefined): Principal | undefined {
  if (!allowsDisclosure(principal?.scopes ?? [])) {
    throw new FhirError(
      403,
      'forbidden',
      `Subscriptions deliver DocumentReferences, so this request requires scope ${DISCLOSURE_SCOPE} ` +
        '(read and search), which the access token does not grant',
      { headers: { 'www-authenticate': `Bearer error="insufficient_scope", scope="${DISCLOSURE_SCOPE}"` } },
    );
  }
  return principal;
}

/** FHIR REST for Subscription: create, read, search, update, delete, $status and $events. */
@ApiTags('Subscription')
@Controller('fhir/Subscription')
export class SubscriptionController {
  constructor(
    private readonly subscriptions: SubscriptionService,
    private readonly config: AppConfig,
  ) {}

  private location(row: SubscriptionEntity): string {
    return `${this.config.baseUrl}/fhir/Subscription/${row.id}`;
  }

  @Post()
  @RequireScope('Subscription', 'c')
  @ApiOperation({
    summary: 'Subscribe to documents',
    description:
      'A rest-hook Subscription owned by the organisation of the token: classic R4 criteria (a DocumentReference ' +
      'search) or the Backport IG topic. Needs system/DocumentReference.rs as well, as notifications carry ' +
      'DocumentReferences. The endpoint is checked (https, a public address) before it becomes active.',
  })
  @ApiConsumes(FHIR_JSON_TYPE, 'application/json')
  @ApiFhirBody('Subscription', 'A Subscription (JSON only)', {
    restHook: { summary: "A GP practice's subscription to the documents addressed to it", value: SUBSCRIPTION_EXAMPLE },
  })
  @ApiResponse({
    status: 201,
    description: 'Created (status requested until the endpoint is checked)',
    content: fhirContent('Subscription'),
    headers: responseHeaders(['Location', 'ETag']),
  })
  @ApiErrors(...SUBSCRIPTION_WRITE_ERRORS)
  async create(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const principal = requireDisclosureScope(principalOf(request));
    const { row, resource } = await this.subscriptions.create(jsonBody(request), principal);
    reply
      .header('location', `${this.location(row)}/_history/${row.versionId}`)
      .header('etag', versionEtag(row.versionId));
    await sendResource(reply, 201, resource);
  }

  @Get()
  @RequireScope('Subscription', 's')
  @ApiOperation({ summary: "Your organisation's Subscriptions" })
  @ApiSearchParams(RESOURCE_CAPABILITIES.find((c) => c.type === 'Subscription')!.searchParams)
  @ApiFormat()
  @ApiFhirResponse(200, 'Bundle', 'A searchset Bundle of Subscriptions')
  @ApiErrors([403, 'The token names no organisation'])
  async search(
    @Query() query: SubscriptionSearch,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const rows = await this.subscriptions.search(query, principalOf(request));
    await sendResource(reply, 200, {
      resourceType: 'Bundle',
      type: 'searchset',
      total: rows.length,
      entry: rows.map((row) => ({
        fullUrl: this.location(row),
        resource: this.subscriptions.render(row),
        search: { mode: 'match' },
      })),
    });
  }

  /** `$status` and `$events` (Subscriptions Backport IG operations on one Subscription). */
  @Get(':id/:operation')
  @RequireScope('Subscription', 'r')
  @ApiOperation({
    summary: '$status or $events of a Subscription',
    description:
      'Subscriptions Backport IG operations: $status (the SubscriptionStatus and recent delivery attempts) and ' +
      '$events (the notifications by event number; needs system/DocumentReference.rs too).',
  })
  @ApiResourceId('Subscription')
  @ApiParam({ name: 'operation', description: 'The operation', schema: { enum: ['$status', '$events'] } })
  @ApiQuery({ name: 'eventsSinceNumber', required: false, description: '$events: from this event number' })
  @ApiQuery({ name: 'eventsUntilNumber', required: false, description: '$events: up to this event number' })
  @ApiFhirResponse(200, 'Bundle', 'A subscription-notification or searchset Bundle')
  @ApiErrors(
    [400, 'An event number that is not a whole number'],
    [403, 'Another organisation owns the Subscription, or $events without system/DocumentReference.rs'],
    [404, 'No such Subscription, or another operation'],
  )
  async operation(
    @Param('id') id: string,
    @Param('operation') operation: string,
    @Query('eventsSinceNumber') since: string | undefined,
    @Query('eventsUntilNumber') until: string | undefined,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    if (operation === '$status') {
      await sendResource(reply, 200, await this.subscriptions.status(id, principalOf(request)));
    } else if (operation === '$events') {
      const principal = requireDisclosureScope(principalOf(request));
      await sendResource(
        reply,
        200,
        await this.subscriptions.events(id, { since, until }, principal, actorOf(request)),
      );
    } else {
      throw notFound(`Subscription has no operation or path ${operation}; try $status or $events`);
    }
  }

  @Get(':id')
  @RequireScope('Subscription', 'r')
  @ApiOperation({ summary: 'Read a Subscription' })
  @ApiResourceId('Subscription')
  @ApiFhirResponse(200, 'Subscription', 'The Subscription', ['ETag'])
  @ApiErrors([403, 'Another organisation owns the Subscription'], 404)
  async read(@Param('id') id: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const row = await this.subscriptions.owned(id, principalOf(request));
    reply.header('etag', versionEtag(row.versionId));
    await sendResource(reply, 200, this.subscriptions.render(row));
  }

  @Put(':id')
  @RequireScope('Subscription', 'u')
  @ApiOperation({ summary: 'Change a Subscription', description: 'Needs system/DocumentReference.rs as well.' })
  @ApiResourceId('Subscription')
  @ApiConsumes(FHIR_JSON_TYPE, 'application/json')
  @ApiFhirBody('Subscription', 'The whole Subscription (JSON only), id as in the URL', {
    restHook: { summary: 'A rest-hook subscription', value: SUBSCRIPTION_EXAMPLE },
  })
  @ApiFhirResponse(200, 'Subscription', 'The new version', ['ETag'])
  @ApiErrors(...SUBSCRIPTION_WRITE_ERRORS, 404)
  async update(@Param('id') id: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const principal = requireDisclosureScope(principalOf(request));
    const row = await this.subscriptions.update(id, jsonBody(request), principal);
    reply.header('etag', versionEtag(row.versionId));
    await sendResource(reply, 200, this.subscriptions.render(row));
  }

  @Delete(':id')
  @RequireScope('Subscription', 'd')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a Subscription' })
  @ApiResourceId('Subscription')
  @ApiResponse({ status: 204, description: 'Deleted: no more notifications' })
  @ApiErrors([403, 'Another organisation owns the Subscription'], 404)
  async delete(@Param('id') id: string, @Req() request: FastifyRequest): Promise<void> {
    await this.subscriptions.delete(id, principalOf(request));
  }
}

/** The SubscriptionTopics of the backport IG flavour, public so subscribers can discover them. */
@ApiTags('Subscription')
@Controller('fhir/SubscriptionTopic')
export class SubscriptionTopicController {
  constructor(private readonly config: AppConfig) {}

  @Get('document-available')
  @Public()
  @ApiOperation({ summary: 'The SubscriptionTopic document-available', description: 'Public: no token needed.' })
  @ApiFormat()
  @ApiFhirResponse(200, 'SubscriptionTopic', 'The topic (R5 shape, as the Backport IG publishes it)')
  async read(@Res() reply: FastifyReply): Promise<void> {
    await sendResource(reply, 200, documentAvailableTopic(this.config.baseUrl));
  }

  @Get(DELIVERY_STATUS_TOPIC_ID)
  @Public()
  @ApiOperation({
    summary: 'The SubscriptionTopic delivery-status',
    description: "Public: no token needed. A sender hears of its documents' delivery Tasks accepted, rejected or overdue.",
  })
  @ApiFormat()
  @ApiFhirResponse(200, 'SubscriptionTopic', 'The topic (R5 shape, as the Backport IG publishes it)')
  async readDeliveryStatus(@Res() reply: FastifyReply): Promise<void> {
    await sendResource(reply, 200, deliveryStatusTopic(this.config.baseUrl));
  }
}
