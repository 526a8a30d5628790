import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppModule } from './app.module.js';
import { MAX_PATH_SEGMENT, toErrorResponse } from './common/error-response.js';
import { FHIR_JSON } from './common/fhir-exception.filter.js';
import type { AppConfig } from './config/app-config.js';
import { registerBodyParsing } from './fhir/body-parsing.js';
import { registerRequestHygiene } from './fhir/request-hygiene.js';
import { registerQueryLimits } from './fhir/query-limits.js';
import { recordRoutes, refuseOtherMethods } from './fhir/route-registry.js';

const LEVELS: LogLevel[] = ['error', 'warn', 'log', 'debug'];

/** How often Node looks for requests past their time: the precision of REQUEST_TIMEOUT_MS. */
const CONNECTIONS_CHECK_MS = 1_000;
/** Headers must arrive within this (Node's default), or within REQUEST_TIMEOUT_MS when that is shorter. */
const HEADERS_TIMEOUT_MS = 60_000;

/** Nest's levels at and above LOG_LEVEL (info = Nest's log). */
function nestLogLevels(level: AppConfig['logLevel']): LogLevel[] {
  const index = { error: 0, warn: 1, info: 2, debug: 3 }[level];
  return LEVELS.slice(0, index + 1);
}

/**
 * Errors Node's HTTP server raises before Fastify sees a request (oversized headers, garbage, a request that did not
 * arrive within REQUEST_TIMEOUT_MS): still an OperationOutcome.
 */
function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) {
    return;
  }
  const [status, text, code, diagnostics] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'too-long', 'The request headers are larger than the server accepts']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'timeout', 'The request did not arrive in time (REQUEST_TIMEOUT_MS)']
        : [400, 'Bad Request', 'structure', 'The request is not valid HTTP'];
  const body = JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] });
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/fhir+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * Errors the router raises before any hook or filter runs (a path that does not percent-decode, an id longer than
 * MAX_PATH_SEGMENT): still an OperationOutcome, with the headers the hooks would have added.
 */
function answerFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const { status, headers, outcome } = toErrorResponse(error);
  void reply
    .status(status)
    .headers({
      ...headers,
      'x-request-id': request.id,
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
      'content-type': FHIR_JSON,
    })
    .send(JSON.stringify(outcome));
}

/** Builds the API application (not yet listening); main.ts and the tests share it. */
export async function createApp(config: AppConfig): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    // the whole request (headers and body) must arrive within this; a slow sender is answered 408
    requestTimeout: config.requestTimeoutMs,
    // nothing moving on a connection for this long (a client that stopped reading, or went quiet) closes it
    connectionTimeout: config.socketIdleTimeoutMs,
    http: {
      // Node enforces the request timeout only when it looks, every 30 s by default
      connectionsCheckingInterval: Math.min(CONNECTIONS_CHECK_MS, config.requestTimeoutMs),
      headersTimeout: Math.min(HEADERS_TIMEOUT_MS, config.requestTimeoutMs),
    },
    routerOptions: { maxParamLength: MAX_PATH_SEGMENT },
    clientErrorHandler: answerClientError,
    frameworkErrors: answerFrameworkError,
    requestIdHeader: false,
    // Caller-supplied ids are echoed only when they look like ids; anything else gets a fresh UUID.
    genReqId: (request: IncomingMessage) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
    },
    return503OnClosing: true,
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), adapter, {
    bodyParser: false,
    logger: nestLogLevels(config.logLevel),
  });
  const fastify = app.getHttpAdapter().getInstance();
  recordRoutes(fastify);
  registerBodyParsing(fastify, config.maxResourceBytes);
  await registerRequestHygiene(app, config);
  // After the hygiene hooks, so that a 405 carries the request id and security headers too.
  refuseOtherMethods(fastify);
  registerQueryLimits(fastify);
  app.enableShutdownHooks();
  return app;
}
