import { DataSource } from 'typeorm';
import { json } from '../utils/http.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';
import { aLocalToken } from '../utils/tokens.js';

const SEARCH = '/fhir/DocumentReference?patient.identifier=9434765919';
const COUNT_URL = 'urn:fhir-document-registry:audit-event-count';

interface StoredEvent {
  subtype: string;
  resource: any;
}

/** The stored AuditEvents, straight from the table (an audit search would itself be throttled or audited). */
async function storedEvents(t: TestApp): Promise<StoredEvent[]> {
  const rows: { subtype: string; resource: string }[] = await t.app
    .get(DataSource)
    .query('SELECT "subtype", "resource" FROM "audit_event" ORDER BY "sequence"');
  return rows.map((row) => ({ subtype: row.subtype, resource: JSON.parse(row.resource) }));
}

/** How many requests an AuditEvent stands for: its count extension, else one. */
const countOf = (event: StoredEvent): number =>
  event.resource.extension?.find((e: { url: string }) => e.url === COUNT_URL)?.valueInteger ?? 1;

async function eventually<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() > deadline) {
      return value;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const get = (t: TestApp, authorization?: string) =>
  fetch(`${t.baseUrl}${SEARCH}`, { headers: authorization ? { authorization } : {} });

describe('rate limits before authentication, by address', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('sqlite', 'file', {
      RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '20',
      RATE_LIMIT_PER_MINUTE: '1000',
      AUDIT_REFUSAL_WINDOW_MS: '500',
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('throttles one address however it varies its bogus tokens and their spelling', async () => {
    const spellings = ['Bearer', 'bearer', 'BEARER', 'Bearer ', 'bEaReR  '];
    const statuses: number[] = [];
    for (let i = 0; i < 50; i += 1) {
      const response = await get(t, `${spellings[i % spellings.length]} bogus-${i}.x.y`);
      statuses.push(response.status);
      if (response.status === 429) {
        expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
        expect((await json(response)).issue[0].code).toBe('throttled');
      } else {
        await response.body?.cancel();
      }
    }
    expect(statuses.slice(0, 20).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(20).every((s) => s === 429)).toBe(true);
    // 20 refusals and 30 throttled answers, audited in aggregate
    const events = await eventually(
      () => storedEvents(t),
      (all) => all.reduce((sum, e) => sum + countOf(e), 0) >= 50,
    );
    expect(events.reduce((sum, e) => sum + countOf(e), 0)).toBe(50);
    expect(events.length).toBeLessThanOrEqual(8);
  });
});

describe('auditing refused requests in aggregate', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('sqlite', 'file', {
      RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '100000',
      AUDIT_REFUSAL_WINDOW_MS: '1000',
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('writes a handful of AuditEvents, with their count, for 200 requests with bad tokens', async () => {
    for (let batch = 0; batch < 10; batch += 1) {
      const responses = await Promise.all(
        Array.from({ length: 20 }, (_, i) => get(t, `Bearer not-a-token-${batch}-${i}`)),
      );
      for (const response of responses) {
        expect(response.status).toBe(401);
        await response.body?.cancel();
      }
    }
    const events = await eventually(
      async () => (await storedEvents(t)).filter((e) => e.subtype === 'login-failure'),
      (failures) => failures.reduce((sum, e) => sum + countOf(e), 0) >= 200,
    );
    expect(events.reduce((sum, e) => sum + countOf(e), 0)).toBe(200);
    expect(events.length).toBeLessThanOrEqual(5);
    const [first] = events;
    expect(first.resource).toMatchObject({ resourceType: 'AuditEvent', outcome: '4', type: { code: '110114' } });
    expect(first.resource.outcomeDesc).toMatch(/not a well-formed signed JWT/);
    expect(Date.parse(first.resource.period.end)).toBeGreaterThanOrEqual(Date.parse(first.resource.period.start));
    expect(first.resource.agent.find((a: any) => a.requestor).network.address).toBeTruthy();
  });
});

describe('rate limits after authentication, by verified client', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('sqlite', 'file', {
      RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '100000',
      RATE_LIMIT_PER_MINUTE: '5',
      AUDIT_REFUSAL_WINDOW_MS: '500',
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("shares one client's bucket between spellings of its token and between its tokens", async () => {
    const token = await aLocalToken(t.config, { sub: 'svc-a', clientId: 'client-a' });
    const spellings = [
      `Bearer ${token}`,
      `bearer ${token}`,
      `BEARER ${token}`,
      `Bearer  ${token}`,
      `bearer   ${token}`,
    ];
    for (const authorization of spellings) {
      expect((await get(t, authorization)).status).toBe(200);
    }
    const throttled = await get(t, `Bearer ${token}`);
    expect(throttled.status).toBe(429);
    expect((await json(throttled)).issue[0].code).toBe('throttled');
    const fresh = await aLocalToken(t.config, { sub: 'svc-a', clientId: 'client-a' });
    expect((await get(t, `Bearer ${fresh}`)).status).toBe(429);

    // another client is not limited by the first one's exhausted bucket
    const other = await aLocalToken(t.config, { sub: 'svc-b', clientId: 'client-b' });
    expect((await get(t, `Bearer ${other}`)).status).toBe(200);

    for (let i = 0; i < 20; i += 1) {
      expect((await get(t, `Bearer ${token}`)).status).toBe(429);
    }
    const events = await eventually(
      async () => (await storedEvents(t)).filter((e) => e.subtype === 'throttled'),
      (all) => all.reduce((sum, e) => sum + countOf(e), 0) >= 22,
    );
    expect(events.reduce((sum, e) => sum + countOf(e), 0)).toBe(22);
    expect(events.length).toBeLessThanOrEqual(4);
    expect(events[0].resource.agent).toContainEqual(
      expect.objectContaining({ who: { identifier: { value: 'client-a' } } }),
    );
  });
});
