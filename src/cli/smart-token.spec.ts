import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { calculateJwkThumbprint, decodeProtectedHeader, type JWK, jwtVerify } from 'jose';
import { CliError } from './errors.js';
import { loadClientKey, requestSmartToken } from './smart-token.js';

/** A tiny SMART server: discovery plus a token endpoint that checks the client assertion as the spec says. */
async function startFakeAuthServer(
  publicKey: KeyObject,
  options: { tokenEndpoint?: string; refuse?: boolean; algorithms?: string[] } = {},
) {
  const requests: URLSearchParams[] = [];
  const assertions: { header: Record<string, unknown>; payload: Record<string, unknown> }[] = [];
  let origin = '';
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    request.on('end', () => {
      void (async () => {
        if (request.url === '/fhir/.well-known/smart-configuration') {
          response.writeHead(200, { 'content-type': 'application/json' }).end(
            JSON.stringify({
              token_endpoint: options.tokenEndpoint ?? `${origin}/token`,
              token_endpoint_auth_methods_supported: ['private_key_jwt'],
              ...(options.algorithms ? { token_endpoint_auth_signing_alg_values_supported: options.algorithms } : {}),
            }),
          );
          return;
        }
        if (request.url === '/token' && request.method === 'POST') {
          const form = new URLSearchParams(body);
          requests.push(form);
          if (options.refuse) {
            response
              .writeHead(400, { 'content-type': 'application/json' })
              .end(JSON.stringify({ error: 'invalid_client', error_description: 'unknown kid\u001b[31m' }));
            return;
          }
          const assertion = form.get('client_assertion') ?? '';
          const { payload } = await jwtVerify(assertion, publicKey, { audience: `${origin}/token` });
          assertions.push({ header: decodeProtectedHeader(assertion), payload });
          response.writeHead(200, { 'content-type': 'application/json' }).end(
            JSON.stringify({
              access_token: 'granted-token',
              token_type: 'bearer',
              expires_in: 300,
              scope: form.get('scope'),
            }),
          );
          return;
        }
        response.writeHead(404).end();
      })().catch((error: Error) => response.writeHead(401).end(error.message));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    fhirBase: `${origin}/fhir`,
    origin,
    requests,
    assertions,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('SMART Backend Services token (client_credentials + private_key_jwt)', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'smart-token-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('discovers the token endpoint and posts an ES384 assertion (iss = sub = client, aud = endpoint, 5 minutes, jti, kid)', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const jwk = { ...(privateKey.export({ format: 'jwk' }) as JWK), kid: 'client-key-1' };
    const file = path.join(dir, 'es384.json');
    await writeFile(file, JSON.stringify(jwk));
    const server = await startFakeAuthServer(publicKey);
    try {
      const token = await requestSmartToken({
        fhirBase: server.fhirBase,
        clientId: 'gp-system',
        key: await loadClientKey(file),
        scope: 'system/DocumentReference.rs',
      });
      expect(token).toEqual({ accessToken: 'granted-token', expiresIn: 300 });
      const form = server.requests[0];
      expect(form.get('grant_type')).toBe('client_credentials');
      expect(form.get('scope')).toBe('system/DocumentReference.rs');
      expect(form.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      const { header, payload } = server.assertions[0];
      expect(header).toEqual({ alg: 'ES384', kid: 'client-key-1', typ: 'JWT' });
      expect(payload).toMatchObject({ iss: 'gp-system', sub: 'gp-system', aud: `${server.origin}/token` });
      expect(Number(payload.exp) - Number(payload.iat)).toBeLessThanOrEqual(300);
      expect(typeof payload.jti).toBe('string');
    } finally {
      await server.close();
    }
  });

  it('signs with RS384 from an RSA PEM, naming the key by its RFC 7638 thumbprint', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const file = path.join(dir, 'rsa.pem');
    await writeFile(file, privateKey.export({ format: 'pem', type: 'pkcs8' }));
    const server = await startFakeAuthServer(publicKey);
    try {
      const key = await loadClientKey(file);
      await requestSmartToken({ fhirBase: server.fhirBase, clientId: 'trust', key, scope: 'system/Bundle.c' });
      expect(server.assertions[0].header).toEqual({
        alg: 'RS384',
        kid: await calculateJwkThumbprint(publicKey.export({ format: 'jwk' }) as JWK),
        typ: 'JWT',
      });
    } finally {
      await server.close();
    }
  });

  it('signs RS256 with an RSA key when the server lists only RS256 and ES256 (as this registry does)', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const file = path.join(dir, 'rsa-256.pem');
    await writeFile(file, privateKey.export({ format: 'pem', type: 'pkcs8' }));
    const server = await startFakeAuthServer(publicKey, { algorithms: ['RS256', 'ES256'] });
    try {
      await requestSmartToken({
        fhirBase: server.fhirBase,
        clientId: 'trust',
        key: await loadClientKey(file),
        scope: 's',
      });
      expect(server.assertions[0].header.alg).toBe('RS256');
    } finally {
      await server.close();
    }
  });

  it("reports the token endpoint's refusal (exit 1) without its escape characters", async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const file = path.join(dir, 'refused.json');
    await writeFile(file, JSON.stringify(privateKey.export({ format: 'jwk' })));
    const server = await startFakeAuthServer(publicKey, { refuse: true });
    try {
      const attempt = requestSmartToken({
        fhirBase: server.fhirBase,
        clientId: 'x',
        key: await loadClientKey(file),
        scope: 's',
      });
      // the escape character goes, so what is left cannot drive the terminal
      await expect(attempt).rejects.toThrow(/refused the client \(400 invalid_client: unknown kid \[31m\)$/);
      await expect(attempt).rejects.not.toThrow(/\u001b/);
      await expect(attempt).rejects.toMatchObject({ exitCode: 1 });
    } finally {
      await server.close();
    }
  });

  it('refuses to send an assertion to a plain-http token endpoint off this machine', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const file = path.join(dir, 'http.json');
    await writeFile(file, JSON.stringify(privateKey.export({ format: 'jwk' })));
    const server = await startFakeAuthServer(publicKey, { tokenEndpoint: 'http://auth.example.org/token' });
    try {
      await expect(
        requestSmartToken({ fhirBase: server.fhirBase, clientId: 'x', key: await loadClientKey(file), scope: 's' }),
      ).rejects.toThrow(/must be https/);
      expect(server.requests).toHaveLength(0);
    } finally {
      await server.close();
    }
  });

  it('refuses a key file that holds no private key as a usage error (exit 2)', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const file = path.join(dir, 'public.json');
    await writeFile(file, JSON.stringify(publicKey.export({ format: 'jwk' })));
    const attempt = loadClientKey(file);
    await expect(attempt).rejects.toBeInstanceOf(CliError);
    await expect(attempt).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/no private part/) });
  });
});
