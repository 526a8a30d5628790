import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { createTestDatabase } from '../utils/postgres.js';
import { auditVerify, checkNotifications, readBackAll, waitForDrainedOutbox } from './support/checks.js';
import {
  attachmentUrls,
  auditProblem,
  byMaster,
  type DatabaseReader,
  type DocumentReferenceRow,
  fileBlobs,
  halfVisible,
  orphanBlobs,
  postgresReader,
  presence,
  snapshot,
  sqliteReader,
} from './support/registry-state.js';
import { faultEnv, type Resources, subscribe, tokenFor, withResources } from './support/resources.js';
import { useFaultHarness } from './support/harness.js';
import { acknowledgement, ODS, send, succeeded, tally } from './support/submissions.js';

/*
 * Item 1, the burst: a compiled server under concurrent write load (document Bundles, ITI-65 transactions and
 * pointers from 16 clients, with 2 more reading back) is killed with SIGKILL, then restarted on the same data.
 * Every submission answered with a success must be durable (bytes, blob, DocumentReference, outbox event,
 * AuditEvent) and notified; every submission cut off by the kill must be wholly there or wholly absent, and its
 * retry must succeed (a Bundle: 201, or 200 when the cut-off attempt was stored; a pointer or ITI-65 transaction
 * that was stored: 409, never a second copy). The database is read directly at the crash, before any restart.
 */

const GP_CRITERIA = `DocumentReference?recipient=${ODS}|Y12345`;
const TRUST_CRITERIA = `DocumentReference?custodian.identifier=${ODS}|RTG`;
/** The kill comes once this many submissions were acknowledged (or at KILL_DEADLINE_MS, whichever is first). */
const ACKNOWLEDGED_BEFORE_KILL = 120;
const KILL_DEADLINE_MS = 25_000;
const NOTIFICATION_TIMEOUT_MS = 90_000;

const byPointer = (reference: DocumentReferenceRow) =>
  reference.bundleId === null && !attachmentUrls(reference).some((url) => url.includes('/fhir/Binary/'));

describe('SIGKILL under a burst of submissions (compiled server)', () => {
  const harness = useFaultHarness();

  async function crashUnderLoad(
    resources: Resources,
    dialect: string,
    env: Record<string, string>,
    reader: DatabaseReader,
  ): Promise<void> {
    const started = Date.now();
    const blobs = fileBlobs(path.join(env.DATA_DIR, 'blobs'));
    const gpHook = `/gp-${randomUUID()}`;
    const trustHook = `/trust-${randomUUID()}`;

    // A full server (api and worker); the GP subscribed to what is addressed to it (Bundles and ITI-65 documents
    // name GP Y12345), the trust to what it holds (everything here, pointers included).
    let server = await resources.start(env);
    const gp = await tokenFor(env.DATA_DIR, 'Y12345');
    const rtg = await tokenFor(env.DATA_DIR, 'RTG');
    await subscribe(server.baseUrl, gp, GP_CRITERIA, harness.receiver.url(gpHook));
    await subscribe(server.baseUrl, rtg, TRUST_CRITERIA, harness.receiver.url(trustHook));

    const load = resources.load({ targets: () => [server.baseUrl], token: rtg, submitters: 16, readers: 2 });
    await load.waitForAcknowledged(ACKNOWLEDGED_BEFORE_KILL, KILL_DEADLINE_MS, true);
    await resources.stop(server, 'SIGKILL');
    await load.stop();

    const { submissions } = load;
    const answered = submissions.filter((s) => s.attempts[0].status !== undefined);
    const unanswered = submissions.filter((s) => s.attempts[0].status === undefined);
    expect(
      answered
        .filter((s) => !succeeded(s, s.attempts[0]))
        .map((s) => `${s.kind}: ${s.attempts[0].status} ${s.attempts[0].body?.toString('utf8').slice(0, 300)}`),
    ).toEqual([]);
    // the kill must have hit real load: many acknowledged, some cut off
    expect(answered.length).toBeGreaterThanOrEqual(40);
    expect(unanswered.length).toBeGreaterThan(0);
    // a 201 Bundle's representation is the very bytes sent
    const echoed = answered.filter(
      (s) => s.kind === 'bundle' && s.attempts[0].body?.length && !s.attempts[0].body.equals(s.bytes),
    );
    expect(echoed.map((s) => s.documentIdentifier)).toEqual([]);
    // reads before the kill: every one answered 200 with the very bytes
    const reads = load.reads.filter((r) => r.status !== undefined);
    expect(reads.filter((r) => r.status !== 200 || r.identical === false).map((r) => `${r.url}: ${r.status}`)).toEqual(
      [],
    );

    // The crash state, as the kill left it on disk (before any restart could repair or sweep anything).
    const crashed = await snapshot(reader);
    expect(await halfVisible(crashed, blobs)).toEqual([]);
    expect(answered.map((s) => presence(s, crashed)).filter((p) => p !== 'present')).toEqual([]);
    expect(answered.map((s) => auditProblem(s, s.attempts[0], crashed)).filter(Boolean)).toEqual([]);
    const atCrash = unanswered.map((s) => presence(s, crashed));
    expect(atCrash.filter((p) => p !== 'present' && p !== 'absent')).toEqual([]);
    const crashVerdict = await auditVerify(env);
    expect(crashVerdict).toMatch(/^ok: \d+ events/);

    // Restart on the same data; every unanswered submission is retried with the same bytes.
    server = await resources.start(env);
    for (const [i, submission] of unanswered.entries()) {
      const retry = await send(server.baseUrl, rtg, submission);
      const outcome = `${submission.kind} ${submission.masterIdentifiers[0]} (${atCrash[i]} at the crash): ${retry.status ?? retry.error}`;
      if (atCrash[i] === 'absent') {
        expect([outcome, succeeded(submission, retry)]).toEqual([outcome, true]);
      } else if (submission.kind === 'bundle') {
        // a Bundle retry is safe: same identifier, same bytes, 200 with the stored Bundle's Location
        expect([outcome, retry.status]).toEqual([outcome, 200]);
        expect(retry.location).toMatch(/\/fhir\/Bundle\/[\w-]+$/);
      } else {
        // pointers and ITI-65 are not idempotent: the identifier is taken, so 409, never a second copy
        expect([outcome, retry.status]).toEqual([outcome, 409]);
      }
    }

    expect(await readBackAll(server.baseUrl, rtg, submissions)).toEqual([]);

    const settled = await snapshot(reader);
    const acknowledgedIds = answered.flatMap((s) =>
      s.masterIdentifiers.map((value) => byMaster(settled, value)?.id ?? `missing ${value}`),
    );
    expect(acknowledgedIds.filter((id) => !settled.references.has(id))).toEqual([]);
    const notifications = await checkNotifications({
      receiver: harness.receiver,
      reader,
      snap: settled,
      subscribers: [
        { hook: trustHook, expects: () => true },
        { hook: gpHook, expects: (r) => !byPointer(r) },
      ],
      timeoutMs: NOTIFICATION_TIMEOUT_MS,
    });
    await waitForDrainedOutbox(reader, 10_000);

    // After a clean stop the database is whole, and the audit chain verifies.
    await resources.stop(server, 'SIGTERM');
    const final = await snapshot(reader);
    expect([...final.references.keys()].sort()).toEqual([...settled.references.keys()].sort());
    expect(await halfVisible(final, blobs)).toEqual([]);
    expect(submissions.map((s) => presence(s, final)).filter((p) => p !== 'present')).toEqual([]);
    expect(
      unanswered
        .map((s) => ({ s, retry: acknowledgement(s) }))
        .filter(({ retry }) => retry !== undefined)
        .map(({ s, retry }) => auditProblem(s, retry!, final))
        .filter(Boolean),
    ).toEqual([]);
    const finalVerdict = await auditVerify(env);
    expect(finalVerdict).toMatch(/^ok: \d+ events/);

    const storedAnyway = unanswered.filter((_, i) => atCrash[i] === 'present');
    console.log(
      `[sigkill-burst ${dialect}] ${Math.round((Date.now() - started) / 1000)} s: ${answered.length} acknowledged ` +
        `(${tally(answered.map((s) => s.kind))}), ${reads.length} reads, ${unanswered.length} unanswered ` +
        `(${tally(unanswered.map((s) => s.kind))}; ${storedAnyway.length} stored anyway); retries answered ` +
        `${tally(unanswered.map((s) => s.attempts[1]?.status))}; ${await orphanBlobs(blobs, final)} unreferenced blobs; ` +
        `${notifications.expected} notifications expected, ${notifications.requests} received ` +
        `(${notifications.repeats} repeats); audit after crash "${crashVerdict}", after restart "${finalVerdict}"`,
    );
  }

  it.concurrent(
    'SQLite + file blobs: every acknowledged write survives, nothing is half-visible, every retry succeeds',
    () =>
      withResources(async (resources) => {
        const dir = await resources.tempDir('faults-sigkill-sqlite');
        const database = path.join(dir, 'registry.db');
        const env = await faultEnv(resources, dir, {
          DATABASE_URL: `sqlite:${database}`,
          BLOB_STORE: `file:${path.join(dir, 'blobs')}`,
        });
        await crashUnderLoad(resources, 'sqlite', env, sqliteReader(database));
      }),
    240_000,
  );

  it.concurrent(
    'PostgreSQL + file blobs: every acknowledged write survives, nothing is half-visible, every retry succeeds',
    () =>
      withResources(async (resources) => {
        const database = await createTestDatabase();
        resources.onRelease(() => database.drop());
        const dir = await resources.tempDir('faults-sigkill-pg');
        const env = await faultEnv(resources, dir, {
          DATABASE_URL: database.url,
          BLOB_STORE: `file:${path.join(dir, 'blobs')}`,
        });
        await crashUnderLoad(resources, 'postgres', env, postgresReader(database.url));
      }),
    240_000,
  );
});
