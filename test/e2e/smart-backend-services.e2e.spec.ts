import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import {
  type CryptoKey,
  decodeJwt,
  exportJWK,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  SignJWT,
  UnsecuredJWT,
} from 'jose';
import { DataSource } from 'typeorm';
import { main as clientsCli } from '../../scripts/clients.js';
import { SmartClientRepository } from '../../src/auth/smart-client.repository.js';
import { CLIENT_ASSERTION_TYPE } from '../../src/auth/client-assertion.js';
import { aPointer } from '../fixtures/pointer.js';
import { json } from '../utils/http.js';
import { makeTempDir } from '../utils/temp-dir.js';
import { BACKENDS, startTestApp, type TestApp } from '../utils/test-app.js';
import { startJwksServer } from '../utils/tokens.js';

const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
const PATIENT_SEARCH = `patient.identifier=${encodeURIComponent(`${NHS}|9434765919`)}`;

interface ClientKey {
  alg: string;
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function aKey(alg: 'ES384' | 'RS384' | 'ES256' | 'RS256'): Promise<ClientKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `${alg}-${randomUUID()}`;
  return { alg, kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid } };
}

/** A client's JWKS published over HTTP on 127.0.0.1 (allow-listed for the test server). */
async function startKeyServer(keys: JWK[]): Promise<{ url: string; fetches: () => number; close(): Promise<void> }> {
  let fetches = 0;
  const server: Server = createServer((_request, response) => {
    fetches += 1;
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`,
    fetches: () => fetches,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe.each(BACKENDS)('SMART Backend Services token endpoint (%s + %s)', (database, blobStore) => {
  let t: TestApp;
  let tokenUrl: string;
  let es: ClientKey;
  let rs: ClientKey;
  let keyServer: Awaited<ReturnType<typeof startKeyServer>>;
  let pointerId: string;

  const now = () => Math.floor(Date.now() / 1000);

  function assertionClaims(clientId: string, overrides: Record<string, unknown> = {}): JWTPayload {
    const claims: Record<string, unknown> = {
      iss: clientId,
      sub: clientId,
      aud: tokenUrl,
      exp: now() + 240,
      jti: randomUUID(),
      ...overrides,
    };
    return Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined));
  }

  const sign = (key: ClientKey, claims: JWTPayload, alg = key.alg) =>
    new SignJWT(claims).setProtectedHeader({ alg, kid: key.kid, typ: 'JWT' }).sign(key.privateKey);

  const requestToken = (assertion: string, scope = 'system/DocumentReference.rs', extra: Record<string, string> = {}) =>
    fetch(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_assertion_type: CLIENT_ASSERTION_TYPE,
        client_assertion: assertion,
        scope,
        ...extra,
      }),
    });

  async function expectOAuthError(response: Response, status: number, error: string, description: RegExp) {
    const body = await json(response);
    expect([response.status, body.error]).toEqual([status, error]);
    expect(body.error_description).toMatch(description);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  }

  beforeAll(async () => {
    es = await aKey('ES384');
    rs = await aKey('RS384');
    keyServer = await startKeyServer([rs.publicJwk]);
    t = await startTestApp(database, blobStore, { SUBSCRIPTION_ENDPOINT_ALLOWLIST: '127.0.0.1' });
    tokenUrl = `${t.baseUrl}/auth/token`;
    const clients = t.app.get(SmartClientRepository);
    await clients.register({
      clientId: 'es-client',
      name: 'GP system',
      organization: 'RTG',
      scopes: 'system/DocumentReference.rs system/Binary.r',
      jwks: { keys: [es.publicJwk] },
    });
    await clients.register({
      clientId: 'rs-client',
      name: 'Hospital EPR',
      organization: 'RXX',
      scopes: 'system/DocumentReference.read',
      jwksUri: keyServer.url,
    });
    await clients.register({
      clientId: 'gone-client',
      name: 'Retired',
      organization: 'RTG',
      scopes: 'system/*.rs',
      jwks: { keys: [es.publicJwk] },
      disabled: true,
    });
    const created = await t.fetch('/fhir/DocumentReference', {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify(aPointer()),
    });
    expect(created.status).toBe(201);
    pointerId = (await json(created)).id as string;
  });
  afterAll(async () => {
    await t?.close();
    await keyServer?.close();
  });

  it('advertises the token endpoint and RS384/ES384 in the SMART configuration and the CapabilityStatement', async () => {
    const smart = await json(await fetch(`${t.fhirUrl}/.well-known/smart-configuration`));
    expect(smart).toMatchObject({
      token_endpoint: tokenUrl,
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
    });
    const statement = await json(await fetch(`${t.fhirUrl}/metadata`));
    expect(statement.rest[0].security.extension).toEqual([
      {
        url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
        extension: [{ url: 'token', valueUri: tokenUrl }],
      },
    ]);
  });

  it.each([
    ['ES384 key registered inline', 'es-client', () => es, 'RTG', 'system/DocumentReference.rs'],
    ['RS384 key published at its jwks_uri', 'rs-client', () => rs, 'RXX', 'system/DocumentReference.read'],
  ])(
    'issues a client with an %s a token carrying its organisation, which searches and reads',
    async (_label, clientId, key, organization, scope) => {
      const response = await requestToken(await sign(key(), assertionClaims(clientId)), scope);
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-store');
      const body = await json(response);
      expect(body).toEqual({ access_token: expect.any(String), token_type: 'bearer', expires_in: 300, scope });
      const claims = decodeJwt(body.access_token as string);
      expect(claims).toMatchObject({ organization, client_id: clientId, sub: clientId, scope });
      expect(claims.exp! - claims.iat!).toBe(300);

      const authorization = `Bearer ${body.access_token}`;
      const search = await t.fetch(`/fhir/DocumentReference?${PATIENT_SEARCH}`, { headers: { authorization } });
      expect(search.status).toBe(200);
      expect((await json(search)).entry.map((e: { resource: { id: string } }) => e.resource.id)).toContain(pointerId);
      const read = await t.fetch(`/fhir/DocumentReference/${pointerId}`, { headers: { authorization } });
      expect(read.status).toBe(200);
      // the scope granted is all the token can do
      const write = await t.fetch('/fhir/DocumentReference', {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/fhir+json' },
        body: JSON.stringify(aPointer()),
      });
      expect(write.status).toBe(403);
    },
  );

  it('grants only the part of the requested scopes the client is allowed', async () => {
    const response = await requestToken(
      await sign(es, assertionClaims('es-client')),
      'system/*.cruds system/Subscription.cruds openid',
    );
    expect(response.status).toBe(200);
    expect((await json(response)).scope).toBe('system/DocumentReference.rs system/Binary.r');
  });

  it('refuses a scope the client is not allowed with invalid_scope', async () => {
    const response = await requestToken(await sign(es, assertionClaims('es-client')), 'system/Subscription.cruds');
    await expectOAuthError(
      response,
      400,
      'invalid_scope',
      /may ask for: system\/DocumentReference.rs system\/Binary.r/,
    );
  });

  it('refuses an assertion whose jti was already used, even by a request that lost a race', async () => {
    const assertion = await sign(es, assertionClaims('es-client'));
    expect((await requestToken(assertion)).status).toBe(200);
    await expectOAuthError(await requestToken(assertion), 401, 'invalid_client', /jti has been used before/);
    // two at once with one fresh jti: exactly one gets a token
    const fresh = await sign(es, assertionClaims('es-client'));
    const statuses = (await Promise.all([requestToken(fresh), requestToken(fresh), requestToken(fresh)])).map(
      (r) => r.status,
    );
    expect(statuses.sort()).toEqual([200, 401, 401]);
  });

  it.each<[string, () => Promise<string>, RegExp]>([
    ['aud is not the token endpoint', () => sign(es, assertionClaims('es-client', { aud: `${t.fhirUrl}` })), /aud/],
    ['it has expired', () => sign(es, assertionClaims('es-client', { exp: now() - 120 })), /expired/],
    [
      'exp is more than five minutes ahead',
      () => sign(es, assertionClaims('es-client', { exp: now() + 3600 })),
      /at most 300/,
    ],
    ['it has no jti', () => sign(es, assertionClaims('es-client', { jti: undefined })), /no jti/],
    [
      'it is signed RS256',
      async () => sign({ ...(await aKey('RS256')), kid: rs.kid }, assertionClaims('rs-client')),
      /signed with RS256; only ES384 and RS384/,
    ],
    [
      'it is signed HS256',
      () =>
        new SignJWT(assertionClaims('es-client'))
          .setProtectedHeader({ alg: 'HS256' })
          .sign(new TextEncoder().encode(JSON.stringify(es.publicJwk))),
      /signed with HS256/,
    ],
    [
      'it is unsigned',
      () => Promise.resolve(new UnsecuredJWT(assertionClaims('es-client')).encode()),
      /signed with none/,
    ],
    ['the client is unknown', () => sign(es, assertionClaims('nobody')), /client nobody is not registered/],
    ['the client is disabled', () => sign(es, assertionClaims('gone-client')), /client gone-client is not registered/],
    [
      'its key is not registered',
      async () => sign(await aKey('ES384'), assertionClaims('es-client')),
      /key the client has not registered/,
    ],
    [
      'its key is registered for another client',
      () => sign(es, assertionClaims('rs-client')),
      /key the client has not registered/,
    ],
  ])('answers invalid_client (401) when %s', async (_label, make, description) => {
    await expectOAuthError(await requestToken(await make()), 401, 'invalid_client', description);
  });

  it.each<[string, RequestInit, number, string]>([
    ['a JSON body', { headers: { 'content-type': 'application/json' }, body: '{}' }, 400, 'invalid_request'],
    [
      'another grant type',
      {
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=authorization_code&code=x',
      },
      400,
      'unsupported_grant_type',
    ],
    [
      'no client authentication',
      { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' },
      401,
      'invalid_client',
    ],
    ['an empty body', { headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 400, 'invalid_request'],
  ])('answers %s with the OAuth error JSON', async (_label, init, status, error) => {
    const response = await fetch(tokenUrl, { method: 'POST', ...init });
    await expectOAuthError(response, status, error, /.+/);
  });

  it('refuses a body over the small limit of the route with 413, not a 500', async () => {
    const response = await requestToken('x'.repeat(20_000));
    expect(response.status).toBe(413);
  });

  it('audits every token issued under the client, and its refusals', async () => {
    const refusal = await requestToken(await sign(es, assertionClaims('es-client')), 'system/AuditEvent.rs');
    expect(refusal.status).toBe(400);
    const response = await requestToken(await sign(es, assertionClaims('es-client')));
    const { access_token: token } = await json(response);
    const tokenId = decodeJwt(token as string).jti;
    const rows = await t.app
      .get(DataSource)
      .query(
        `SELECT subtype, outcome, agent_client, agent_org, resource FROM audit_event WHERE agent_client = 'es-client'`,
      );
    const issued = rows.find((r: { resource: string }) => r.resource.includes(tokenId!));
    expect(issued).toMatchObject({ subtype: 'login', outcome: '0', agent_client: 'es-client', agent_org: 'RTG' });
    const refused = rows.filter((r: { subtype: string }) => r.subtype === 'login-failure');
    // the invalid_scope refusal of an authenticated client is on the trail at once, under its name
    expect(refused.map((r: { resource: string }) => JSON.parse(r.resource).outcomeDesc)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^invalid_scope: /)]),
    );
  });

  it('keeps used jtis only until their assertions expire', async () => {
    const clients = t.app.get(SmartClientRepository);
    const later = Date.now() + 10 * 60_000;
    expect(await clients.claimJti('es-client', 'once', Date.now() + 1000)).toBe(true);
    expect(await clients.claimJti('es-client', 'once', Date.now() + 1000)).toBe(false);
    // once expired the row is taken over, and a purge forgets it
    expect(await clients.claimJti('es-client', 'once', later, Date.now() + 2000)).toBe(true);
    await clients.purgeExpiredJtis(later + 1);
    expect((await clients.heldJtis('es-client')).map((r) => r.jti)).not.toContain('once');
  });

  it('works through fhir-kit-client: discovery, then a search with the token it gets', async () => {
    const { Client } = await import('fhir-kit-client');
    const discovery = new Client({ baseUrl: t.fhirUrl });
    const metadata = await discovery.smartAuthMetadata();
    expect(String(metadata.tokenUrl)).toBe(tokenUrl);

    const response = await fetch(String(metadata.tokenUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_assertion_type: CLIENT_ASSERTION_TYPE,
        client_assertion: await sign(rs, assertionClaims('rs-client')),
        scope: 'system/DocumentReference.read',
      }),
    });
    const { access_token: bearerToken } = await json(response);
    const client = new Client({ baseUrl: t.fhirUrl, bearerToken });
    const bundle = (await client.search({
      resourceType: 'DocumentReference',
      searchParams: { 'patient.identifier': `${NHS}|9434765919` },
    })) as { resourceType: string; entry: { resource: { id: string } }[] };
    expect(bundle.resourceType).toBe('Bundle');
    expect(bundle.entry.map((e) => e.resource.id)).toContain(pointerId);
  });
});

describe('SMART Backend Services with an external identity provider', () => {
  it('serves no token endpoint and advertises the configured one', async () => {
    const jwks = await startJwksServer();
    const t = await startTestApp('sqlite', 'file', { ...jwks.env(), AUTH_TOKEN_URL: 'https://idp.example/token' });
    try {
      const response = await fetch(`${t.baseUrl}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
      expect(response.status).toBe(404);
      const smart = await json(await fetch(`${t.fhirUrl}/.well-known/smart-configuration`));
      expect(smart.token_endpoint).toBe('https://idp.example/token');
    } finally {
      await t.close();
      await jwks.close();
    }
  });
});

describe('npm run clients (the admin command)', () => {
  it('registers, lists, disables and enables a client the token endpoint then honours', async () => {
    const dir = await makeTempDir('clients-cli');
    const key = await aKey('ES384');
    const jwksFile = path.join(dir.path, 'key.json');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(jwksFile, JSON.stringify(key.publicJwk));
    const t = await startTestApp('sqlite', 'file');
    const env = {
      DATA_DIR: t.config.dataDir,
      DATABASE_URL: `sqlite:${(t.config.database as { file: string }).file}`,
    };
    const cli = (...argv: string[]) => clientsCli(argv, env);
    const ask = (clientId: string) =>
      new SignJWT({ iss: clientId, sub: clientId, aud: `${t.baseUrl}/auth/token`, jti: randomUUID() })
        .setProtectedHeader({ alg: 'ES384', kid: key.kid })
        .setExpirationTime('2m')
        .sign(key.privateKey)
        .then((assertion) =>
          fetch(`${t.baseUrl}/auth/token`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({
              grant_type: 'client_credentials',
              client_assertion_type: CLIENT_ASSERTION_TYPE,
              client_assertion: assertion,
              scope: 'system/DocumentReference.rs',
            }),
          }),
        );
    try {
      await expect(
        cli(
          'register',
          '--id',
          'cli-client',
          '--org',
          'R1A',
          '--scope',
          'system/DocumentReference.rs',
          '--jwks',
          jwksFile,
        ),
      ).resolves.toBe('created client cli-client for R1A: system/DocumentReference.rs');
      const token = await json(await ask('cli-client'));
      expect(decodeJwt(token.access_token as string).organization).toBe('R1A');

      const listed = JSON.parse(await cli('list', '--json'));
      expect(listed).toEqual([
        expect.objectContaining({ client_id: 'cli-client', organization: 'R1A', keys: '1 inline', disabled: null }),
      ]);

      await expect(cli('disable', '--id', 'cli-client')).resolves.toBe('disabled client cli-client');
      expect((await ask('cli-client')).status).toBe(401);
      await expect(cli('enable', '--id', 'cli-client')).resolves.toBe('enabled client cli-client');
      expect((await ask('cli-client')).status).toBe(200);

      await expect(cli('disable', '--id', 'nobody')).rejects.toThrow('no client nobody is registered');
      await expect(
        cli('register', '--id', 'x', '--org', 'R1A', '--scope', 'system/*.rs', '--jwks-uri', 'http://10.0.0.1/jwks'),
      ).rejects.toThrow('jwks_uri must use https (got http)');
      await expect(cli('register', '--id', 'x', '--org', 'R1A', '--scope', 'system/*.rs')).rejects.toThrow(
        /exactly one of jwks/,
      );
      await expect(cli('frobnicate')).rejects.toThrow(/unknown command/);
    } finally {
      await t.close();
      await dir.remove();
    }
  });
});

describe('AUTH_CLIENTS_FILE', () => {
  it('registers the clients of the file at boot, and a bad file stops the server naming the variable', async () => {
    const dir = await makeTempDir('clients-file');
    const { writeFile } = await import('node:fs/promises');
    const key = await aKey('RS384');
    const file = path.join(dir.path, 'clients.json');
    const entry = { client_id: 'filed', organization: 'R2B', scope: 'system/DocumentReference.rs' };
    await writeFile(file, JSON.stringify({ clients: [{ ...entry, jwks: { keys: [key.publicJwk] } }] }));
    const t = await startTestApp('sqlite', 'file', { AUTH_CLIENTS_FILE: file });
    try {
      const clients = await t.app.get(SmartClientRepository).list();
      expect(clients.map((c) => [c.clientId, c.organization, c.scopes])).toEqual([
        ['filed', 'R2B', 'system/DocumentReference.rs'],
      ]);
    } finally {
      await t.close();
    }
    await writeFile(file, JSON.stringify({ clients: [{ ...entry, organization: 'not an ods code' }] }));
    await expect(startTestApp('sqlite', 'file', { AUTH_CLIENTS_FILE: file })).rejects.toThrow(
      /Invalid configuration: AUTH_CLIENTS_FILE .*clients\[0\]: organization must be an ODS code/,
    );
    await dir.remove();
  });
});
