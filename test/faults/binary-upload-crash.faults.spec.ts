import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { BigBody, digestOf, upload } from './support/big-upload.js';
import { untruthfulAnswers, verifyRegistry } from './support/checks.js';
import { retryUnacknowledged } from './support/load.js';
import { fileBlobs, halfVisible, snapshot, sqliteReader } from './support/registry-state.js';
import { faultEnv, subscribe, tokenFor, withResources } from './support/resources.js';
import { useFaultHarness } from './support/harness.js';
import { isStored, ODS, Phases, tally } from './support/submissions.js';

/*
 * Item 1, the large upload: a 200 MiB Binary is half sent when the server is SIGKILLed, with a steady load of
 * document submissions and reads going on. After the restart nothing of the upload is visible (no Binary row, no
 * blob under a key), the client's retry of the whole upload is stored and reads back byte-identical, and the
 * submissions the kill cut off are retried as usual.
 */

const SIZE = 200 * 1024 * 1024;

describe('SIGKILL during a 200 MiB Binary upload (compiled server, SQLite + file blobs)', () => {
  const harness = useFaultHarness();

  it(
    'leaves nothing of the cut-off upload visible, and its retry reads back byte-identical',
    () =>
      withResources(async (resources) => {
        const phases = new Phases();
        const dir = await resources.tempDir('faults-binary');
        const database = path.join(dir, 'registry.db');
        const blobDir = path.join(dir, 'blobs');
        const env = await faultEnv(resources, dir, {
          DATABASE_URL: `sqlite:${database}`,
          BLOB_STORE: `file:${blobDir}`,
        });
        let server = await resources.start(env);
        const rtg = await tokenFor(dir, 'RTG');
        const hook = `/binary-${randomUUID()}`;
        await subscribe(
          server.baseUrl,
          rtg,
          `DocumentReference?custodian.identifier=${ODS}|RTG`,
          harness.receiver.url(hook),
        );
        const big = new BigBody(SIZE);

        const load = resources.load({ targets: () => [server.baseUrl], token: rtg, submitters: 4, readers: 1 });
        await load.waitForAcknowledged(20, 30_000);
        const first = big.stream(SIZE / 2);
        const cutOff = upload(`${server.baseUrl}/fhir/Binary`, rtg, first.body, SIZE);
        await first.paused;
        await resources.stop(server, 'SIGKILL');
        first.resume();
        const cutOffAnswer = await cutOff;
        await load.stop();
        phases.mark('load, half the upload, kill');
        expect(cutOffAnswer.status).toBeUndefined();
        expect(first.sent()).toBeGreaterThanOrEqual(SIZE / 2);

        // the crash state: nothing of the upload, nothing half-visible
        const crashed = await snapshot(sqliteReader(database));
        expect(crashed.binaries.filter((b) => b.size >= SIZE / 2)).toEqual([]);
        expect(await halfVisible(crashed, fileBlobs(blobDir))).toEqual([]);
        const tempFiles = (await readdir(blobDir, { recursive: true })).filter((name) => name.endsWith('.tmp'));

        server = await resources.start(env);
        const second = big.stream();
        const stored = await upload(`${server.baseUrl}/fhir/Binary`, rtg, second.body, SIZE);
        expect([stored.status, stored.body?.slice(0, 200)]).toEqual([201, expect.any(String)]);
        const binaryId = new URL(stored.location!).pathname.split('/').pop()!;
        const readBack = await digestOf(`${server.baseUrl}/fhir/Binary/${binaryId}`, rtg);
        expect(readBack).toEqual({ status: 200, size: SIZE, sha256: big.sha256 });
        phases.mark('restart, upload again, read back');

        const { submissions } = load;
        expect(untruthfulAnswers(submissions, [], { unanswered: true })).toEqual([]);
        const retries = await retryUnacknowledged(() => [server.baseUrl], rtg, submissions);
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
          standaloneBinaries: new Set([binaryId]),
        });
        phases.mark('retry, verify');
        console.log(
          `[binary-upload-crash] ${phases.toString()}: killed with ${Math.round(first.sent() / 1048576)} MiB of ` +
            `${SIZE / 1048576} MiB sent (client saw ${cutOffAnswer.error}); ${tempFiles.length} temp files left ` +
            `(invisible, dot-named); the retry stored Binary/${binaryId}, read back ${readBack.size} bytes, same SHA-256; ` +
            `${submissions.length} submissions, first answers ${tally(submissions.map((s) => s.attempts[0].status ?? 'none'))}, ` +
            `retries ${tally(retries)}; ${verified.documents} DocumentReferences, ${verified.notifications.requests} ` +
            `notifications; audit "${verified.audit}"`,
        );
      }),
    240_000,
  );
});
