import path from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { Browser } from 'playwright-core';
import { registeredRoutes } from '../../src/fhir/route-registry.js';
import {
  DOCUMENT_BUNDLE_EXAMPLE,
  SEARCH_FORM_EXAMPLE,
  SUBSCRIPTION_EXAMPLE,
  TASK_ACCEPT_PATCH_EXAMPLE,
  TOKEN_REQUEST_EXAMPLE,
  WITHDRAW_PATCH_EXAMPLE,
} from '../../src/fhir/openapi-examples.js';
import { launchBrowser, screenshotDir } from '../utils/browser.js';
import { json } from '../utils/http.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';
import { startWebhookReceiver, type WebhookReceiver } from '../utils/webhook-receiver.js';

interface Operation {
  summary?: string;
  security?: Record<string, string[]>[];
  requestBody?: { content: Record<string, { schema?: unknown; examples?: Record<string, { value: unknown }> }> };
  responses: Record<
    string,
    { description: string; content?: Record<string, { schema?: { $ref?: string } }>; headers?: Record<string, unknown> }
  >;
}
interface OpenApi {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> };
}

/** Served routes that are not the API, so not in its document: each with the reason. */
const NOT_API: [RegExp, string][] = [
  [/^\/docs(\/|$)/, 'the documentation itself'],
  [/^\/app(\/|$)|^\/$/, 'the clinician viewer: HTML pages for people with a session cookie'],
  [/^\/admin\/queues(\/|$)/, "bull-board's dashboard and its own internal API, for operators with the admin scope"],
];

const FHIR_JSON = 'application/fhir+json';
const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';

const openApiPath = (url: string): string => url.replace(/:([A-Za-z]+)/g, '{$1}');
const concrete = (path: string): string =>
  path.replace('{operation}', '$status').replace(/\{[A-Za-z]+\}/g, '00000000-0000-4000-8000-000000000000');

describe('the OpenAPI document and swagger-ui at /docs', () => {
  let t: TestApp;
  let receiver: WebhookReceiver;
  let document: OpenApi;
  let routes: { method: string; url: string }[];

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    // the example's endpoint host resolves nowhere here: its subscription is pointed at a local receiver instead
    t = await startTestApp('sqlite', 'file', { SUBSCRIPTION_ENDPOINT_ALLOWLIST: '127.0.0.1' });
    const response = await fetch(`${t.baseUrl}/docs/openapi.json`);
    expect(response.status).toBe(200);
    document = (await response.json()) as OpenApi;
    routes = registeredRoutes(t.app.getHttpAdapter().getInstance()).filter(
      (r) => r.method !== 'OPTIONS' && !r.url.includes('*') && !NOT_API.some(([pattern]) => pattern.test(r.url)),
    );
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  const operations = (): [string, string, Operation][] =>
    Object.entries(document.paths).flatMap(([path, item]) =>
      Object.entries(item).map(([method, operation]): [string, string, Operation] => [path, method, operation]),
    );

  it('is OpenAPI 3.1 that a validator accepts, every $ref resolving, served without a token', async () => {
    expect(document.openapi).toBe('3.1.0');
    const validator = new Validator();
    const result = await validator.validate(
      structuredClone(document) as unknown as Parameters<Validator['validate']>[0],
    );
    expect(result.errors ?? []).toEqual([]);
    expect([result.valid, validator.version]).toEqual([true, '3.1']);
    expect(() => validator.resolveRefs()).not.toThrow();
  });

  it('documents every route the API serves, with its methods; the routes it leaves out only answer 405', async () => {
    const undocumented = routes.filter((r) => !document.paths[openApiPath(r.url)]?.[r.method.toLowerCase()]);
    // what is left out must be a refusal that touches nothing (a 405 naming what the URL accepts)
    const notRefusals: string[] = [];
    for (const route of undocumented) {
      const response = await t.fetch(concrete(openApiPath(route.url)), { method: route.method });
      if (response.status !== 405 || !response.headers.get('allow')) {
        notRefusals.push(`${route.method} ${route.url} answered ${response.status}`);
      }
    }
    expect(notRefusals).toEqual([]);
    // and nothing is documented that is not served
    const served = new Set(routes.map((r) => `${r.method} ${openApiPath(r.url)}`));
    const unserved = operations()
      .map(([path, method]) => `${method.toUpperCase()} ${path}`)
      .filter((name) => !served.has(name));
    expect(unserved).toEqual([]);
    expect(operations().length).toBeGreaterThanOrEqual(30);
  });

  it('gives every operation a summary, a success response, and errors as OperationOutcomes in both formats', () => {
    const problems: string[] = [];
    for (const [path, method, operation] of operations()) {
      const name = `${method.toUpperCase()} ${path}`;
      const statuses = Object.keys(operation.responses);
      if (!operation.summary) {
        problems.push(`${name}: no summary`);
      }
      if (!statuses.some((s) => /^[23]/.test(s))) {
        problems.push(`${name}: no success response`);
      }
      // the token endpoint answers OAuth errors (RFC 6749), health probes terminus's shape
      if (path === '/auth/token' || path.startsWith('/health/')) {
        continue;
      }
      for (const status of statuses.filter((s) => /^[45]/.test(s))) {
        const content = operation.responses[status].content ?? {};
        if (
          content[FHIR_JSON]?.schema?.$ref !== '#/components/schemas/OperationOutcome' ||
          !content['application/fhir+xml']
        ) {
          problems.push(`${name} ${status}: not an OperationOutcome in FHIR JSON and XML`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('states each protected operation with its SMART scope, and the guard agrees with it', async () => {
    expect(document.components.securitySchemes.smart).toMatchObject({ type: 'http', scheme: 'bearer' });
    const wrong: string[] = [];
    for (const [path, method, operation] of operations()) {
      const scopes = operation.security?.flatMap((requirement) => requirement.smart ?? []) ?? [];
      const name = `${method.toUpperCase()} ${path}`;
      if (operation.security && !scopes.every((scope) => /^system\/\w+\.[cruds]$|^admin$/.test(scope))) {
        wrong.push(`${name}: scopes ${scopes.join(' ')}`);
      }
      if (!operation.security && method !== 'get') {
        continue; // a public write (the token endpoint) is tried elsewhere
      }
      const response = await fetch(`${t.baseUrl}${concrete(path)}`, {
        method: method.toUpperCase(),
        headers: method === 'get' || method === 'delete' ? {} : { 'content-type': FHIR_JSON },
        body: method === 'get' || method === 'delete' ? undefined : '{"resourceType":"Parameters"}',
      });
      const challenged = response.status === 401;
      if (challenged !== Boolean(operation.security) || (operation.security && !operation.responses['401'])) {
        wrong.push(
          `${name}: ${operation.security ? 'says' : 'does not say'} a token is needed, answered ${response.status}`,
        );
      }
      if (challenged) {
        // with a token lacking the scope the document names, the answer is 403 naming it
        const denied = await t.fetch(concrete(path), {
          method: method.toUpperCase(),
          scope: 'system/Patient.rs',
          headers: method === 'get' || method === 'delete' ? {} : { 'content-type': FHIR_JSON },
          body: method === 'get' || method === 'delete' ? undefined : '{"resourceType":"Parameters"}',
        });
        const header = denied.headers.get('www-authenticate') ?? '';
        if (denied.status !== 403 || !scopes.some((scope) => header.includes(`scope="${scope}"`))) {
          wrong.push(`${name}: without ${scopes.join(' ')} answered ${denied.status} (${header})`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('has request examples this server accepts as they stand, answered with the headers it promises', async () => {
    const example = (path: string, method: string, type: string) =>
      Object.values(document.paths[path][method].requestBody?.content[type]?.examples ?? {})[0]?.value;
    expect(example('/fhir/Bundle', 'post', FHIR_JSON)).toEqual(DOCUMENT_BUNDLE_EXAMPLE);
    expect(example('/fhir/Subscription', 'post', FHIR_JSON)).toEqual(SUBSCRIPTION_EXAMPLE);
    expect(example('/fhir/DocumentReference/{id}', 'patch', 'application/json-patch+json')).toEqual(
      WITHDRAW_PATCH_EXAMPLE,
    );
    expect(example('/fhir/Task/{id}', 'patch', 'application/json-patch+json')).toEqual(TASK_ACCEPT_PATCH_EXAMPLE);
    expect(example('/auth/token', 'post', 'application/x-www-form-urlencoded')).toEqual(TOKEN_REQUEST_EXAMPLE);

    // a response carries the headers the document promises for its status
    const missingHeaders: string[] = [];
    const checkHeaders = (path: string, method: string, response: Response) => {
      const promised = Object.keys(document.paths[path][method].responses[response.status]?.headers ?? {});
      missingHeaders.push(
        ...promised.filter((h) => !response.headers.has(h)).map((h) => `${method} ${path} ${response.status}: ${h}`),
      );
    };

    // the hospital submits the document
    const submitted = await t.fetch('/fhir/Bundle', {
      method: 'POST',
      org: 'RTG',
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify(DOCUMENT_BUNDLE_EXAMPLE),
    });
    expect([submitted.status, await submitted.text()]).toEqual([201, expect.any(String)]);
    checkHeaders('/fhir/Bundle', 'post', submitted);
    const indexUrl = /<([^>]+)>; rel="related"/.exec(submitted.headers.get('link') ?? '')?.[1] ?? '';
    const documentReferenceId = indexUrl.split('/').pop();

    // found by the form search
    const found = await t.fetch('/fhir/DocumentReference/_search', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(SEARCH_FORM_EXAMPLE).toString(),
    });
    expect(found.status).toBe(200);
    expect((await json(found)).entry.map((e: { resource: { id: string } }) => e.resource.id)).toContain(
      documentReferenceId,
    );

    // the GP practice subscribes, and accepts the document its Task stands for
    const subscribed = await t.fetch('/fhir/Subscription', {
      method: 'POST',
      org: 'Y12345',
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify({
        ...SUBSCRIPTION_EXAMPLE,
        channel: { ...SUBSCRIPTION_EXAMPLE.channel, endpoint: receiver.url('/fhir-notifications') },
      }),
    });
    checkHeaders('/fhir/Subscription', 'post', subscribed);
    expect([subscribed.status, (await json(subscribed)).resourceType]).toEqual([201, 'Subscription']);
    const inbox = await json(
      await t.fetch(
        `/fhir/Task?owner=${encodeURIComponent(`${ODS}|Y12345`)}&focus=DocumentReference/${documentReferenceId}`,
        {
          org: 'Y12345',
        },
      ),
    );
    const taskId = inbox.entry?.[0]?.resource?.id as string;
    const accepted = await t.fetch(`/fhir/Task/${taskId}`, {
      method: 'PATCH',
      org: 'Y12345',
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify(TASK_ACCEPT_PATCH_EXAMPLE),
    });
    checkHeaders('/fhir/Task/{id}', 'patch', accepted);
    expect([accepted.status, (await json(accepted)).status]).toEqual([200, 'completed']);

    // the hospital withdraws it
    const withdrawn = await t.fetch(`/fhir/DocumentReference/${documentReferenceId}`, {
      method: 'PATCH',
      org: 'RTG',
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify(WITHDRAW_PATCH_EXAMPLE),
    });
    checkHeaders('/fhir/DocumentReference/{id}', 'patch', withdrawn);
    expect([withdrawn.status, (await json(withdrawn)).status]).toEqual([200, 'entered-in-error']);

    // the token request is well formed: refused for its made-up signature, not for its shape
    const token = await fetch(`${t.baseUrl}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(TOKEN_REQUEST_EXAMPLE).toString(),
    });
    expect([token.status, (await json(token)).error]).toEqual([401, 'invalid_client']);
    expect(missingHeaders).toEqual([]);
  });

  it('serves swagger-ui at /docs whose scripts and style sheets load, under a policy with no inline script', async () => {
    const page = await fetch(`${t.baseUrl}/docs`);
    expect([page.status, page.headers.get('content-type')]).toEqual([200, expect.stringMatching(/^text\/html/)]);
    const policy = page.headers.get('content-security-policy') ?? '';
    expect(policy).toMatch(/script-src 'self'(;|$)/);
    expect(policy).toMatch(/connect-src 'self'/);
    const html = await page.text();
    // the policy forbids inline script: every script must be a file
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    const assets = [...html.matchAll(/<(?:script|link)[^>]*\s(?:src|href)=["']([^"']+)["']/g)].map((m) => m[1]);
    expect(assets).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/swagger-ui-bundle\.js$/),
        expect.stringMatching(/swagger-ui\.css$/),
        expect.stringMatching(/swagger-ui-init\.js$/),
      ]),
    );
    for (const asset of assets) {
      const response = await fetch(new URL(asset, `${t.baseUrl}/docs`));
      expect([asset, response.status]).toEqual([asset, 200]);
      if (asset.endsWith('swagger-ui-init.js')) {
        // the page renders the same document as /docs/openapi.json
        expect(await response.text()).toContain('"openapi": "3.1.0"');
      }
    }
  });

  it('answers an unknown /docs file with an OperationOutcome 404', async () => {
    const response = await fetch(`${t.baseUrl}/docs/no-such-file.js`);
    expect([response.status, (await json(response)).resourceType]).toEqual([404, 'OperationOutcome']);
  });

  describe('in a browser', () => {
    let browser: Browser;

    beforeAll(async () => {
      browser = await launchBrowser();
    });
    afterAll(async () => {
      await browser?.close();
    });

    it('renders every operation under the page policy, and Try it out reaches the API, with a token when it needs one', async () => {
      const context = await browser.newContext({ baseURL: t.baseUrl });
      const page = await context.newPage();
      const refused: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') {
          refused.push(message.text());
        }
      });
      page.on('pageerror', (error) => refused.push(error.message));
      await page.goto('/docs');
      await page.locator('.swagger-ui .info .title').waitFor();
      expect(await page.locator('.swagger-ui .info .title').textContent()).toContain('FHIR document registry');
      expect(await page.locator('.opblock').count()).toBe(operations().length);
      await page.screenshot({ path: path.join(await screenshotDir('openapi'), 'docs.png') });

      // the CapabilityStatement needs no token: ask for it from the page
      const metadata = page.locator('#operations-System-MetadataController_read');
      await metadata.locator('.opblock-summary').click();
      await metadata.getByRole('button', { name: 'Try it out' }).click();
      const answered = page.waitForResponse((response) => response.url().startsWith(`${t.baseUrl}/fhir/metadata`));
      await metadata.getByRole('button', { name: 'Execute' }).click();
      expect((await answered).status()).toBe(200);
      await metadata.locator('.live-responses-table tr.response .response-col_status').first().waitFor();
      expect(
        await metadata.locator('.live-responses-table tr.response .response-col_status').first().textContent(),
      ).toContain('200');

      // with a token under Authorize, a protected operation answers too
      await page.locator('.scheme-container .authorize').click();
      await page.locator('.modal-ux input').fill(await t.token({ org: 'Y12345' }));
      await page.locator('.modal-ux .auth-btn-wrapper .authorize').click();
      await page.locator('.modal-ux .auth-btn-wrapper .btn-done').click();
      const subscriptions = page.locator('#operations-Subscription-SubscriptionController_search');
      await subscriptions.locator('.opblock-summary').click();
      await subscriptions.getByRole('button', { name: 'Try it out' }).click();
      const searched = page.waitForResponse((response) => response.url().startsWith(`${t.baseUrl}/fhir/Subscription`));
      await subscriptions.getByRole('button', { name: 'Execute' }).click();
      expect((await searched).status()).toBe(200);
      await page.screenshot({ path: path.join(await screenshotDir('openapi'), 'try-it-out.png') });
      // nothing the page needed was refused by its Content-Security-Policy, and no script failed
      expect(refused).toEqual([]);
      await context.close();
    });
  });
});
