import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { verifyAuditChain } from '../../scripts/audit-verify.js';
import { AuditChainKey } from '../../src/audit/audit-chain-key.js';
import { GroupCommitter } from '../../src/database/group-commit.js';
import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { json } from '../utils/http.js';
import { BACKENDS, startTestApp, type TestApp } from '../utils/test-app.js';

const FHIR_JSON = 'application/fhir+json';
const SYSTEM = 'https://tools.ietf.org/html/rfc4122';

const aDocument = (value: string, options: Parameters<typeof aDischargeSummaryR4>[0] = {}) =>
  Buffer.from(JSON.stringify(aDischargeSummaryR4({ identifier: { system: SYSTEM, value }, ...options })));

/**
 * Concurrent writes share durable commits, and each is answered exactly as it would have been alone: a refusal
 * (conflict, unknown target, a relation no longer current) in a shared batch does not fail its neighbours.
 */
describe.each(BACKENDS)('group-committed writes on %s with %s blobs', (database, blobStore) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp(database, blobStore);
  });
  afterAll(async () => {
    await t?.close();
  });

  const submit = (body: Buffer) =>
    t.fetch('/fhir/Bundle', { method: 'POST', headers: { 'content-type': FHIR_JSON }, body });

  it('answers every request of a shared batch as if alone, in fewer commits than writes', async () => {
    const original = randomUUID();
    const originalBytes = aDocument(original);
    expect((await submit(originalBytes)).status).toBe(201);

    const contested = randomUUID();
    const requests: { kind: string; body: Buffer }[] = [
      ...Array.from({ length: 24 }, () => ({ kind: 'new', body: aDocument(randomUUID()) })),
      // one identifier, four different documents: one is stored, the others conflict
      ...['A', 'B', 'C', 'D'].map((given) => ({
        kind: 'contested',
        body: aDocument(contested, { authorName: { family: 'Okafor', given: [given] } }),
      })),
      // replacing a document nobody stored
      ...Array.from({ length: 3 }, () => ({
        kind: 'unknown-target',
        body: aDocument(randomUUID(), {
          relatesTo: [{ code: 'replaces', targetIdentifier: { system: SYSTEM, value: randomUUID() } }],
        }),
      })),
      // two replacements of the same current document: the first supersedes it, the second finds it superseded
      ...Array.from({ length: 2 }, () => ({
        kind: 'replacement',
        body: aDocument(randomUUID(), {
          relatesTo: [{ code: 'replaces', targetIdentifier: { system: SYSTEM, value: original } }],
        }),
      })),
      // the original sent again, byte for byte: a safe retry
      ...Array.from({ length: 2 }, () => ({ kind: 'retry', body: originalBytes })),
    ];
    const committer = t.app.get(GroupCommitter);
    const before = { batches: committer.batchesCommitted, units: committer.unitsCommitted };
    const responses = await Promise.all(
      requests.map(async ({ kind, body }) => {
        const response = await submit(body);
        return { kind, body, status: response.status, location: response.headers.get('location') };
      }),
    );
    const statuses = (kind: string) =>
      responses
        .filter((r) => r.kind === kind)
        .map((r) => r.status)
        .sort();
    expect(statuses('new')).toEqual(Array(24).fill(201));
    expect(statuses('contested')).toEqual([201, 409, 409, 409]);
    expect(statuses('unknown-target')).toEqual([422, 422, 422]);
    expect(statuses('replacement')).toEqual([201, 409]);
    expect(statuses('retry')).toEqual([200, 200]);

    // 24 + 1 + 1 documents written, and the refusals' AuditEvents: shared commits, not one each
    const batches = committer.batchesCommitted - before.batches;
    const units = committer.unitsCommitted - before.units;
    expect(units).toBeGreaterThanOrEqual(26);
    expect(batches).toBeLessThan(units);
    // no batch fell apart (the relay, woken by each commit, once nested its own transaction into a batch)
    expect(committer.batchesFailed).toBe(0);

    // every acknowledged document reads back byte for byte
    for (const created of responses.filter((r) => r.status === 201)) {
      const read = await t.fetch(created.location!);
      expect(read.status).toBe(200);
      expect(Buffer.from(await read.arrayBuffer()).equals(created.body)).toBe(true);
    }
    const search = await json(await t.fetch(`/fhir/DocumentReference?identifier=${SYSTEM}|${original}`));
    expect(search.entry.map((e: { resource: { status: string } }) => e.resource.status)).toEqual(['superseded']);

    const dataSource = t.app.get(DataSource);
    const verdict = await verifyAuditChain(dataSource, t.app.get(AuditChainKey).secret);
    expect(verdict).toMatchObject({ ok: true });
  });
});
