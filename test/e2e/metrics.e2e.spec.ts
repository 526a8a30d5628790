import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';

describe('GET /metrics', () => {
  let open: TestApp;
  let guarded: TestApp;
  beforeAll(async () => {
    open = await startTestApp('sqlite', 'file');
    guarded = await startTestApp('sqlite', 'file', { METRICS_TOKEN: 'scrape-me' });
  });
  afterAll(async () => {
    await open?.close();
    await guarded?.close();
  });

  it('is open by default and counts what the registry holds', async () => {
    await open.fetch('/fhir/Bundle', {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' },
      body: JSON.stringify(aDischargeSummaryR4()),
    });
    const response = await fetch(`${open.baseUrl}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toMatch(/^registry_documents 1$/m);
    expect(text).toMatch(/^registry_document_references\{status="current"\} 1$/m);
    expect(text).toMatch(/^# TYPE registry_outbox_pending gauge$/m);
  });

  it('takes the static METRICS_TOKEN bearer when one is set', async () => {
    const without = await fetch(`${guarded.baseUrl}/metrics`);
    expect(without.status).toBe(401);
    expect((await without.json()) as { resourceType: string }).toMatchObject({ resourceType: 'OperationOutcome' });
    const wrong = await fetch(`${guarded.baseUrl}/metrics`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    const right = await fetch(`${guarded.baseUrl}/metrics`, { headers: { authorization: 'Bearer scrape-me' } });
    expect(right.status).toBe(200);
  });
});
