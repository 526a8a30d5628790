import { createHash, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';

export interface AuthorizationRequest {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  codeChallengeMethod: string;
  state: string;
  nonce: string;
  scope: string;
}

export interface FakeOidcProvider {
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Every authorization request the browser brought. */
  readonly authorizations: AuthorizationRequest[];
  /** Token requests: whether the PKCE verifier matched the challenge. */
  readonly tokenRequests: { pkceVerified: boolean; clientAuthenticated: boolean }[];
  /** Claims the next ID tokens carry besides iss, aud, sub, nonce, iat and exp. */
  claims: Record<string, unknown>;
  sub: string;
  /** OIDC_* variables pointing the server at this provider. */
  env(): Record<string, string>;
  close(): Promise<void>;
}

/** client_secret_basic: id and secret form-urlencoded, then base64 (RFC 6749 2.3.1). */
function basicCredentials(header: string | undefined): string | undefined {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header ?? '');
  if (!match) {
    return undefined;
  }
  const [id, secret] = Buffer.from(match[1], 'base64').toString('utf8').split(':');
  const decode = (value = '') => decodeURIComponent(value.replace(/\+/g, ' '));
  return `${decode(id)}:${decode(secret)}`;
}

const s256 = (verifier: string): string => createHash('sha256').update(verifier).digest('base64url');

/**
 * A minimal OpenID provider on loopback for the viewer's sign-in: discovery, an authorization endpoint that approves
 * at once (no login form), a token endpoint that checks the client secret and the PKCE verifier, and a JWKS.
 */
export async function startOidcProvider(): Promise<FakeOidcProvider> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const clientId = 'viewer-test';
  const clientSecret = randomUUID();
  const codes = new Map<string, AuthorizationRequest>();
  const authorizations: AuthorizationRequest[] = [];
  const tokenRequests: { pkceVerified: boolean; clientAuthenticated: boolean }[] = [];
  let issuer = '';

  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', issuer);
    const json = (status: number, body: unknown) =>
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (url.pathname === '/.well-known/openid-configuration') {
      json(200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic'],
      });
      return;
    }
    if (url.pathname === '/jwks') {
      json(200, { keys: [jwk] });
      return;
    }
    if (url.pathname === '/authorize') {
      const p = url.searchParams;
      const authorization: AuthorizationRequest = {
        clientId: p.get('client_id') ?? '',
        redirectUri: p.get('redirect_uri') ?? '',
        codeChallenge: p.get('code_challenge') ?? '',
        codeChallengeMethod: p.get('code_challenge_method') ?? '',
        state: p.get('state') ?? '',
        nonce: p.get('nonce') ?? '',
        scope: p.get('scope') ?? '',
      };
      authorizations.push(authorization);
      const code = randomUUID();
      codes.set(code, authorization);
      const back = new URL(authorization.redirectUri);
      back.searchParams.set('code', code);
      back.searchParams.set('state', authorization.state);
      response.writeHead(302, { location: back.href }).end();
      return;
    }
    if (url.pathname === '/token' && request.method === 'POST') {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      request.on('end', () => {
        void (async () => {
          const form = new URLSearchParams(body);
          const authorization = codes.get(form.get('code') ?? '');
          codes.delete(form.get('code') ?? '');
          const pkceVerified = !!authorization && s256(form.get('code_verifier') ?? '') === authorization.codeChallenge;
          const clientAuthenticated = basicCredentials(request.headers.authorization) === `${clientId}:${clientSecret}`;
          tokenRequests.push({ pkceVerified, clientAuthenticated });
          if (
            !authorization ||
            !pkceVerified ||
            !clientAuthenticated ||
            form.get('redirect_uri') !== authorization.redirectUri
          ) {
            json(400, { error: 'invalid_grant' });
            return;
          }
          const now = Math.floor(Date.now() / 1000);
          const idToken = await new SignJWT({ ...provider.claims, nonce: authorization.nonce })
            .setProtectedHeader({ alg: 'RS256', kid })
            .setIssuer(issuer)
            .setAudience(clientId)
            .setSubject(provider.sub)
            .setIssuedAt(now)
            .setExpirationTime(now + 300)
            .sign(privateKey);
          json(200, { access_token: randomUUID(), token_type: 'Bearer', expires_in: 300, id_token: idToken });
        })();
      });
      return;
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const provider: FakeOidcProvider = {
    issuer,
    clientId,
    clientSecret,
    authorizations,
    tokenRequests,
    claims: {},
    sub: 'oidc-user',
    env: () => ({ OIDC_ISSUER: issuer, OIDC_CLIENT_ID: clientId, OIDC_CLIENT_SECRET: clientSecret }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
  return provider;
}
