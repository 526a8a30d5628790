import { Controller, Get, Post, Query, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { setPrincipal } from '../auth/principal.js';
import { FhirError } from '../common/fhir-error.js';
import { AppConfig } from '../config/app-config.js';
import { OidcSignIn } from './oidc-sign-in.js';
import { signInPage, type SignInForm } from './pages.js';
import { HTML } from './viewer-exception.filter.js';
import { ViewerKey } from './viewer-key.js';
import { safeNext, setCookie, viewerStateOf, type ViewerState } from './viewer-request.js';
import {
  nowSeconds,
  OIDC_COOKIE,
  OIDC_TRANSACTION_SECONDS,
  principalOfSession,
  randomToken,
  SESSION_COOKIE,
  type ViewerSession,
} from './viewer-session.js';
import { SignedOutAllowed, ViewerPages } from './viewer-session.guard.js';
import { ViewerService } from './viewer.service.js';
import { requestCookies } from './viewer-request.js';

const PRACTITIONER = /^[A-Za-z0-9._@-]{1,64}$/;
const ODS_CODE = /^[A-Za-z0-9]{3,10}$/;
const OIDC_PATH = '/app/auth';

/** Signing in and out of the viewer: the local issuer's form, or OpenID Connect with an external provider. */
// HTML pages for people with a session cookie, not the API: left out of /docs
@ApiExcludeController()
@Controller('app')
@ViewerPages()
export class SignInController {
  constructor(
    private readonly config: AppConfig,
    private readonly key: ViewerKey,
    private readonly oidc: OidcSignIn,
    private readonly viewer: ViewerService,
  ) {}

  /** The local issuer's form: with no identity provider (AUTH_JWKS_URI unset), and in production only if asked for. */
  private get localSignIn(): boolean {
    return this.config.viewer.localSignIn;
  }

  @Get('sign-in')
  @SignedOutAllowed()
  async signInForm(
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
    @Query('next') next?: string,
    @Query('signed-out') signedOut?: string,
  ): Promise<void> {
    const state = viewerStateOf(request)!;
    if (state.session) {
      await reply.status(303).header('location', safeNext(next)).send();
      return;
    }
    await this.sendForm(reply, state, 200, {
      next: safeNext(next),
      ...(signedOut !== undefined ? { notice: 'You have signed out.' } : {}),
    });
  }

  /** Local issuer: a short-lived session for the practitioner and organisation chosen on the form. */
  @Post('sign-in')
  @SignedOutAllowed()
  async signIn(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const state = viewerStateOf(request)!;
    if (!this.localSignIn) {
      throw new FhirError(
        404,
        'not-found',
        'Sign-in with the local issuer is off on this server (VIEWER_LOCAL_SIGN_IN)',
      );
    }
    const form = state.form ?? new URLSearchParams();
    const values = {
      practitioner: (form.get('practitioner') ?? '').trim(),
      name: (form.get('name') ?? '').trim(),
      organization: (form.get('organization') ?? '').trim().toUpperCase(),
    };
    const next = safeNext(form.get('next'));
    const problem = !PRACTITIONER.test(values.practitioner)
      ? 'Enter a practitioner identifier: up to 64 letters, digits and . _ @ -'
      : !ODS_CODE.test(values.organization)
        ? 'Enter the ODS code of your organisation: 3 to 10 letters and digits, for example Y12345'
        : values.name.length > 100 || /[\p{Cc}]/u.test(values.name)
          ? 'The name must be at most 100 characters of text'
          : undefined;
    if (problem) {
      await this.sendForm(reply, state, 400, { next, error: problem, values });
      return;
    }
    await this.startSession(request, reply, state, {
      sub: values.practitioner,
      name: values.name || values.practitioner,
      org: values.organization,
      via: 'local',
      next,
    });
  }

  /** OpenID Connect: off to the provider, with state, nonce and the PKCE verifier kept in a signed cookie. */
  @Get('sign-in/oidc')
  @SignedOutAllowed()
  async startOidc(
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
    @Query('next') next?: string,
  ): Promise<void> {
    const state = viewerStateOf(request)!;
    const { url, transaction } = await this.oidc.start(safeNext(next));
    setCookie(reply, OIDC_COOKIE, this.key.codec.encodeOidc(transaction), {
      path: OIDC_PATH,
      maxAge: OIDC_TRANSACTION_SECONDS,
      secure: state.secure,
    });
    await reply.status(303).header('location', url).send();
  }

  @Get('auth/callback')
  @SignedOutAllowed()
  async oidcCallback(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const state = viewerStateOf(request)!;
    const transaction = this.key.codec.decodeOidc(requestCookies(request)[OIDC_COOKIE]);
    // used once, whatever happens next
    setCookie(reply, OIDC_COOKIE, '', { path: OIDC_PATH, maxAge: 0, secure: state.secure });
    if (!transaction) {
      throw new FhirError(
        400,
        'invalid',
        'This sign-in took too long or was not started in this browser. Sign in again.',
      );
    }
    const question = request.url.indexOf('?');
    const user = await this.oidc.finish(question < 0 ? '' : request.url.slice(question), transaction);
    await this.startSession(request, reply, state, {
      sub: user.sub,
      name: user.name,
      org: user.organization,
      via: 'oidc',
      next: transaction.next,
    });
  }

  @Post('sign-out')
  async signOut(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    const state = viewerStateOf(request)!;
    await this.viewer.recordSession(request, 'logout');
    setCookie(reply, SESSION_COOKIE, '', { path: '/app', maxAge: 0, secure: state.secure });
    await reply.status(303).header('location', '/app/sign-in?signed-out=1').send();
  }

  private async startSession(
    request: FastifyRequest,
    reply: FastifyReply,
    state: ViewerState,
    user: Pick<ViewerSession, 'sub' | 'name' | 'org' | 'via'> & { next: string },
  ): Promise<void> {
    const now = nowSeconds();
    const { next, ...who } = user;
    const session: ViewerSession = { sid: randomToken(), ...who, iat: now, seen: now };
    setPrincipal(request, principalOfSession(session));
    await this.viewer.recordSession(request, 'login');
    setCookie(reply, SESSION_COOKIE, this.key.codec.encodeSession(session), {
      path: '/app',
      maxAge: this.config.viewer.sessionIdleMinutes * 60,
      secure: state.secure,
    });
    await reply.status(303).header('location', next).send();
  }

  private async sendForm(
    reply: FastifyReply,
    state: ViewerState,
    status: number,
    form: Omit<SignInForm, 'local' | 'oidc'>,
  ): Promise<void> {
    const page = signInPage(state, { ...form, local: this.localSignIn, oidc: this.oidc.enabled });
    await reply.status(status).header('content-type', HTML).send(page.value);
  }
}
