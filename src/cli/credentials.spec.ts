import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeJwt } from 'jose';
import { organizationOf, tokenSource } from './credentials.js';

describe('tokenSource', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'credentials-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it("signs a local token for --org with the command's scopes, over FHIR_TOKEN", async () => {
    const source = tokenSource({ org: 'RTG' }, 'system/Bundle.c', 'http://x/fhir', {
      DATA_DIR: dataDir,
      FHIR_TOKEN: 'env',
    });
    const claims = decodeJwt(await source.token());
    expect(claims).toMatchObject({ organization: 'RTG', scope: 'system/Bundle.c', sub: 'local-RTG' });
    expect(Number(claims.exp) - Number(claims.iat)).toBe(3600);
    expect(decodeJwt(await source.refresh!()).jti).not.toBe(claims.jti);
  });

  it('lets --scope replace the command scopes', async () => {
    const source = tokenSource({ org: 'RTG', scope: 'system/*.rs' }, 'system/Bundle.c', 'http://x/fhir', {
      DATA_DIR: dataDir,
    });
    expect(decodeJwt(await source.token()).scope).toBe('system/*.rs');
  });

  it('uses FHIR_TOKEN as given, with no refresh', async () => {
    const source = tokenSource({}, 's', 'http://x/fhir', { FHIR_TOKEN: ' abc ' });
    expect(await source.token()).toBe('abc');
    expect(source.refresh).toBeUndefined();
  });

  it.each([
    ['nothing', {}, {}, /No credentials/],
    ['--client-id without --key', { clientId: 'c' }, {}, /go together/],
    [
      'the local key while AUTH_JWKS_URI is set',
      { org: 'RTG' },
      { AUTH_JWKS_URI: 'https://idp/jwks' },
      /AUTH_JWKS_URI is set/,
    ],
  ])('is a usage error (exit 2) with %s', async (_label, options, env, message) => {
    const attempt = async () => tokenSource(options, 's', 'http://x/fhir', { DATA_DIR: dataDir, ...env }).token();
    await expect(attempt()).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(message) });
  });
});

describe('organizationOf', () => {
  it("reads a JWT's organization claim without verifying it", () => {
    const token = `e30.${Buffer.from(JSON.stringify({ organization: 'Y12345' })).toString('base64url')}.sig`;
    expect(organizationOf(token)).toBe('Y12345');
    expect(organizationOf('not-a-jwt')).toBeUndefined();
    expect(organizationOf('a.!!!.c')).toBeUndefined();
  });
});
