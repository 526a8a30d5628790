import {
  applyDecorators,
  type CanActivate,
  type ExecutionContext,
  Injectable,
  SetMetadata,
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Public } from '../auth/access-rule.decorator.js';
import { setPrincipal } from '../auth/principal.js';
import { FhirError } from '../common/fhir-error.js';
import { AppConfig } from '../config/app-config.js';
import { ViewerExceptionFilter } from './viewer-exception.filter.js';
import { ViewerKey } from './viewer-key.js';
import { requestCookies, setCookie, setViewerState, SignInRequired } from './viewer-request.js';
import {
  CSRF_COOKIE,
  CSRF_FIELD,
  nowSeconds,
  principalOfSession,
  randomToken,
  SESSION_COOKIE,
} from './viewer-session.js';

const SIGNED_OUT_ALLOWED = 'viewer:signed-out-allowed';

/** The page needs no session (sign-in, the style sheet). Every other viewer page does. */
export const SignedOutAllowed = (): MethodDecorator => SetMetadata(SIGNED_OUT_ALLOWED, true);

// the cookie is re-issued at most this often, so an active session keeps going without a Set-Cookie on every page
const RENEW_AFTER_SECONDS = 60;

/**
 * The viewer's gate, in place of the bearer guard: reads the signed session cookie, turns it into the Principal the
 * FHIR API would have, keeps the idle timeout sliding, and refuses every POST whose CSRF token is not the one made
 * for this browser and session.
 */
@Injectable()
export class ViewerSessionGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly key: ViewerKey,
    private readonly config: AppConfig,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const http = context.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const codec = this.key.codec;
    const cookies = requestCookies(request);
    const secure = request.protocol === 'https' || this.config.baseUrl.startsWith('https:');
    const idleSeconds = this.config.viewer.sessionIdleMinutes * 60;
    const now = nowSeconds();

    let session = codec.decodeSession(cookies[SESSION_COOKIE], now);
    if (session && now - session.seen >= RENEW_AFTER_SECONDS) {
      session = { ...session, seen: now };
      setCookie(reply, SESSION_COOKIE, codec.encodeSession(session), { path: '/app', maxAge: idleSeconds, secure });
    }
    let csrfNonce = cookies[CSRF_COOKIE];
    const hadNonce = typeof csrfNonce === 'string' && /^[\w-]{20,64}$/.test(csrfNonce);
    if (!hadNonce) {
      csrfNonce = randomToken();
      // a browser-session cookie: forms work for as long as the browser is open
      setCookie(reply, CSRF_COOKIE, csrfNonce, { path: '/app', maxAge: 12 * 60 * 60, secure });
    }
    const state = {
      ...(session ? { session } : {}),
      csrfNonce,
      csrfToken: codec.csrfToken(csrfNonce, session?.sid),
      secure,
    };
    setViewerState(request, state);
    if (session) {
      setPrincipal(request, principalOfSession(session));
    }

    if (request.method === 'POST') {
      const body = Buffer.isBuffer(request.body) ? request.body.toString('utf8') : '';
      const form = new URLSearchParams(body);
      setViewerState(request, { ...state, form });
      if (!hadNonce || !codec.checkCsrf(form.get(CSRF_FIELD), csrfNonce, session?.sid)) {
        throw new FhirError(
          403,
          'forbidden',
          'This form has expired or did not come from this site. Go back, reload the page and try again.',
        );
      }
    }

    const open = this.reflector.get<boolean | undefined>(SIGNED_OUT_ALLOWED, context.getHandler());
    if (!session && !open) {
      throw new SignInRequired(request.method === 'GET' ? request.url : '/app');
    }
    return true;
  }
}

/**
 * A controller of viewer pages. Bearer tokens play no part here, so the bearer guard lets these routes through
 * (Public) and ViewerSessionGuard decides instead; one decorator, so neither can be applied without the other.
 * Errors become HTML pages, not OperationOutcomes.
 */
export const ViewerPages = (): ClassDecorator =>
  applyDecorators(Public(), UseGuards(ViewerSessionGuard), UseFilters(ViewerExceptionFilter));
