import { request as httpRequest } from 'node:http';
import { DataSource } from 'typeorm';
import { registeredRoutes, type RegisteredRoute } from '../../src/fhir/route-registry.js';
import { HOSTILE_BODIES, HOSTILE_IDS, HOSTILE_PATCHES, HOSTILE_QUERIES } from '../fixtures/hostile-input.js';
import { aPointer } from '../fixtures/pointer.js';
import { json } from '../utils/http.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';

const TABLES = ['document_bundle', 'binary', 'document_reference', 'document_reference_version', 'subscription'];
const NHS = 'https://fhir.nhs.uk/Id/nhs-number';

/** Whatever a hostile request did, the server must still answer everyone else, and no prototype may be touched. */
async function expectHealthy(t: TestApp): Promise<void> {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(typeof Object.prototype.hasOwnProperty).toBe('function');
  expect(typeof Object.prototype.toString).toBe('function');
  expect((await fetch(`${t.fhirUrl}/metadata`)).status).toBe(200);
  const search = await t.fetch(
    `/fhir/DocumentReference?patient.identifier=${encodeURIComponent(`${NHS}|9434765919`)}`,
    {
      org: 'Y12345',
    },
  );
  expect(search.status).toBe(200);
}

async function expectOutcome(route: string, response: Response): Promise<void> {
  const text = await response.text();
  expect([route, response.status >= 400 && response.status < 500]).toEqual([route, true]);
  expect([route, (JSON.parse(text) as { resourceType?: string }).resourceType]).toEqual([route, 'OperationOutcome']);
  expect(text).not.toMatch(/root:|\/etc\/passwd|lollol|native code|at .*\.(js|ts):\d+/);
}

describe('hostile and broken input on every route', () => {
  let t: TestApp;
  let routes: RegisteredRoute[];
  let ownId: string;

  const withId = (url: string, id: string) => url.replace(/:[A-Za-z]+/g, id);
  const writeRoutes = () => routes.filter((r) => ['POST', 'PUT', 'PATCH'].includes(r.method));

  beforeAll(async () => {
    t = await startTestApp('sqlite', 'file');
    routes = registeredRoutes(t.app.getHttpAdapter().getInstance()).filter((r) => r.url.startsWith('/fhir'));
    const created = await t.fetch('/fhir/DocumentReference', {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify(aPointer()),
    });
    expect(created.status).toBe(201);
    ownId = (await json(created)).id as string;
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

  it('finds the routes', () => {
    expect(writeRoutes().map((r) => `${r.method} ${r.url}`)).toEqual(
      expect.arrayContaining([
        'POST /fhir/Bundle',
        'POST /fhir/Binary',
        'POST /fhir/DocumentReference',
        'PATCH /fhir/DocumentReference/:id',
      ]),
    );
  });

  it.each(HOSTILE_BODIES)(
    'refuses $label on every POST, PUT and PATCH route with a 4xx OperationOutcome and stores nothing',
    async ({ contentType, body }) => {
      const before = await rowCounts();
      for (const route of writeRoutes()) {
        const url = withId(route.url, ownId);
        const response = await t.fetch(url, { method: route.method, headers: { 'content-type': contentType }, body });
        await expectOutcome(`${route.method} ${url}`, response);
      }
      expect(await rowCounts()).toEqual(before);
      await expectHealthy(t);
    },
  );

  it.each(HOSTILE_PATCHES)('refuses a JSON Patch with $label and changes nothing', async ({ patch, raw }) => {
    const before = await rowCounts();
    for (const route of routes.filter((r) => r.method === 'PATCH')) {
      const url = withId(route.url, ownId);
      const response = await t.fetch(url, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json-patch+json' },
        body: raw ?? JSON.stringify(patch),
      });
      await expectOutcome(`PATCH ${url}`, response);
    }
    expect(await rowCounts()).toEqual(before);
    const own = await json(await t.fetch(`/fhir/DocumentReference/${ownId}`));
    expect([own.status, own.meta.versionId]).toEqual(['current', '1']);
    await expectHealthy(t);
  });

  it.each(HOSTILE_QUERIES)('refuses a search with $label on every search route', async ({ query, postOnly }) => {
    for (const route of routes.filter(
      (r) => r.method === 'GET' && !r.url.includes(':') && /\/fhir\/[A-Z]\w+$/.test(r.url),
    )) {
      if (!postOnly) {
        await expectOutcome(`GET ${route.url}`, await t.fetch(`${route.url}?${query}`));
      }
    }
    for (const route of routes.filter((r) => r.method === 'POST' && r.url.endsWith('/_search'))) {
      const response = await t.fetch(route.url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: query,
      });
      await expectOutcome(`POST ${route.url}`, response);
    }
    await expectHealthy(t);
  });

  it.each(HOSTILE_IDS)(
    'answers $label in a path with a 4xx OperationOutcome (never echoing an over-long one)',
    async ({ id }) => {
      for (const route of routes.filter((r) => r.url.includes(':'))) {
        const url = withId(route.url, id);
        const response = await t.fetch(url, { method: route.method });
        const text = await response.clone().text();
        await expectOutcome(`${route.method} ${url}`, response);
        if (id.length > 200) {
          expect(text).not.toContain(id);
        }
      }
      await expectHealthy(t);
    },
  );

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
    await expectHealthy(t);
  });
});
