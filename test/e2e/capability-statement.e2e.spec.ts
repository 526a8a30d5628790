import { RESOURCE_CAPABILITIES, routeOf } from '../../src/fhir/capabilities.js';
import { registeredRoutes } from '../../src/fhir/route-registry.js';
import { json } from '../utils/http.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';

/** Routes that are not FHIR type interactions: refusals, operations, system-level and search-by-POST. */
const NOT_INTERACTIONS =
  /\/_search$|\/:operation$|\/\.well-known\/|\/\$[a-z-]+$|^\/fhir$|^\/fhir\/metadata$|^\/fhir\/SubscriptionTopic/;

describe('CapabilityStatement', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('sqlite', 'file');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('declares exactly the interactions the server routes, and nothing it does not', async () => {
    const routes = registeredRoutes(t.app.getHttpAdapter().getInstance()).filter((r) => r.url.startsWith('/fhir'));
    const routed = new Set(routes.map((r) => `${r.method} ${r.url}`));
    const statement = await json(await fetch(`${t.fhirUrl}/metadata`));
    const declared = statement.rest[0].resource as { type: string; interaction: { code: string }[] }[];

    for (const resource of declared) {
      for (const { code } of resource.interaction) {
        const route = routeOf(resource.type, code as never);
        expect([resource.type, code, routed.has(`${route.method} ${route.url}`)]).toEqual([resource.type, code, true]);
      }
    }
    const declaredRoutes = new Set(
      RESOURCE_CAPABILITIES.flatMap((c) => c.interactions.map((i) => routeOf(c.type, i))).map(
        (r) => `${r.method} ${r.url}`,
      ),
    );
    const undeclared = routes
      .filter((r) => !NOT_INTERACTIONS.test(r.url))
      .filter((r) => !declaredRoutes.has(`${r.method} ${r.url}`))
      .map((r) => `${r.method} ${r.url}`);
    // What remains must be a 405 refusal (immutable content, append-only audit).
    for (const name of undeclared) {
      const [method, url] = name.split(' ');
      const response = await t.fetch(url.replace(/:[A-Za-z]+/g, '00000000-0000-4000-8000-000000000000'), {
        method,
        headers: { 'content-type': 'application/fhir+json' },
        body: method === 'GET' || method === 'DELETE' ? undefined : '{}',
      });
      expect([name, response.status]).toEqual([name, 405]);
    }
  });

  it('declares the document-available and delivery-status SubscriptionTopics on Subscription, as the Backport IG asks', async () => {
    const statement = await json(await fetch(`${t.fhirUrl}/metadata`));
    const subscription = statement.rest[0].resource.find((r: { type: string }) => r.type === 'Subscription');
    const topics = ['document-available', 'delivery-status'];
    expect(subscription.extension).toEqual(
      topics.map((topic) => ({
        url: 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/capabilitystatement-subscriptiontopic-canonical',
        valueCanonical: `${t.fhirUrl}/SubscriptionTopic/${topic}`,
      })),
    );
    // and the canonicals resolve
    for (const id of topics) {
      const topic = await json(await t.fetch(`${t.fhirUrl}/SubscriptionTopic/${id}`));
      expect(topic.url).toBe(`${t.fhirUrl}/SubscriptionTopic/${id}`);
    }
  });

  it('is an R4 instance statement with the security service and JSON and XML formats', async () => {
    const statement = await json(await fetch(`${t.fhirUrl}/metadata`));
    expect(statement).toMatchObject({ resourceType: 'CapabilityStatement', fhirVersion: '4.0.1', kind: 'instance' });
    expect(statement.format).toEqual(expect.arrayContaining(['application/fhir+json', 'application/fhir+xml']));
    const documentReference = statement.rest[0].resource.find((r: { type: string }) => r.type === 'DocumentReference');
    expect(documentReference.searchParam.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['patient.identifier', 'type', 'date']),
    );
  });
});
