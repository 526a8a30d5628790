import { randomUUID } from 'node:crypto';
import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { aNhsNumber } from '../fixtures/nhs-number.js';
import { BACKENDS, startTestApp, type TestApp } from '../utils/test-app.js';
import { startWebhookReceiver, type WebhookReceiver } from '../utils/webhook-receiver.js';

// fhir-kit-client is ESM-only; its types come from the package, its code through a dynamic import.
type FhirKit = typeof import('fhir-kit-client');
type Client = InstanceType<FhirKit['Client']>;

const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';

interface Resource {
  resourceType: string;
  id?: string;
  [key: string]: unknown;
}
interface SearchBundle extends Resource {
  type: string;
  total?: number;
  link: { relation: string; url: string }[];
  entry?: { fullUrl?: string; resource: Resource; search?: { mode: string } }[];
}

/** What fhir-kit-client throws on a non-2xx answer. */
interface ClientError {
  response: { status: number; data: Resource & { issue?: { code: string; diagnostics?: string }[] } };
}

async function refusal(call: Promise<unknown>): Promise<ClientError['response']> {
  try {
    await call;
  } catch (error) {
    if ((error as ClientError).response) {
      return (error as ClientError).response;
    }
    throw error;
  }
  throw new Error('expected the client to throw for a non-2xx answer');
}

/**
 * An integrator with only fhir-kit-client and the README: reads, searches with paging, history, errors and the
 * Backport `$status` operation, all without knowledge specific to this server.
 */
describe.each(BACKENDS)('a stock FHIR client (fhir-kit-client) on %s with %s blobs', (database, blobs) => {
  let t: TestApp;
  let kit: FhirKit;
  let hospital: Client;
  let gp: Client;
  let receiver: WebhookReceiver;
  const nhsNumber = aNhsNumber();
  const submitted: string[] = [];

  beforeAll(async () => {
    kit = await import('fhir-kit-client');
    receiver = await startWebhookReceiver();
    t = await startTestApp(database, blobs, { SUBSCRIPTION_ENDPOINT_ALLOWLIST: '127.0.0.1,localhost' });
    hospital = new kit.Client({ baseUrl: t.fhirUrl, bearerToken: await t.token({ org: 'RTG' }) });
    gp = new kit.Client({
      baseUrl: t.fhirUrl,
      bearerToken: await t.token({
        org: 'Y12345',
        scope: 'system/Subscription.cruds system/DocumentReference.rs system/Bundle.r system/Binary.r',
      }),
    });
    for (let i = 0; i < 5; i++) {
      const created = (await hospital.create({
        resourceType: 'Bundle',
        body: aDischargeSummaryR4({
          identifier: { system: 'https://tools.ietf.org/html/rfc4122', value: randomUUID() },
          nhsNumber,
          gpOds: 'Y12345',
          compositionDate: `2024-03-0${i + 1}T10:00:00+00:00`,
        }),
      })) as Resource;
      // the body is the document as sent, byte for byte (its own Bundle.id); the server's id is in Location
      const location = (created[kit.RESPONSE_KEY] as Response).headers.get('location')!;
      submitted.push(location.split('/').pop()!);
    }
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  it('reads the CapabilityStatement and finds the interactions and search parameters it uses', async () => {
    const statement = (await hospital.capabilityStatement()) as Resource;
    expect(statement.resourceType).toBe('CapabilityStatement');
    const capabilities = new kit.CapabilityTool(statement);
    expect(capabilities.resourceCan('DocumentReference', 'read')).toBe(true);
    expect(capabilities.resourceCan('DocumentReference', 'search-type')).toBe(true);
    expect(capabilities.resourceCan('Bundle', 'create')).toBe(true);
    expect(capabilities.resourceSearch('DocumentReference', 'patient.identifier')).toBe(true);
    expect(capabilities.resourceSearch('DocumentReference', 'custodian')).toBe(true);
  });

  it('pages through a search with nextPage until the last page, each DocumentReference once, newest first', async () => {
    const seen: Resource[] = [];
    let page = (await gp.search({
      resourceType: 'DocumentReference',
      searchParams: { 'patient.identifier': `${NHS}|${nhsNumber}`, _count: '2', _sort: '-date' },
    })) as SearchBundle;
    expect(page).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
    for (let pages = 1; ; pages++) {
      expect(pages).toBeLessThanOrEqual(3);
      expect(page.entry!.every((e) => e.search?.mode === 'match')).toBe(true);
      seen.push(...page.entry!.map((e) => e.resource));
      const next = gp.nextPage({ bundle: page });
      if (!next) {
        break;
      }
      page = (await next) as SearchBundle;
    }
    expect(seen).toHaveLength(5);
    expect(new Set(seen.map((r) => r.id)).size).toBe(5);
    const dates = seen.map((r) => String(r.date));
    expect(dates).toEqual([...dates].sort().reverse());
    expect(dates[0]).toBe('2024-03-05T10:00:00+00:00');
    // prevPage walks back from the last page
    const previous = (await gp.prevPage({ bundle: page })) as SearchBundle;
    expect(previous.entry!.map((e) => e.resource.id)).toEqual(seen.slice(2, 4).map((r) => r.id));
  });

  it('reads a DocumentReference, its history and the document it points at', async () => {
    const found = (await gp.search({
      resourceType: 'DocumentReference',
      searchParams: { 'patient.identifier': `${NHS}|${nhsNumber}`, _count: '1', _sort: 'date' },
    })) as SearchBundle;
    const pointer = found.entry![0].resource;
    const read = (await gp.read({ resourceType: 'DocumentReference', id: pointer.id! })) as Resource;
    expect(read).toMatchObject({ resourceType: 'DocumentReference', id: pointer.id, status: 'current' });
    expect(read.custodian).toMatchObject({ identifier: { system: ODS, value: 'RTG' } });
    const history = (await gp.history({ resourceType: 'DocumentReference', id: pointer.id! })) as SearchBundle;
    expect(history).toMatchObject({ resourceType: 'Bundle', type: 'history' });
    expect(history.entry!.length).toBeGreaterThanOrEqual(1);

    const url = (read.content as { attachment: { url: string } }[])[0].attachment.url;
    const bundleId = url.split('/').pop()!;
    expect(submitted).toContain(bundleId);
    const document = (await gp.read({ resourceType: 'Bundle', id: bundleId })) as Resource;
    expect(document).toMatchObject({ resourceType: 'Bundle', type: 'document' });
  });

  it('gets an OperationOutcome in the error it throws for a missing resource, a bad search and a missing scope', async () => {
    const missing = await refusal(gp.read({ resourceType: 'DocumentReference', id: randomUUID() }));
    expect(missing.status).toBe(404);
    expect(missing.data.resourceType).toBe('OperationOutcome');
    expect(missing.data.issue![0].code).toBe('not-found');

    const badDate = await refusal(
      gp.search({
        resourceType: 'DocumentReference',
        searchParams: { 'patient.identifier': `${NHS}|${nhsNumber}`, date: 'yesterday' },
      }),
    );
    expect([badDate.status, badDate.data.issue]).toEqual([400, expect.anything()]);
    expect(badDate.data.resourceType).toBe('OperationOutcome');

    const noScope = await refusal(gp.create({ resourceType: 'Bundle', body: aDischargeSummaryR4() }));
    expect(noScope.status).toBe(403);
    expect(noScope.data.resourceType).toBe('OperationOutcome');
  });

  it('subscribes, is notified, and reads the Backport $status as a searchset Bundle of SubscriptionStatus', async () => {
    const path = `/kit-${randomUUID()}`;
    const subscription = (await gp.create({
      resourceType: 'Subscription',
      body: {
        resourceType: 'Subscription',
        status: 'requested',
        reason: 'Discharge summaries for our patients',
        criteria: `DocumentReference?recipient=${ODS}|Y12345&patient.identifier=${NHS}|${nhsNumber}`,
        channel: { type: 'rest-hook', endpoint: receiver.url(path), payload: 'application/fhir+json' },
      },
    })) as Resource;
    expect(subscription).toMatchObject({ resourceType: 'Subscription', status: 'active' });

    await hospital.create({
      resourceType: 'Bundle',
      body: aDischargeSummaryR4({
        identifier: { system: 'https://tools.ietf.org/html/rfc4122', value: randomUUID() },
        nhsNumber,
        gpOds: 'Y12345',
      }),
    });
    const [notification] = await receiver.waitFor(path, (r) => r.length >= 1);
    expect(notification.method).toBe('PUT');

    const status = (await gp.operation({
      resourceType: 'Subscription',
      id: subscription.id,
      name: '$status',
      method: 'GET',
    })) as SearchBundle;
    expect(status).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
    const parameters = status.entry![0].resource as Resource & { parameter: { name: string; valueCode?: string }[] };
    expect(parameters.resourceType).toBe('Parameters');
    expect(parameters.parameter.find((p) => p.name === 'status')?.valueCode).toBe('active');
    expect(parameters.parameter.filter((p) => p.name === 'delivery-attempt')).toHaveLength(1);

    await gp.delete({ resourceType: 'Subscription', id: subscription.id! });
    expect((await refusal(gp.read({ resourceType: 'Subscription', id: subscription.id! }))).status).toBe(404);
  });
});
