import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { main as tokenCli } from '../../scripts/token.js';
import { AccessTokenVerifier } from '../../src/auth/access-token-verifier.js';
import { loadOrCreateLocalSigningKey, localSigningKeyPath, signLocalToken } from '../../src/auth/local-issuer.js';
import { FhirError } from '../../src/common/fhir-error.js';
import { type AppConfig, loadConfig } from '../../src/config/app-config.js';
import { aLocalToken, aToken, type JwksServer, startJwksServer } from '../utils/tokens.js';

async function refusal(promise: Promise<unknown>): Promise<FhirError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof FhirError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected the token to be refused');
}

async function expectUnauthorized(promise: Promise<unknown>, message: RegExp): Promise<void> {
  const error = await refusal(promise);
  expect(error.status).toBe(401);
  expect(error.issues[0].code).toBe('login');
  expect(error.message).toMatch(message);
  expect(error.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
}

describe('AccessTokenVerifier with a remote JWKS', () => {
  let jwks: JwksServer;
  let dataDir: string;
  let config: AppConfig;
  let verifier: AccessTokenVerifier;

  beforeAll(async () => {
    jwks = await startJwksServer();
    dataDir = await mkdtemp(path.join(tmpdir(), 'auth-remote-'));
    config = loadConfig({ ...jwks.env(), DATA_DIR: dataDir, AUTH_CLOCK_TOLERANCE_SECONDS: '30' });
    verifier = new AccessTokenVerifier(config);
  });

  afterAll(async () => {
    await jwks.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it.each(['RS256', 'ES256'] as const)('accepts a good %s token and maps its claims to a Principal', async (alg) => {
    const token = await jwks.sign(
      {
        ...aToken({ org: 'RTG', scope: 'openid system/DocumentReference.rs', sub: 'alice', clientId: 'app-1' }),
        jti: 'tok-1',
      },
      { alg },
    );
    const principal = await verifier.verify(token);
    expect(principal).toEqual({
      subject: 'alice',
      clientId: 'app-1',
      organization: 'RTG',
      scopes: [
        {
          kind: 'resource',
          raw: 'system/DocumentReference.rs',
          context: 'system',
          resourceType: 'DocumentReference',
          interactions: ['r', 's'],
        },
      ],
      tokenId: 'tok-1',
    });
  });

  it('takes the client id from azp when client_id is absent', async () => {
    const token = await jwks.sign({ ...aToken(), client_id: undefined, azp: 'azp-client' });
    expect((await verifier.verify(token)).clientId).toBe('azp-client');
  });

  it('accepts a token without organization, client or scope, granting no scopes', async () => {
    const token = await jwks.sign({ ...aToken(), organization: undefined, client_id: undefined, scope: undefined });
    const principal = await verifier.verify(token);
    expect(principal.organization).toBeUndefined();
    expect(principal.clientId).toBeUndefined();
    expect(principal.scopes).toEqual([]);
  });

  it('refuses an expired token', async () => {
    await expectUnauthorized(verifier.verify(await jwks.sign(aToken({ ttlSeconds: -120 }))), /expired at 20\d\d-/);
  });

  it('accepts a token expired within the clock tolerance', async () => {
    await expect(verifier.verify(await jwks.sign(aToken({ ttlSeconds: -10 })))).resolves.toBeDefined();
  });

  it('refuses a token that is not yet valid', async () => {
    await expectUnauthorized(
      verifier.verify(await jwks.sign(aToken({ notBeforeSeconds: 120 }))),
      /not valid before 20\d\d-/,
    );
  });

  it('accepts a token whose nbf is ahead by less than the clock tolerance', async () => {
    await expect(verifier.verify(await jwks.sign(aToken({ notBeforeSeconds: 10 })))).resolves.toBeDefined();
  });

  it('refuses a token without exp', async () => {
    await expectUnauthorized(verifier.verify(await jwks.sign({ ...aToken(), exp: undefined })), /no expiry \(exp\)/);
  });

  it('refuses a token from another issuer, naming both', async () => {
    const token = await jwks.sign({ ...aToken(), iss: 'https://evil.example' });
    await expectUnauthorized(verifier.verify(token), /issued by "https:\/\/evil\.example".*only accepts "http:\/\/127/);
  });

  it('refuses a token without an issuer', async () => {
    await expectUnauthorized(verifier.verify(await jwks.sign({ ...aToken(), iss: undefined })), /no issuer/);
  });

  it('refuses a token for another audience', async () => {
    const token = await jwks.sign({ ...aToken(), aud: ['urn:other-api'] });
    await expectUnauthorized(verifier.verify(token), /meant for audience \["urn:other-api"\]/);
  });

  it('accepts a token whose audience list includes ours', async () => {
    const token = await jwks.sign({ ...aToken(), aud: ['urn:other-api', jwks.audience] });
    await expect(verifier.verify(token)).resolves.toBeDefined();
  });

  it('refuses a token without sub', async () => {
    await expectUnauthorized(verifier.verify(await jwks.sign({ ...aToken(), sub: undefined })), /no subject/);
  });

  it('refuses a token whose organization is not a string', async () => {
    const token = await jwks.sign({ ...aToken(), organization: { ods: 'RTG' } });
    await expectUnauthorized(verifier.verify(token), /organization claim must be a string/);
  });

  it('refuses a token signed with a key the JWKS does not publish', async () => {
    await expectUnauthorized(verifier.verify(await jwks.signWithUnknownKey(aToken())), /unknown kid/);
  });

  it('refuses a token whose kid names a published key but whose signature is from another key', async () => {
    const token = await jwks.signWithUnknownKey(aToken(), { kid: decodeProtectedHeader(await jwks.sign()).kid });
    await expectUnauthorized(verifier.verify(token), /signature does not verify/);
  });

  it('refuses a token with a tampered payload', async () => {
    const [header, , signature] = (await jwks.sign(aToken({ scope: 'system/DocumentReference.r' }))).split('.');
    const forged = Buffer.from(
      JSON.stringify({ ...aToken({ scope: 'system/*.cruds' }), iss: jwks.issuer, aud: jwks.audience }),
    ).toString('base64url');
    await expectUnauthorized(verifier.verify(`${header}.${forged}.${signature}`), /signature does not verify/);
  });

  it('refuses an unsigned alg=none token', async () => {
    await expectUnauthorized(verifier.verify(jwks.unsigned(aToken())), /only RS256 and ES256 are allowed/);
  });

  it('refuses HS256 signed with the published public key as the secret', async () => {
    await expectUnauthorized(
      verifier.verify(await jwks.signHs256WithPublicKey(aToken())),
      /only RS256 and ES256 are allowed/,
    );
  });

  it('refuses something that is not a JWT', async () => {
    await expectUnauthorized(verifier.verify('not-a-jwt'), /not a well-formed signed JWT/);
  });
});

describe('AccessTokenVerifier key rotation', () => {
  let jwks: JwksServer;
  let dataDir: string;

  beforeEach(async () => {
    jwks = await startJwksServer();
    dataDir = await mkdtemp(path.join(tmpdir(), 'auth-rotate-'));
  });

  afterEach(async () => {
    await jwks.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('caches the JWKS and refetches it when a token names an unknown kid after the cooldown', async () => {
    const verifier = new AccessTokenVerifier(loadConfig({ ...jwks.env(), DATA_DIR: dataDir }), { jwksCooldownMs: 0 });
    await verifier.verify(await jwks.sign(aToken()));
    await verifier.verify(await jwks.sign(aToken(), { alg: 'ES256' }));
    expect(jwks.fetches).toBe(1);

    await jwks.rotateKeys();
    const principal = await verifier.verify(await jwks.sign(aToken({ sub: 'after-rotation' })));
    expect(principal.subject).toBe('after-rotation');
    expect(jwks.fetches).toBe(2);
  });

  it('does not refetch for unknown kids during the cooldown', async () => {
    const verifier = new AccessTokenVerifier(loadConfig({ ...jwks.env(), DATA_DIR: dataDir }), {
      jwksCooldownMs: 60_000,
    });
    await verifier.verify(await jwks.sign(aToken()));
    await jwks.rotateKeys();
    for (let i = 0; i < 3; i += 1) {
      await expectUnauthorized(verifier.verify(await jwks.sign(aToken())), /unknown kid/);
    }
    expect(jwks.fetches).toBe(1);
  });

  it('remembers a verified token: the same token is answered again without checking its signature', async () => {
    const verifier = new AccessTokenVerifier(loadConfig({ ...jwks.env(), DATA_DIR: dataDir }));
    // every signature check starts by resolving the key: count those
    const internals = verifier as unknown as { resolveKey: (...args: unknown[]) => unknown };
    const resolveKey = internals.resolveKey;
    let keyLookups = 0;
    internals.resolveKey = (...args: unknown[]) => {
      keyLookups += 1;
      return resolveKey(...args);
    };
    const token = await jwks.sign(aToken({ ttlSeconds: 60 }));
    const principal = await verifier.verify(token);
    expect(await verifier.verify(token)).toEqual(principal);
    expect(Object.isFrozen(await verifier.verify(token))).toBe(true);
    expect(keyLookups).toBe(1);
    // another token is checked in full
    await verifier.verify(await jwks.sign(aToken({ ttlSeconds: 60 })));
    expect(keyLookups).toBe(2);
  });

  it('forgets a remembered token when it expires, and refuses it then', async () => {
    const verifier = new AccessTokenVerifier(
      loadConfig({ ...jwks.env(), DATA_DIR: dataDir, AUTH_CLOCK_TOLERANCE_SECONDS: '0' }),
    );
    const token = await jwks.sign(aToken({ ttlSeconds: 2 }));
    await verifier.verify(token);
    await new Promise((resolve) => setTimeout(resolve, 2100));
    await expectUnauthorized(verifier.verify(token), /expired/);
  });

  it('answers 503 (not 401) when the JWKS cannot be fetched', async () => {
    const env = jwks.env();
    const token = await jwks.sign(aToken());
    await jwks.close();
    const verifier = new AccessTokenVerifier(loadConfig({ ...env, DATA_DIR: dataDir }));
    const error = await refusal(verifier.verify(token));
    expect(error.status).toBe(503);
    expect(error.issues[0].code).toBe('transient');
    expect(error.message).toMatch(/signing keys could not be fetched/);
    jwks = await startJwksServer();
  });
});

describe('local issuer', () => {
  let dataDir: string;

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'auth-local-'));
  });

  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('creates the key file with mode 0600 on first use and reuses it afterwards', async () => {
    const first = await loadOrCreateLocalSigningKey(dataDir);
    const file = localSigningKeyPath(dataDir);
    expect(file).toBe(path.join(dataDir, 'auth', 'local-signing-key.json'));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    expect(stored).toMatchObject({ kty: 'EC', crv: 'P-256', kid: first.kid, alg: 'ES256' });
    expect(first.publicJwk).not.toHaveProperty('d');

    const second = await loadOrCreateLocalSigningKey(dataDir);
    expect(second.kid).toBe(first.kid);
    expect(second.publicJwk).toEqual(first.publicJwk);
  });

  it('ends with one key when several callers race to create it', async () => {
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateLocalSigningKey(dataDir)));
    expect(new Set(keys.map((k) => k.kid)).size).toBe(1);
    expect(await readdir(path.join(dataDir, 'auth'))).toEqual(['local-signing-key.json']);
  });

  it('refuses a key file that is not an ES256 private key', async () => {
    await loadOrCreateLocalSigningKey(dataDir);
    const file = localSigningKeyPath(dataDir);
    const { d: _d, ...publicOnly } = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    await rm(file);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(file, JSON.stringify(publicOnly), { mode: 0o600 });
    await expect(loadOrCreateLocalSigningKey(dataDir)).rejects.toThrow(/does not hold an ES256/);
  });

  it('verifies a token signed by signLocalToken when no JWKS is configured', async () => {
    const config = loadConfig({ DATA_DIR: dataDir });
    const verifier = new AccessTokenVerifier(config);
    const token = await signLocalToken(dataDir, {
      issuer: config.auth.issuer,
      audience: config.auth.audience,
      subject: 'dev',
      organization: 'RTG',
      scope: 'system/DocumentReference.cruds admin',
      expiresInSeconds: 60,
      clientId: 'cli',
    });
    const principal = await verifier.verify(token);
    expect(principal).toMatchObject({ subject: 'dev', organization: 'RTG', clientId: 'cli' });
    expect(principal.scopes.map((s) => s.raw)).toEqual(['system/DocumentReference.cruds', 'admin']);
    expect(principal.tokenId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses a token from a JWKS issuer when running on the local key', async () => {
    const jwks = await startJwksServer();
    try {
      const config = loadConfig({ DATA_DIR: dataDir, AUTH_ISSUER: jwks.issuer });
      const verifier = new AccessTokenVerifier(config);
      await expectUnauthorized(
        verifier.verify(await jwks.sign(aToken(), { alg: 'ES256' })),
        /signature does not verify/,
      );
      await expectUnauthorized(
        verifier.verify(await jwks.sign(aToken(), { alg: 'RS256' })),
        /could not be verified|algorithm/,
      );
    } finally {
      await jwks.close();
    }
  });

  it('refuses a local token minted for another issuer', async () => {
    const config = loadConfig({ DATA_DIR: dataDir });
    const token = await aLocalToken(loadConfig({ DATA_DIR: dataDir, AUTH_ISSUER: 'urn:someone-else' }));
    await expectUnauthorized(new AccessTokenVerifier(config).verify(token), /issued by "urn:someone-else"/);
  });

  it('signs tokens from the token CLI that the verifier accepts', async () => {
    const env = { DATA_DIR: dataDir };
    const token = await tokenCli(
      ['--org', 'RTG', '--scope', 'system/*.cruds', '--client', 'cli-app', '--ttl', '120'],
      env,
    );
    const principal = await new AccessTokenVerifier(loadConfig(env)).verify(token);
    expect(principal).toMatchObject({ subject: 'local-RTG', organization: 'RTG', clientId: 'cli-app' });
    expect(principal.scopes.map((s) => s.raw)).toEqual(['system/*.cruds']);
  });

  it('the token CLI refuses when an identity provider is configured', async () => {
    await expect(
      tokenCli(['--scope', 'system/*.cruds'], { DATA_DIR: dataDir, AUTH_JWKS_URI: 'https://idp.example/jwks' }),
    ).rejects.toThrow(/tokens come from your identity provider/);
  });

  it('the token CLI refuses a missing scope and a bad ttl', async () => {
    await expect(tokenCli(['--org', 'RTG'], { DATA_DIR: dataDir })).rejects.toThrow(/--scope is required/);
    await expect(tokenCli(['--scope', 'system/*.rs', '--ttl', '-5'], { DATA_DIR: dataDir })).rejects.toThrow();
    await expect(tokenCli(['--scope', 'system/*.rs', '--ttl', 'soon'], { DATA_DIR: dataDir })).rejects.toThrow(
      /--ttl must be a whole number/,
    );
  });

  it('creates the key directory under a fresh DATA_DIR', async () => {
    const nested = path.join(dataDir, randomUUID());
    await loadOrCreateLocalSigningKey(nested);
    expect((await stat(path.join(nested, 'auth'))).mode & 0o777).toBe(0o700);
  });
});
