import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type CryptoKey,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  SignJWT,
  UnsecuredJWT,
} from 'jose';
import type { AppConfig } from '../../src/config/app-config.js';
import { signLocalToken } from '../../src/auth/local-issuer.js';

export type TokenAlgorithm = 'RS256' | 'ES256';

/** Claims for a test token; a claim set to undefined is left out of the token. */
export type TokenClaims = Partial<Record<keyof JWTPayload, unknown>> & Record<string, unknown>;

export interface SignOptions {
  alg?: TokenAlgorithm;
  /** Overrides the key id in the header; null leaves `kid` out. */
  kid?: string | null;
}

export interface JwksServer {
  /** The JWKS URL, for AUTH_JWKS_URI. */
  readonly uri: string;
  /** The issuer every token signed here carries by default, for AUTH_ISSUER. */
  readonly issuer: string;
  /** The audience every token carries by default, for AUTH_AUDIENCE. */
  readonly audience: string;
  /** How many times the JWKS has been fetched. */
  readonly fetches: number;
  /** AUTH_* variables pointing a server at this issuer. */
  env(): Record<string, string>;
  sign(claims?: TokenClaims, options?: SignOptions): Promise<string>;
  /** A well-formed token signed by a key the JWKS does not publish. */
  signWithUnknownKey(claims?: TokenClaims, options?: SignOptions): Promise<string>;
  /** The classic key-confusion attack: HS256 with the published RSA public key (PEM) as the HMAC secret. */
  signHs256WithPublicKey(claims?: TokenClaims): Promise<string>;
  /** An `alg: none` token with no signature. */
  unsigned(claims?: TokenClaims): string;
  /** Replaces both keys with new ones under new kids (keepOld: publish the old ones too). */
  rotateKeys(options?: { keepOld?: boolean }): Promise<void>;
  close(): Promise<void>;
}

interface SigningKey {
  alg: TokenAlgorithm;
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  publicPem: string;
}

const AUDIENCE = 'urn:fhir-document-registry';

async function newKey(alg: TokenAlgorithm): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `${alg.toLowerCase()}-${randomUUID()}`;
  return {
    alg,
    kid,
    privateKey,
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' },
    publicPem: await exportSPKI(publicKey),
  };
}

/** Claims for a test token, e.g. `aToken({ org: 'RTG', scope: 'system/DocumentReference.rs' })`. */
export function aToken(
  spec: {
    org?: string;
    scope?: string;
    sub?: string;
    clientId?: string;
    /** Lifetime from now; negative for an already-expired token. */
    ttlSeconds?: number;
    /** Seconds from now before which the token is not valid. */
    notBeforeSeconds?: number;
  } = {},
): TokenClaims {
  const now = Math.floor(Date.now() / 1000);
  return {
    sub: spec.sub ?? 'test-user',
    organization: spec.org ?? 'RTG',
    scope: spec.scope ?? 'system/*.cruds',
    client_id: spec.clientId ?? 'test-client',
    iat: now,
    exp: now + (spec.ttlSeconds ?? 300),
    ...(spec.notBeforeSeconds !== undefined ? { nbf: now + spec.notBeforeSeconds } : {}),
    jti: randomUUID(),
  };
}

function withoutUndefined(claims: TokenClaims): JWTPayload {
  return Object.fromEntries(Object.entries(claims).filter(([, value]) => value !== undefined));
}

async function signWith(key: SigningKey, claims: JWTPayload, kid: string | null | undefined): Promise<string> {
  const header = kid === null ? { alg: key.alg } : { alg: key.alg, kid: kid ?? key.kid };
  return new SignJWT(claims).setProtectedHeader(header).sign(key.privateKey);
}

/** Starts a JWKS server on 127.0.0.1 publishing one RS256 and one ES256 key, with token builders for both. */
export async function startJwksServer(): Promise<JwksServer> {
  let keys = { RS256: await newKey('RS256'), ES256: await newKey('ES256') };
  let published: JWK[] = [keys.RS256.publicJwk, keys.ES256.publicJwk];
  let fetches = 0;
  const server: Server = createServer((request, response) => {
    if (request.method === 'GET' && request.url === '/.well-known/jwks.json') {
      fetches += 1;
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: published }));
      return;
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const uri = `${origin}/.well-known/jwks.json`;
  const issuer = origin;
  const payload = (claims: TokenClaims = aToken()): JWTPayload =>
    withoutUndefined({ iss: issuer, aud: AUDIENCE, ...claims });

  return {
    uri,
    issuer,
    audience: AUDIENCE,
    get fetches() {
      return fetches;
    },
    env: () => ({ AUTH_JWKS_URI: uri, AUTH_ISSUER: issuer, AUTH_AUDIENCE: AUDIENCE }),
    sign: (claims, options = {}) => signWith(keys[options.alg ?? 'RS256'], payload(claims), options.kid),
    signWithUnknownKey: async (claims, options = {}) =>
      signWith(await newKey(options.alg ?? 'RS256'), payload(claims), options.kid),
    signHs256WithPublicKey: (claims) =>
      new SignJWT(payload(claims))
        .setProtectedHeader({ alg: 'HS256', kid: keys.RS256.kid })
        .sign(new TextEncoder().encode(keys.RS256.publicPem)),
    unsigned: (claims) => new UnsecuredJWT(payload(claims)).encode(),
    rotateKeys: async ({ keepOld = false } = {}) => {
      const old = published;
      keys = { RS256: await newKey('RS256'), ES256: await newKey('ES256') };
      published = [keys.RS256.publicJwk, keys.ES256.publicJwk, ...(keepOld ? old : [])];
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        // fetch keeps sockets alive; without this close() waits for them to time out
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** A token from the local issuer (no AUTH_JWKS_URI), for tests of a server running on its own key. */
export function aLocalToken(
  config: AppConfig,
  spec: { org?: string; scope?: string; sub?: string; clientId?: string; ttlSeconds?: number } = {},
): Promise<string> {
  return signLocalToken(config.dataDir, {
    issuer: config.auth.issuer,
    audience: config.auth.audience,
    subject: spec.sub ?? 'test-user',
    organization: spec.org ?? 'RTG',
    scope: spec.scope ?? 'system/*.cruds',
    clientId: spec.clientId,
    expiresInSeconds: spec.ttlSeconds ?? 300,
  });
}
