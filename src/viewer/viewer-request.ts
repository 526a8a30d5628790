import { fastifyCookie } from '@fastify/cookie';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ViewerSession } from './viewer-session.js';

/** What the session guard learnt about a viewer request, for the handler and the error filter. */
export interface ViewerState {
  session?: ViewerSession;
  /** The browser's CSRF cookie value (set on this response when it had none). */
  csrfNonce: string;
  /** The CSRF token every form of this response carries. */
  csrfToken: string;
  /** The urlencoded form of a POST, already read for the CSRF check. */
  form?: URLSearchParams;
  /** Whether cookies must be Secure (the request, or the public base URL, is https). */
  secure: boolean;
}

const states = new WeakMap<object, ViewerState>();

const keyOf = (request: FastifyRequest): object => request.raw;

export function setViewerState(request: FastifyRequest, state: ViewerState): void {
  states.set(keyOf(request), state);
}

/** The guard's findings; undefined before it ran (e.g. a route that does not exist). */
export function viewerStateOf(request: FastifyRequest): ViewerState | undefined {
  return states.get(keyOf(request));
}

/**
 * Loads @fastify/cookie for its parser and serialiser (they need the plugin registered once). `hook: false`: no
 * request is parsed for cookies except viewer pages, which ask.
 */
export async function registerViewerCookies(app: NestFastifyApplication): Promise<void> {
  await app.register(fastifyCookie, { hook: false });
}

export function requestCookies(request: FastifyRequest): Record<string, string> {
  const header = request.headers.cookie;
  try {
    return header ? fastifyCookie.parse(header) : {};
  } catch {
    // a cookie header that does not parse carries no session
    return {};
  }
}

/** Adds a Set-Cookie: HttpOnly, SameSite=Lax, Secure over https, scoped to `path`; maxAge 0 clears it. */
export function setCookie(
  reply: FastifyReply,
  name: string,
  value: string,
  options: { path: string; maxAge: number; secure: boolean },
): void {
  const cookie = fastifyCookie.serialize(name, value, {
    path: options.path,
    maxAge: options.maxAge,
    httpOnly: true,
    // Lax, not Strict: the browser must bring the cookies back when an OpenID provider redirects to the callback
    sameSite: 'lax',
    secure: options.secure,
  });
  // Fastify appends each Set-Cookie to those already set
  reply.header('set-cookie', cookie);
}

/** The path and query of a request if it may be returned to after sign-in: only pages under /app. */
export function safeNext(value: unknown): string {
  if (
    typeof value !== 'string' ||
    !/^\/app(?:[/?]|$)/.test(value) ||
    /\/\/|\\|\/\.\.?(?:[/?]|$)|%2e|%2f|%5c/i.test(value)
  ) {
    return '/app';
  }
  return value.length > 2000 ? '/app' : value;
}

/** Raised when a page needs a session and there is none: the viewer answers with a redirect to sign-in. */
export class SignInRequired extends Error {
  constructor(readonly next: string) {
    super('Sign in to continue');
  }
}
