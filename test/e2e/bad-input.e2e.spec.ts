import { request as httpRequest } from 'node:http';
import { DataSource } from 'typeorm';
import { registeredRoutes } from '../../src/fhir/route-registry.js';
import { json } from '../utils/http.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';

const deep = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

/** Hostile or broken bodies every POST route must refuse with a 4xx OperationOutcome, storing nothing. */
const CORPUS: [string, string, Buffer | string][] = [
  ['truncated JSON', 'application/fhir+json', '{"resourceType":"Bundle","type":"document","entry":[{"fullUrl":'],
  ['10k-deep nesting', 'application/fhir+json', `{"resourceType":"Bundle","x":${deep(10_000)}}`],
  ['a __proto__ key', 'application/fhir+json', '{"resourceType":"Bundle","__proto__":{"polluted":true}}'],
  [
    'a constructor.prototype key',
    'application/fhir+json',
    '{"resourceType":"Bundle","a":{"constructor":{"prototype":{"x":1}}}}',
  ],
  [
    'XML with an external entity',
    'application/fhir+xml',
    '<?xml version="1.0"?><!DOCTYPE Bundle [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><Bundle xmlns="http://hl7.org/fhir"><id value="&xxe;"/></Bundle>',
  ],
  [
    'a billion-laughs DTD',
    'application/fhir+xml',
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><Bundle xmlns="http://hl7.org/fhir"><id value="&lol3;"/></Bundle>',
  ],
  ['50 MiB of whitespace', 'application/fhir+json', Buffer.alloc(50 * 1024 * 1024, 0x20)],
  ['invalid UTF-8', 'application/fhir+json', Buffer.from([0x7b, 0x22, 0x72, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])],
];

const TABLES = ['document_bundle', 'binary', 'document_reference', 'document_reference_version'];

describe('hostile and broken input on every POST route', () => {
  let t: TestApp;
  let postRoutes: string[];

  beforeAll(async () => {
    t = await startTestApp('sqlite', 'file');
    postRoutes = registeredRoutes(t.app.getHttpAdapter().getInstance())
      .filter((r) => r.method === 'POST' && r.url.startsWith('/fhir'))
      .map((r) => r.url.replace(/:[A-Za-z]+/g, '00000000-0000-4000-8000-000000000000'));
  });
  afterAll(async () => {
    await t?.close();
  });

  async function rowCounts(): Promise<number[]> {
    const dataSource = t.app.get(DataSource);
    return Promise.all(
      TABLES.map(async (table) => Number((await dataSource.query(`SELECT COUNT(*) AS n FROM "${table}"`))[0].n)),
    );
  }

  it('finds the POST routes', () => {
    expect(postRoutes).toEqual(expect.arrayContaining(['/fhir/Bundle', '/fhir/Binary', '/fhir/DocumentReference']));
  });

  it.each(CORPUS)('refuses %s with a 4xx OperationOutcome and stores nothing', async (_label, contentType, body) => {
    const before = await rowCounts();
    for (const route of postRoutes) {
      const response = await t.fetch(route, { method: 'POST', headers: { 'content-type': contentType }, body });
      const outcome = await json(response);
      expect([route, response.status >= 400 && response.status < 500]).toEqual([route, true]);
      expect([route, outcome.resourceType]).toEqual([route, 'OperationOutcome']);
      expect(JSON.stringify(outcome)).not.toMatch(/root:|\/etc\/passwd|lollol|at .*\.(js|ts):\d+/);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(await rowCounts()).toEqual(before);
    const alive = await fetch(`${t.fhirUrl}/metadata`);
    expect(alive.status).toBe(200);
  });

  it('answers huge headers with 431 and an OperationOutcome, and keeps serving', async () => {
    const url = new URL(`${t.fhirUrl}/Bundle`);
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: { 'x-padding': 'a'.repeat(64 * 1024) },
        },
        (response) => {
          let text = '';
          response.on('data', (chunk: Buffer) => (text += chunk.toString()));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
        },
      );
      request.on('error', reject);
      request.end('{}');
    });
    expect(status).toBe(431);
    expect(JSON.parse(body).resourceType).toBe('OperationOutcome');
    expect((await fetch(`${t.fhirUrl}/metadata`)).status).toBe(200);
  });
});
