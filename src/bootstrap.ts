import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { type FastifyError, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import { AppModule } from './app.module.js';
import { clientErrorResponse } from './common/client-error.js';
import { MAX_PATH_SEGMENT, toErrorResponse } from './common/error-response.js';
import { createAppLogger, PinoNestLogger } from './common/app-logger.js';
import { cleanId, correlationIdOf } from './common/request-ids.js';
import type { AppConfig } from './config/app-config.js';
import { registerBodyParsing } from './fhir/body-parsing.js';
import { outcomeBody, registerContentNegotiation } from './fhir/content-negotiation.js';
import { registerApiDocs } from './fhir/openapi.js';
import { registerRequestHygiene } from './fhir/request-hygiene.js';
import { registerQueryLimits } from './fhir/query-limits.js';
import { logRequest, registerRequestLog } from './fhir/request-log.js';
import { recordRoutes, refuseOtherMethods } from './fhir/route-registry.js';
import { Draining, refuseWhileDraining } from './health/draining.js';
import { recordHttpMetrics } from './health/http-metrics.js';
import { Metrics } from './health/metrics.service.js';
import { serveOperationsOnly } from './health/operations-only.js';
import { registerQueueDashboard } from './health/queue-dashboard.js';
import { registerViewerCookies } from './viewer/viewer-request.js';

/** How often Node looks for requests past their time: the precision of REQUEST_TIMEOUT_MS. */
const CONNECTIONS_CHECK_MS = 1_000;
/** How long a keep-alive connection idle at SIGTERM may still bring a request (to be answered 503) before it is closed. */
const IDLE_GRACE_MS = 1_000;
/** Headers must arrive within this (Node's default), or within REQUEST_TIMEOUT_MS when that is shorter. */
const HEADERS_TIMEOUT_MS = 60_000;

/** Errors Node's HTTP server raises before Fastify answers (a request timeout, oversized headers, garbage). */
function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) {
    return;
  }
  socket.end(clientErrorResponse(error.code));
}

/**
 * Errors the router raises before any hook or filter runs (a path that does not percent-decode, an id longer than
 * MAX_PATH_SEGMENT): still an OperationOutcome, with the headers the hooks would have added.
 */
function answerFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const { status, headers, outcome } = toErrorResponse(error);
  const { contentType, body } = outcomeBody(request, outcome);
  void reply
    .status(status)
    .headers({
      ...headers,
      'x-request-id': request.id,
      'x-correlation-id': correlationIdOf(request),
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
      'content-type': contentType,
      vary: 'Accept',
    })
    .send(body);
  logRequest(request, reply);
}

/** Builds the API application (not yet listening); main.ts and the tests share it. */
export async function createApp(config: AppConfig): Promise<NestFastifyApplication> {
  const logger = createAppLogger(config.logLevel);
  const adapter = new FastifyAdapter({
    loggerInstance: logger,
    // Fastify's two lines per request are replaced by the one registerRequestLog writes
    logController: new LogController({ requestIdLogLabel: 'requestId', disableRequestLogging: true }),
    // the whole request (headers and body) must arrive within this; a slow sender is answered 408
    requestTimeout: config.requestTimeoutMs,
    // nothing moving on a connection for this long (a client that stopped reading, or went quiet) closes it
    connectionTimeout: config.socketIdleTimeoutMs,
    http: {
      // Node enforces the request timeout only when it looks, every 30 s by default
      connectionsCheckingInterval: Math.min(CONNECTIONS_CHECK_MS, config.requestTimeoutMs),
      headersTimeout: Math.min(HEADERS_TIMEOUT_MS, config.requestTimeoutMs),
    },
    // request.ip and request.protocol (rate limits, audit source, HSTS) believe X-Forwarded-* only from these
    trustProxy: typeof config.trustProxy === 'boolean' ? config.trustProxy : [...config.trustProxy],
    routerOptions: { maxParamLength: MAX_PATH_SEGMENT },
    clientErrorHandler: answerClientError,
    frameworkErrors: answerFrameworkError,
    requestIdHeader: false,
    // Caller-supplied ids are echoed only when they look like ids; anything else gets a fresh UUID.
    genReqId: (request: IncomingMessage) => cleanId(request.headers['x-request-id']) ?? randomUUID(),
    return503OnClosing: true,
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), adapter, {
    bodyParser: false,
    logger: new PinoNestLogger(logger),
  });
  const fastify = app.getHttpAdapter().getInstance();
  // first, so that requests refused by later hooks (rate limit, 405) are logged too
  registerRequestLog(fastify);
  recordRoutes(fastify);
  recordHttpMetrics(fastify, app.get(Metrics));
  registerBodyParsing(fastify, config.maxResourceBytes);
  await registerRequestHygiene(app, config);
  refuseWhileDraining(fastify, app.get(Draining));
  await registerViewerCookies(app);
  // After the hygiene hooks, so that a 405 carries the request id and security headers too.
  refuseOtherMethods(fastify);
  registerQueryLimits(fastify);
  registerContentNegotiation(fastify);
  if (config.appRoles.includes('api')) {
    await registerQueueDashboard(app);
    registerApiDocs(app, config);
  } else {
    serveOperationsOnly(fastify);
  }
  return app;
}

/** The answers not yet sent in full, so that a drain can tell their clients the connection closes after them. */
function trackAnswers(server: Server): Set<ServerResponse> {
  const answers = new Set<ServerResponse>();
  server.on('request', (_request: IncomingMessage, answer: ServerResponse) => {
    answers.add(answer);
    answer.once('close', () => answers.delete(answer));
  });
  return answers;
}

/**
 * Resolves once the listener is closed and every open connection has ended. Unlike http.Server#close, which cuts
 * keep-alive connections idle at that instant (a request a client sends on one just then is lost to a reset), open
 * connections stay for a moment: a request on one is answered 503 with Connection: close, as are the answers still
 * running. Connections still idle after IDLE_GRACE_MS are closed, and again at each tick (one whose answer had begun
 * before the drain becomes idle after it).
 */
function drainHttp(server: Server, answers: Set<ServerResponse>): Promise<void> {
  for (const answer of answers) {
    if (!answer.headersSent) {
      answer.setHeader('connection', 'close');
    }
  }
  return new Promise((resolve) => {
    // after the poll phase, so that a request whose bytes wait unread on a busy loop counts as one, not as idle
    const reaper = setInterval(() => setImmediate(() => server.closeIdleConnections()), IDLE_GRACE_MS);
    NetServer.prototype.close.call(server, () => {
      clearInterval(reaper);
      resolve();
    });
  });
}

/**
 * A graceful stop on SIGTERM or SIGINT: readiness goes down and the listener closes at once (new connections are
 * refused; requests on open connections get 503); requests in flight finish; then the modules stop in Nest's order
 * (relay, then delivery jobs in flight, audit seal, then pools). Exits 0 when done, or 1 after SHUTDOWN_TIMEOUT_MS.
 * A second signal of the same kind kills the process at once.
 */
export function stopOnSignals(app: NestFastifyApplication, config: AppConfig): void {
  const logger = new Logger('Shutdown');
  const server: Server = app.getHttpServer();
  const answers = trackAnswers(server);
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      return;
    }
    stopping = true;
    const started = Date.now();
    logger.log(`${signal}: draining requests and deliveries in flight (at most ${config.shutdownTimeoutMs} ms)`);
    const deadline = setTimeout(() => {
      logger.error(`Shutdown still unfinished after ${config.shutdownTimeoutMs} ms (SHUTDOWN_TIMEOUT_MS): exiting`);
      process.exit(1);
    }, config.shutdownTimeoutMs);
    app.get(Draining).begin();
    void drainHttp(server, answers)
      .then(() => app.close())
      .then(
        () => {
          clearTimeout(deadline);
          logger.log(`Stopped cleanly in ${Date.now() - started} ms`);
          process.exit(0);
        },
        (error: unknown) => {
          logger.error(`Shutdown failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
          process.exit(1);
        },
      );
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, stop);
  }
}
