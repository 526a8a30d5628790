import { createHash } from 'node:crypto';
import { type IncomingMessage, request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import { json } from '../utils/http.js';
import { sampleMemory } from '../utils/memory.js';
import { BACKENDS, startTestApp, type TestApp } from '../utils/test-app.js';

const MiB = 1024 * 1024;

/** Generates `size` bytes in 64 KiB chunks without ever holding them, hashing what it produced. */
function generated(size: number) {
  const hash = createHash('sha256');
  let sent = 0;
  const chunk = Buffer.alloc(64 * 1024);
  const stream = new Readable({
    read() {
      if (sent >= size) {
        this.push(null);
        return;
      }
      const length = Math.min(chunk.length, size - sent);
      chunk.fill(sent % 251);
      const piece = Buffer.from(chunk.subarray(0, length));
      hash.update(piece);
      sent += length;
      this.push(piece);
    },
  });
  let digest: string | undefined;
  return { stream, sha256: () => (digest ??= hash.digest('hex')) };
}

/** POSTs a stream with node:http, which honours backpressure (fetch with a web stream reads ahead eagerly). */
async function postStream(t: TestApp, body: Readable): Promise<IncomingMessage> {
  const url = new URL(`${t.fhirUrl}/Binary`);
  const token = await t.token();
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: {
          'content-type': 'application/octet-stream',
          authorization: `Bearer ${token}`,
          prefer: 'return=minimal',
        },
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response));
      },
    );
    request.on('error', reject);
    body.pipe(request);
  });
}

describe.each(BACKENDS)('streamed Binaries on %s with %s blobs', (database, blobStore) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(database, blobStore, {
      MAX_BINARY_BYTES: String(300 * MiB),
      S3_PART_SIZE_MB: '8',
      S3_QUEUE_SIZE: '2',
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  // The upload's memory is not asserted here: through the whole Nest app it currently grows by about the
  // upload's size (the same stream through plain Fastify and the stores stays under 25 MiB; see the README).
  it('streams a 256 MiB upload in and back out with server memory growth under 64 MiB each way', async () => {
    const upload = generated(256 * MiB);
    // Sampled twice a second: each sample forces a full GC, which is slow on a large heap.
    const uploading = sampleMemory(500);
    const created = await postStream(t, upload.stream);
    expect(uploading.stop()).toBeLessThan(64 * MiB);
    expect(created.statusCode).toBe(201);
    const location = created.headers.location!;
    expect(created.headers.etag).toBe(`"${upload.sha256()}"`);

    const memory = sampleMemory(500);
    const download = await t.fetch(location);
    expect(download.headers.get('content-length')).toBe(String(256 * MiB));
    const hash = createHash('sha256');
    for await (const piece of download.body as unknown as AsyncIterable<Uint8Array>) {
      hash.update(piece);
    }
    const growth = memory.stop();
    expect(hash.digest('hex')).toBe(upload.sha256());
    expect(growth).toBeLessThan(64 * MiB);
  }, 180_000);

  it('refuses a chunked upload that passes MAX_BINARY_BYTES with 413 (no Content-Length to check first)', async () => {
    const response = await t.fetch('/fhir/Binary', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: Readable.toWeb(generated(301 * MiB).stream) as ReadableStream,
      duplex: 'half',
    });
    expect(response.status).toBe(413);
    expect((await json(response)).issue[0].code).toBe('too-long');
  }, 120_000);
});
