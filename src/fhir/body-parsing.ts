import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { FhirError, tooLarge } from '../common/fhir-error.js';

/** Route config flag: the handler receives the raw request stream instead of a buffered body. */
export const STREAMED_BODY = { streamedBody: true } as const;

type BodyRouteConfig = { streamedBody?: boolean; maxBodyBytes?: number } | undefined;

function wantsStream(request: FastifyRequest): boolean {
  const config = request.routeOptions.config as BodyRouteConfig;
  const type = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  // A FHIR Binary *resource* (base64 in JSON/XML) is a document-sized body; everything else streams.
  return config?.streamedBody === true && type !== 'application/fhir+json' && type !== 'application/fhir+xml';
}

/** Reads a body into memory, refusing it with 413 as soon as it passes `limit` bytes. */
export async function readLimited(stream: IncomingMessage, limit: number, setting?: string): Promise<Buffer> {
  const named = setting ? ` (${setting})` : '';
  const declared = Number(stream.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    stream.resume();
    throw tooLarge(`The body is ${declared} bytes; the limit for this route is ${limit} bytes${named}`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buffer = chunk as Buffer;
    total += buffer.length;
    if (total > limit) {
      stream.resume();
      throw tooLarge(`The body is larger than the limit of ${limit} bytes${named}`);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks, total);
}

/**
 * One parser for every media type: bodies arrive as Buffers (handlers parse them with the FHIR parsers,
 * which know about depth limits and XML entities) or, on STREAMED_BODY routes, as the raw stream. A route whose
 * config sets `maxBodyBytes` (the token endpoint's small form) gets that limit instead of MAX_RESOURCE_BYTES.
 */
export function registerBodyParsing(fastify: FastifyInstance, maxResourceBytes: number): void {
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', (request, payload, done) => {
    if (wantsStream(request)) {
      done(null, payload);
      return;
    }
    const routeLimit = (request.routeOptions.config as BodyRouteConfig)?.maxBodyBytes;
    const read = routeLimit
      ? readLimited(payload, routeLimit)
      : readLimited(payload, maxResourceBytes, 'MAX_RESOURCE_BYTES');
    read.then(
      (body) => done(null, body),
      (error: unknown) => done(error instanceof FhirError ? error : (error as Error)),
    );
  });
}
