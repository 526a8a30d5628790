import type { FastifyInstance } from 'fastify';

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
