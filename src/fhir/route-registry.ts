import type { FastifyInstance } from 'fastify';
import { methodNotAllowed } from '../common/fhir-error.js';

export interface RegisteredRoute {
  method: string;
  url: string;
}

const registries = new WeakMap<FastifyInstance, RegisteredRoute[]>();

/** Starts recording every route Fastify registers (call before the app initialises). */
export function recordRoutes(fastify: FastifyInstance): void {
  const routes: RegisteredRoute[] = [];
  registries.set(fastify, routes);
  fastify.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') {
        routes.push({ method, url: route.url });
      }
    }
  });
}

/** Every route the server answers, for the CapabilityStatement drift check and the security matrix. */
export function registeredRoutes(fastify: FastifyInstance): RegisteredRoute[] {
  return [...(registries.get(fastify) ?? [])];
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A route's URL pattern as a regular expression over request paths (`:id` matches one segment). */
function pathPattern(url: string): RegExp {
  const segments = url.split('/').map((segment) => (segment.startsWith(':') ? '[^/]+' : escapeRegExp(segment)));
  return new RegExp(`^${segments.join('/')}/?$`);
}

/** Answers a known path asked with a method it lacks with 405 and Allow, rather than the router's 404. */
export function refuseOtherMethods(fastify: FastifyInstance): void {
  let patterns: { method: string; pattern: RegExp }[] | undefined;
  fastify.addHook('onRequest', (request, _reply, done) => {
    if (!request.is404) {
      done();
      return;
    }
    // Wildcard routes (the CORS preflight) match every path and say nothing about this one.
    patterns ??= registeredRoutes(fastify)
      .filter((route) => !route.url.includes('*'))
      .map((route) => ({ method: route.method, pattern: pathPattern(route.url) }));
    const path = request.url.split('?')[0];
    const allowed = [...new Set(patterns.filter((p) => p.pattern.test(path)).map((p) => p.method))];
    done(
      allowed.length > 0
        ? methodNotAllowed(
            `${request.method} is not supported here; this URL accepts ${allowed.join(', ')}`,
            allowed.join(', '),
          )
        : undefined,
    );
  });
}
