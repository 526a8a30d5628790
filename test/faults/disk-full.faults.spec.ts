import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { answeredWith, untruthfulAnswers, verifyRegistry, waitUntilReady } from './support/checks.js';
import { retryUnacknowledged } from './support/load.js';
import { fileBlobs, presence, snapshot, sqliteReader } from './support/registry-state.js';
import { faultEnv, subscribe, tokenFor, withResources } from './support/resources.js';
import { useFaultHarness } from './support/harness.js';
import { mountSmallFilesystem } from './support/small-filesystem.js';
import { isAcknowledged, isStored, ODS, Phases, settle, tally } from './support/submissions.js';

/*
 * Item 6: the filesystem blob store (a 24 MiB tmpfs of the test's own) fills up under a steady load. While it is
 * full a submission is answered 507 with Retry-After and nothing of it is visible (no row, no blob, no temp file
 * left behind); reads of stored documents keep working; the server stays ready. When space returns, the client's
 * retries succeed without a restart.
 */

const FULL_MS = 3_000;

describe('filesystem blob store full under load (compiled server, SQLite + tmpfs blobs)', () => {
  const harness = useFaultHarness();

  it(
    'answers 507 with Retry-After while the disk is full, keeps serving reads, and recovers when space returns',
    () =>
      withResources(async (resources) => {
        const phases = new Phases();
        const disk = await mountSmallFilesystem(24);
        resources.onRelease(() => disk.remove());
        const blobDir = path.join(disk.path, 'blobs');
        const dir = await resources.tempDir('faults-disk-full');
        const database = path.join(dir, 'registry.db');
        const env = await faultEnv(resources, dir, {
          DATABASE_URL: `sqlite:${database}`,
          BLOB_STORE: `file:${blobDir}`,
        });
        const server = await resources.start(env);
        const rtg = await tokenFor(dir, 'RTG');
        const hook = `/disk-${randomUUID()}`;
        await subscribe(
          server.baseUrl,
          rtg,
          `DocumentReference?custodian.identifier=${ODS}|RTG`,
          harness.receiver.url(hook),
        );

        const load = resources.load({ targets: () => [server.baseUrl], token: rtg, submitters: 6, readers: 2 });
        await load.waitForAcknowledged(30, 30_000);
        phases.mark('start, load');

        const ballast = await disk.fill();
        const fullSince = Date.now();
        await settle(FULL_MS / 2);
        const readyWhileFull = await fetch(`${server.baseUrl}/health/ready`);
        await readyWhileFull.arrayBuffer();
        await settle(FULL_MS / 2);
        const fullFor = Date.now() - fullSince;
        await disk.free();
        const readyAfterMs = await waitUntilReady(server.baseUrl, 10_000);
        await load.waitForAcknowledged(20, 30_000);
        await load.stop();
        phases.mark('full, freed, load');

        const { submissions, reads } = load;
        expect(untruthfulAnswers(submissions, [507])).toEqual([]);
        expect(answeredWith(submissions, 507)).toBeGreaterThan(0);
        // reads of what is stored keep working, and the server stays ready: the store answers, it has no room
        expect(reads.filter((r) => r.status !== 200 || r.identical === false)).toEqual([]);
        expect(readyWhileFull.status).toBe(200);
        // a 507 is the whole truth: nothing of the submission is visible, and no temp file is left to fill the disk
        const refused = submissions.filter((s) => !isAcknowledged(s));
        const atRefusal = await snapshot(sqliteReader(database));
        expect(
          refused
            .filter((s) => presence(s, atRefusal) !== 'absent')
            .map(
              (s) =>
                `${s.kind} answered ${s.attempts.map((a) => a.status ?? a.error).join(', ')}: ${presence(s, atRefusal)}`,
            ),
        ).toEqual([]);
        const leftovers = (await readdir(blobDir, { recursive: true })).filter((name) => name.endsWith('.tmp'));
        expect(leftovers).toEqual([]);

        const retries = await retryUnacknowledged(() => [server.baseUrl], rtg, submissions, { retryable: [507] });
        expect(submissions.filter((s) => !isStored(s)).map((s) => s.masterIdentifiers[0])).toEqual([]);
        const verified = await verifyRegistry({
          baseUrl: server.baseUrl,
          token: rtg,
          submissions,
          reader: sqliteReader(database),
          blobs: fileBlobs(blobDir),
          receiver: harness.receiver,
          subscribers: [{ hook, expects: () => true }],
          env,
        });
        phases.mark('retry, verify');
        console.log(
          `[disk-full] ${phases.toString()}: ${submissions.length} submissions answered ` +
            `${tally(submissions.flatMap((s) => s.attempts.map((a) => a.status ?? a.error)))}; the disk was full for ` +
            `${fullFor} ms (ballast ${Math.round(ballast / 1024)} KiB); ${reads.length} reads answered ` +
            `${tally(reads.map((r) => r.status ?? r.error))}; ready ${readyAfterMs} ms after space returned; ` +
            `${refused.length} refused, retries answered ${tally(retries)}; ${verified.documents} DocumentReferences, ` +
            `${verified.notifications.requests} notifications (${verified.notifications.repeats} repeats); audit "${verified.audit}"`,
        );
      }),
    180_000,
  );
});
