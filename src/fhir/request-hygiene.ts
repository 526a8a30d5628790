import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { AppConfig } from '../config/app-config.js';
import { FhirError } from '../common/fhir-error.js';
import { correlationIdOf } from '../common/request-ids.js';

const CORRELATION_HEADER = 'x-correlation-id';
// helmet's default: one year, subdomains included
const HSTS = 'max-age=31536000; includeSubDomains';

/** Security headers, CORS (closed unless CORS_ORIGINS), rate limits and request/correlation ids on every response. */
export async function registerRequestHygiene(app: NestFastifyApplication, config: AppConfig): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: { directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    crossOriginResourcePolicy: { policy: 'same-site' },
    // set below, only on https: a browser ignores it over plain HTTP, and it would misstate how it was served
    strictTransportSecurity: false,
  });
  await app.register(cors, {
    origin: config.corsOrigins.length > 0 ? [...config.corsOrigins] : false,
    exposedHeaders: ['location', 'etag', 'last-modified', 'content-location', 'x-request-id', CORRELATION_HEADER],
  });
  // by address: unverified, a header-keyed bucket gives each bogus token its own (per client: the bearer guard)
  await app.register(rateLimit, {
    max: config.rateLimitPerAddressPerMinute,
    timeWindow: 60_000,
    allowList: (request) => request.url.startsWith('/health/'),
    errorResponseBuilder: (_request, context) =>
      new FhirError(
        429,
        'throttled',
        `Too many requests: the limit is ${context.max} a minute from one address; retry after ${context.after}`,
        {
          headers: { 'retry-after': String(Math.ceil(context.ttl / 1000)) },
        },
      ),
  });
  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id).header(CORRELATION_HEADER, correlationIdOf(request));
    // protocol is https on a TLS socket, or when a proxy trusted by TRUST_PROXY says X-Forwarded-Proto: https
    if (request.protocol === 'https') {
      reply.header('strict-transport-security', HSTS);
    }
  });
}
