import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FhirClient, retryDelayMs } from './http.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** A server that answers from a script of responses, recording what it was sent. */
async function scriptedServer(script: { status: number; headers?: Record<string, string>; body?: string }[]) {
  const seen: Seen[] = [];
  const server: Server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      seen.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers });
      const next = script.shift() ?? { status: 500, body: 'script ran out' };
      response.writeHead(next.status, next.headers).end(next.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('FhirClient', () => {
  it('fetches a fresh token once after a 401 and sends the request again', async () => {
    const server = await scriptedServer([{ status: 401 }, { status: 200, body: 'ok' }]);
    let issued = 0;
    const client = new FhirClient(server.base, {
      token: () => Promise.resolve(`token-${issued}`),
      refresh: () => Promise.resolve(`token-${++issued}`),
    });
    try {
      const response = await client.sendText('GET', 'Bundle/1');
      expect(response).toMatchObject({ status: 200, text: 'ok' });
      expect(server.seen.map((s) => [s.url, s.headers.authorization])).toEqual([
        ['/fhir/Bundle/1', 'Bearer token-0'],
        ['/fhir/Bundle/1', 'Bearer token-1'],
      ]);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('gives a fixed token one try: a second 401 is the answer', async () => {
    const server = await scriptedServer([{ status: 401, body: 'no' }]);
    const client = new FhirClient(server.base, { token: () => Promise.resolve('fixed') });
    try {
      expect((await client.sendText('GET', 'Bundle/1')).status).toBe(401);
      expect(server.seen).toHaveLength(1);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('waits as a 429 says and tries again, with the body made afresh', async () => {
    const server = await scriptedServer([
      { status: 429, headers: { 'retry-after': '0' } },
      { status: 503, headers: { 'retry-after': '0' } },
      { status: 201 },
    ]);
    const client = new FhirClient(server.base, { token: () => Promise.resolve('t') });
    let made = 0;
    try {
      const response = await client.sendText('POST', 'Bundle', { body: () => `body ${++made}` });
      expect(response.status).toBe(201);
      expect(made).toBe(3);
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('sends the token only to the origin of its base URL', async () => {
    const client = new FhirClient('https://registry.example/fhir/', { token: () => Promise.resolve('t') });
    try {
      expect(client.url('Bundle/1').href).toBe('https://registry.example/fhir/Bundle/1');
      expect(client.url('https://registry.example/fhir/DocumentReference?cursor=x').href).toBe(
        'https://registry.example/fhir/DocumentReference?cursor=x',
      );
      expect(() => client.url('https://attacker.example/fhir/DocumentReference?cursor=x')).toThrow(
        /Refusing to send the token to https:\/\/attacker.example/,
      );
      expect(() => client.url('http://registry.example/fhir/Bundle/1')).toThrow(/Refusing/);
    } finally {
      await client.close();
    }
  });

  it('says which server could not be reached (exit 1)', async () => {
    const server = await scriptedServer([]);
    await server.close();
    const client = new FhirClient(server.base, { token: () => Promise.resolve('t') });
    try {
      await expect(client.send('GET', 'metadata')).rejects.toMatchObject({
        exitCode: 1,
        message: `could not reach ${server.base}: ECONNREFUSED`,
      });
    } finally {
      await client.close();
    }
  });
});

describe('retryDelayMs', () => {
  it('takes Retry-After in seconds or as a date, capped at 30 s, else backs off', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryDelayMs('2', 0, now)).toBe(2000);
    expect(retryDelayMs('Thu, 01 Jan 2026 00:00:05 GMT', 0, now)).toBe(5000);
    expect(retryDelayMs('3600', 0, now)).toBe(30_000);
    expect(retryDelayMs(undefined, 2, now)).toBe(2000);
    expect(retryDelayMs('soon', 1, now)).toBe(1000);
  });
});
