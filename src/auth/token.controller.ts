import { Controller, Post, Req, Res } from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
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
@Controller()
export class TokenController {
  constructor(private readonly tokens: TokenService) {}

  @Post(LOCAL_TOKEN_PATH)
  @Public()
  @RouteConfig(TOKEN_REQUEST_BODY)
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
