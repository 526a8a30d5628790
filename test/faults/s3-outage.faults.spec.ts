import { randomUUID } from 'node:crypto';
import { createTestDatabase } from '../utils/postgres.js';
import { s3Env, startS3 } from '../utils/start-s3.js';
import { answeredWith, untruthfulAnswers, verifyRegistry, waitUntilReady } from './support/checks.js';
import { retryUnacknowledged } from './support/load.js';
import { postgresReader, presence, s3Blobs, snapshot } from './support/registry-state.js';
import { faultEnv, subscribe, tokenFor, withResources } from './support/resources.js';
import { useFaultHarness } from './support/harness.js';
import { isAcknowledged, isStored, ODS, settle, tally } from './support/submissions.js';

/*
 * Item 5: the S3 store (s3rver) stops for 3 s under a steady load of submissions and reads. While it is down a
 * submission is answered 503 with Retry-After and nothing of it is visible; a read of a stored document is 503,
 * never 404 (the document exists; its bytes are out of reach); never a 500. When it returns the server is ready
 * again without a restart, and the client's retries succeed.
 */

const OUTAGE_MS = 3_000;

describe('S3 store stopped under load (compiled server, PostgreSQL + s3rver)', () => {
  const harness = useFaultHarness();

  it(
    'answers 503 with Retry-After while S3 is down, keeps nothing half-stored, and recovers on its own',
    () =>
      withResources(async (resources) => {
        const started = Date.now();
        const s3 = await startS3();
        resources.onRelease(() => s3.stop());
        const database = await createTestDatabase();
        resources.onRelease(() => database.drop());
        const dir = await resources.tempDir('faults-s3');
        const env = await faultEnv(resources, dir, {
          DATABASE_URL: database.url,
          ...s3Env(s3),
        });
        const server = await resources.start(env);
        const rtg = await tokenFor(dir, 'RTG');
        const hook = `/s3-${randomUUID()}`;
        await subscribe(
          server.baseUrl,
          rtg,
          `DocumentReference?custodian.identifier=${ODS}|RTG`,
          harness.receiver.url(hook),
        );

        const load = resources.load({ targets: () => [server.baseUrl], token: rtg, submitters: 8, readers: 2 });
        await load.waitForAcknowledged(40, 30_000);

        const outageStart = Date.now();
        await s3.halt();
        await settle(OUTAGE_MS / 2);
        const readyDuringOutage = await fetch(`${server.baseUrl}/health/ready`);
        const readyBody = (await readyDuringOutage.json()) as { details: Record<string, { status: string }> };
        await settle(OUTAGE_MS / 2);
        await s3.resume();
        const outageEnd = Date.now();
        const readyAfterMs = await waitUntilReady(server.baseUrl, 10_000);
        await load.waitForAcknowledged(30, 30_000);
        await load.stop();

        const { submissions, reads } = load;
        // the outage was felt, and told truthfully: 503 with Retry-After, never a 500, never silence
        expect(untruthfulAnswers(submissions, [503])).toEqual([]);
        expect(answeredWith(submissions, 503)).toBeGreaterThan(0);
        expect(readyDuringOutage.status).toBe(503);
        expect(readyBody.details.blobStore.status).toBe('down');
        // reads of stored documents: 200 with the very bytes, or 503 during the outage; never 404, never 500
        expect(
          reads.filter((r) => !(r.status === 200 && r.identical !== false) && !(r.status === 503 && r.retryAfter)),
        ).toEqual([]);
        const documentReads503 = reads.filter((r) => r.what === 'document' && r.status === 503);
        expect(documentReads503.length).toBeGreaterThan(0);
        // searches only touch the database: they keep working
        expect(reads.filter((r) => r.what === 'search' && r.status !== 200)).toEqual([]);
        // a 503 is the whole truth: nothing of that submission is visible
        const refused = submissions.filter((s) => !isAcknowledged(s));
        const atRefusal = await snapshot(postgresReader(database.url));
        expect(
          refused
            .filter((s) => presence(s, atRefusal) !== 'absent')
            .map(
              (s) =>
                `${s.kind} answered ${s.attempts.map((a) => a.status ?? a.error).join(', ')}: ${presence(s, atRefusal)}`,
            ),
        ).toEqual([]);

        // the client retries what was refused: every retry succeeds now
        const retries = await retryUnacknowledged(() => [server.baseUrl], rtg, submissions);
        expect(submissions.filter((s) => !isStored(s)).map((s) => s.masterIdentifiers[0])).toEqual([]);

        const verified = await verifyRegistry({
          baseUrl: server.baseUrl,
          token: rtg,
          submissions,
          reader: postgresReader(database.url),
          blobs: s3Blobs({ ...s3, prefix: 'blobs/' }),
          receiver: harness.receiver,
          subscribers: [{ hook, expects: () => true }],
          env,
        });
        const during = submissions
          .flatMap((s) => s.attempts)
          .filter((a) => a.startedAt >= outageStart && a.startedAt < outageEnd);
        console.log(
          `[s3-outage] ${Math.round((Date.now() - started) / 1000)} s: ${submissions.length} submissions, ` +
            `${during.length} sent during the ${OUTAGE_MS} ms outage answered ${tally(during.map((a) => a.status ?? a.error))}; ` +
            `all answers ${tally(submissions.flatMap((s) => s.attempts.map((a) => a.status ?? a.error)))}; ` +
            `${reads.length} reads answered ${tally(reads.map((r) => `${r.what} ${r.status ?? r.error}`))}; ` +
            `ready again ${readyAfterMs} ms after S3 returned; ${refused.length} refused, retries answered ${tally(retries)}; ` +
            `${verified.documents} DocumentReferences, ${verified.notifications.requests} notifications ` +
            `(${verified.notifications.repeats} repeats); audit "${verified.audit}"`,
        );
      }),
    180_000,
  );
});
