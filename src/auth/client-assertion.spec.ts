import { randomUUID } from 'node:crypto';
import {
  createLocalJWKSet,
  type CryptoKey,
  exportJWK,
  generateKeyPair,
  type JWTPayload,
  type JWTVerifyGetKey,
  SignJWT,
  UnsecuredJWT,
} from 'jose';
import {
  CLIENT_ASSERTION_TYPE,
  ClientKeysUnavailableError,
  OAuthError,
  parseTokenRequest,
  verifyClientAssertion,
} from './client-assertion.js';

const TOKEN_URL = 'https://registry.example/auth/token';
const CLIENT = 'backend-1';
const FORM = 'application/x-www-form-urlencoded';

interface Key {
  alg: string;
  privateKey: CryptoKey;
  kid: string;
}

let es384: Key;
let rs384: Key;
let keys: JWTVerifyGetKey;

async function newKey(alg: string): Promise<{ key: Key; jwk: object }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `${alg}-${randomUUID()}`;
  return { key: { alg, privateKey, kid }, jwk: { ...(await exportJWK(publicKey)), kid } };
}

beforeAll(async () => {
  const es = await newKey('ES384');
  const rs = await newKey('RS384');
  es384 = es.key;
  rs384 = rs.key;
  keys = createLocalJWKSet({ keys: [es.jwk, rs.jwk] as never });
});

const now = () => Math.floor(Date.now() / 1000);

function claims(overrides: JWTPayload = {}): JWTPayload {
  return { iss: CLIENT, sub: CLIENT, aud: TOKEN_URL, exp: now() + 240, jti: randomUUID(), ...overrides };
}

function sign(key: Key, payload: JWTPayload = claims(), alg = key.alg): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg, kid: key.kid, typ: 'JWT' }).sign(key.privateKey);
}

const expected = { clientId: CLIENT, tokenUrl: TOKEN_URL, clockToleranceSeconds: 30 };

async function refusal(promise: Promise<unknown>): Promise<OAuthError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OAuthError);
  return error as OAuthError;
}

function form(params: Record<string, string>): Buffer {
  return Buffer.from(new URLSearchParams(params).toString());
}

describe('parseTokenRequest', () => {
  const good = async () => ({
    grant_type: 'client_credentials',
    client_assertion_type: CLIENT_ASSERTION_TYPE,
    client_assertion: await sign(es384),
    scope: 'system/DocumentReference.rs',
  });

  it('reads a well-made client_credentials request and the client its assertion claims to be', async () => {
    const request = parseTokenRequest(`${FORM}; charset=utf-8`, form(await good()));
    expect(request).toMatchObject({ clientId: CLIENT, scope: 'system/DocumentReference.rs' });
  });

  it('refuses another media type with invalid_request', async () => {
    const error = await refusal(
      (async () => parseTokenRequest('application/json', Buffer.from(JSON.stringify(await good()))))(),
    );
    expect([error.code, error.status]).toEqual(['invalid_request', 400]);
  });

  it.each([
    ['no grant_type', { grant_type: undefined }, 'invalid_request', /grant_type is missing/],
    ['another grant_type', { grant_type: 'password' }, 'unsupported_grant_type', /password is not supported/],
    ['no client_assertion_type', { client_assertion_type: undefined }, 'invalid_client', /client_assertion_type/],
    ['a client secret instead', { client_assertion_type: 'secret' }, 'invalid_client', /secret is not supported/],
    ['no client_assertion', { client_assertion: undefined }, 'invalid_client', /client_assertion is missing/],
    ['an assertion that is no JWT', { client_assertion: 'abc.def' }, 'invalid_client', /well-formed/],
    ['a client_id other than the iss', { client_id: 'someone-else' }, 'invalid_client', /does not match/],
    ['no scope', { scope: undefined }, 'invalid_scope', /scope is missing/],
  ])('refuses a request with %s', async (_label, change, code, message) => {
    const params = { ...(await good()), ...change } as Record<string, string | undefined>;
    const body = form(Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined)) as never);
    const error = await refusal(Promise.resolve().then(() => parseTokenRequest(FORM, body)));
    expect(error.code).toBe(code);
    expect(error.status).toBe(code === 'invalid_client' ? 401 : 400);
    expect(error.description).toMatch(message);
  });

  it('refuses a parameter given twice (RFC 6749 3.2)', async () => {
    const body = Buffer.from(`${new URLSearchParams(await good()).toString()}&scope=system/*.cruds`);
    const error = await refusal(Promise.resolve().then(() => parseTokenRequest(FORM, body)));
    expect([error.code, error.description]).toEqual(['invalid_request', 'scope appears more than once']);
  });

  it('refuses an assertion whose sub is not its iss', async () => {
    const params = { ...(await good()), client_assertion: await sign(es384, claims({ sub: 'other' })) };
    const error = await refusal(Promise.resolve().then(() => parseTokenRequest(FORM, form(params))));
    expect([error.code, error.description]).toEqual([
      'invalid_client',
      'client_assertion sub must equal its iss (the client_id)',
    ]);
  });
});

describe('verifyClientAssertion', () => {
  it.each(['ES384', 'RS384'])('accepts a good %s assertion and returns its jti and exp', async (alg) => {
    const payload = claims();
    const verified = await verifyClientAssertion(await sign(alg === 'ES384' ? es384 : rs384, payload), keys, expected);
    expect(verified).toEqual({ jti: payload.jti, expiresAt: payload.exp });
  });

  it.each([
    ['aud is not the token endpoint', { aud: 'https://registry.example/fhir' }, /aud must be the token endpoint URL/],
    // times as offsets from when the test runs, not from when the table was built
    ['it has expired', { exp: -120 }, /has expired/],
    ['exp is more than five minutes ahead', { exp: 600 }, /exp is 6\d\d seconds ahead; it may be at most 300/],
    ['it has no exp', { exp: undefined }, /no valid exp/],
    ['it has no jti', { jti: undefined }, /no jti/],
    ['iss is another client', { iss: 'backend-2', sub: 'backend-2' }, /invalid iss claim/],
  ])('refuses an assertion when %s', async (_label, change, message) => {
    const timed = 'exp' in change && typeof change.exp === 'number' ? { exp: now() + change.exp } : {};
    const payload = Object.fromEntries(
      Object.entries(claims({ ...change, ...timed })).filter(([, v]) => v !== undefined),
    );
    const error = await refusal(verifyClientAssertion(await sign(es384, payload), keys, expected));
    expect([error.code, error.status]).toEqual(['invalid_client', 401]);
    expect(error.description).toMatch(message);
  });

  it('refuses RS256 and ES256 even from a registered key', async () => {
    const { key: es256 } = await newKey('ES256');
    const { key: rs256 } = await newKey('RS256');
    // under the kids of registered keys: the algorithm alone decides
    for (const token of [await sign({ ...rs256, kid: rs384.kid }), await sign({ ...es256, kid: es384.kid })]) {
      const error = await refusal(verifyClientAssertion(token, keys, expected));
      expect(error.description).toMatch(/only ES384 and RS384 are accepted/);
    }
  });

  it('refuses HS256 and alg none', async () => {
    const hs = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256' }).sign(new Uint8Array(32));
    const none = new UnsecuredJWT(claims()).encode();
    for (const token of [hs, none]) {
      const error = await refusal(verifyClientAssertion(token, keys, expected));
      expect(error.description).toMatch(/signed with (HS256|none); only ES384 and RS384/);
    }
  });

  it('refuses an assertion signed by a key the client has not registered', async () => {
    const { key: stranger } = await newKey('ES384');
    const error = await refusal(verifyClientAssertion(await sign(stranger), keys, expected));
    expect(error.description).toMatch(/key the client has not registered/);
  });

  it('refuses a forged signature under a registered kid', async () => {
    const { key: stranger } = await newKey('ES384');
    const error = await refusal(verifyClientAssertion(await sign({ ...stranger, kid: es384.kid }), keys, expected));
    expect(error.description).toMatch(/signature does not verify/);
  });

  it('says so when the client keys could not be fetched', async () => {
    const unavailable: JWTVerifyGetKey = () => Promise.reject(new ClientKeysUnavailableError('connect ECONNREFUSED'));
    const error = await refusal(verifyClientAssertion(await sign(es384), unavailable, expected));
    expect(error.description).toBe("The client's registered jwks_uri could not be fetched: connect ECONNREFUSED");
  });
});
