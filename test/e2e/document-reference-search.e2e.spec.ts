import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { DataSource } from 'typeorm';
import { SEARCH_PARAMETERS } from '../../src/registry/document-reference-search.js';
import { requireSearchScope } from '../../src/fhir/search-scope.js';
import {
  DocumentReferenceRepository,
  type StoredDocumentReference,
} from '../../src/registry/document-reference.repository.js';
import { DocumentReferenceSearchRepository } from '../../src/registry/document-reference-search.repository.js';
import type { FhirResource } from '../../src/format/fhir-json.js';
import { aDischargeSummaryR4, type DischargeSummaryOptions } from '../fixtures/documents.js';
import { json } from '../utils/http.js';
import { BACKENDS, startTestApp, type TestApp } from '../utils/test-app.js';

const NHS = 'https://fhir.nhs.uk/Id/nhs-number';
const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';
const UUID_SYSTEM = 'https://tools.ietf.org/html/rfc4122';
const SCT = 'http://snomed.info/sct';
const ENV = { RATE_LIMIT_PER_MINUTE: '100000' };

type Label = 'A' | 'B' | 'C' | 'D';

interface SearchBundle {
  total?: number;
  link: { relation: string; url: string }[];
  entry?: { fullUrl?: string; resource: Record<string, any>; search: { mode: string } }[];
}

async function postDocument(t: TestApp, options: DischargeSummaryOptions): Promise<void> {
  const response = await t.fetch('/fhir/Bundle', {
    method: 'POST',
    // Only the custodian may submit.
    org: options.custodianOds ?? 'RTG',
    headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' },
    body: JSON.stringify(aDischargeSummaryR4(options)),
  });
  expect(response.status).toBe(201);
}

/** A DocumentReference as the index would hold it, for rows the Bundle path cannot produce (references, events). */
function aDocumentReference(id: string, date: string, extra: Record<string, unknown> = {}): FhirResource {
  return {
    resourceType: 'DocumentReference',
    id,
    meta: { versionId: '1', lastUpdated: date },
    masterIdentifier: { system: 'urn:ietf:rfc:3986', value: `urn:oid:1.2.3.${id}` },
    status: 'current',
    type: { coding: [{ system: 'http://loinc.org', code: '18842-5' }] },
    subject: { identifier: { system: NHS, value: '9434765919' } },
    date,
    content: [{ attachment: { contentType: 'application/pdf', url: `https://elsewhere.example/${id}` } }],
    ...extra,
  };
}

async function insertDirectly(t: TestApp, resource: FhirResource, nhsNumber: string | null): Promise<void> {
  await insertManyDirectly(t, [resource], nhsNumber);
}

async function insertManyDirectly(t: TestApp, resources: FhirResource[], nhsNumber: string | null): Promise<void> {
  const repository = t.app.get(DocumentReferenceRepository);
  await t.app.get(DataSource).transaction(async (manager) => {
    for (const resource of resources) {
      await repository.save(manager, {
        resource: resource as StoredDocumentReference,
        patientNhsNumber: nhsNumber,
        custodianOds: null,
        bundleId: null,
      });
    }
  });
}

/** Every patient of the fixtures below: searches that test other parameters add it, since a search must say whose. */
const EVERY_PATIENT = `patient.identifier=${NHS}%7C9434765919,${NHS}%7C9000000009`;

function scoped(query: string): boolean {
  try {
    requireSearchScope([...new URLSearchParams(query)], undefined, 'DocumentReference');
    return true;
  } catch {
    return false;
  }
}

async function search(t: TestApp, query: string, headers: Record<string, string> = {}): Promise<SearchBundle> {
  const whose = scoped(query) ? query : `${query}&${EVERY_PATIENT}`;
  const response = await t.fetch(`/fhir/DocumentReference?${whose}`, { headers });
  expect(response.status).toBe(200);
  return (await json(response)) as SearchBundle;
}

const matches = (bundle: SearchBundle) => (bundle.entry ?? []).filter((e) => e.search.mode === 'match');

describe.each(BACKENDS)('DocumentReference search on %s with %s blobs', (database, blobStore) => {
  let t: TestApp;
  const ids = {} as Record<Label, string>;
  const uuids = { A: randomUUID(), B: randomUUID(), C: randomUUID() };
  const dates: Record<Label, string> = {
    A: '2024-03-08T16:25:00.000Z',
    B: '2023-11-20T10:00:00.000Z',
    C: '2024-03-31T23:59:59.000Z',
    D: '2022-06-15T12:00:00.000Z',
  };

  beforeAll(async () => {
    t = await startTestApp(database, blobStore, ENV);
    await postDocument(t, { identifier: { system: UUID_SYSTEM, value: uuids.A }, compositionDate: dates.A });
    await postDocument(t, {
      identifier: { system: UUID_SYSTEM, value: uuids.B },
      compositionDate: dates.B,
      type: { system: SCT, code: '371530004', display: 'Clinical consultation report' },
      authorName: { family: 'Émile-Smith', given: ['Zoë'] },
      custodianOds: 'RX1',
      gpOds: 'A99999',
      encounterPeriod: { start: '2023-11-01T08:00:00Z', end: '2023-11-19T12:00:00Z' },
    });
    await postDocument(t, {
      identifier: { system: UUID_SYSTEM, value: uuids.C },
      compositionDate: dates.C,
      nhsNumber: '9000000009',
    });
    const all = await search(t, '_count=500');
    for (const entry of matches(all)) {
      const label = (Object.keys(uuids) as ('A' | 'B' | 'C')[]).find(
        (l) => uuids[l] === entry.resource.masterIdentifier.value,
      );
      ids[label!] = entry.resource.id as string;
    }
    ids.D = randomUUID();
    await insertDirectly(
      t,
      aDocumentReference(ids.D, dates.D, {
        status: 'superseded',
        subject: { reference: 'Patient/p-123', identifier: { system: NHS, value: '9434765919' } },
        contained: [
          { resourceType: 'Practitioner', id: 'auth', name: [{ family: 'Watson', given: ['Mary', 'Jane'] }] },
        ],
        author: [{ reference: '#auth' }],
        custodian: { reference: 'Organization/rx9', identifier: { system: ODS, value: 'RX9' } },
        securityLabel: [
          { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] },
        ],
        relatesTo: [{ code: 'replaces', target: { reference: `DocumentReference/${ids.A}` } }],
        context: {
          event: [{ coding: [{ system: SCT, code: '73761001' }] }],
          facilityType: { coding: [{ system: SCT, code: '22232009' }] },
          related: [{ reference: 'Encounter/e1' }],
        },
      }),
      '9434765919',
    );
  });
  afterAll(async () => {
    await t?.close();
  });

  const dayMs = 86_400_000;
  const apDay = Date.parse('2024-03-08T00:00:00Z');
  // R4 ap: the value's range widened by 10% of its distance from now on both sides.
  const apExpected = (): Label[] => {
    const slack = Math.round((Date.now() - apDay) * 0.1);
    return (['A', 'B', 'C', 'D'] as Label[]).filter((l) => {
      const ms = Date.parse(dates[l]);
      return ms >= apDay - slack && ms < apDay + dayMs + slack;
    });
  };

  const cases: [string, Label[] | (() => Label[])][] = [
    ['_id={A}', ['A']],
    ['_id={A},{C}', ['A', 'C']],
    [`identifier=${UUID_SYSTEM}|{uuidA}`, ['A']],
    ['identifier={uuidB}', ['B']],
    ['identifier=|{uuidA}', []],
    [`identifier=${UUID_SYSTEM}|`, ['A', 'B', 'C']],
    ['status=current', ['A', 'B', 'C']],
    ['status=superseded', ['D']],
    ['status:not=current', ['D']],
    ['status=current,superseded', ['A', 'B', 'C', 'D']],
    [`type=${SCT}|373942005`, ['A', 'C']],
    ['type=373942005', ['A', 'C']],
    ['type=http://loinc.org|', ['D']],
    ['type=|373942005', []],
    ['type:not=373942005', ['B', 'D']],
    ['type=373942005,371530004', ['A', 'B', 'C']],
    [`category=${SCT}|371531000`, ['A', 'B', 'C']],
    ['category:not=371531000', ['D']],
    [`patient.identifier=${NHS}|9434765919`, ['A', 'B', 'D']],
    ['patient.identifier=9434765919', ['A', 'B', 'D']],
    ['patient.identifier=|9434765919', []],
    [`patient.identifier=${NHS}|`, ['A', 'B', 'C', 'D']],
    [`patient.identifier=${NHS}|9434765919,${NHS}|9000000009`, ['A', 'B', 'C', 'D']],
    [`patient.identifier:not=${NHS}|9434765919`, ['C']],
    [`subject.identifier=${NHS}|9000000009`, ['C']],
    [`patient:identifier=${NHS}|9000000009`, ['C']],
    ['patient=Patient/p-123', ['D']],
    ['patient=p-123', ['D']],
    ['patient=Patient/nobody', []],
    ['subject=Patient/p-123', ['D']],
    ['date=2024-03', ['A', 'C']],
    ['date=2024', ['A', 'C']],
    ['date=2024-03-08', ['A']],
    ['date=eq2024-03-08T16:25:00Z', ['A']],
    ['date=2024-03-08T17:25:00%2B01:00', ['A']],
    ['date=ne2024-03', ['B', 'D']],
    ['date=lt2024-03-08', ['B', 'D']],
    ['date=le2024-03-08', ['A', 'B', 'D']],
    ['date=gt2024-03-08', ['C']],
    ['date=ge2024-03-08', ['A', 'C']],
    ['date=sa2023-11-20', ['A', 'C']],
    ['date=eb2023-11-20', ['D']],
    ['date=2023,2022', ['B', 'D']],
    ['date=ge2023&date=lt2024', ['B']],
    ['date=ap2024-03-08', apExpected],
    ['period=2024-03', ['A', 'C']],
    ['period=2024-03-05', []],
    ['period=ge2024-03-05', ['A', 'C']],
    ['period=lt2023-11-05', ['B']],
    ['period=sa2023-12', ['A', 'C']],
    ['period=eb2024', ['B']],
    ['period=ne2024-03', ['B']],
    ['period=2023-11-19', []],
    ['period=ap2023-11-10', ['B']],
    [`custodian.identifier=${ODS}|RTG`, ['A', 'C']],
    ['custodian=Organization/rx9', ['D']],
    ['custodian=rx9', ['D']],
    ['custodian=Organization/RTG', []],
    ['custodian:identifier=RX1', ['B']],
    ['creation=2024-03', ['A', 'C']],
    ['creation=lt2024', ['B']],
    ['creation=2024-03-08T16:25:00Z', ['A']],
    ['custodian.identifier=RX1', ['B']],
    ['custodian.identifier:not=RTG', ['B', 'D']],
    ['author.identifier=https://fhir.hl7.org.uk/Id/gmc-number|C7654321', ['A', 'B', 'C']],
    ['author.family=okaf', ['A', 'C']],
    ['author.family=OKAFOR', ['A', 'C']],
    ['author.family:exact=Okafor', ['A', 'C']],
    ['author.family:exact=okafor', []],
    ['author.family=emile', ['B']],
    ['author.family:contains=SMITH', ['B']],
    ['author.family=smith', []],
    ['author.given=zoe', ['B']],
    ['author.given=jane', ['D']],
    ['author.family=wat', ['D']],
    ['author.given=%25', []],
    ['author.given=_oe', []],
    ['date=2024-03-08T17:25:00+01:00', ['A']],
    [`setting=${SCT}|394802001`, ['A', 'B', 'C']],
    [`facility=${SCT}|22232009`, ['D']],
    [`event=${SCT}|73761001`, ['D']],
    ['format=https://fhir.nhs.uk/England/CodeSystem/England-NRLFormatCode|urn:nhs-ic:structured', ['A', 'B', 'C']],
    ['security-label=http://terminology.hl7.org/CodeSystem/v3-Confidentiality|N', ['A', 'B', 'C']],
    ['security-label=R', ['D']],
    ['contenttype=application/fhir%2Bjson', ['A', 'B', 'C']],
    ['contenttype=application/pdf', ['D']],
    ['recipient=Y12345', ['A', 'C']],
    [`recipient=${ODS}|A99999`, ['B']],
    ['relatesto=DocumentReference/{A}', ['D']],
    ['relatesto={A}', ['D']],
    ['relatesto={B}', []],
    ['relation=replaces', ['D']],
    ['related=Encounter/e1', ['D']],
    ['_lastUpdated=lt2023', ['D']],
    ['_lastUpdated=ge2025', ['A', 'B', 'C']],
    [`patient.identifier=${NHS}|9434765919&type=${SCT}|373942005`, ['A']],
    [`patient.identifier=${NHS}|9434765919&type=${SCT}|373942005&date=ge2024-01-01`, ['A']],
    [`patient.identifier=${NHS}|9434765919&type=${SCT}|373942005&date=lt2024-01-01`, []],
  ];

  it('has, for every parameter the server and the README name, a case it narrows (none is silently ignored)', async () => {
    const narrowing = new Set<string>();
    for (const [template, expected] of cases) {
      const clauses = template.split('&');
      const labels = typeof expected === 'function' ? expected() : expected;
      if (clauses.length === 1 && labels.length > 0 && labels.length < 4) {
        narrowing.add(clauses[0].split('=')[0].split(':')[0]);
      }
    }
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const listed = /^Parameters: ([\s\S]*?); *\ncomma = OR/m.exec(readme)?.[1] ?? '';
    const named = [...listed.matchAll(/`([a-z._-]+)`/gi)].map((m) => m[1]);
    expect(named.length).toBeGreaterThan(20);
    expect(named.filter((name) => !(name in SEARCH_PARAMETERS))).toEqual([]);
    expect(Object.keys(SEARCH_PARAMETERS).filter((name) => !narrowing.has(name))).toEqual([]);
  });

  it.each(cases)('%s', async (template, expected) => {
    const query = template
      .replace(/\{([ABCD])\}/g, (_m, l: Label) => ids[l])
      .replace(/\{uuid([ABC])\}/g, (_m, l: 'A' | 'B' | 'C') => uuids[l])
      .replace(/\|/g, '%7C');
    const bundle = await search(t, `${query}&_count=500`, { prefer: 'handling=strict' });
    const want = (typeof expected === 'function' ? expected() : expected).map((l) => ids[l]).sort();
    expect(
      matches(bundle)
        .map((e) => e.resource.id as string)
        .sort(),
    ).toEqual(want);
    expect(bundle.total).toBe(want.length);
  });

  it('refuses a search that does not say whose records it wants (400, whatever the handling preference)', async () => {
    for (const query of [
      '_count=5',
      'nhs=9434765919',
      `patient.identifier:not=${NHS}%7C9434765919`,
      'recipient=A99999',
      'patient.identifier=',
    ]) {
      for (const prefer of ['handling=lenient', 'handling=strict']) {
        const response = await t.fetch(`/fhir/DocumentReference?${query}`, { headers: { prefer } });
        expect([query, response.status]).toEqual([query, 400]);
        const outcome = await json(response);
        // under strict handling an unknown parameter is refused first, for being unknown
        if (prefer === 'handling=lenient' || query !== 'nhs=9434765919') {
          expect(outcome.issue[0].code).toBe('required');
          expect(outcome.issue[0].diagnostics).toContain('patient.identifier');
        }
      }
    }
    // a GP practice's own inbox needs no patient
    const inbox = await t.fetch(`/fhir/DocumentReference?recipient=${ODS}%7CA99999`, { org: 'A99999' });
    expect(inbox.status).toBe(200);
    expect(matches(await json(inbox)).map((e) => e.resource.id)).toEqual([ids.B]);
    const lists = await t.fetch('/fhir/List?code=submissionset');
    expect(lists.status).toBe(400);
  });

  it('answers with a searchset whose entries have fullUrls and whose self link names the parameters used', async () => {
    const bundle = await search(t, `patient.identifier=${NHS}|9434765919&colour=red&_count=2`);
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 3 });
    const found = matches(bundle);
    expect(found.map((e) => e.resource.id)).toEqual([ids.A, ids.B]);
    expect(found[0].fullUrl).toBe(`${t.config.baseUrl}/fhir/DocumentReference/${ids.A}`);
    const self = new URL(bundle.link.find((l) => l.relation === 'self')!.url);
    expect([...self.searchParams]).toEqual([
      ['patient.identifier', `${NHS}|9434765919`],
      ['_count', '2'],
    ]);
    const outcome = bundle.entry!.find((e) => e.search.mode === 'outcome')!.resource;
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0]).toMatchObject({ severity: 'warning', code: 'not-supported', expression: ['colour'] });
    expect(bundle.link.find((l) => l.relation === 'next')).toBeDefined();
  });

  it('refuses an unknown parameter or malformed value with 400 under Prefer: handling=strict', async () => {
    for (const query of ['colour=red', 'date=2024-13-01', 'author.family:below=x']) {
      const response = await t.fetch(`/fhir/DocumentReference?${query}`, { headers: { prefer: 'handling=strict' } });
      expect(response.status).toBe(400);
      const outcome = await json(response);
      expect(outcome.resourceType).toBe('OperationOutcome');
      expect(outcome.issue[0].diagnostics).toContain(query.split('=')[0]);
    }
  });

  it('reports _include as not available rather than failing', async () => {
    const bundle = await search(
      t,
      `_id=${ids.A}&_include=DocumentReference:subject&_include=DocumentReference:author`,
      {
        prefer: 'handling=strict',
      },
    );
    expect(matches(bundle)).toHaveLength(1);
    const outcome = bundle.entry!.find((e) => e.search.mode === 'outcome')!.resource;
    expect(outcome.issue).toHaveLength(2);
    expect(outcome.issue[0]).toMatchObject({ severity: 'information', expression: ['_include'] });
    expect(outcome.issue[0].diagnostics).toMatch(/not available/);
  });

  it('gives only the total for _summary=count and _count=0, and no total for _total=none', async () => {
    for (const query of ['_summary=count', '_count=0']) {
      const bundle = await search(t, `type=373942005&${query}`);
      expect(bundle.total).toBe(2);
      expect(bundle.entry).toBeUndefined();
    }
    const bundle = await search(t, 'type=373942005&_total=none');
    expect(bundle.total).toBeUndefined();
    expect(matches(bundle)).toHaveLength(2);
  });

  it('sorts by date and _lastUpdated in both directions', async () => {
    const order = async (sort: string) => matches(await search(t, `_sort=${sort}`)).map((e) => e.resource.id as string);
    expect(await order('date')).toEqual([ids.D, ids.B, ids.A, ids.C]);
    expect(await order('-date')).toEqual([ids.C, ids.A, ids.B, ids.D]);
    expect((await order('_lastUpdated'))[0]).toBe(ids.D);
    expect((await order('-_lastUpdated'))[3]).toBe(ids.D);
  });

  it('searches with POST _search and a form body like GET', async () => {
    const response = await t.fetch('/fhir/DocumentReference/_search?status=current', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ 'patient.identifier': `${NHS}|9434765919`, _sort: 'date' }).toString(),
    });
    expect(response.status).toBe(200);
    const bundle = (await json(response)) as SearchBundle;
    expect(matches(bundle).map((e) => e.resource.id)).toEqual([ids.B, ids.A]);

    const wrongType = await t.fetch('/fhir/DocumentReference/_search', {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: '{}',
    });
    expect(wrongType.status).toBe(415);
  });

  it('needs the DocumentReference search scope on both routes', async () => {
    const get = await t.fetch('/fhir/DocumentReference?_id=x', { scope: 'system/DocumentReference.r' });
    expect(get.status).toBe(403);
    const post = await t.fetch('/fhir/DocumentReference/_search', {
      method: 'POST',
      scope: 'system/DocumentReference.r',
    });
    expect(post.status).toBe(403);
    const allowed = await t.fetch('/fhir/DocumentReference?_id=x', { scope: 'system/DocumentReference.s' });
    expect(allowed.status).toBe(200);
  });

  it('matches Subscription criteria against one document with the search code', async () => {
    const repository = t.app.get(DocumentReferenceSearchRepository);
    const criteria = `DocumentReference?patient.identifier=${NHS}|9434765919&type=${SCT}|373942005`;
    expect(await repository.matches(criteria, ids.A)).toBe(true);
    expect(await repository.matches(criteria, ids.B)).toBe(false);
    expect(await repository.matches(criteria, ids.C)).toBe(false);
    expect(await repository.matches('DocumentReference?author.family=wat&relation=replaces', ids.D)).toBe(true);
    await expect(repository.matches('DocumentReference?colour=red', ids.A)).rejects.toMatchObject({ status: 422 });
  });
});

describe.each(BACKENDS)('DocumentReference search paging on %s with %s blobs', (database, blobStore) => {
  let t: TestApp;
  const nhsNumber = '9000000009';
  const original = new Set<string>();
  const base = Date.parse('2024-01-01T00:00:00Z');

  beforeAll(async () => {
    t = await startTestApp(database, blobStore, ENV);
    // 30 distinct dates for 240 rows: many ties, so the id tie-break carries the order.
    const direct = Array.from({ length: 240 }, (_, i) =>
      aDocumentReference(randomUUID(), new Date(base + (i % 30) * 3_600_000).toISOString(), {
        subject: { identifier: { system: NHS, value: nhsNumber } },
      }),
    );
    direct.forEach((resource) => original.add(resource.id as string));
    await insertManyDirectly(t, direct, nhsNumber);
    for (let i = 0; i < 10; i++) {
      await postDocument(t, {
        identifier: { system: UUID_SYSTEM, value: randomUUID() },
        nhsNumber,
        compositionDate: new Date(base + i * 7_200_000).toISOString(),
      });
    }
    const all = await search(t, `patient.identifier=${NHS}|${nhsNumber}&_count=500`);
    expect(all.total).toBe(250);
    for (const entry of matches(all)) {
      original.add(entry.resource.id as string);
    }
    expect(original.size).toBe(250);
  });
  afterAll(async () => {
    await t?.close();
  });

  it.each(['-date', 'date', '_lastUpdated'])(
    'follows next links with _sort=%s to the end: every match exactly once, in order, while documents are added',
    async (sort) => {
      const descending = sort.startsWith('-');
      const seen: { id: string; key: number }[] = [];
      let url: string | undefined =
        `/fhir/DocumentReference?patient.identifier=${NHS}%7C${nhsNumber}&_count=7&_sort=${sort}`;
      let pages = 0;
      while (url) {
        const response = await t.fetch(url);
        expect(response.status).toBe(200);
        const page = (await json(response)) as SearchBundle;
        expect(matches(page).length).toBeLessThanOrEqual(7);
        for (const entry of matches(page)) {
          const resource = entry.resource;
          const value = sort.endsWith('_lastUpdated') ? resource.meta.lastUpdated : resource.date;
          seen.push({ id: resource.id, key: Date.parse(value) });
        }
        // A new match lands somewhere in the order while we page.
        const added = randomUUID();
        const date = new Date(base + ((pages * 7919) % 30) * 3_600_000 + 1).toISOString();
        await insertDirectly(
          t,
          aDocumentReference(added, date, { subject: { identifier: { system: NHS, value: nhsNumber } } }),
          nhsNumber,
        );
        url = page.link.find((l) => l.relation === 'next')?.url;
        expect(url === undefined || !/[?&](_offset|_page|page)=/.test(url)).toBe(true);
        pages++;
      }
      const ids = seen.map((s) => s.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.filter((id) => original.has(id)).length).toBe(original.size);
      for (let i = 1; i < seen.length; i++) {
        const [a, b] = [seen[i - 1], seen[i]];
        const inOrder = descending
          ? a.key > b.key || (a.key === b.key && a.id > b.id)
          : a.key < b.key || (a.key === b.key && a.id < b.id);
        expect(inOrder).toBe(true);
      }
      expect(pages).toBeGreaterThanOrEqual(Math.ceil(250 / 7));
    },
  );

  it('goes back with the previous link to the same page', async () => {
    const query = `patient.identifier=${NHS}%7C${nhsNumber}&_count=7`;
    const first = await search(t, query);
    expect(first.link.find((l) => l.relation === 'previous')).toBeUndefined();
    const second = (await json(await t.fetch(first.link.find((l) => l.relation === 'next')!.url))) as SearchBundle;
    const third = (await json(await t.fetch(second.link.find((l) => l.relation === 'next')!.url))) as SearchBundle;
    const back = (await json(await t.fetch(third.link.find((l) => l.relation === 'previous')!.url))) as SearchBundle;
    expect(matches(back).map((e) => e.resource.id)).toEqual(matches(second).map((e) => e.resource.id));
    const backToFirst = (await json(
      await t.fetch(back.link.find((l) => l.relation === 'previous')!.url),
    )) as SearchBundle;
    expect(matches(backToFirst).map((e) => e.resource.id)).toEqual(matches(first).map((e) => e.resource.id));
    expect(backToFirst.link.find((l) => l.relation === 'previous')).toBeUndefined();
    const forward = (await json(await t.fetch(back.link.find((l) => l.relation === 'next')!.url))) as SearchBundle;
    expect(matches(forward).map((e) => e.resource.id)).toEqual(matches(third).map((e) => e.resource.id));
  });

  it('refuses a cursor that was tampered with', async () => {
    const response = await t.fetch(`/fhir/DocumentReference?patient.identifier=${NHS}%7C${nhsNumber}&_cursor=abc`);
    expect(response.status).toBe(400);
    expect((await json(response)).issue[0].diagnostics).toMatch(/_cursor/);
  });
});
