import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, ENVIRONMENT_VARIABLES, loadConfig } from './app-config.js';
import { renderConfigTable, renderEnvExample, withConfigTable } from './config-docs.js';

describe('loadConfig', () => {
  it('runs on embedded defaults: SQLite, files under ./data, local Redis', () => {
    const config = loadConfig({});
    expect(config.port).toBe(8080);
    expect(config.host).toBe('127.0.0.1');
    expect(config.baseUrl).toBe('http://127.0.0.1:8080');
    expect(config.database).toEqual({ kind: 'sqlite', file: path.resolve('data/registry.db') });
    expect(config.blobStore).toEqual({ kind: 'file', directory: path.resolve('data/blobs') });
    expect(config.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(config.maxResourceBytes).toBe(10 * 1024 * 1024);
    expect(config.maxBinaryBytes).toBe(2 * 1024 * 1024 * 1024);
    expect(config.sqliteSynchronous).toBe('FULL');
    expect(config.appRoles).toEqual(['api', 'worker']);
  });

  it('reads PostgreSQL and S3 locations', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://u:p@db:5432/registry',
      BLOB_STORE: 's3://documents/blobs/',
      S3_ENDPOINT: 'http://minio:9000',
      S3_FORCE_PATH_STYLE: 'true',
      BASE_URL: 'https://registry.example.nhs.uk/',
    });
    expect(config.database).toEqual({ kind: 'postgres', url: 'postgres://u:p@db:5432/registry' });
    expect(config.blobStore).toEqual({ kind: 's3', bucket: 'documents', prefix: 'blobs/' });
    expect(config.s3).toMatchObject({ endpoint: 'http://minio:9000', forcePathStyle: true });
    expect(config.baseUrl).toBe('https://registry.example.nhs.uk');
  });

  it.each([
    ['PORT', { PORT: 'eighty' }],
    ['PORT', { PORT: '70000' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://x' }],
    ['BLOB_STORE', { BLOB_STORE: 'ftp://x' }],
    ['S3_FORCE_PATH_STYLE', { S3_FORCE_PATH_STYLE: 'maybe' }],
    ['BASE_URL', { BASE_URL: 'not a url' }],
    ['APP_ROLES', { APP_ROLES: 'api,cron' }],
    ['MAX_BINARY_BYTES', { MAX_BINARY_BYTES: '-1' }],
    ['AUTH_JWKS_URI', { NODE_ENV: 'production' }],
    ['AUDIT_HMAC_KEY_FILE', { NODE_ENV: 'production', AUTH_JWKS_URI: 'https://idp.example/jwks' }],
    ['AUDIT_CHECKPOINT_EVENTS', { AUDIT_CHECKPOINT_EVENTS: '0' }],
    ['AUDIT_CHECKPOINT_SECONDS', { AUDIT_CHECKPOINT_SECONDS: 'soon' }],
    ['DELIVERY_OVERDUE_AFTER', { DELIVERY_OVERDUE_AFTER: '3' }],
    ['DELIVERY_OVERDUE_AFTER', { DELIVERY_OVERDUE_AFTER: '3 weeks' }],
    ['DELIVERY_OVERDUE_AFTER', { DELIVERY_OVERDUE_AFTER: '10ms' }],
  ])('stops with a message naming %s when it is wrong', (variable, env) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(new RegExp(`^Invalid configuration: ${variable} `));
  });

  it('reads the retrieval deadline of deliveries as a number and a unit, three days by default', () => {
    expect(loadConfig({}).notifications.overdueAfterMs).toBe(3 * 86_400_000);
    expect(loadConfig({ DELIVERY_OVERDUE_AFTER: '2s' }).notifications.overdueAfterMs).toBe(2000);
    expect(loadConfig({ DELIVERY_OVERDUE_AFTER: '36h' }).notifications.overdueAfterMs).toBe(36 * 3_600_000);
  });

  it('allows the local issuer in production only when asked to', () => {
    expect(
      loadConfig({ NODE_ENV: 'production', AUTH_ALLOW_LOCAL_ISSUER: 'true', AUDIT_HMAC_KEY_FILE: '/run/secrets/audit' })
        .auth.allowLocalIssuer,
    ).toBe(true);
  });

  it('generates the audit key under DATA_DIR unless a key file is given', () => {
    expect(loadConfig({ DATA_DIR: '/srv/registry' }).audit).toEqual({
      hmacKeyFile: path.resolve('/srv/registry/auth/audit-hmac-key'),
      generateHmacKey: true,
      checkpointEvents: 1000,
      checkpointSeconds: 60,
    });
    expect(loadConfig({ AUDIT_HMAC_KEY_FILE: '/run/secrets/audit' }).audit).toMatchObject({
      hmacKeyFile: path.resolve('/run/secrets/audit'),
      generateHmacKey: false,
    });
  });

  it('serves the local token endpoint under BASE_URL, and names the identity provider one only with AUTH_JWKS_URI', () => {
    expect(loadConfig({ BASE_URL: 'https://registry.example/' }).auth.tokenUrl).toBe(
      'https://registry.example/auth/token',
    );
    const external = { AUTH_JWKS_URI: 'https://idp.example/jwks', AUTH_TOKEN_URL: 'https://idp.example/token' };
    expect(loadConfig(external).auth.tokenUrl).toBe('https://idp.example/token');
    expect(loadConfig({ AUTH_JWKS_URI: 'https://idp.example/jwks' }).auth.tokenUrl).toBeUndefined();
    expect(() => loadConfig({ AUTH_TOKEN_URL: 'https://idp.example/token' })).toThrow(
      /AUTH_TOKEN_URL names an identity provider token endpoint, so it needs AUTH_JWKS_URI/,
    );
  });

  it('reads AUTH_CLIENTS_FILE only for the local issuer', () => {
    expect(loadConfig({ AUTH_CLIENTS_FILE: 'clients.json' }).auth.clientsFile).toBe(path.resolve('clients.json'));
    expect(() => loadConfig({ AUTH_CLIENTS_FILE: 'clients.json', AUTH_JWKS_URI: 'https://idp.example/jwks' })).toThrow(
      /AUTH_CLIENTS_FILE registers clients of the local token endpoint/,
    );
  });

  it('trusts no proxy by default, every peer when TRUST_PROXY=true, or the addresses and CIDRs listed', () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1,::1, fd00::/8' }).trustProxy).toEqual([
      '10.0.0.0/8',
      '127.0.0.1',
      '::1',
      'fd00::/8',
    ]);
  });

  it.each(['1', 'proxy.internal', '10.0.0.0/33', '10.0.0.1/8/8', '::1/129'])(
    'refuses TRUST_PROXY=%s at boot (a hop count is not supported: Fastify would trust no one)',
    (value) => {
      expect(() => loadConfig({ TRUST_PROXY: value })).toThrow(/^Invalid configuration: TRUST_PROXY /);
    },
  );

  it('keeps viewer sessions short, signs them with a key generated under DATA_DIR, and has no OIDC by default', () => {
    expect(loadConfig({ DATA_DIR: '/srv/registry' }).viewer).toEqual({
      sessionIdleMinutes: 60,
      sessionKeyFile: path.resolve('/srv/registry/auth/viewer-session-key'),
      generateSessionKey: true,
      localSignIn: true,
      oidc: undefined,
    });
    expect(loadConfig({ VIEWER_SESSION_KEY_FILE: '/run/secrets/viewer' }).viewer).toMatchObject({
      sessionKeyFile: path.resolve('/run/secrets/viewer'),
      generateSessionKey: false,
    });
  });

  it('offers the passwordless local sign-in form in production only when asked, and never beside an identity provider', () => {
    const production = {
      NODE_ENV: 'production',
      AUTH_ALLOW_LOCAL_ISSUER: 'true',
      AUDIT_HMAC_KEY_FILE: '/run/secrets/audit',
    };
    expect(loadConfig(production).viewer.localSignIn).toBe(false);
    expect(loadConfig({ ...production, VIEWER_LOCAL_SIGN_IN: 'true' }).viewer.localSignIn).toBe(true);
    expect(loadConfig({ VIEWER_LOCAL_SIGN_IN: 'false' }).viewer.localSignIn).toBe(false);
    expect(loadConfig({ AUTH_JWKS_URI: 'https://idp.example/jwks' }).viewer.localSignIn).toBe(false);
    expect(() => loadConfig({ AUTH_JWKS_URI: 'https://idp.example/jwks', VIEWER_LOCAL_SIGN_IN: 'true' })).toThrow(
      /^Invalid configuration: VIEWER_LOCAL_SIGN_IN /,
    );
  });

  it('reads OpenID Connect settings, the redirect URL defaulting to the viewer callback under BASE_URL', () => {
    expect(
      loadConfig({
        BASE_URL: 'https://registry.example.nhs.uk',
        OIDC_ISSUER: 'https://login.example.nhs.uk/realms/nhs/',
        OIDC_CLIENT_ID: 'viewer',
        OIDC_CLIENT_SECRET: 's3cret',
      }).viewer.oidc,
    ).toEqual({
      issuer: 'https://login.example.nhs.uk/realms/nhs',
      clientId: 'viewer',
      clientSecret: 's3cret',
      redirectUrl: 'https://registry.example.nhs.uk/app/auth/callback',
      scope: 'openid profile',
      organizationClaim: 'organization',
    });
    expect(loadConfig({ OIDC_ISSUER: 'http://127.0.0.1:9000', OIDC_CLIENT_ID: 'v' }).viewer.oidc?.issuer).toBe(
      'http://127.0.0.1:9000',
    );
  });

  it.each([
    ['OIDC_ISSUER', { OIDC_ISSUER: 'http://login.example.nhs.uk', OIDC_CLIENT_ID: 'v' }],
    ['OIDC_ISSUER', { OIDC_ISSUER: 'not a url', OIDC_CLIENT_ID: 'v' }],
    ['OIDC_CLIENT_ID', { OIDC_ISSUER: 'https://login.example.nhs.uk' }],
    ['OIDC_SCOPE', { OIDC_ISSUER: 'https://login.example.nhs.uk', OIDC_CLIENT_ID: 'v', OIDC_SCOPE: 'profile' }],
    [
      'OIDC_ORGANIZATION_CLAIM',
      { OIDC_ISSUER: 'https://login.example.nhs.uk', OIDC_CLIENT_ID: 'v', OIDC_ORGANIZATION_CLAIM: 'a b' },
    ],
    ['OIDC_REDIRECT_URL', { OIDC_ISSUER: 'https://login.example.nhs.uk', OIDC_CLIENT_ID: 'v', OIDC_REDIRECT_URL: 'x' }],
    ['VIEWER_SESSION_MINUTES', { VIEWER_SESSION_MINUTES: '0' }],
  ])('stops with a message naming %s when a viewer setting is wrong', (variable, env) => {
    expect(() => loadConfig(env)).toThrow(new RegExp(`^Invalid configuration: ${variable} `));
  });

  it('documents every variable in .env.example and the README, exactly as generated (npm run docs:config)', () => {
    const example = readFileSync('.env.example', 'utf8');
    const readme = readFileSync('README.md', 'utf8');
    expect(example).toBe(renderEnvExample());
    expect(withConfigTable(readme)).toBe(readme);
    for (const variable of ENVIRONMENT_VARIABLES) {
      expect(example).toContain(`\n${variable.name}=`);
      expect(renderConfigTable()).toContain(`| \`${variable.name}\` |`);
    }
  });
});
