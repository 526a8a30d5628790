import path from 'node:path';
import { readdir } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { ensureBuilt } from '../utils/server-process.js';
import { BigBody, upload } from './support/big-upload.js';
import { untruthfulAnswers } from './support/checks.js';
import type { Load } from './support/load.js';
import { faultEnv, releaseAll, tokenFor, withResources } from './support/resources.js';
import { Phases, settle, tally } from './support/submissions.js';

/*
 * Item 9: slow and abusive clients. 100 clients send a Bundle's body one byte a second (slowloris), 20 ask for a
 * 64 MiB Binary and never read the answer, 1,000 keep-alive connections sit idle after one request. Meanwhile a
 * steady load of submissions and reads is served as before; the slow senders are cut off with 408 at
 * REQUEST_TIMEOUT_MS, the non-readers once nothing has moved on their socket for SOCKET_IDLE_TIMEOUT_MS, and the
 * server lets go of every file and socket they held.
 */

const REQUEST_TIMEOUT_MS = 3_000;
const SOCKET_IDLE_TIMEOUT_MS = 3_000;
// more than loopback buffers hold (tcp_rmem may grow to 32 MiB): the server must stall, not hand it all to the kernel
const BINARY_SIZE = 64 * 1024 * 1024;

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** What a client socket got: its first bytes, how many, and when (ms after it was opened) the server ended it. */
interface Received {
  head: string;
  bytes: number;
  closedAfterMs?: number;
}

function watch(socket: Socket): { received: Received; closed: Promise<void> } {
  const from = Date.now();
  const received: Received = { head: '', bytes: 0 };
  socket.on('data', (chunk: Buffer) => {
    if (received.head.length < 200) {
      received.head += chunk.subarray(0, 200).toString('latin1');
    }
    received.bytes += chunk.length;
  });
  socket.once('error', () => undefined);
  const closed = new Promise<void>((resolve) =>
    socket.once('close', () => {
      received.closedAfterMs = Date.now() - from;
      resolve();
    }),
  );
  return { received, closed };
}

/** Waits for `promise`, or `ms` at most (the timer does not keep the test process alive). */
const within = (promise: Promise<void>, ms: number) =>
  Promise.race([promise, new Promise<void>((resolve) => setTimeout(resolve, ms).unref())]);

/** Open file descriptors of a process (sockets and files). */
const openFiles = async (pid: number) => (await readdir(`/proc/${pid}/fd`)).length;

function latency(load: Load): { n: number; p50: number; p95: number; max: number } {
  const times = [
    ...load.submissions.flatMap((s) => s.attempts.map((a) => a.endedAt! - a.startedAt)),
    ...load.reads.map((r) => r.endedAt - r.startedAt),
  ].sort((a, b) => a - b);
  return {
    n: times.length,
    p50: times[Math.floor(times.length / 2)],
    p95: times[Math.floor(times.length * 0.95)],
    max: times.at(-1)!,
  };
}

describe('slow and abusive clients (compiled server, SQLite + file blobs)', () => {
  beforeAll(() => ensureBuilt(), 240_000);
  afterAll(() => releaseAll(), 60_000);

  it(
    'serves everyone else while slowloris senders, non-readers and 1,000 idle connections are cut off in time',
    () =>
      withResources(async (resources) => {
        const phases = new Phases();
        const dir = await resources.tempDir('faults-abuse');
        const env = await faultEnv(resources, dir, {
          DATABASE_URL: `sqlite:${path.join(dir, 'registry.db')}`,
          BLOB_STORE: `file:${path.join(dir, 'blobs')}`,
          REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
          SOCKET_IDLE_TIMEOUT_MS: String(SOCKET_IDLE_TIMEOUT_MS),
        });
        const server = await resources.start(env);
        const port = Number(env.PORT);
        const rtg = await tokenFor(dir, 'RTG');
        const big = new BigBody(BINARY_SIZE);
        const stored = await upload(`${server.baseUrl}/fhir/Binary`, rtg, big.stream().body, BINARY_SIZE);
        expect(stored.status).toBe(201);
        const binaryPath = new URL(stored.location!).pathname;

        // a baseline: the same load with nobody abusing the server
        const quiet = resources.load({ targets: () => [server.baseUrl], token: rtg, submitters: 4, readers: 2 });
        await settle(3_000);
        await quiet.stop();
        const baselineFiles = await openFiles(server.pid);
        phases.mark('baseline');

        // 1,000 keep-alive connections, each after one answered request, then silent
        const idle = await Promise.all(
          Array.from({ length: 1000 }, async () => {
            const socket = await open(port);
            const answered = new Promise<void>((resolve) => socket.once('data', () => resolve()));
            socket.write('GET /health/live HTTP/1.1\r\nHost: registry\r\nConnection: keep-alive\r\n\r\n');
            await answered;
            return socket;
          }),
        );
        // 100 slowloris senders: headers promptly, then the body a byte a second
        const slowSenders = await Promise.all(
          Array.from({ length: 100 }, async () => {
            const socket = await open(port);
            const watched = watch(socket);
            socket.write(
              `POST /fhir/Bundle HTTP/1.1\r\nHost: registry\r\nAuthorization: Bearer ${rtg}\r\n` +
                'Content-Type: application/fhir+json\r\nContent-Length: 5000\r\n\r\n{',
            );
            const drip = setInterval(() => socket.writable && socket.write(' '), 1_000);
            void watched.closed.then(() => clearInterval(drip));
            return watched;
          }),
        );
        // 20 clients that ask for 64 MiB and never read a byte of it
        const nonReaders = await Promise.all(
          Array.from({ length: 20 }, async () => {
            const socket = await open(port);
            const watched = watch(socket);
            socket.pause();
            socket.write(`GET ${binaryPath} HTTP/1.1\r\nHost: registry\r\nAuthorization: Bearer ${rtg}\r\n\r\n`);
            return { socket, ...watched };
          }),
        );
        await settle(500);
        const abuseFiles = await openFiles(server.pid);
        phases.mark('open 1,120 abusive connections');

        // the steady load, served beside them
        const busy = resources.load({ targets: () => [server.baseUrl], token: rtg, submitters: 4, readers: 2 });
        await settle(REQUEST_TIMEOUT_MS + 3_000);
        await busy.stop();
        phases.mark('load beside them');

        await Promise.all(slowSenders.map((s) => within(s.closed, 5_000)));
        // a non-reader the server let go of gets what its buffers held, then the end
        await Promise.all(
          nonReaders.map(({ socket, closed }) => {
            socket.resume();
            return within(closed, 10_000);
          }),
        );
        idle.forEach((socket) => socket.destroy());
        await settle(500);
        const afterFiles = await openFiles(server.pid);
        phases.mark('cut-offs');

        const slow = slowSenders.map((s) => s.received);
        const cutOff = nonReaders.map((n) => n.received);
        const before = latency(quiet);
        const during = latency(busy);
        // everyone else is served, and promptly
        expect(untruthfulAnswers(busy.submissions, [])).toEqual([]);
        expect(busy.reads.filter((r) => r.status !== 200 || r.identical === false)).toEqual([]);
        expect(during.n).toBeGreaterThan(before.n / 4);
        expect(during.max).toBeLessThan(2_000);
        // slow senders: 408 once REQUEST_TIMEOUT_MS has passed (the server looks every second)
        expect(slow.filter((s) => !(s.closedAfterMs! <= REQUEST_TIMEOUT_MS + 2_500))).toEqual([]);
        expect(slow.filter((s) => !/^HTTP\/1\.1 408/.test(s.head)).map((s) => s.head.slice(0, 80))).toEqual([]);
        // non-readers: let go of, short of the whole body
        expect(cutOff.filter((c) => c.closedAfterMs === undefined || c.bytes >= BINARY_SIZE)).toEqual([]);
        // and nothing they held is still held (a few sockets of the load may linger in keep-alive)
        expect(afterFiles).toBeLessThan(baselineFiles + 20);
        console.log(
          `[abusive-clients] ${phases.toString()}: latency without abuse p50 ${before.p50} ms p95 ${before.p95} ms max ` +
            `${before.max} ms over ${before.n} requests; beside 1,120 abusive connections p50 ${during.p50} ms p95 ` +
            `${during.p95} ms max ${during.max} ms over ${during.n} requests ` +
            `(${tally(busy.submissions.map((s) => s.attempts[0].status ?? 'none'))}); slowloris cut off after ` +
            `${Math.min(...slow.map((s) => s.closedAfterMs!))}-${Math.max(...slow.map((s) => s.closedAfterMs!))} ms with ` +
            `${tally(slow.map((s) => s.head.slice(0, 12)))}; non-readers let go of with ` +
            `${Math.round(Math.min(...cutOff.map((c) => c.bytes)) / 1048576)}-${Math.round(Math.max(...cutOff.map((c) => c.bytes)) / 1048576)} ` +
            `MiB of ${BINARY_SIZE / 1048576} MiB in their buffers; server file descriptors ${baselineFiles} before, ` +
            `${abuseFiles} during, ${afterFiles} after`,
        );
      }),
    120_000,
  );
});
