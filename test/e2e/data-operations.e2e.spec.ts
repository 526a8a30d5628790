import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { DataSource } from 'typeorm';
import { BlobStore } from '../../src/storage/blob-store.js';
import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { json } from '../utils/http.js';
import { ensureBuilt } from '../utils/server-process.js';
import { BACKENDS, startTestApp, type TestApp } from '../utils/test-app.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SWEEP = path.join(ROOT, 'dist', 'scripts', 'blobs-sweep.js');
const PURGE = path.join(ROOT, 'dist', 'scripts', 'documents-purge.js');
const DAY = 24 * 60 * 60_000;
const AUDITOR = 'system/AuditEvent.rs admin';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe.each(BACKENDS)('data operations on %s with %s blobs', (database, blobStore) => {
  let t: TestApp;
  let blobs: BlobStore;
  let env: Record<string, string>;

  /** Runs a compiled operations command as an operator would, on the server's configuration. */
  function run(script: string, args: string[]): Promise<Run> {
    const child = spawn(process.execPath, [script, ...args], { cwd: ROOT, env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) =>
        resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
      );
    });
  }

  async function submitDocument(): Promise<{ bundleId: string; documentReferenceId: string }> {
    const document = aDischargeSummaryR4({
      identifier: { system: 'urn:ietf:rfc:3986', value: `urn:uuid:${randomUUID()}` },
    });
    const response = await t.fetch('/fhir/Bundle', {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json', prefer: 'return=minimal' },
      body: JSON.stringify(document),
    });
    expect(response.status).toBe(201);
    const bundleId = response.headers.get('location')!.split('/').pop()!;
    const documentReferenceId = /DocumentReference\/([^>]+)>/.exec(response.headers.get('link')!)![1];
    return { bundleId, documentReferenceId };
  }

  async function uploadBinary(bytes: Buffer): Promise<string> {
    const response = await t.fetch('/fhir/Binary', {
      method: 'POST',
      headers: { 'content-type': 'application/pdf', prefer: 'return=minimal' },
      body: bytes,
    });
    expect(response.status).toBe(201);
    return response.headers.get('location')!.split('/').pop()!;
  }

  async function blobKeyOf(table: 'document_bundle' | 'binary', id: string): Promise<string> {
    const dataSource = t.app.get(DataSource);
    const sql = `SELECT blob_key FROM "${table}" WHERE id = ${database === 'postgres' ? '$1' : '?'}`;
    const [row] = await dataSource.query<{ blob_key: string }[]>(sql, [id]);
    return row.blob_key;
  }

  async function plant(text: string): Promise<string> {
    const stored = await blobs.put(Readable.from([Buffer.from(text)]), { contentType: 'text/plain', maxBytes: 1000 });
    return stored.key;
  }

  async function auditEvents(query: string): Promise<Record<string, any>[]> {
    const response = await t.fetch(`/fhir/AuditEvent?${query}&_count=500`, { scope: AUDITOR });
    expect(response.status).toBe(200);
    return ((await json(response)).entry ?? []).map((e: { resource: Record<string, any> }) => e.resource);
  }

  const subtypeOf = (event: Record<string, any>): string | undefined => event.subtype?.[0]?.code;
  const detailsOf = (event: Record<string, any>): Record<string, string> =>
    Object.fromEntries(
      event.entity
        .flatMap((e: { detail?: { type: string; valueString: string }[] }) => e.detail ?? [])
        .map((d: { type: string; valueString: string }) => [d.type, d.valueString]),
    );

  beforeAll(async () => {
    ensureBuilt();
    t = await startTestApp(database, blobStore);
    blobs = t.app.get(BlobStore);
    // jest's --experimental-vm-modules is not meant for the commands
    const { NODE_OPTIONS: _ignored, ...inherited } = process.env as Record<string, string>;
    // NODE_NO_WARNINGS: the AWS SDK's notice about Node 20 would be the only thing on stderr
    env = { ...inherited, ...t.env, LOG_LEVEL: 'warn', NODE_NO_WARNINGS: '1' };
  }, 240_000);

  afterAll(async () => {
    await t?.close();
  });

  it('sweeps only unreferenced blobs older than the cut-off: a dry run lists, --apply removes, audited', async () => {
    const document = await submitDocument();
    const binaryId = await uploadBinary(Buffer.from('%PDF-1.4 kept'));
    const referenced = [await blobKeyOf('document_bundle', document.bundleId), await blobKeyOf('binary', binaryId)];
    const oldOrphan = await plant('lost a race two days ago');
    const freshOrphan = await plant('stored a moment ago, its row not yet committed');
    const twoDaysAgo = new Date(Date.now() - 2 * DAY);
    // referenced blobs as old as the orphan: only the missing row tells them apart
    for (const key of [oldOrphan, ...referenced]) {
      await t.setBlobLastModified(key, twoDaysAgo);
    }

    const dry = await run(SWEEP, []);

    expect([dry.code, dry.stderr]).toEqual([0, '']);
    const dryLines = dry.stdout.trim().split('\n');
    expect(dryLines.filter((line) => line.startsWith('would remove'))).toEqual([
      expect.stringMatching(new RegExp(`^would remove\\t${oldOrphan}\\t24 bytes\\t`)),
    ]);
    expect(dryLines.at(-1)).toMatch(/^dry run: 1 unreferenced blob\(s\), 24 bytes, among 3 listed .* nothing removed/);
    for (const key of [oldOrphan, freshOrphan, ...referenced]) {
      expect(await blobs.exists({ key })).toBe(true);
    }

    const applied = await run(SWEEP, ['--apply', '--older-than', '24h']);

    expect([applied.code, applied.stderr]).toEqual([0, '']);
    expect(applied.stdout).toContain(`removed\t${oldOrphan}\t24 bytes`);
    expect(applied.stdout).toMatch(/1 unreferenced blob\(s\), 24 bytes, among 3 listed .*; removed 1 \(24 bytes\)/);
    expect(await blobs.exists({ key: oldOrphan })).toBe(false);
    expect(await blobs.exists({ key: freshOrphan })).toBe(true);
    for (const key of referenced) {
      expect(await blobs.exists({ key })).toBe(true);
    }
    expect((await t.fetch(`/fhir/Bundle/${document.bundleId}`)).status).toBe(200);
    const binary = await t.fetch(`/fhir/Binary/${binaryId}`, { headers: { accept: 'application/pdf' } });
    expect([binary.status, await binary.text()]).toEqual([200, '%PDF-1.4 kept']);

    const sweeps = (await auditEvents('action=D')).filter((e) => subtypeOf(e) === 'blob-sweep');
    expect(sweeps).toHaveLength(1);
    expect(detailsOf(sweeps[0])).toMatchObject({ mode: 'apply', listed: '3', orphans: '1', removed: '1' });
    expect(sweeps[0].agent).toContainEqual(
      expect.objectContaining({ who: { identifier: { value: expect.stringMatching(/^npm run blobs:sweep \(/) } } }),
    );
    const dryRuns = (await auditEvents('action=E')).filter((e) => subtypeOf(e) === 'blob-sweep');
    expect(dryRuns.map((e) => detailsOf(e).mode)).toEqual(['dry-run']);
  }, 180_000);

  it('refuses a cut-off under an hour and unknown options as usage errors (exit 2)', async () => {
    const young = await run(SWEEP, ['--apply', '--older-than', '5m']);
    expect([young.code, young.stdout]).toEqual([2, '']);
    expect(young.stderr).toMatch(/too young/);
    expect((await run(SWEEP, ['--everything'])).code).toBe(2);
  }, 120_000);

  it('purges a document: 410 Gone for its bytes, entered-in-error with the reason, blob removed, audited', async () => {
    const document = await submitDocument();
    const bundleKey = await blobKeyOf('document_bundle', document.bundleId);
    const reason = 'Court order 2026/0042: erase on the patient’s request';

    const refused = await run(PURGE, [document.documentReferenceId]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--reason/);
    const blank = await run(PURGE, [document.documentReferenceId, '--reason', '   ']);
    expect(blank.code).toBe(2);
    const unknown = await run(PURGE, [randomUUID(), '--reason', reason]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^404: DocumentReference\/\S+ is not known/);
    expect((await t.fetch(`/fhir/Bundle/${document.bundleId}`)).status).toBe(200);

    const purged = await run(PURGE, [document.documentReferenceId, '--reason', reason]);

    expect([purged.code, purged.stderr]).toEqual([0, '']);
    expect(purged.stdout).toContain(`purged DocumentReference/${document.documentReferenceId}: entered-in-error`);
    expect(purged.stdout).toContain(`removed\tBundle/${document.bundleId}`);
    const gone = await t.fetch(`/fhir/Bundle/${document.bundleId}`);
    expect(gone.status).toBe(410);
    expect(await json(gone)).toMatchObject({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'deleted', diagnostics: expect.stringMatching(/administrative purge/) }],
    });
    const index = await json(await t.fetch(`/fhir/DocumentReference/${document.documentReferenceId}`));
    expect(index.status).toBe('entered-in-error');
    expect(index.description).toContain(reason);
    expect(index.extension).toContainEqual({
      url: 'urn:fhir-document-registry:content-purged',
      extension: [
        { url: 'reason', valueString: reason },
        { url: 'date', valueDateTime: expect.any(String) },
      ],
    });
    expect(await blobs.exists({ key: bundleKey })).toBe(false);

    const events = await auditEvents(`entity=DocumentReference/${document.documentReferenceId}&action=D`);
    const purges = events.filter((e) => subtypeOf(e) === 'purge');
    expect(purges.map((e) => e.outcome).sort()).toEqual(['0']);
    expect(purges[0].purposeOfEvent).toEqual([{ text: reason }]);
    expect(purges[0].entity).toContainEqual(
      expect.objectContaining({ what: { reference: `Bundle/${document.bundleId}` } }),
    );

    // a second run (after a crash, say) finds it purged and removes whatever is left
    const again = await run(PURGE, [document.documentReferenceId, '--reason', reason]);
    expect([again.code, again.stdout]).toEqual([
      0,
      expect.stringContaining(`already purged DocumentReference/${document.documentReferenceId}`),
    ]);
    const after = await json(await t.fetch(`/fhir/DocumentReference/${document.documentReferenceId}`));
    expect(after.meta.versionId).toBe(index.meta.versionId);
  }, 180_000);

  it('purges the Binary a pointer registers: its bytes answer 410 Gone', async () => {
    const binaryId = await uploadBinary(Buffer.from('%PDF-1.4 to be erased'));
    const binaryKey = await blobKeyOf('binary', binaryId);
    const pointer = await t.fetch('/fhir/DocumentReference', {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({
        resourceType: 'DocumentReference',
        status: 'current',
        type: { coding: [{ system: 'http://snomed.info/sct', code: '736253002' }] },
        subject: { identifier: { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' } },
        custodian: { identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'RTG' } },
        content: [{ attachment: { url: `Binary/${binaryId}` } }],
      }),
    });
    expect(pointer.status).toBe(201);
    const pointerId = (await json(pointer)).id as string;

    const purged = await run(PURGE, [pointerId, '--reason', 'Uploaded for the wrong patient']);

    expect([purged.code, purged.stderr]).toEqual([0, '']);
    expect(purged.stdout).toContain(`removed\tBinary/${binaryId}`);
    const gone = await t.fetch(`/fhir/Binary/${binaryId}`, { headers: { accept: 'application/pdf' } });
    expect(gone.status).toBe(410);
    expect((await json(gone)).issue[0].code).toBe('deleted');
    expect(await blobs.exists({ key: binaryKey })).toBe(false);
  }, 180_000);

  it('offers the purge to operators over HTTP: POST DocumentReference/{id}/$purge with the admin scope and a reason', async () => {
    const document = await submitDocument();
    const purge = (body: unknown, scope: string) =>
      t.fetch(`/fhir/DocumentReference/${document.documentReferenceId}/$purge`, {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json' },
        body: JSON.stringify(body),
        scope,
      });
    const withReason = { resourceType: 'Parameters', parameter: [{ name: 'reason', valueString: 'Duplicate upload' }] };

    expect((await purge(withReason, 'system/*.cruds')).status).toBe(403);
    const noReason = await purge({ resourceType: 'Parameters', parameter: [] }, 'admin');
    expect([noReason.status, (await json(noReason)).issue[0].code]).toEqual([400, 'required']);
    expect((await t.fetch(`/fhir/Bundle/${document.bundleId}`)).status).toBe(200);

    const done = await purge(withReason, 'admin');

    expect(done.status).toBe(200);
    expect((await json(done)).issue[0].diagnostics).toContain(
      `Purged DocumentReference/${document.documentReferenceId}`,
    );
    expect((await t.fetch(`/fhir/Bundle/${document.bundleId}`)).status).toBe(410);
    const index = await json(await t.fetch(`/fhir/DocumentReference/${document.documentReferenceId}`));
    expect([index.status, index.description]).toEqual([
      'entered-in-error',
      expect.stringContaining('Duplicate upload'),
    ]);
    const purges = (await auditEvents(`entity=DocumentReference/${document.documentReferenceId}&action=D`)).filter(
      (e) => subtypeOf(e) === 'purge',
    );
    expect(purges.map((e) => [e.outcome, e.purposeOfEvent])).toEqual([['0', [{ text: 'Duplicate upload' }]]]);
  }, 180_000);
});
