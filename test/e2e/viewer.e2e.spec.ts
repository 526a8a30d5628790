import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { aNhsNumber } from '../fixtures/nhs-number.js';
import { aPointer } from '../fixtures/pointer.js';
import { launchBrowser, screenshotDir } from '../utils/browser.js';
import { json } from '../utils/http.js';
import { startOidcProvider, type FakeOidcProvider } from '../utils/oidc-provider.js';
import { BACKENDS, startTestApp, type TestApp } from '../utils/test-app.js';
import { startWebhookReceiver, type WebhookReceiver } from '../utils/webhook-receiver.js';

const EXAMPLES = path.join(process.cwd(), 'examples');
const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
const EXAMPLE_PATIENT = '9434765919';
const PRACTITIONER = 'G8133438';
const PRACTICE = 'Y12345';
const XHTML = 'http://www.w3.org/1999/xhtml';
const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';
const OTHER_PRACTICE = 'Y22222';
const INFORMATION_RECIPIENT = 'https://fhir.nhs.uk/STU3/StructureDefinition/Extension-ITK-InformationRecipient-1';

const anIdentifier = () => ({ system: 'https://tools.ietf.org/html/rfc4122', value: crypto.randomUUID() });

/** The DocumentReference id a submission was indexed as (the Link header of POST /fhir/Bundle). */
function indexId(response: Response): string {
  const link = response.headers.get('link') ?? '';
  const match = /\/fhir\/DocumentReference\/([^>]+)>/.exec(link);
  if (!match) {
    throw new Error(`no index link in ${response.status} ${link}`);
  }
  return match[1];
}

let browser: Browser;

beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

describe.each(BACKENDS)('the clinician viewer in a browser, on %s with %s blobs', (database, blobStore) => {
  let t: TestApp;
  let context: BrowserContext;
  let page: Page;
  let canary: WebhookReceiver;
  let shots: string;
  const patient = aNhsNumber();
  const ids: Record<string, string> = {};
  const opened: string[] = [];

  async function submit(body: string | Buffer, type: string, org = 'RTG'): Promise<Response> {
    const response = await t.fetch('/fhir/Bundle', {
      method: 'POST',
      headers: { 'content-type': type, prefer: 'return=minimal' },
      body,
      org,
    });
    expect([200, 201]).toContain(response.status);
    return response;
  }

  const narrative = (inner: string) => ({ status: 'additional', div: `<div xmlns="${XHTML}">${inner}</div>` });

  beforeAll(async () => {
    t = await startTestApp(database, blobStore);
    canary = await startWebhookReceiver();
    shots = await screenshotDir('viewer');

    // the README tour's real eDischarge documents
    ids.stu3 = indexId(
      await submit(await readFile(path.join(EXAMPLES, 'discharge-summary-stu3.xml')), 'application/fhir+xml'),
    );
    ids.r4 = indexId(
      await submit(await readFile(path.join(EXAMPLES, 'discharge-summary-r4.json')), 'application/fhir+json'),
    );

    // twelve documents for one patient, a day apart: two pages; the oldest replaced, the second withdrawn
    const first = anIdentifier();
    for (let day = 1; day <= 12; day++) {
      const identifier = day === 1 ? first : anIdentifier();
      const document = aDischargeSummaryR4({
        nhsNumber: patient,
        identifier,
        compositionDate: `2024-04-${String(day).padStart(2, '0')}T09:00:00+00:00`,
        ...(day === 3 ? { relatesTo: [{ code: 'replaces', targetIdentifier: first }] } : {}),
      }) as any;
      document.entry[0].resource.title = `Discharge summary day ${day}`;
      if (day === 12) {
        // nested sections and an attester, to see the whole of a Composition rendered in order
        const composition = document.entry[0].resource;
        composition.attester = [
          { mode: 'legal', time: '2024-04-12T10:00:00+00:00', party: { reference: document.entry[2].fullUrl } },
        ];
        composition.section[2].section = [
          { title: 'Medicines changed', text: narrative('<p>Amoxicillin stopped.</p>') },
          {
            title: 'Follow-up',
            text: narrative('<p>GP review in two weeks.</p>'),
            section: [{ title: 'Bloods', text: narrative('<p>FBC at review.</p>') }],
          },
        ];
      }
      ids[`day${day}`] = indexId(await submit(JSON.stringify(document), 'application/fhir+json'));
    }
    const withdrawn = await t.fetch(`/fhir/DocumentReference/${ids.day2}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([{ op: 'replace', path: '/status', value: 'entered-in-error' }]),
    });
    expect(withdrawn.status).toBe(200);

    // a narrative that tries everything: script, an event handler, a javascript: link, each calling the canary
    const hostile = aDischargeSummaryR4({
      nhsNumber: patient,
      identifier: anIdentifier(),
      compositionDate: '2024-03-01T09:00:00+00:00',
    }) as any;
    hostile.entry[0].resource.title = 'Hostile narrative';
    hostile.entry[0].resource.section[0].text = narrative(
      `<p id="hostile">Care plan attached.</p><script>window.__pwned = 'script'; fetch('${canary.url('/script')}')</script>` +
        `<img src="x" onerror="window.__pwned = 'onerror'; fetch('${canary.url('/onerror')}')"/>` +
        `<a id="js-link" href="javascript:window.__pwned = 'link'; fetch('${canary.url('/link')}')">Open the care plan</a>`,
    );
    ids.hostile = indexId(await submit(JSON.stringify(hostile), 'application/fhir+json'));

    // a PDF letter held here as a Binary, registered by a pointer
    const pdf = await t.fetch('/fhir/Binary', {
      method: 'POST',
      headers: { 'content-type': 'application/pdf' },
      body: await readFile(path.join(EXAMPLES, 'letter.pdf')),
    });
    expect(pdf.status).toBe(201);
    const binaryId = new URL(pdf.headers.get('location')!).pathname.split('/').pop()!;
    const pointer = await t.fetch('/fhir/DocumentReference', {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify(
        aPointer({
          subject: { identifier: { system: NHS, value: patient } },
          date: '2024-02-01T09:00:00+00:00',
          content: [
            { attachment: { contentType: 'application/pdf', url: `Binary/${binaryId}`, title: 'Clinic letter' } },
          ],
        }),
      ),
    });
    expect(pointer.status).toBe(201);
    ids.pdf = (await json(pointer)).id;

    // a summary for the practice (its registered GP) and another practice, which rejects it with a hostile reason
    // (another patient: the first patient's list is counted)
    const delivered = aDischargeSummaryR4({ nhsNumber: aNhsNumber(), identifier: anIdentifier() }) as any;
    delivered.entry[0].resource.title = 'Discharge summary sent to two practices';
    delivered.entry[0].resource.extension = [
      ...(delivered.entry[0].resource.extension ?? []),
      { url: INFORMATION_RECIPIENT, valueReference: { identifier: { system: ODS, value: OTHER_PRACTICE } } },
    ];
    ids.delivered = indexId(await submit(JSON.stringify(delivered), 'application/fhir+json'));
    const tasks = await json(
      await t.fetch(`/fhir/Task?owner=${OTHER_PRACTICE}&focus=DocumentReference/${ids.delivered}`, {
        org: OTHER_PRACTICE,
      }),
    );
    const rejected = await t.fetch(`/fhir/Task/${tasks.entry[0].resource.id}`, {
      method: 'PATCH',
      org: OTHER_PRACTICE,
      headers: { 'content-type': 'application/json-patch+json' },
      body: JSON.stringify([
        { op: 'replace', path: '/status', value: 'rejected' },
        {
          op: 'add',
          path: '/statusReason',
          value: {
            coding: [{ system: 'https://fhir.nhs.uk/STU3/CodeSystem/ITK-ResponseCodes-1', code: '30002' }],
            text: `Not registered here <img src="x" onerror="window.__pwned = 'reason'; fetch('${canary.url('/reason')}')">`,
          },
        },
      ]),
    });
    expect(rejected.status).toBe(200);

    context = await browser.newContext({ baseURL: t.baseUrl });
    page = await context.newPage();
  });

  /** A browser context signed in (local issuer) as a practitioner of `org`. */
  async function signedInAs(org: string): Promise<{ context: BrowserContext; page: Page }> {
    const other = await browser.newContext({ baseURL: t.baseUrl });
    const otherPage = await other.newPage();
    await otherPage.goto('/app/sign-in?next=/app/documents');
    await otherPage.fill('#practitioner', 'G9999998');
    await otherPage.fill('#name', `A clinician of ${org}`);
    await otherPage.fill('#organization', org);
    await otherPage.click('button[type=submit]:has-text("Sign in")');
    expect(new URL(otherPage.url()).pathname).toBe('/app/documents');
    return { context: other, page: otherPage };
  }

  afterAll(async () => {
    await context?.close();
    await canary?.close();
    await t?.close();
  });

  async function open(id: string): Promise<void> {
    const response = await page.goto(`/app/documents/${id}`);
    expect(response?.status()).toBe(200);
    opened.push(id);
  }

  it('sends a browser without a session from / and /app to the sign-in page', async () => {
    const response = await page.goto('/');
    expect(new URL(page.url()).pathname).toBe('/app/sign-in');
    expect(new URL(page.url()).searchParams.get('next')).toBe('/app/documents');
    expect(response?.status()).toBe(200);
    await page.goto(`/app/documents/${ids.stu3}`);
    expect(new URL(page.url()).searchParams.get('next')).toBe(`/app/documents/${ids.stu3}`);
  });

  it('signs in with the local issuer as a chosen practitioner and organisation, in a HttpOnly SameSite cookie', async () => {
    await page.goto('/app/sign-in?next=/app/documents');
    await page.fill('#practitioner', PRACTITIONER);
    await page.fill('#name', 'Dr Catrin Hughes');
    await page.fill('#organization', PRACTICE.toLowerCase());
    await page.click('button[type=submit]:has-text("Sign in")');
    expect(new URL(page.url()).pathname).toBe('/app/documents');
    await expect(page.textContent('.user-name')).resolves.toBe('Dr Catrin Hughes');
    await expect(page.textContent('.user-org')).resolves.toBe(PRACTICE);
    const session = (await context.cookies()).find((c) => c.name === 'viewer_session')!;
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/app', secure: false });
    expect(session.expires - Date.now() / 1000).toBeGreaterThan(3500);
    expect(session.expires - Date.now() / 1000).toBeLessThanOrEqual(3600);
  });

  it('checks the NHS number as typed and refuses a wrong check digit with a message', async () => {
    await page.goto('/app/documents');
    await page.fill('#nhs', '943 476 5918');
    expect(await page.$eval('#nhs', (input: any) => input.validity.valid)).toBe(false);
    expect(await page.$eval('#nhs', (input: any) => input.validationMessage)).toMatch(/not a valid NHS number/);
    await page.fill('#nhs', '943 476');
    expect(await page.$eval('#nhs', (input: any) => input.validity.patternMismatch)).toBe(true);
    await page.fill('#nhs', '943 476 5919');
    expect(await page.$eval('#nhs', (input: any) => input.validity.valid)).toBe(true);

    // the server checks again, for browsers without script (or people who edit URLs)
    const refused = await page.goto('/app/documents?nhs=943+476+5918');
    expect(refused?.status()).toBe(400);
    await expect(page.textContent('#nhs-error')).resolves.toMatch(/943 476 5918 is not a valid NHS number/);
  });

  it('lists a patient newest first with type, date, author, custodian and status, marks replaced and withdrawn documents, and pages', async () => {
    await page.goto('/app/documents');
    await page.fill('#nhs', patient);
    await page.click('button:has-text("Find documents")');
    await expect(page.textContent('.nhs-number')).resolves.toBe(
      `${patient.slice(0, 3)} ${patient.slice(3, 6)} ${patient.slice(6)}`,
    );
    await expect(page.textContent('.count')).resolves.toMatch(/Showing 1 to 10 of 14, newest first/);
    const headers = await page.locator('table.documents thead th').allTextContents();
    expect(headers).toEqual(['Date', 'Type', 'Title', 'Author', 'Custodian', 'Status']);
    const firstPage = await page.locator('tr.document-row td.title').allTextContents();
    expect(firstPage.slice(0, 3)).toEqual([
      'Discharge summary day 12',
      'Discharge summary day 11',
      'Discharge summary day 10',
    ]);
    const row = page.locator(`tr[data-id="${ids.day12}"]`);
    await expect(row.locator('td.date').textContent()).resolves.toBe('12-Apr-2024 09:00');
    await expect(row.locator('td.type').textContent()).resolves.toBe('Discharge summary');
    await expect(row.locator('td.author').textContent()).resolves.toBe('Ngozi Okafor');
    await expect(row.locator('td.custodian').textContent()).resolves.toMatch(
      /University Hospitals of Derby and Burton/,
    );
    await expect(row.locator('td.status').textContent()).resolves.toBe('Current');
    await page.screenshot({ path: path.join(shots, `${database}-${blobStore}-list.png`), fullPage: true });

    await page.click('a.next');
    await expect(page.textContent('.count')).resolves.toMatch(/Showing 11 to 14 of 14/);
    const secondPage = await page.locator('tr.document-row td.title').allTextContents();
    expect(secondPage).toEqual([
      'Discharge summary day 2',
      'Discharge summary day 1',
      'Hostile narrative',
      'Clinic letter',
    ]);
    const superseded = page.locator(`tr[data-id="${ids.day1}"] td.status`);
    await expect(superseded.locator('.tag').textContent()).resolves.toBe('Superseded');
    await expect(superseded.locator('a.replacement').getAttribute('href')).resolves.toBe(`/app/documents/${ids.day3}`);
    await expect(page.locator(`tr[data-id="${ids.day2}"] td.status .tag`).textContent()).resolves.toBe('Withdrawn');
    expect(await page.locator('a.next').count()).toBe(0);
    await page.click('a.previous');
    expect(await page.locator('tr.document-row td.title').allTextContents()).toEqual(firstPage);
  });

  it('renders the STU3 XML eDischarge example: banner, title, header and sections in order', async () => {
    await open(ids.stu3);
    await expect(page.textContent('.banner-name')).resolves.toBe('PATEL, Ravi (Mr)');
    await expect(page.textContent('.banner-nhs')).resolves.toBe('943 476 5919');
    await expect(page.textContent('.banner-dob')).resolves.toBe('03-Nov-1979');
    await expect(page.textContent('h1.document-title')).resolves.toBe('Mental health inpatient discharge summary');
    expect(await page.locator('.section-title').allTextContents()).toEqual([
      'Admission details',
      'Plan and requested actions',
    ]);
    await expect(page.locator('.narrative th').first().textContent()).resolves.toBe('Reason for admission');
    await page.screenshot({ path: path.join(shots, `${database}-${blobStore}-stu3-edischarge.png`), fullPage: true });
  });

  it('renders the R4 JSON example', async () => {
    await open(ids.r4);
    await expect(page.textContent('.banner-nhs')).resolves.toBe('943 476 5919');
    await expect(page.textContent('h1.document-title')).resolves.toBe('Inpatient discharge summary');
    expect(await page.locator('.section-title').count()).toBeGreaterThan(0);
  });

  it('renders nested sections in order and the attester', async () => {
    await open(ids.day12);
    await expect(page.textContent('.banner-name')).resolves.toBe('JONES, Alice (Ms)');
    await expect(page.textContent('.banner-dob')).resolves.toBe('14-Jul-1961');
    expect(await page.locator('.section-title').allTextContents()).toEqual([
      'Admission details',
      'Diagnoses',
      'Plan and requested actions',
      'Medicines changed',
      'Follow-up',
      'Bloods',
    ]);
    await expect(page.locator('.depth-2 h4.section-title').textContent()).resolves.toBe('Bloods');
    expect((await page.textContent('.attester'))?.trim()).toBe('Dr Ngozi Okafor (Legal), 12-Apr-2024 10:00');
  });

  it("shows where a document's delivery stands: the recipient its own, the sender every recipient's and the reasons", async () => {
    // the practice sees its own delivery only
    await open(ids.delivered);
    const rows = page.locator('.deliveries tbody tr');
    expect(await rows.count()).toBe(1);
    await expect(page.textContent('.delivery-recipient')).resolves.toBe(PRACTICE);
    await expect(page.textContent('.delivery-status')).resolves.toMatch(/Stored, not yet notified/);
    expect(await page.textContent('.deliveries')).not.toContain(OTHER_PRACTICE);

    // the hospital that sent it sees both, and why the other practice said no (as text, never as markup)
    const hospital = await signedInAs('RTG');
    try {
      const response = await hospital.page.goto(`/app/documents/${ids.delivered}`);
      expect(response?.status()).toBe(200);
      expect(response?.headers()['content-security-policy']).toMatch(/script-src 'self'/);
      expect(await hospital.page.locator('.delivery-recipient').allTextContents()).toEqual([PRACTICE, OTHER_PRACTICE]);
      const rejected = hospital.page.locator(`.delivery-rejected`);
      await expect(rejected.locator('.delivery-status').textContent()).resolves.toMatch(/Rejected/);
      await expect(rejected.locator('.delivery-when').textContent()).resolves.toMatch(
        /^\d{2}-\w{3}-\d{4} \d{2}:\d{2} UTC$/,
      );
      const reason = await rejected.locator('.delivery-reason').textContent();
      expect(reason).toContain('30002 Patient not known here: Not registered here <img src="x" onerror=');
      expect(await rejected.locator('.delivery-reason img').count()).toBe(0);
      expect(await hospital.page.evaluate('window.__pwned')).toBeUndefined();
      await hospital.page.screenshot({
        path: path.join(shots, `${database}-${blobStore}-deliveries.png`),
        fullPage: true,
      });
    } finally {
      await hospital.context.close();
    }
    // an organisation that is neither sees no delivery at all
    const stranger = await signedInAs('Y99999');
    try {
      expect((await stranger.page.goto(`/app/documents/${ids.delivered}`))?.status()).toBe(200);
      expect(await stranger.page.locator('.deliveries').count()).toBe(0);
    } finally {
      await stranger.context.close();
    }
    expect(canary.requests).toEqual([]);
  });

  it('marks a replaced document and links to its replacement; its history is one click away', async () => {
    await open(ids.day1);
    await expect(page.textContent('.warning')).resolves.toMatch(/Superseded/);
    await page.click('a.history-link');
    expect(new URL(page.url()).pathname).toBe(`/app/documents/${ids.day1}/history`);
    expect(await page.locator('.versions tbody tr').count()).toBe(2);
    const chain = await page.locator('.chain-link a').evaluateAll((links) => links.map((a) => a.getAttribute('href')));
    expect(chain).toEqual([`/app/documents/${ids.day1}`, `/app/documents/${ids.day3}`]);
    await open(ids.day2);
    await expect(page.textContent('.warning')).resolves.toMatch(/withdrawn/);
  });

  it('shows a PDF Binary inline in the page', async () => {
    await open(ids.pdf);
    const frame = page.locator('iframe.attachment-pdf');
    const src = await frame.getAttribute('src');
    expect(src).toBe(`/app/documents/${ids.pdf}/attachments/0`);
    const pdf = await page.request.get(src!);
    expect(pdf.status()).toBe(200);
    expect(pdf.headers()['content-type']).toBe('application/pdf');
    expect(pdf.headers()['content-disposition']).toMatch(/^inline/);
    expect(pdf.headers()['content-security-policy']).toMatch(/frame-ancestors 'self'/);
    expect((await pdf.body()).subarray(0, 5).toString()).toBe('%PDF-');
    // the browser loaded it in the frame (a frame refused by policy would stay on about:blank or an error page)
    // (page code as strings: the tests compile without the DOM library)
    await page.waitForFunction(
      `[...document.querySelectorAll('iframe')].some((f) => f.src.endsWith(${JSON.stringify(src)}))`,
    );
    expect(page.frames().some((f) => f.url().endsWith(src!))).toBe(true);
    // for the screenshot: chromium's PDF viewer opens the document once more inside the frame when it has drawn it
    for (
      let waited = 0;
      waited < 5000 && page.frames().filter((f) => f.url().endsWith(src!)).length < 2;
      waited += 100
    ) {
      await page.waitForTimeout(100);
    }
    await page.screenshot({ path: path.join(shots, `${database}-${blobStore}-pdf-letter.png`) });
    const download = await page.request.get(`${src}?download=1`);
    expect(download.headers()['content-disposition']).toMatch(/^attachment; filename="Clinic letter\.pdf"/);
  });

  it('never runs a <script>, an onerror= or a javascript: link from a submitted narrative', async () => {
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    await open(ids.hostile);
    await expect(page.textContent('#narrative-hostile')).resolves.toBe('Care plan attached.');
    await page.click('text=Open the care plan');
    await page.waitForTimeout(300);
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    expect(canary.requests).toEqual([]);
    expect(dialogs).toEqual([]);
    const narrativeHtml = await page.locator('.doc-section').first().innerHTML();
    expect(narrativeHtml).not.toMatch(/<script|onerror|javascript:|__pwned/i);
    expect(narrativeHtml).toContain('Open the care plan');

    // and were something to slip through, the policy would not run inline script
    await page.evaluate(
      "const script = document.createElement('script'); script.textContent = 'window.__inline = 1'; document.body.appendChild(script)",
    );
    expect(await page.evaluate('window.__inline')).toBeUndefined();
  });

  it('sends a Content-Security-Policy without inline script on every page', async () => {
    for (const url of ['/app/documents', `/app/documents/${ids.stu3}`, '/app/sign-in', '/app/nowhere']) {
      const response = await page.request.get(url);
      const policy = response.headers()['content-security-policy'];
      expect([url, policy]).toEqual([url, expect.stringContaining("script-src 'self'")]);
      expect(policy).not.toMatch(/unsafe-inline[^;]*;.*script|script-src[^;]*unsafe/);
      expect(policy).toMatch(/frame-ancestors 'none'/);
      expect(policy).toMatch(/img-src 'self' data:/);
      expect(response.headers()['cache-control']).toBe('no-store');
    }
  });

  it("refuses a POST without the CSRF token, and one with another session's token", async () => {
    const bare = await page.request.post('/app/sign-out', { form: { nothing: 'here' }, maxRedirects: 0 });
    expect(bare.status()).toBe(403);
    expect(await bare.text()).toMatch(/This form has expired or did not come from this site/);
    const forged = await page.request.post('/app/sign-out', { form: { _csrf: 'x'.repeat(43) }, maxRedirects: 0 });
    expect(forged.status()).toBe(403);
    // still signed in
    expect((await page.goto('/app/documents'))?.status()).toBe(200);
    await expect(page.textContent('.user-name')).resolves.toBe('Dr Catrin Hughes');
  });

  it('records an AuditEvent for each document opened, naming the user, the patient and the document', async () => {
    const query = new URLSearchParams({ agent: PRACTITIONER, action: 'R', _count: '200' }).toString();
    const bundle = await json(await t.fetch(`/fhir/AuditEvent?${query}`, { scope: 'system/AuditEvent.rs admin' }));
    const events = (bundle.entry ?? []).map((e: any) => e.resource);
    for (const id of new Set(opened)) {
      const event = events.find(
        (e: any) =>
          e.entity.some((x: any) => x.what?.reference === `DocumentReference/${id}`) &&
          e.subtype.some((s: any) => s.code === 'ITI-68'),
      );
      expect([id, event ? 'audited' : 'missing']).toEqual([id, 'audited']);
      expect(event.agent).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            who: { identifier: { system: t.config.auth.issuer, value: PRACTITIONER } },
            requestor: true,
          }),
          expect.objectContaining({ who: { identifier: { value: 'document-viewer' } } }),
          expect.objectContaining({
            who: { identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: PRACTICE } },
          }),
        ]),
      );
    }
    const stu3 = events.find((e: any) =>
      e.entity.some((x: any) => x.what?.reference === `DocumentReference/${ids.stu3}`),
    );
    expect(stu3.entity).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ what: { identifier: { system: NHS, value: EXAMPLE_PATIENT } } }),
        expect.objectContaining({ what: { reference: expect.stringMatching(/^Bundle\//) } }),
      ]),
    );
    const pdf = events.filter((e: any) => e.entity.some((x: any) => x.what?.reference?.startsWith('Binary/')));
    expect(pdf.length).toBeGreaterThanOrEqual(1);
  });

  it('signs out, after which pages need a sign-in again', async () => {
    await page.goto('/app/documents');
    await page.click('button:has-text("Sign out")');
    expect(new URL(page.url()).pathname).toBe('/app/sign-in');
    await expect(page.textContent('.notice')).resolves.toMatch(/signed out/);
    await page.goto(`/app/documents/${ids.stu3}`);
    expect(new URL(page.url()).pathname).toBe('/app/sign-in');
  });
});

describe('viewer sign-in with an OpenID provider (authorization code + PKCE)', () => {
  let provider: FakeOidcProvider;
  let t: TestApp;
  let context: BrowserContext;

  beforeAll(async () => {
    provider = await startOidcProvider();
    // the provider is the only way in: the local issuer's passwordless form is switched off
    t = await startTestApp('sqlite', 'file', { ...provider.env(), VIEWER_LOCAL_SIGN_IN: 'false' });
  });
  // a browser of its own per test: no session carries over
  beforeEach(async () => {
    context = await browser.newContext({ baseURL: t.baseUrl });
  });
  afterEach(async () => {
    await context?.close();
  });
  afterAll(async () => {
    await t?.close();
    await provider?.close();
  });

  it('signs in through the provider and carries the user and organisation from the ID token', async () => {
    provider.sub = 'oidc-user-1';
    provider.claims = { name: 'Dr Ada Lovelace', organization: 'Y12345' };
    const page = await context.newPage();
    await page.goto(`/app/documents?nhs=${EXAMPLE_PATIENT}`);
    await page.click('#oidc-sign-in');
    expect(new URL(page.url()).pathname).toBe('/app/documents');
    expect(new URL(page.url()).searchParams.get('nhs')).toBe(EXAMPLE_PATIENT);
    await expect(page.textContent('.user-name')).resolves.toBe('Dr Ada Lovelace');
    await expect(page.textContent('.user-org')).resolves.toBe('Y12345');
    expect(provider.authorizations.at(-1)).toMatchObject({
      codeChallengeMethod: 'S256',
      redirectUri: `${t.baseUrl}/app/auth/callback`,
      scope: 'openid profile',
    });
    expect(provider.authorizations.at(-1)!.codeChallenge).toMatch(/^[\w-]{43}$/);
    expect(provider.tokenRequests.at(-1)).toEqual({ pkceVerified: true, clientAuthenticated: true });
    const login = await json(
      await t.fetch(`/fhir/AuditEvent?${new URLSearchParams({ agent: 'oidc-user-1', action: 'E' }).toString()}`, {
        scope: 'system/AuditEvent.rs admin',
      }),
    );
    expect(login.entry.map((e: any) => e.resource.subtype[0].display)).toContain('Login');
  });

  it('refuses a sign-in whose ID token names no organisation, and a callback the browser did not start', async () => {
    provider.sub = 'oidc-user-2';
    provider.claims = { name: 'No Org' };
    const page = await context.newPage();
    await page.goto('/app/sign-in');
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().includes('/app/auth/callback')),
      page.click('#oidc-sign-in'),
    ]);
    expect(response.status()).toBe(403);
    await expect(page.textContent('.error-message')).resolves.toMatch(/does not say which organisation/);

    const stray = await page.request.get('/app/auth/callback?code=abc&state=def', { maxRedirects: 0 });
    expect(stray.status()).toBe(400);
    expect(await stray.text()).toMatch(/not started in this browser/);
  });

  it('offers no local sign-in form when it is switched off, and refuses a post to it', async () => {
    const page = await context.newPage();
    await page.goto('/app/sign-in');
    expect(await page.locator('#oidc-sign-in').count()).toBe(1);
    expect(await page.locator('#practitioner').count()).toBe(0);
    // with no form there is no token to send: the post is refused before the form is even read
    const posted = await page.request.post('/app/sign-in', {
      form: { practitioner: PRACTITIONER, organization: PRACTICE },
      maxRedirects: 0,
    });
    expect(posted.status()).toBe(403);
    expect((await context.cookies()).some((c) => c.name === 'viewer_session')).toBe(false);
  });
});

describe('viewer cookies when the public base URL is https', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp('sqlite', 'file', { BASE_URL: 'https://registry.example.nhs.uk' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('marks the CSRF and session cookies Secure (TLS ends at a proxy in front of the server)', async () => {
    const origin = `http://127.0.0.1:${t.config.port}`;
    const form = await fetch(`${origin}/app/sign-in`);
    const [csrfCookie] = form.headers.getSetCookie();
    expect(csrfCookie).toMatch(/^viewer_csrf=[\w-]+; Max-Age=\d+; Path=\/app; HttpOnly; Secure; SameSite=Lax$/);
    const token = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1];
    const signIn = await fetch(`${origin}/app/sign-in`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: csrfCookie.split(';')[0], 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: token, practitioner: PRACTITIONER, organization: PRACTICE }),
    });
    expect(signIn.status).toBe(303);
    expect(signIn.headers.getSetCookie()).toEqual([
      expect.stringMatching(/^viewer_session=[^;]+; Max-Age=3600; Path=\/app; HttpOnly; Secure; SameSite=Lax$/),
    ]);
  });

  it('answers a sign-in form with a bad organisation code with 400 and says what is wrong', async () => {
    const origin = `http://127.0.0.1:${t.config.port}`;
    const form = await fetch(`${origin}/app/sign-in`);
    const cookie = form.headers.getSetCookie()[0].split(';')[0];
    const token = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1];
    const refused = await fetch(`${origin}/app/sign-in`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: token, practitioner: PRACTITIONER, organization: 'no way!' }),
    });
    expect(refused.status).toBe(400);
    expect(refused.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await refused.text()).toMatch(/Enter the ODS code of your organisation/);
    expect(refused.headers.getSetCookie()).toEqual([]);
  });
});
