import { Controller, Post, Req, Res } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import { ApiBody, ApiConsumes, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiErrors, schemaRef } from '../common/api-docs.js';
import { TOKEN_REQUEST_EXAMPLE } from '../fhir/openapi-examples.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { actorOf } from '../audit/actor.js';
import { LOCAL_TOKEN_PATH } from '../config/app-config.js';
import { Public } from './access-rule.decorator.js';
import { OAuthError } from './client-assertion.js';
import { TokenService } from './token.service.js';

/** A token request is a form of a few parameters and one signed JWT; anything near this size is not one. */
export const TOKEN_REQUEST_BODY = { maxBodyBytes: 16 * 1024 } as const;

// RFC 6749 §5.1: token responses, and errors, are never cached
const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache', 'content-type': 'application/json' };

/** The local issuer's SMART Backend Services token endpoint; registered only when AUTH_JWKS_URI is not set. */
@ApiTags('Authorization')
@Controller()
export class TokenController {
  constructor(private readonly tokens: TokenService) {}

  @Post(LOCAL_TOKEN_PATH)
  @Public()
  @RouteConfig(TOKEN_REQUEST_BODY)
  @ApiOperation({
    summary: 'Get an access token (SMART Backend Services)',
    description:
      'client_credentials with a private_key_jwt client assertion signed by a registered client key (npm run ' +
      'clients). Served only by the local issuer, when AUTH_JWKS_URI is not set. Errors are OAuth errors, not ' +
      'OperationOutcomes; the body is limited to 16 KiB.',
  })
  @ApiConsumes('application/x-www-form-urlencoded')
  @ApiBody({
    required: true,
    description: 'The token request form',
    schema: schemaRef('TokenRequest'),
    examples: { clientCredentials: { summary: 'A signed client assertion', value: TOKEN_REQUEST_EXAMPLE } },
  })
  @ApiResponse({
    status: 200,
    description: 'An access token (Cache-Control: no-store)',
    content: { 'application/json': { schema: schemaRef('TokenResponse') } },
  })
  @ApiResponse({
    status: 400,
    description: 'invalid_request, invalid_grant, invalid_scope or unsupported_grant_type',
    content: { 'application/json': { schema: schemaRef('OAuthError') } },
  })
  @ApiResponse({
    status: 401,
    description: 'invalid_client: unknown client, or an assertion that does not verify',
    content: { 'application/json': { schema: schemaRef('OAuthError') } },
  })
  @ApiErrors([413, 'The body is larger than 16 KiB'])
  async token(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const http = {
      contentType: request.headers['content-type'],
      body: Buffer.isBuffer(request.body) ? request.body : undefined,
    };
    try {
      const response = await this.tokens.issueToken(http, actorOf(request));
      await reply.status(200).headers(NO_STORE).send(JSON.stringify(response));
    } catch (error) {
      if (!(error instanceof OAuthError)) {
        throw error;
      }
      await reply.status(error.status).headers(NO_STORE).send(JSON.stringify(error.body));
    }
  }
}
