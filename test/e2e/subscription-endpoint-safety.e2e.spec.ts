import { json } from '../utils/http.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';

const FHIR_JSON = 'application/fhir+json';
const GP_CRITERIA = 'DocumentReference?recipient=https://fhir.nhs.uk/Id/ods-organization-code|RTG';

describe('subscription endpoints that hide a non-public IPv4 address in IPv6', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp('sqlite', 'file');
  });
  afterAll(async () => {
    await t?.close();
  });

  it.each([
    ['IPv4-compatible loopback', 'https://[::127.0.0.1]/'],
    ['6to4 of loopback', 'https://[2002:7f00:1::]/'],
    ['Teredo', 'https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/'],
    ['NAT64 of loopback', 'https://[64:ff9b::7f00:1]/'],
    ['IPv4-mapped loopback', 'https://[::ffff:127.0.0.1]/'],
  ])('refuses a Subscription whose endpoint is %s (%s) with 422', async (_label, endpoint) => {
    const response = await t.fetch('/fhir/Subscription', {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON },
      body: JSON.stringify({
        resourceType: 'Subscription',
        status: 'requested',
        reason: 'endpoint safety',
        criteria: GP_CRITERIA,
        channel: { type: 'rest-hook', endpoint, payload: FHIR_JSON },
      }),
    });
    const outcome = await json(response);
    expect([response.status, outcome.resourceType]).toEqual([422, 'OperationOutcome']);
    expect(outcome.issue[0]).toMatchObject({ code: 'business-rule', expression: ['Subscription.channel.endpoint'] });
    expect(outcome.issue[0].diagnostics).toMatch(/non-public/);
    expect(JSON.stringify(outcome)).not.toMatch(/\bat \w+ \(/);
  });
});
