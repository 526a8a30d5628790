import { randomBytes } from 'node:crypto';
import { MAX_SESSION_SECONDS, principalOfSession, SessionCodec, type ViewerSession } from './viewer-session.js';
import { allows } from '../auth/smart-scopes.js';

const key = randomBytes(48);
const now = 1_800_000_000;
const session: ViewerSession = {
  sid: 's1',
  sub: 'G123',
  name: 'Dr Who',
  org: 'Y12345',
  via: 'local',
  iat: now,
  seen: now,
};

describe('SessionCodec', () => {
  const codec = new SessionCodec(key, 3600);

  it('reads back the session it signed while it is fresh', () => {
    expect(codec.decodeSession(codec.encodeSession(session), now + 10)).toEqual(session);
  });

  it('refuses a session idle too long, older than the maximum, or from the future', () => {
    const cookie = codec.encodeSession(session);
    expect(codec.decodeSession(cookie, now + 3600)).toBeUndefined();
    const busy = codec.encodeSession({ ...session, seen: now + MAX_SESSION_SECONDS - 1 });
    expect(codec.decodeSession(busy, now + MAX_SESSION_SECONDS)).toBeUndefined();
    expect(codec.decodeSession(codec.encodeSession({ ...session, iat: now + 3600 }), now)).toBeUndefined();
  });

  it('refuses a cookie that was changed, signed with another key, or signed for another purpose', () => {
    const cookie = codec.encodeSession(session);
    const [payload, signature] = cookie.split('.');
    const forged = Buffer.from(JSON.stringify({ ...session, org: 'RTG' })).toString('base64url');
    expect(codec.decodeSession(`${forged}.${signature}`, now)).toBeUndefined();
    expect(codec.decodeSession(`${payload}.${signature.slice(0, -2)}xx`, now)).toBeUndefined();
    expect(new SessionCodec(randomBytes(48), 3600).decodeSession(cookie, now)).toBeUndefined();
    const oidc = codec.encodeOidc({ state: 's', nonce: 'n', verifier: 'v', next: '/app', exp: now + 60 });
    expect(codec.decodeSession(oidc, now)).toBeUndefined();
    expect(codec.decodeSession('garbage', now)).toBeUndefined();
    expect(codec.decodeSession(undefined, now)).toBeUndefined();
  });

  it('expires an OpenID Connect transaction', () => {
    const cookie = codec.encodeOidc({ state: 's', nonce: 'n', verifier: 'v', next: '/app', exp: now + 60 });
    expect(codec.decodeOidc(cookie, now)).toMatchObject({ state: 's', verifier: 'v' });
    expect(codec.decodeOidc(cookie, now + 60)).toBeUndefined();
  });

  it('binds CSRF tokens to the browser cookie and the session', () => {
    const token = codec.csrfToken('nonce-1', 's1');
    expect(codec.checkCsrf(token, 'nonce-1', 's1')).toBe(true);
    expect(codec.checkCsrf(token, 'nonce-2', 's1')).toBe(false);
    expect(codec.checkCsrf(token, 'nonce-1', 's2')).toBe(false);
    expect(codec.checkCsrf(token, 'nonce-1', undefined)).toBe(false);
    expect(codec.checkCsrf(undefined, 'nonce-1', 's1')).toBe(false);
    expect(codec.checkCsrf(token, undefined, 's1')).toBe(false);
  });
});

describe('principalOfSession', () => {
  it('is the principal an access token with read scopes would give, for the practitioner and organisation', () => {
    const principal = principalOfSession(session);
    expect(principal).toMatchObject({
      subject: 'G123',
      organization: 'Y12345',
      clientId: 'document-viewer',
      tokenId: 's1',
    });
    expect(allows(principal.scopes, 'DocumentReference', 's')).toBe(true);
    expect(allows(principal.scopes, 'Bundle', 'r')).toBe(true);
    expect(allows(principal.scopes, 'Binary', 'r')).toBe(true);
    expect(allows(principal.scopes, 'Bundle', 'c')).toBe(false);
    expect(allows(principal.scopes, 'DocumentReference', 'u')).toBe(false);
    expect(allows(principal.scopes, 'AuditEvent', 's')).toBe(false);
  });
});
