import { MAX_SEARCH_PARAMETERS, MAX_VALUES_PER_PARAMETER } from '../../src/common/search-limits.js';
import { json } from '../utils/http.js';
import { BACKENDS, startTestApp, type TestApp } from '../utils/test-app.js';

const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
const FORM = 'application/x-www-form-urlencoded';
const ENV = { RATE_LIMIT_PER_MINUTE: '100000', RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '100000' };

const values = (count: number, prefix = 'c') => Array.from({ length: count }, (_, k) => `${prefix}${k}`).join(',');
const repeated = (count: number, name: string, value: (k: number) => string) =>
  Array.from({ length: count }, (_, k) => `${name}=${encodeURIComponent(value(k))}`).join('&');

describe.each(BACKENDS)('search size limits on %s with %s blobs', (database, blobStore) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp(database, blobStore, ENV);
  });
  afterAll(async () => {
    await t?.close();
  });

  async function expectRefusal(response: Response, ...named: string[]): Promise<void> {
    const outcome = await json(response);
    expect([response.status, outcome.resourceType]).toEqual([400, 'OperationOutcome']);
    for (const text of named) {
      expect(outcome.issue[0].diagnostics).toContain(text);
    }
  }

  const postSearch = (body: string, headers: Record<string, string> = {}) =>
    t.fetch('/fhir/DocumentReference/_search', { method: 'POST', headers: { 'content-type': FORM, ...headers }, body });

  it('refuses 1 000 AND-ed clauses with 400 naming the limit, by GET and POST, lenient or strict', async () => {
    const query = `patient.identifier=${encodeURIComponent(`${NHS}|9434765919`)}&${repeated(999, 'type', (k) => `t${k}`)}`;
    await expectRefusal(await postSearch(query), `${MAX_SEARCH_PARAMETERS}`);
    await expectRefusal(await postSearch(query, { prefer: 'handling=strict' }), `${MAX_SEARCH_PARAMETERS}`);
    const get = repeated(MAX_SEARCH_PARAMETERS + 1, 'type', (k) => `t${k}`);
    await expectRefusal(await t.fetch(`/fhir/DocumentReference?${get}`), `${MAX_SEARCH_PARAMETERS}`, 'type');
  });

  it('refuses 40 000 OR-ed values of one parameter with 400 naming the parameter and the limit', async () => {
    await expectRefusal(await postSearch(`type=${values(40_000)}`), 'type', `${MAX_VALUES_PER_PARAMETER}`);
    const get = `type=${values(MAX_VALUES_PER_PARAMETER + 1)}`;
    await expectRefusal(await t.fetch(`/fhir/DocumentReference?${get}`), 'type', `${MAX_VALUES_PER_PARAMETER}`);
  });

  it('answers a search at both limits at once', async () => {
    const tokens = Array.from({ length: MAX_SEARCH_PARAMETERS - 2 }, () => `type=${values(MAX_VALUES_PER_PARAMETER)}`);
    const dates = Array.from({ length: MAX_VALUES_PER_PARAMETER }, (_, k) => `ne${2000 + k}-01-01`).join(',');
    const subjects = values(MAX_VALUES_PER_PARAMETER, 'p');
    const body = [...tokens, `date=${dates}`, `subject=${subjects}`].join('&');
    const response = await postSearch(body);
    expect(response.status).toBe(200);
    expect((await json(response)).resourceType).toBe('Bundle');
  });

  it('refuses too many values or clauses in a List search', async () => {
    await expectRefusal(await t.fetch(`/fhir/List?code=${values(MAX_VALUES_PER_PARAMETER + 1)}`), 'code');
    const clauses = repeated(MAX_SEARCH_PARAMETERS + 1, 'status', () => 'current');
    await expectRefusal(await t.fetch(`/fhir/List?${clauses}`), `${MAX_SEARCH_PARAMETERS}`);
  });

  it('refuses too many values or clauses in an AuditEvent search', async () => {
    await expectRefusal(await t.fetch(`/fhir/AuditEvent?entity=${values(MAX_VALUES_PER_PARAMETER + 1)}`), 'entity');
    const clauses = repeated(MAX_SEARCH_PARAMETERS + 1, 'date', () => 'ge2024-01-01');
    await expectRefusal(await t.fetch(`/fhir/AuditEvent?${clauses}`), `${MAX_SEARCH_PARAMETERS}`);
  });

  it('refuses Subscription criteria with too many values, naming the parameter', async () => {
    const response = await t.fetch('/fhir/Subscription', {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({
        resourceType: 'Subscription',
        status: 'requested',
        reason: 'too wide',
        criteria: `DocumentReference?patient.identifier=${NHS}|9434765919&type=${values(40_000)}`,
        channel: { type: 'rest-hook', endpoint: 'http://127.0.0.1:9/hook', payload: 'application/fhir+json' },
      }),
    });
    const outcome = await json(response);
    // Criteria are part of the resource, so a bad one is 422 like every other criteria error.
    expect([response.status, outcome.resourceType]).toEqual([422, 'OperationOutcome']);
    expect(outcome.issue[0].diagnostics).toContain('type');
    expect(outcome.issue[0].diagnostics).toContain(`${MAX_VALUES_PER_PARAMETER}`);
  });
});
