import type { IncomingHttpHeaders } from 'node:http';

// what an id from a client may look like before it is echoed, logged or audited: no spaces, no CR/LF, no unicode
const ID = /^[\w.:-]{1,128}$/;

/** A client-supplied id header if it looks like an id, else undefined (absent, repeated, too long or unsafe). */
export function cleanId(header: string | string[] | undefined): string | undefined {
  return typeof header === 'string' && ID.test(header) ? header : undefined;
}

const correlations = new WeakMap<object, string>();

// the raw Node request is shared by Fastify hooks and Nest handlers, so it is the one key both can reach
const keyOf = (request: object): object => {
  const raw = (request as { raw?: unknown }).raw;
  return typeof raw === 'object' && raw !== null ? raw : request;
};

/**
 * A request's correlation id, decided once: the caller's X-Correlation-ID when it is a clean id, otherwise (absent or
 * unsafe) the request id. The response header, the logs and the AuditEvent all carry this value.
 */
export function correlationIdOf(request: { id: unknown; headers: IncomingHttpHeaders; raw?: object }): string {
  const key = keyOf(request);
  let value = correlations.get(key);
  if (value === undefined) {
    value = cleanId(request.headers['x-correlation-id']) ?? String(request.id);
    correlations.set(key, value);
  }
  return value;
}
