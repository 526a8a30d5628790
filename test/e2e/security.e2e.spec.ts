import { registeredRoutes } from '../../src/fhir/route-registry.js';
import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { json } from '../utils/http.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';
import { aToken, startJwksServer, type JwksServer } from '../utils/tokens.js';

/** Routes anyone may call: the CapabilityStatement, health, and the 405 answers that touch no data. */
const PUBLIC_ROUTES = new Set([
  'GET /fhir/metadata',
  'GET /fhir/.well-known/smart-configuration',
  'GET /health/live',
  'GET /health/ready',
  'GET /fhir/SubscriptionTopic/document-available',
  'GET /fhir/SubscriptionTopic/delivery-status',
]);
const REFUSALS_ONLY =
  /^(PUT|PATCH|DELETE) \/fhir\/(Bundle|Binary)\/:id$|^DELETE \/fhir\/DocumentReference\/:id$|^(PUT|PATCH|DELETE|POST) \/fhir\/AuditEvent|^POST \/fhir\/Task$|^DELETE \/fhir\/Task\/:id$/;

function concrete(url: string): string {
  return url
    .replace(/\(\[\$\]\|%24\)/g, '$')
    .replace(/:vid/g, '1')
    .replace(/:[A-Za-z]+/g, '00000000-0000-4000-8000-000000000000');
}

describe('authentication and scopes on every route', () => {
  let jwks: JwksServer;
  let t: TestApp;
  let protectedRoutes: { method: string; url: string }[];

  beforeAll(async () => {
    jwks = await startJwksServer();
    t = await startTestApp('sqlite', 'file', jwks.env());
    protectedRoutes = registeredRoutes(t.app.getHttpAdapter().getInstance())
      .filter((r) => r.url.startsWith('/fhir') && !r.url.includes('*'))
      .filter((r) => !PUBLIC_ROUTES.has(`${r.method} ${r.url}`) && !REFUSALS_ONLY.test(`${r.method} ${r.url}`))
      .filter((r) => r.method !== 'OPTIONS');
  });
  afterAll(async () => {
    await t?.close();
    await jwks?.close();
  });

  const call = (route: { method: string; url: string }, authorization?: string) =>
    fetch(`${t.baseUrl}${concrete(route.url)}`, {
      method: route.method,
      headers: {
        ...(authorization ? { authorization } : {}),
        ...(route.method === 'GET' || route.method === 'DELETE' ? {} : { 'content-type': 'application/fhir+json' }),
      },
      body: route.method === 'GET' || route.method === 'DELETE' ? undefined : '{"resourceType":"Parameters"}',
    });

  it('lists as public only routes that exist, so the list cannot go stale', () => {
    const registered = new Set(
      registeredRoutes(t.app.getHttpAdapter().getInstance()).map((r) => `${r.method} ${r.url}`),
    );
    expect([...PUBLIC_ROUTES].filter((name) => !registered.has(name))).toEqual([]);
  });

  it('protects a known set of routes', () => {
    const names = protectedRoutes.map((r) => `${r.method} ${r.url}`);
    expect(names).toEqual(expect.arrayContaining(['POST /fhir/Bundle', 'GET /fhir/Bundle/:id', 'POST /fhir/Binary']));
  });

  const badTokens: [string, (jwks: JwksServer) => Promise<string> | string, RegExp][] = [
    ['no token', () => '', /bearer/i],
    ['an expired token', (j) => j.sign(aToken({ ttlSeconds: -3600 })), /expired/i],
    ['a token not yet valid', (j) => j.sign(aToken({ notBeforeSeconds: 3600 })), /not.*valid|nbf|before/i],
    ['a token from another issuer', (j) => j.sign({ ...aToken(), iss: 'https://evil.example' }), /issue/i],
    ['a token for another audience', (j) => j.sign({ ...aToken(), aud: 'urn:other-api' }), /audience/i],
    ['a token signed by an unknown key', (j) => j.signWithUnknownKey(aToken()), /.+/],
    ['an alg none token', (j) => j.unsigned(aToken()), /.+/],
    ['HS256 signed with the public key', (j) => j.signHs256WithPublicKey(aToken()), /.+/],
  ];

  it.each(badTokens)('answers %s with 401 and WWW-Authenticate on every protected route', async (_label, make, why) => {
    const token = await make(jwks);
    for (const route of protectedRoutes) {
      const response = await call(route, token ? `Bearer ${token}` : undefined);
      const name = `${route.method} ${route.url}`;
      expect([name, response.status]).toEqual([name, 401]);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
      const outcome = await json(response);
      expect(outcome.resourceType).toBe('OperationOutcome');
      expect(outcome.issue[0].diagnostics).toMatch(why);
    }
  });

  it('answers a valid token without the needed scope with 403 naming the scope (or admin), on every protected route', async () => {
    const token = await jwks.sign(aToken({ scope: 'system/Patient.rs' }));
    for (const route of protectedRoutes) {
      const response = await call(route, `Bearer ${token}`);
      const name = `${route.method} ${route.url}`;
      expect([name, response.status]).toEqual([name, 403]);
      const outcome = await json(response);
      expect(outcome.issue[0].code).toBe('forbidden');
      // operator operations ($purge) need the admin scope rather than a resource scope
      expect(outcome.issue[0].diagnostics).toMatch(/(system|user)\/\w+\.[cruds]+|requires the admin scope/);
    }
  });

  it('accepts a good RS256 and ES256 token, and v1 scope spellings', async () => {
    for (const [alg, scope] of [
      ['RS256', 'system/DocumentReference.rs'],
      ['ES256', 'system/DocumentReference.read'],
    ] as const) {
      const token = await jwks.sign(aToken({ scope }), { alg });
      const response = await fetch(`${t.fhirUrl}/DocumentReference?patient.identifier=x|9434765919`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(response.status).toBe(200);
    }
  });

  it('lets a sender submit only documents whose custodian is its own organisation', async () => {
    const document = JSON.stringify(
      aDischargeSummaryR4({ identifier: { system: 'urn:ietf:rfc:3986', value: `urn:uuid:${crypto.randomUUID()}` } }),
    );
    const asOther = await fetch(`${t.fhirUrl}/Bundle`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await jwks.sign(aToken({ org: 'RXX' }))}`,
        'content-type': 'application/fhir+json',
      },
      body: document,
    });
    expect(asOther.status).toBe(403);
    expect((await json(asOther)).issue[0].diagnostics).toContain('RTG');
    const asCustodian = await fetch(`${t.fhirUrl}/Bundle`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await jwks.sign(aToken({ org: 'RTG' }))}`,
        'content-type': 'application/fhir+json',
      },
      body: document,
    });
    expect(asCustodian.status).toBe(201);
  });
});

describe('request hygiene', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('sqlite', 'file', { RATE_LIMIT_PER_MINUTE: '5' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('echoes X-Request-ID and X-Correlation-ID, and generates a request id when absent', async () => {
    const given = await fetch(`${t.fhirUrl}/metadata`, {
      headers: { 'x-request-id': 'req-123', 'x-correlation-id': 'corr-9' },
    });
    expect(given.headers.get('x-request-id')).toBe('req-123');
    expect(given.headers.get('x-correlation-id')).toBe('corr-9');
    const generated = await fetch(`${t.fhirUrl}/metadata`);
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('sends security headers and keeps CORS closed by default', async () => {
    const response = await fetch(`${t.fhirUrl}/metadata`, { headers: { origin: 'https://evil.example' } });
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('throttles a client past its limit with 429, Retry-After and an OperationOutcome', async () => {
    const token = await t.token();
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 7; i += 1) {
      last = await fetch(`${t.fhirUrl}/DocumentReference?patient.identifier=x|9434765919`, {
        headers: { authorization: `Bearer ${token}` },
      });
      statuses.push(last.status);
    }
    expect(statuses.slice(0, 5).every((s) => s === 200)).toBe(true);
    expect(statuses[6]).toBe(429);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await json(last!)).issue[0].code).toBe('throttled');
  });
});
