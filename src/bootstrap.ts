import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module.js';
import type { AppConfig } from './config/app-config.js';
import { registerBodyParsing } from './fhir/body-parsing.js';
import { registerRequestHygiene } from './fhir/request-hygiene.js';
import { recordRoutes } from './fhir/route-registry.js';

const LEVELS: LogLevel[] = ['error', 'warn', 'log', 'debug'];

/** Nest's levels at and above LOG_LEVEL (info = Nest's log). */
function nestLogLevels(level: AppConfig['logLevel']): LogLevel[] {
  const index = { error: 0, warn: 1, info: 2, debug: 3 }[level];
  return LEVELS.slice(0, index + 1);
}

/** Errors Node's HTTP parser raises before Fastify sees a request (oversized headers, garbage): still an OperationOutcome. */
function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) {
    return;
  }
  const [status, text, diagnostics] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'The request headers are larger than the server accepts']
      : [400, 'Bad Request', 'The request is not valid HTTP'];
  const body = JSON.stringify({
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: status === 431 ? 'too-long' : 'structure', diagnostics }],
  });
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/fhir+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Builds the API application (not yet listening); main.ts and the tests share it. */
export async function createApp(config: AppConfig): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    requestTimeout: config.requestTimeoutMs,
    routerOptions: { maxParamLength: 200 },
    clientErrorHandler: answerClientError,
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
  app.enableShutdownHooks();
  return app;
}
