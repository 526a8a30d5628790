import { Controller, Delete, Get, Param, Patch, Post, Put, Query, Res } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors, ApiFhirResponse, ApiFormat, ApiResourceId, ApiSearchParams } from '../common/api-docs.js';
import { RESOURCE_CAPABILITIES } from './capabilities.js';
import type { FastifyReply } from 'fastify';
import type { AuditEventEntity } from '../audit/audit-event.entity.js';
import { AuditEventRepository } from '../audit/audit-event.repository.js';
import { type AuditVisibility, auditVisibility, parseAuditSearch } from '../audit/audit-search.js';
import { CurrentPrincipal, Public, RequireScope } from '../auth/access-rule.decorator.js';
import type { Principal } from '../auth/principal.js';
import { hasAdminScope } from '../auth/smart-scopes.js';
import { methodNotAllowed, notFound } from '../common/fhir-error.js';
import { AppConfig } from '../config/app-config.js';
import { sendResource } from './fhir-response.js';

/** The stored AuditEvent with the server-assigned meta (not part of the hashed JSON). */
function withMeta(row: AuditEventEntity): unknown {
  const resource = JSON.parse(row.resource) as Record<string, unknown>;
  return { ...resource, meta: { versionId: '1', lastUpdated: new Date(row.recordedMs).toISOString() } };
}

const visibilityOf = (principal: Principal): AuditVisibility =>
  auditVisibility({ admin: hasAdminScope(principal.scopes), organization: principal.organization });

/**
 * The audit trail, read-only over FHIR: search and read, each limited to the caller's organisation unless the token has
 * the admin scope; every write is refused (append-only).
 */
@ApiTags('AuditEvent')
@Controller('fhir/AuditEvent')
export class AuditEventController {
  constructor(
    private readonly auditEvents: AuditEventRepository,
    private readonly config: AppConfig,
  ) {}

  @Get()
  @RequireScope('AuditEvent', 's')
  @ApiOperation({
    summary: 'Search the audit trail',
    description: "Your organisation's events only, unless the token has the admin scope. Newest first.",
  })
  @ApiSearchParams(RESOURCE_CAPABILITIES.find((c) => c.type === 'AuditEvent')!.searchParams)
  @ApiFormat()
  @ApiFhirResponse(200, 'Bundle', 'A searchset Bundle of AuditEvents')
  @ApiErrors([400, 'A malformed or unknown parameter'], [403, 'The token names no organisation and has no admin scope'])
  async search(
    @Query() query: Record<string, unknown>,
    @CurrentPrincipal() principal: Principal,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const visibility = visibilityOf(principal);
    const rows = await this.auditEvents.search(parseAuditSearch(query), visibility);
    const base = `${this.config.baseUrl}/fhir`;
    const self = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      for (const item of Array.isArray(value) ? value : [value]) {
        self.append(name, String(item));
      }
    }
    const queryString = self.toString();
    await sendResource(reply, 200, {
      resourceType: 'Bundle',
      type: 'searchset',
      link: [{ relation: 'self', url: `${base}/AuditEvent${queryString ? `?${queryString}` : ''}` }],
      entry: rows.map((row) => ({
        fullUrl: `${base}/AuditEvent/${row.id}`,
        resource: withMeta(row),
        search: { mode: 'match' },
      })),
    });
  }

  @Get(':id')
  @RequireScope('AuditEvent', 'r')
  @ApiOperation({ summary: 'Read an AuditEvent' })
  @ApiResourceId('AuditEvent')
  @ApiFhirResponse(200, 'AuditEvent', 'The event')
  @ApiErrors([404, 'No such event, or one of another organisation'])
  async read(
    @Param('id') id: string,
    @CurrentPrincipal() principal: Principal,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    // another organisation's event answers as if it did not exist
    const row = await this.auditEvents.findVisible(id, visibilityOf(principal));
    if (!row) {
      throw notFound(`AuditEvent/${id} is not known to this server`);
    }
    await sendResource(reply, 200, withMeta(row));
  }

  // Append-only: the methods exist only to say so with a 405 rather than a 404.
  @Post()
  @Public()
  @ApiExcludeEndpoint()
  refuseCreate(): never {
    throw methodNotAllowed('AuditEvents are written by the server only; the audit trail is append-only', 'GET');
  }

  @Put(['', ':id'])
  @Public()
  @ApiExcludeEndpoint()
  refuseUpdate(): never {
    throw methodNotAllowed(
      'The audit trail is append-only: an AuditEvent cannot be updated, patched or deleted',
      'GET',
    );
  }

  @Patch(['', ':id'])
  @Public()
  @ApiExcludeEndpoint()
  refusePatch(): never {
    return this.refuseUpdate();
  }

  @Delete(['', ':id'])
  @Public()
  @ApiExcludeEndpoint()
  refuseDelete(): never {
    return this.refuseUpdate();
  }
}
