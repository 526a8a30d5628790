import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Signer } from '@fastify/cookie';
import type { Principal } from '../auth/principal.js';
import { parseScopes } from '../auth/smart-scopes.js';

/** Who is signed in to the viewer; carried in a signed cookie, so nothing is stored server-side. */
export interface ViewerSession {
  /** Session id: the AuditEvent's policy, and what CSRF tokens are bound to. */
  sid: string;
  /** The practitioner: a local id, or the OpenID provider's `sub`. */
  sub: string;
  /** Display name of the practitioner. */
  name: string;
  /** ODS code of the organisation the practitioner acts for. */
  org: string;
  via: 'local' | 'oidc';
  /** Sign-in time, epoch seconds. */
  iat: number;
  /** Last page, epoch seconds (the idle timeout runs from here). */
  seen: number;
}

/** An OpenID Connect sign-in in flight: what the callback must find again. */
export interface OidcTransaction {
  state: string;
  nonce: string;
  verifier: string;
  /** Where to go after sign-in (a path under /app). */
  next: string;
  /** Epoch seconds after which the callback is refused. */
  exp: number;
}

export const SESSION_COOKIE = 'viewer_session';
export const CSRF_COOKIE = 'viewer_csrf';
export const OIDC_COOKIE = 'viewer_oidc';
export const CSRF_FIELD = '_csrf';

/** The client id viewer sessions carry in the audit trail. */
export const VIEWER_CLIENT_ID = 'document-viewer';

/** Read scopes only: the viewer finds and reads documents (and where their deliveries stand), it never writes. */
export const VIEWER_SCOPE = 'user/DocumentReference.rs user/Bundle.r user/Binary.r user/Task.r';

/** However active, a session ends this long after sign-in. */
export const MAX_SESSION_SECONDS = 12 * 60 * 60;

/** An OpenID Connect round trip must come back within this. */
export const OIDC_TRANSACTION_SECONDS = 10 * 60;

const SESSION_FIELDS = ['sid', 'sub', 'name', 'org', 'via'] as const;

type Purpose = 'session' | 'oidc';

/** One key, one purpose each: a value signed as one thing never verifies as another. */
function derive(key: Buffer, purpose: string): Buffer {
  return createHmac('sha256', key).update(`fhir-document-registry viewer ${purpose}`).digest();
}

/** Signs and checks the viewer's cookies and CSRF tokens with the viewer key (VIEWER_SESSION_KEY_FILE). */
export class SessionCodec {
  private readonly signers: Record<Purpose, Signer>;
  private readonly csrfKey: Buffer;

  constructor(
    key: Buffer,
    private readonly idleSeconds: number,
  ) {
    this.signers = {
      session: new Signer(derive(key, 'session')),
      oidc: new Signer(derive(key, 'oidc')),
    };
    this.csrfKey = derive(key, 'csrf');
  }

  encodeSession(session: ViewerSession): string {
    return this.encode('session', session);
  }

  /** The session a cookie carries, or undefined when it is forged, malformed, idle too long or too old. */
  decodeSession(value: string | undefined, now = nowSeconds()): ViewerSession | undefined {
    const session = this.decode<ViewerSession>('session', value);
    if (
      !session ||
      !SESSION_FIELDS.every((field) => typeof session[field] === 'string') ||
      typeof session.iat !== 'number' ||
      typeof session.seen !== 'number'
    ) {
      return undefined;
    }
    if (now - session.seen >= this.idleSeconds || now - session.iat >= MAX_SESSION_SECONDS || session.iat > now + 60) {
      return undefined;
    }
    return session as ViewerSession;
  }

  encodeOidc(transaction: OidcTransaction): string {
    return this.encode('oidc', transaction);
  }

  decodeOidc(value: string | undefined, now = nowSeconds()): OidcTransaction | undefined {
    const transaction = this.decode<OidcTransaction>('oidc', value);
    if (
      !transaction ||
      !['state', 'nonce', 'verifier', 'next'].every(
        (f) => typeof transaction[f as keyof OidcTransaction] === 'string',
      ) ||
      typeof transaction.exp !== 'number' ||
      transaction.exp <= now
    ) {
      return undefined;
    }
    return transaction as OidcTransaction;
  }

  /**
   * The CSRF token of a form: an HMAC of the browser's random CSRF cookie and the session id, so a token is good only
   * for the browser and session it was made for (a signed double-submit token).
   */
  csrfToken(nonce: string, sid: string | undefined): string {
    return createHmac('sha256', this.csrfKey)
      .update(`${nonce}|${sid ?? ''}`)
      .digest('base64url');
  }

  checkCsrf(token: unknown, nonce: string | undefined, sid: string | undefined): boolean {
    if (typeof token !== 'string' || !nonce) {
      return false;
    }
    const expected = Buffer.from(this.csrfToken(nonce, sid));
    const given = Buffer.from(token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private encode(purpose: Purpose, value: object): string {
    return this.signers[purpose].sign(Buffer.from(JSON.stringify(value)).toString('base64url'));
  }

  private decode<T>(purpose: Purpose, value: string | undefined): Partial<T> | undefined {
    if (!value || value.length > 4096) {
      return undefined;
    }
    const unsigned = this.signers[purpose].unsign(value);
    if (!unsigned.valid) {
      return undefined;
    }
    try {
      const parsed: unknown = JSON.parse(Buffer.from(unsigned.value, 'base64url').toString('utf8'));
      return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed : undefined;
    } catch {
      return undefined;
    }
  }
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** A random value for session ids, CSRF cookies, state and nonce. */
export const randomToken = (): string => randomBytes(24).toString('base64url');

/**
 * The Principal a viewer session stands for: the same type the FHIR API builds from an access token, with read scopes
 * only, so the API's access rules apply to the viewer unchanged and its AuditEvents name the user the same way.
 */
export function principalOfSession(session: ViewerSession): Principal {
  return {
    subject: session.sub,
    clientId: VIEWER_CLIENT_ID,
    organization: session.org,
    scopes: parseScopes(VIEWER_SCOPE),
    tokenId: session.sid,
  };
}
