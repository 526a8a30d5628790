import { createHash } from 'node:crypto';
import { type IncomingMessage, request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import { signLocalToken } from '../../src/auth/local-issuer.js';
import { BACKENDS, type Backends, prepareBackends } from '../utils/backends.js';
import { freePort } from '../utils/free-port.js';
import { watchPeakRss } from '../utils/process-memory.js';
import { ensureBuilt, startServerProcess, type ServerProcess } from '../utils/server-process.js';
import { transferTimeout } from '../utils/transfer-time.js';

/*
 * Large Binaries stream through the compiled server, run as a child process so that its memory is its own: the peak
 * RSS is read from /proc (no GC forced, nothing sampled inside jest), and the transfer does not compete with jest's
 * heap. Every deadline scales with the bytes moved, so that the suite passes on a busy machine.
 */

const MiB = 1024 * 1024;
const SIZE = 256 * MiB;
/** MAX_BINARY_BYTES: the upload is exactly at the limit (accepted); the chunked one goes just past it. */
const LIMIT = SIZE;
const CHUNK = 64 * 1024;
/**
 * Peak RSS growth allowed while 256 MiB stream in: a server that held the upload would grow by at least that much.
 * Measured on 2 cores at load 9-18: files 31-32 MiB; S3 85-94 MiB (8 MiB parts, queue 2: 24 MiB of parts, the rest
 * garbage V8 has not collected yet, which RSS counts).
 */
const UPLOAD_RSS_BOUND = { file: 64 * MiB, s3: 128 * MiB };
/**
 * The same while 256 MiB stream out, over the RSS the upload left: measured 0-16 MiB. Holding the blob would take
 * 256 MiB less the free room left in the heap, which is far less than 192 MiB.
 */
const DOWNLOAD_RSS_BOUND = 64 * MiB;

/** The byte `generated` produces at `offset`: every 64 KiB chunk is filled with its start offset mod 251. */
const byteAt = (offset: number) => (offset - (offset % CHUNK)) % 251;

/** Generates `size` bytes in 64 KiB chunks without ever holding them, hashing what it produced. */
function generated(size: number) {
  const hash = createHash('sha256');
  let sent = 0;
  const stream = new Readable({
    read() {
      if (sent >= size) {
        this.push(null);
        return;
      }
      const piece = Buffer.alloc(Math.min(CHUNK, size - sent), byteAt(sent));
      hash.update(piece);
      sent += piece.length;
      this.push(piece);
    },
  });
  let digest: string | undefined;
  return { stream, sha256: () => (digest ??= hash.digest('hex')) };
}

/**
 * POSTs a stream with node:http, chunked (no Content-Length), honouring backpressure: fetch with a web stream reads
 * ahead eagerly and is several times slower in a long-lived jest process.
 */
function postStream(url: string, token: string, body: Readable): Promise<{ response: IncomingMessage; text: string }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        headers: {
          'content-type': 'application/octet-stream',
          authorization: `Bearer ${token}`,
          prefer: 'return=minimal',
        },
      },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
        response.on('end', () => resolve({ response, text }));
      },
    );
    request.on('error', reject);
    body.pipe(request);
  });
}

describe.each(BACKENDS)('streamed Binaries on %s with %s blobs (compiled server)', (database, blobStore) => {
  let backends: Backends | undefined;
  let server: ServerProcess | undefined;
  let token: string;
  const authorization = () => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    ensureBuilt();
    backends = await prepareBackends(database, blobStore);
    server = await startServerProcess({
      ...backends.env,
      PORT: String(await freePort()),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'error',
      QUEUE_PREFIX: `test-streaming-${process.pid}-${Date.now()}`,
      MAX_BINARY_BYTES: String(LIMIT),
      S3_PART_SIZE_MB: '8',
      S3_QUEUE_SIZE: '2',
      // the server's deadline for receiving a request is the test's own, not a fixed two minutes
      REQUEST_TIMEOUT_MS: String(transferTimeout(LIMIT)),
    });
    token = await signLocalToken(backends.dataDir, {
      issuer: 'urn:fhir-document-registry:local',
      audience: 'urn:fhir-document-registry',
      subject: 'streaming-test',
      organization: 'RTG',
      scope: 'system/*.cruds',
      expiresInSeconds: 3600,
    });
  }, 240_000);

  afterAll(async () => {
    await server?.kill('SIGTERM');
    await backends?.release();
  }, 60_000);

  it(
    "streams 256 MiB in and back out byte for byte, the server's peak RSS growing by a fraction of it each way",
    async () => {
      const { pid, baseUrl } = server!;
      const upload = generated(SIZE);
      const uploading = watchPeakRss(pid);
      const { response: created } = await postStream(`${baseUrl}/fhir/Binary`, token, upload.stream);
      const uploadGrowth = uploading.stop();
      expect(created.statusCode).toBe(201);
      expect(created.headers.etag).toBe(`"${upload.sha256()}"`);
      expect(uploadGrowth).toBeLessThan(UPLOAD_RSS_BOUND[blobStore]);
      const location = created.headers.location!;

      const downloading = watchPeakRss(pid);
      const download = await fetch(location, { headers: authorization() });
      expect(download.status).toBe(200);
      expect(download.headers.get('content-length')).toBe(String(SIZE));
      expect(download.headers.get('etag')).toBe(`"${upload.sha256()}"`);
      const hash = createHash('sha256');
      for await (const piece of download.body as unknown as AsyncIterable<Uint8Array>) {
        hash.update(piece);
      }
      const downloadGrowth = downloading.stop();
      expect(hash.digest('hex')).toBe(upload.sha256());
      expect(downloadGrowth).toBeLessThan(DOWNLOAD_RSS_BOUND);

      // a range deep inside the object, across an S3 part boundary and a change of generated byte
      const start = 128 * MiB - 10;
      const end = 128 * MiB + 9;
      const ranged = await fetch(location, { headers: { ...authorization(), range: `bytes=${start}-${end}` } });
      expect(ranged.status).toBe(206);
      expect(ranged.headers.get('content-range')).toBe(`bytes ${start}-${end}/${SIZE}`);
      const expected = Buffer.from(Array.from({ length: end - start + 1 }, (_, i) => byteAt(start + i)));
      expect(Buffer.from(await ranged.arrayBuffer())).toEqual(expected);
    },
    transferTimeout(2 * SIZE),
  );

  it(
    'refuses a chunked upload that passes MAX_BINARY_BYTES with 413 (no Content-Length to check first)',
    async () => {
      const { response, text } = await postStream(
        `${server!.baseUrl}/fhir/Binary`,
        token,
        generated(LIMIT + CHUNK).stream,
      );
      expect(response.statusCode).toBe(413);
      expect(JSON.parse(text).issue[0].code).toBe('too-long');
    },
    transferTimeout(LIMIT + CHUNK),
  );
});
