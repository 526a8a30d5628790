import { json } from '../utils/http.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';

describe('the queue dashboard at /admin/queues', () => {
  let t: TestApp;
  let admin: string;
  beforeAll(async () => {
    t = await startTestApp('sqlite', 'file');
    admin = `Bearer ${await t.token({ scope: 'system/*.cruds admin' })}`;
  });
  afterAll(async () => {
    await t?.close();
  });

  const get = (path: string, authorization?: string) =>
    fetch(`${t.baseUrl}${path}`, { headers: authorization ? { authorization } : {} });

  /** The page, one of its static assets (named in the page) and its JSON API. */
  async function dashboardPaths(): Promise<string[]> {
    const page = await (await get('/admin/queues', admin)).text();
    const asset = /src="(static\/js\/[^"]+\.js)"/.exec(page)?.[1];
    expect(asset).toBeDefined();
    return ['/admin/queues', `/admin/queues/${asset}`, '/admin/queues/api/queues'];
  }

  it('serves the page, its assets and its API to a token with the admin scope', async () => {
    const page = await get('/admin/queues', admin);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    for (const path of await dashboardPaths()) {
      expect([path, (await get(path, admin)).status]).toEqual([path, 200]);
    }
    const queues = (await json(await get('/admin/queues/api/queues', admin))) as { queues: { name: string }[] };
    expect(queues.queues.map((q) => q.name)).toEqual(['subscription-delivery']);
  });

  it('refuses every part of it without a token (401) and without the admin scope (403)', async () => {
    const paths = await dashboardPaths();
    const noAdmin = `Bearer ${await t.token({ scope: 'system/*.cruds' })}`;
    for (const path of paths) {
      const anonymous = await get(path);
      expect([path, anonymous.status]).toEqual([path, 401]);
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect((await json(anonymous)).resourceType).toBe('OperationOutcome');

      const forged = await get(path, 'Bearer not.a.token');
      expect([path, forged.status]).toEqual([path, 401]);

      const refused = await get(path, noAdmin);
      expect([path, refused.status]).toEqual([path, 403]);
      const outcome = await json(refused);
      expect(outcome.resourceType).toBe('OperationOutcome');
      expect(outcome.issue[0].diagnostics).toMatch(/admin scope/);
    }
  });

  it('is read-only: the API refuses to change jobs even for an admin', async () => {
    const response = await fetch(`${t.baseUrl}/admin/queues/api/queues/subscription-delivery/pause`, {
      method: 'PUT',
      headers: { authorization: admin },
    });
    expect(response.status).toBe(405);
  });
});
