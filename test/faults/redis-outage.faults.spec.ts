import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { startRedisServer } from '../utils/redis-server.js';
import { untruthfulAnswers, verifyRegistry, waitUntilReady } from './support/checks.js';
import { fileBlobs, sqliteReader, undelivered } from './support/registry-state.js';
import { faultEnv, subscribe, tokenFor, withResources } from './support/resources.js';
import { useFaultHarness } from './support/harness.js';
import { ODS, Phases, settle, tally } from './support/submissions.js';

/*
 * Item 3: Redis (a private redis-server without persistence, so a restart loses every queued job) is killed under
 * a steady load and started again 2.5 s later. Submissions keep getting 201 and reads keep working throughout
 * (the queue only carries notifications); every notification arrives after Redis returns, each event once per
 * subscription, and the outbox drains to zero.
 */

const OUTAGE_MS = 2_500;

describe('Redis killed and restarted under load (compiled server, SQLite + file blobs)', () => {
  const harness = useFaultHarness();

  it(
    'keeps accepting and serving documents while Redis is down, and delivers every notification once it is back',
    () =>
      withResources(async (resources) => {
        const phases = new Phases();
        const redis = await startRedisServer();
        resources.onRelease(() => redis.stop());
        const dir = await resources.tempDir('faults-redis');
        const database = path.join(dir, 'registry.db');
        const env = await faultEnv(resources, dir, {
          DATABASE_URL: `sqlite:${database}`,
          BLOB_STORE: `file:${path.join(dir, 'blobs')}`,
          REDIS_URL: redis.url,
        });
        const server = await resources.start(env);
        const rtg = await tokenFor(dir, 'RTG');
        const gp = await tokenFor(dir, 'Y12345');
        const trustHook = `/trust-${randomUUID()}`;
        const gpHook = `/gp-${randomUUID()}`;
        await subscribe(
          server.baseUrl,
          rtg,
          `DocumentReference?custodian.identifier=${ODS}|RTG`,
          harness.receiver.url(trustHook),
        );
        await subscribe(server.baseUrl, gp, `DocumentReference?recipient=${ODS}|Y12345`, harness.receiver.url(gpHook));

        const load = resources.load({ targets: () => [server.baseUrl], token: rtg, submitters: 8, readers: 2 });
        await load.waitForAcknowledged(40, 30_000);
        phases.mark('start, load');

        const outageStart = Date.now();
        await redis.stop();
        await settle(OUTAGE_MS / 2);
        const readyDuringOutage = (await (await fetch(`${server.baseUrl}/health/ready`)).json()) as {
          status: string;
          details: Record<string, { status: string }>;
        };
        await settle(OUTAGE_MS / 2);
        const backlog = await undelivered(sqliteReader(database));
        await redis.start();
        const outageEnd = Date.now();
        const readyAfterMs = await waitUntilReady(server.baseUrl, 10_000);
        await load.waitForAcknowledged(30, 30_000);
        await load.stop();
        phases.mark('outage, load');

        const { submissions, reads } = load;
        // Redis carries only notifications: every submission and read succeeds throughout
        expect(untruthfulAnswers(submissions, [])).toEqual([]);
        expect(reads.filter((r) => r.status !== 200 || r.identical === false)).toEqual([]);
        const during = submissions
          .flatMap((s) => s.attempts)
          .filter((a) => a.startedAt >= outageStart && a.startedAt < outageEnd);
        expect(during.length).toBeGreaterThan(0);
        // readiness reports Redis but does not fail for it (notifications wait in the outbox)
        expect(readyDuringOutage.status).toBe('degraded');
        expect(readyDuringOutage.details.redis.status).toBe('degraded');

        const verified = await verifyRegistry({
          baseUrl: server.baseUrl,
          token: rtg,
          submissions,
          reader: sqliteReader(database),
          blobs: fileBlobs(path.join(dir, 'blobs')),
          receiver: harness.receiver,
          subscribers: [
            { hook: trustHook, expects: () => true },
            {
              hook: gpHook,
              expects: (r) => r.bundleId !== null || /\/fhir\/Binary\//.test(JSON.stringify(r.resource.content)),
            },
          ],
          env,
        });
        phases.mark('verify');
        console.log(
          `[redis-outage] ${phases.toString()}: ${submissions.length} submissions answered ` +
            `${tally(submissions.flatMap((s) => s.attempts.map((a) => a.status ?? a.error)))}, ${during.length} of them ` +
            `during the ${outageEnd - outageStart} ms outage; ${reads.length} reads answered ${tally(reads.map((r) => r.status ?? r.error))}; ` +
            `notification backlog at the end of the outage: ${backlog.unrouted} unrouted, ${backlog.undelivered} undelivered; ` +
            `ready ${readyAfterMs} ms after Redis returned; ${verified.documents} DocumentReferences, ` +
            `${verified.notifications.expected} notifications expected, ${verified.notifications.requests} received ` +
            `(${verified.notifications.repeats} repeats); audit "${verified.audit}"`,
        );
      }),
    180_000,
  );
});
