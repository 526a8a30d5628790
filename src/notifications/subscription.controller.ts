import { Controller, Delete, Get, HttpCode, Param, Post, Put, Query, Req, Res } from '@nestjs/common';
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
  async read(@Param('id') id: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const row = await this.subscriptions.owned(id, principalOf(request));
    reply.header('etag', versionEtag(row.versionId));
    await sendResource(reply, 200, this.subscriptions.render(row));
  }

  @Put(':id')
  @RequireScope('Subscription', 'u')
  async update(@Param('id') id: string, @Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const principal = requireDisclosureScope(principalOf(request));
    const row = await this.subscriptions.update(id, jsonBody(request), principal);
    reply.header('etag', versionEtag(row.versionId));
    await sendResource(reply, 200, this.subscriptions.render(row));
  }

  @Delete(':id')
  @RequireScope('Subscription', 'd')
  @HttpCode(204)
  async delete(@Param('id') id: string, @Req() request: FastifyRequest): Promise<void> {
    await this.subscriptions.delete(id, principalOf(request));
  }
}

/** The SubscriptionTopics of the backport IG flavour, public so subscribers can discover them. */
@Controller('fhir/SubscriptionTopic')
export class SubscriptionTopicController {
  constructor(private readonly config: AppConfig) {}

  @Get('document-available')
  @Public()
  async read(@Res() reply: FastifyReply): Promise<void> {
    await sendResource(reply, 200, documentAvailableTopic(this.config.baseUrl));
  }

  @Get(DELIVERY_STATUS_TOPIC_ID)
  @Public()
  async readDeliveryStatus(@Res() reply: FastifyReply): Promise<void> {
    await sendResource(reply, 200, deliveryStatusTopic(this.config.baseUrl));
  }
}
