import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { answeredWith, untruthfulAnswers, verifyRegistry, waitUntilReady } from './support/checks.js';
import { retryUnacknowledged } from './support/load.js';
import { startPostgresCluster } from './support/pg-cluster.js';
import { fileBlobs, postgresReader } from './support/registry-state.js';
import { faultEnv, subscribe, tokenFor, withResources } from './support/resources.js';
import { useFaultHarness } from './support/harness.js';
import { isStored, ODS, settle, tally } from './support/submissions.js';

/*
 * Item 4: PostgreSQL (a cluster of the test's own) stops with `pg_ctl -m immediate` (a crash) under a steady load
 * and starts again 3 s later. While it is down every request is answered 503 with Retry-After, within the request
 * timeout; never a 500, never a hang. The connection pool recovers without a process restart: the same process is
 * ready again within seconds, submissions succeed again, and nothing acknowledged is lost.
 */

const OUTAGE_MS = 3_000;
const REQUEST_TIMEOUT_MS = 10_000;

describe('PostgreSQL restarted under load (compiled server, own cluster + file blobs)', () => {
  const harness = useFaultHarness();

  it(
    'answers 503 with Retry-After during the outage and recovers without a restart, losing nothing',
    () =>
      withResources(async (resources) => {
        const started = Date.now();
        const cluster = await startPostgresCluster();
        resources.onRelease(() => cluster.remove());
        const dir = await resources.tempDir('faults-pg-restart');
        const env = await faultEnv(resources, dir, {
          DATABASE_URL: cluster.url,
          BLOB_STORE: `file:${path.join(dir, 'blobs')}`,
          REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        });
        const server = await resources.start(env);
        const rtg = await tokenFor(dir, 'RTG');
        const hook = `/pg-${randomUUID()}`;
        await subscribe(
          server.baseUrl,
          rtg,
          `DocumentReference?custodian.identifier=${ODS}|RTG`,
          harness.receiver.url(hook),
        );

        const load = resources.load({ targets: () => [server.baseUrl], token: rtg, submitters: 8, readers: 2 });
        await load.waitForAcknowledged(40, 30_000);

        const outageStart = Date.now();
        await cluster.stop('immediate');
        await settle(OUTAGE_MS / 2);
        const readyDuringOutage = await fetch(`${server.baseUrl}/health/ready`, {
          signal: AbortSignal.timeout(15_000),
        });
        const readyBody = (await readyDuringOutage.json()) as { details: Record<string, { status: string }> };
        await settle(OUTAGE_MS / 2);
        await cluster.start();
        const outageEnd = Date.now();
        const readyAfterMs = await waitUntilReady(server.baseUrl, 15_000);
        await load.waitForAcknowledged(30, 30_000);
        await load.stop();

        const { submissions, reads } = load;
        expect(untruthfulAnswers(submissions, [503])).toEqual([]);
        expect(answeredWith(submissions, 503)).toBeGreaterThan(0);
        // never a hang past the request timeout
        const attempts = submissions.flatMap((s) => s.attempts);
        const slowest = Math.max(
          ...attempts.map((a) => a.endedAt! - a.startedAt),
          ...reads.map((r) => r.endedAt - r.startedAt),
        );
        expect(slowest).toBeLessThan(REQUEST_TIMEOUT_MS + 2_000);
        expect(readyDuringOutage.status).toBe(503);
        expect(readyBody.details.database.status).toBe('down');
        expect(reads.filter((r) => r.status !== 200 && !(r.status === 503 && r.retryAfter))).toEqual([]);
        expect(reads.filter((r) => r.status === 200 && r.identical === false)).toEqual([]);

        // a 503 during COMMIT may hide a write that was kept: its retry is then answered as a retry
        const retries = await retryUnacknowledged(() => [server.baseUrl], rtg, submissions, { ambiguous: [503] });
        expect(submissions.filter((s) => !isStored(s)).map((s) => s.masterIdentifiers[0])).toEqual([]);

        const verified = await verifyRegistry({
          baseUrl: server.baseUrl,
          token: rtg,
          submissions,
          reader: postgresReader(cluster.url),
          blobs: fileBlobs(path.join(dir, 'blobs')),
          receiver: harness.receiver,
          subscribers: [{ hook, expects: () => true }],
          env,
        });
        const during = attempts.filter((a) => a.startedAt >= outageStart && a.startedAt < outageEnd);
        console.log(
          `[postgres-restart] ${Math.round((Date.now() - started) / 1000)} s: ${submissions.length} submissions, ` +
            `${during.length} sent during the ${outageEnd - outageStart} ms outage answered ${tally(during.map((a) => a.status ?? a.error))}; ` +
            `all answers ${tally(attempts.map((a) => a.status ?? a.error))}; slowest ${slowest} ms; ` +
            `${reads.length} reads answered ${tally(reads.map((r) => `${r.what} ${r.status ?? r.error}`))}; ` +
            `ready again ${readyAfterMs} ms after PostgreSQL started; retries answered ${tally(retries)}; ` +
            `${verified.documents} DocumentReferences, ${verified.notifications.requests} notifications ` +
            `(${verified.notifications.repeats} repeats); audit "${verified.audit}"`,
        );
      }),
    180_000,
  );
});
