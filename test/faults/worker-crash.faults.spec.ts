import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { createTestDatabase } from '../utils/postgres.js';
import { untruthfulAnswers, verifyRegistry } from './support/checks.js';
import {
  attachmentUrls,
  type DocumentReferenceRow,
  fileBlobs,
  postgresReader,
  undelivered,
} from './support/registry-state.js';
import { faultEnv, subscribe, tokenFor, withResources } from './support/resources.js';
import { useFaultHarness } from './support/harness.js';
import { ODS, Phases, settle, tally } from './support/submissions.js';

/*
 * Item 2: the worker (a process of its own, APP_ROLES=worker, beside an api process) is SIGKILLed twice under a
 * steady load: once while deliveries to a slow endpoint are in flight, and then left dead while documents keep
 * being committed (their events wait in the outbox, or queued in Redis, between commit and delivery). After it
 * restarts every event reaches each subscription; a delivery the kill cut off comes again as the same message
 * (same webhook-id, the event's id), never as a second event.
 */

const LOCK_MS = 2_000;
const SLOW_ENDPOINT_MS = 1_500;

const byPointer = (reference: DocumentReferenceRow) =>
  reference.bundleId === null && !attachmentUrls(reference).some((url) => url.includes('/fhir/Binary/'));

describe('worker SIGKILLed between commit and delivery and during a delivery (compiled api + worker)', () => {
  const harness = useFaultHarness();

  it(
    'delivers every event to each subscription after the worker restarts; repeats only as the same webhook-id',
    () =>
      withResources(async (resources) => {
        const phases = new Phases();
        const database = await createTestDatabase();
        resources.onRelease(() => database.drop());
        const dir = await resources.tempDir('faults-worker');
        const env = await faultEnv(resources, dir, {
          DATABASE_URL: database.url,
          BLOB_STORE: `file:${path.join(dir, 'blobs')}`,
          DELIVERY_LOCK_MS: String(LOCK_MS),
        });
        // the api process first: it runs the migrations and makes the keys the worker shares through DATA_DIR
        const api = await resources.start({ ...env, APP_ROLES: 'api' });
        const workerEnv = { ...env, APP_ROLES: 'worker', LOG_LEVEL: 'info' };
        let worker = await resources.start(workerEnv);
        const gp = await tokenFor(dir, 'Y12345');
        const rtg = await tokenFor(dir, 'RTG');
        const gpHook = `/gp-${randomUUID()}`;
        const trustHook = `/trust-${randomUUID()}`;
        harness.receiver.slow(trustHook, SLOW_ENDPOINT_MS);
        await subscribe(api.baseUrl, gp, `DocumentReference?recipient=${ODS}|Y12345`, harness.receiver.url(gpHook));
        await subscribe(
          api.baseUrl,
          rtg,
          `DocumentReference?custodian.identifier=${ODS}|RTG`,
          harness.receiver.url(trustHook),
        );

        const load = resources.load({ targets: () => [api.baseUrl], token: rtg, submitters: 6, readers: 1 });
        await load.waitForAcknowledged(30, 30_000);

        // 1. during deliveries: the slow endpoint holds several
        const deadline = Date.now() + 20_000;
        while (harness.receiver.inFlight(trustHook) < 2 && Date.now() < deadline) {
          await settle(20);
        }
        const inFlightAtKill = harness.receiver.inFlight(trustHook);
        expect(inFlightAtKill).toBeGreaterThanOrEqual(1);
        await resources.stop(worker, 'SIGKILL');
        harness.receiver.slow(trustHook, 0); // only the deliveries cut off need the lock to expire
        phases.mark('load, kill during deliveries');

        // 2. between commit and delivery: documents keep coming with no worker to route or send them
        await load.waitForAcknowledged(30, 30_000);
        const backlog = await undelivered(postgresReader(database.url));
        expect(backlog.unrouted + backlog.undelivered).toBeGreaterThan(0);
        worker = await resources.start(workerEnv);

        // once more, a moment after the restart, while it works through the backlog
        await settle(1_000);
        await resources.stop(worker, 'SIGKILL');
        await load.waitForAcknowledged(10, 30_000);
        await load.stop();
        worker = await resources.start(workerEnv);
        phases.mark('backlog, restart, kill again');

        const { submissions } = load;
        expect(untruthfulAnswers(submissions, [])).toEqual([]);
        const verified = await verifyRegistry({
          baseUrl: api.baseUrl,
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
          notificationTimeoutMs: 60_000,
        });
        phases.mark('verify');
        // the kill during deliveries was felt: what it cut off came again, as the same message
        expect(verified.notifications.repeats).toBeGreaterThanOrEqual(1);
        console.log(
          `[worker-crash] ${phases.toString()}: ${submissions.length} submissions answered ` +
            `${tally(submissions.flatMap((s) => s.attempts.map((a) => a.status ?? a.error)))}; ${inFlightAtKill} deliveries ` +
            `in flight at the first kill; backlog while the worker was dead: ${backlog.unrouted} unrouted, ` +
            `${backlog.undelivered} undelivered; ${verified.documents} DocumentReferences, ${verified.notifications.expected} ` +
            `notifications expected, ${verified.notifications.requests} received (${verified.notifications.repeats} repeats, ` +
            `each the same webhook-id); audit "${verified.audit}"`,
        );
      }),
    180_000,
  );
});
