import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { freePort } from '../utils/free-port.js';
import { createTestDatabase } from '../utils/postgres.js';
import type { ServerProcess } from '../utils/server-process.js';
import { untruthfulAnswers, verifyRegistry } from './support/checks.js';
import { retryUnacknowledged } from './support/load.js';
import { attachmentUrls, type DocumentReferenceRow, fileBlobs, postgresReader } from './support/registry-state.js';
import { faultEnv, subscribe, tokenFor, withResources } from './support/resources.js';
import { useFaultHarness } from './support/harness.js';
import { isStored, ODS, Phases, tally } from './support/submissions.js';

/*
 * Item 8: two api processes and two workers share one PostgreSQL database (and one blob folder and DATA_DIR, as
 * replicas behind a load balancer would) under a steady load spread over both apis. One api and one worker are
 * SIGKILLed mid-run; the load goes on against the survivor. Every event reaches each subscription (counted by
 * event id), the outbox drains to zero, and the audit chain both apis wrote verifies.
 */

const byPointer = (reference: DocumentReferenceRow) =>
  reference.bundleId === null && !attachmentUrls(reference).some((url) => url.includes('/fhir/Binary/'));

describe('two apis and two workers on one PostgreSQL, one of each SIGKILLed under load (compiled server)', () => {
  const harness = useFaultHarness();

  it(
    'delivers every event per subscription, drains the outbox and keeps the audit chain whole',
    () =>
      withResources(async (resources) => {
        const phases = new Phases();
        const database = await createTestDatabase();
        resources.onRelease(() => database.drop());
        const dir = await resources.tempDir('faults-multi');
        const env = await faultEnv(resources, dir, {
          DATABASE_URL: database.url,
          BLOB_STORE: `file:${path.join(dir, 'blobs')}`,
        });
        // one public base URL for all replicas, as behind a load balancer
        const shared = { ...env, BASE_URL: `http://127.0.0.1:${env.PORT}` };
        // the first api runs the migrations and makes the keys; the others start after it
        const apiA = await resources.start({ ...shared, APP_ROLES: 'api' });
        const workerEnv = { ...shared, APP_ROLES: 'worker', LOG_LEVEL: 'info' };
        const [apiB, workerA, workerB] = await Promise.all([
          resources.start({ ...shared, APP_ROLES: 'api', PORT: String(await freePort()) }),
          resources.start(workerEnv),
          resources.start(workerEnv),
        ]);
        phases.mark('start 4 processes');
        const gp = await tokenFor(dir, 'Y12345');
        const rtg = await tokenFor(dir, 'RTG');
        const gpHook = `/gp-${randomUUID()}`;
        const trustHook = `/trust-${randomUUID()}`;
        await subscribe(apiA.baseUrl, gp, `DocumentReference?recipient=${ODS}|Y12345`, harness.receiver.url(gpHook));
        await subscribe(
          apiB.baseUrl,
          rtg,
          `DocumentReference?custodian.identifier=${ODS}|RTG`,
          harness.receiver.url(trustHook),
        );

        let apis: ServerProcess[] = [apiA, apiB];
        const load = resources.load({
          targets: () => apis.map((a) => a.baseUrl),
          token: rtg,
          submitters: 8,
          readers: 2,
        });
        await load.waitForAcknowledged(60, 30_000);
        await Promise.all([resources.stop(apiA, 'SIGKILL'), resources.stop(workerA, 'SIGKILL')]);
        apis = [apiB];
        await load.waitForAcknowledged(60, 30_000);
        await load.stop();
        phases.mark('load, kill one api and one worker, load');

        const { submissions, reads } = load;
        // the killed api's requests in flight went unanswered; every answer was the truth
        expect(untruthfulAnswers(submissions, [], { unanswered: true })).toEqual([]);
        const retries = await retryUnacknowledged(() => [apiB.baseUrl], rtg, submissions);
        expect(submissions.filter((s) => !isStored(s)).map((s) => s.masterIdentifiers[0])).toEqual([]);
        const verified = await verifyRegistry({
          baseUrl: apiB.baseUrl,
          token: rtg,
          submissions,
          reader: postgresReader(database.url),
          blobs: fileBlobs(path.join(dir, 'blobs')),
          receiver: harness.receiver,
          subscribers: [
            { hook: trustHook, expects: () => true },
            { hook: gpHook, expects: (r) => !byPointer(r) },
          ],
          env,
        });
        phases.mark('retry, verify');
        console.log(
          `[multi-process] ${phases.toString()}: ${submissions.length} submissions, first answers ` +
            `${tally(submissions.map((s) => s.attempts[0].status ?? 'none'))}, retries ${tally(retries)}; ` +
            `${reads.length} reads answered ${tally(reads.map((r) => r.status ?? 'none'))}; worker B alive: ` +
            `${workerB.pid > 0}; ${verified.documents} DocumentReferences, ${verified.notifications.expected} notifications ` +
            `expected, ${verified.notifications.requests} received (${verified.notifications.repeats} repeats); audit "${verified.audit}"`,
        );
      }),
    180_000,
  );
});
