import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * The policy of every viewer page: scripts and styles sheets from this server only (no inline script, so markup that
 * slips into a page cannot run), images from here or inline data, PDFs framed from here, forms posting only here,
 * and never framed by anyone. Inline style attributes stay allowed: sanitised narrative keeps harmless ones.
 */
export const VIEWER_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "style-src-attr 'unsafe-inline'",
  "img-src 'self' data:",
  "object-src 'self'",
  "frame-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

const own = new WeakSet<object>();

/** The response sets its own Content-Security-Policy (an attachment framed by a viewer page). */
export function keepOwnPolicy(request: FastifyRequest): void {
  own.add(request.raw);
}

export function isViewerPath(url: string): boolean {
  const path = url.split('?')[0];
  return path === '/app' || path.startsWith('/app/');
}

/**
 * Replaces the API's policy (helmet: default-src 'none') on viewer responses, errors and redirects included, and keeps
 * patient data out of caches. Registered after helmet, so it has the last word.
 */
export function registerViewerHeaders(fastify: FastifyInstance): void {
  fastify.addHook('onSend', async (request, reply, payload) => {
    if (!isViewerPath(request.url)) {
      return payload;
    }
    if (!own.has(request.raw)) {
      reply.header('content-security-policy', VIEWER_CSP).header('x-frame-options', 'DENY');
    }
    if (!reply.hasHeader('cache-control')) {
      reply.header('cache-control', 'no-store');
    }
    return payload;
  });
}
