import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { aPointer } from '../fixtures/pointer.js';
import { json } from '../utils/http.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';

const FHIR_JSON = 'application/fhir+json';
const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';
const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';

describe('JSON Patch on a DocumentReference', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp('sqlite', 'file');
  });
  afterAll(async () => {
    await t?.close();
  });

  async function aRegisteredPointer(): Promise<string> {
    const created = await t.fetch('/fhir/DocumentReference', {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify(aPointer()),
    });
    expect(created.status).toBe(201);
    return `/fhir/DocumentReference/${(await json(created)).id}`;
  }

  const patch = (url: string, body: unknown) =>
    t.fetch(url, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  async function expectRefused(response: Response, status: number): Promise<any> {
    const text = await response.text();
    expect([response.status, text]).toEqual([status, expect.stringContaining('"resourceType":"OperationOutcome"')]);
    expect(text).not.toMatch(/at .*\.(js|ts):\d+/);
    return JSON.parse(text);
  }

  /** Every organisation's reads and searches still work, and no prototype was touched. */
  async function expectEveryoneElseServed(url: string): Promise<void> {
    expect(typeof ({} as any).hasOwnProperty).toBe('function');
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'hasOwnProperty')).toBe(true);
    expect(({} as any).polluted).toBeUndefined();
    expect(({} as any).status).toBeUndefined();
    const read = await t.fetch(url, { org: 'RXX' });
    expect(read.status).toBe(200);
    const search = await t.fetch(
      `/fhir/DocumentReference?patient.identifier=${encodeURIComponent(`${NHS}|9434765919`)}`,
      { org: 'Y12345' },
    );
    expect(search.status).toBe(200);
    expect((await t.fetch('/fhir/Subscription', { org: 'RXX' })).status).toBe(200);
    const submitted = await t.fetch('/fhir/Bundle', {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON, prefer: 'return=minimal' },
      body: JSON.stringify(
        aDischargeSummaryR4({ identifier: { system: 'urn:ietf:rfc:3986', value: crypto.randomUUID() } }),
      ),
    });
    expect(submitted.status).toBe(201);
  }

  it('refuses a remove through __proto__ and keeps serving every organisation', async () => {
    const url = await aRegisteredPointer();
    const outcome = await expectRefused(await patch(url, [{ op: 'remove', path: '/__proto__/hasOwnProperty' }]), 400);
    expect(outcome.issue[0].diagnostics).toMatch(/__proto__/);
    await expectEveryoneElseServed(url);
    expect((await json(await t.fetch(url))).meta.versionId).toBe('1');
  });

  it.each([
    ['remove through constructor', [{ op: 'remove', path: '/constructor/prototype/toString' }]],
    ['add through __proto__', [{ op: 'add', path: '/__proto__/polluted', value: true }]],
    ['replace through constructor', [{ op: 'replace', path: '/constructor/prototype/status', value: 'x' }]],
    ['move from __proto__', [{ op: 'move', from: '/__proto__/toString', path: '/status' }]],
    ['move into __proto__', [{ op: 'move', from: '/status', path: '/__proto__/status' }]],
    ['copy from constructor', [{ op: 'copy', from: '/constructor', path: '/securityLabel' }]],
    ['copy from a nested prototype', [{ op: 'copy', from: '/subject/constructor/prototype', path: '/securityLabel' }]],
    ['test through __proto__', [{ op: 'test', path: '/__proto__/hasOwnProperty', value: {} }]],
    ['a prototype segment', [{ op: 'add', path: '/securityLabel/prototype', value: 1 }]],
  ])('refuses a patch with %s (400) and touches no prototype', async (_label, operations) => {
    const url = await aRegisteredPointer();
    await expectRefused(await patch(url, operations), 400);
    await expectEveryoneElseServed(url);
  });

  it('treats inherited properties as absent', async () => {
    const url = await aRegisteredPointer();
    await expectRefused(await patch(url, [{ op: 'remove', path: '/hasOwnProperty' }]), 400);
    await expectRefused(await patch(url, [{ op: 'copy', from: '/toString', path: '/securityLabel' }]), 400);
    await expectRefused(await patch(url, [{ op: 'test', path: '/valueOf', value: null }]), 400);
    await expectEveryoneElseServed(url);
  });

  it('refuses a 20 000-deep patch body with 400', async () => {
    const url = await aRegisteredPointer();
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    await expectRefused(await patch(url, `[{"op":"add","path":"/securityLabel","value":${deep}}]`), 400);
    await expectRefused(await patch(url, `[{"op":"add","path":"/securityLabel","value":[{"__proto__":{}}]}]`), 400);
  });

  it('refuses array indexes with leading zeros or that are not indexes (400)', async () => {
    const url = await aRegisteredPointer();
    const labels = [
      { coding: [{ system: CONFIDENTIALITY, code: 'R' }] },
      { coding: [{ system: CONFIDENTIALITY, code: 'V' }] },
    ];
    expect((await patch(url, [{ op: 'add', path: '/securityLabel', value: labels }])).status).toBe(200);
    for (const path of [
      '/securityLabel/00',
      '/securityLabel/01',
      '/securityLabel/-',
      '/securityLabel/1e0',
      '/securityLabel/2',
    ]) {
      const response = await patch(url, [{ op: 'remove', path }]);
      expect([path, response.status]).toEqual([path, 400]);
      expect((await json(response)).resourceType).toBe('OperationOutcome');
    }
    expect((await json(await t.fetch(url))).securityLabel).toEqual(labels);
  });

  it('refuses a change that leaves securityLabel or status malformed (422)', async () => {
    const url = await aRegisteredPointer();
    const malformed: [string, unknown][] = [
      ['a string securityLabel', [{ op: 'add', path: '/securityLabel', value: 'not-an-array' }]],
      ['an object securityLabel', [{ op: 'add', path: '/securityLabel', value: { code: 'R' } }]],
      ['an empty securityLabel', [{ op: 'add', path: '/securityLabel', value: [] }]],
      [
        'a label with a numeric code',
        [{ op: 'add', path: '/securityLabel', value: [{ coding: [{ system: CONFIDENTIALITY, code: 7 }] }] }],
      ],
      ['a label with no system', [{ op: 'add', path: '/securityLabel', value: [{ coding: [{ code: 'R' }] }] }]],
      ['a label that is a string', [{ op: 'add', path: '/securityLabel', value: ['R'] }]],
      ['a numeric status', [{ op: 'replace', path: '/status', value: 7 }]],
      ['no status', [{ op: 'remove', path: '/status' }]],
      ['an unknown status', [{ op: 'replace', path: '/status', value: 'deleted' }]],
    ];
    for (const [label, operations] of malformed) {
      const response = await patch(url, operations);
      expect([label, response.status]).toEqual([label, 422]);
      expect((await json(response)).resourceType).toBe('OperationOutcome');
    }
    const current = await json(await t.fetch(url));
    expect(current).toMatchObject({ status: 'current', meta: { versionId: '1' } });
    expect(current.securityLabel).toBeUndefined();
  });

  it('refuses the same malformed securityLabel and status through PUT (422)', async () => {
    const url = await aRegisteredPointer();
    const current = await json(await t.fetch(url));
    for (const [label, body] of [
      ['a string securityLabel', { ...current, securityLabel: 'not-an-array' }],
      [
        'a label of bare Codings with a numeric code',
        { ...current, securityLabel: [{ coding: [{ system: CONFIDENTIALITY, code: 1 }] }] },
      ],
      ['a numeric status', { ...current, status: 7 }],
      ['no status', { ...current, status: undefined }],
    ] as const) {
      const response = await t.fetch(url, {
        method: 'PUT',
        headers: { 'content-type': FHIR_JSON },
        body: JSON.stringify(body),
      });
      expect([label, response.status]).toEqual([label, 422]);
    }
    expect((await json(await t.fetch(url))).meta.versionId).toBe('1');
  });

  it('compares test values structurally, whatever the key order (RFC 6902 4.6)', async () => {
    const url = await aRegisteredPointer();
    const response = await patch(url, [
      { op: 'test', path: '/custodian', value: { identifier: { value: 'RTG', system: ODS } } },
      { op: 'test', path: '/subject/identifier', value: { value: '9434765919', system: NHS } },
      { op: 'replace', path: '/status', value: 'entered-in-error' },
    ]);
    expect(response.status).toBe(200);
    expect((await json(response)).status).toBe('entered-in-error');
  });

  it('answers a failed test with 422 and applies none of the patch', async () => {
    const url = await aRegisteredPointer();
    const response = await patch(url, [
      { op: 'add', path: '/securityLabel', value: [{ coding: [{ system: CONFIDENTIALITY, code: 'R' }] }] },
      { op: 'test', path: '/custodian', value: { identifier: { system: ODS, value: 'RXX' } } },
    ]);
    await expectRefused(response, 422);
    expect((await json(await t.fetch(url))).securityLabel).toBeUndefined();
  });

  it('applies move and copy between changeable elements', async () => {
    const url = await aRegisteredPointer();
    const label = { coding: [{ system: CONFIDENTIALITY, code: 'R' }] };
    const response = await patch(url, [
      { op: 'add', path: '/securityLabel', value: [label] },
      { op: 'copy', from: '/securityLabel/0', path: '/securityLabel/-' },
      { op: 'move', from: '/securityLabel/1', path: '/securityLabel/0' },
      { op: 'remove', path: '/securityLabel/1' },
    ]);
    expect(response.status).toBe(200);
    expect((await json(response)).securityLabel).toEqual([label]);
  });

  it('refuses a patch whose copies would multiply the resource', async () => {
    const url = await aRegisteredPointer();
    const label = { coding: [{ system: CONFIDENTIALITY, code: 'R' }] };
    const doubling = Array.from({ length: 60 }, () => ({
      op: 'copy',
      from: '/securityLabel',
      path: '/securityLabel/-',
    }));
    const response = await patch(url, [{ op: 'add', path: '/securityLabel', value: [label] }, ...doubling]);
    await expectRefused(response, 400);
    await expectEveryoneElseServed(url);
  });
});
