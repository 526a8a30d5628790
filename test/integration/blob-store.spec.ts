import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer as readAll } from 'node:stream/consumers';
import { GetObjectTaggingCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { jest } from '@jest/globals';
import { BlobNotFoundError, type BlobStore, BlobTooLargeError } from '../../src/storage/blob-store.js';
import { FilesystemBlobStore } from '../../src/storage/filesystem-blob-store.js';
import { createS3Client, S3BlobStore } from '../../src/storage/s3-blob-store.js';
import { startS3, type TestS3 } from '../utils/start-s3.js';
import { makeTempDir } from '../utils/temp-dir.js';
import { transferTimeout } from '../utils/transfer-time.js';

const MiB = 1024 * 1024;
const PART_SIZE = 5 * MiB;
const QUEUE_SIZE = 2;

/** One adapter under test: `freshStore` gives a store over empty storage plus a count of everything left in it. */
interface Harness {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  freshStore(): { store: BlobStore; leftovers(): Promise<number> };
}

function filesystemHarness(): Harness {
  let root: Awaited<ReturnType<typeof makeTempDir>>;
  return {
    name: 'FilesystemBlobStore',
    async start() {
      root = await makeTempDir('blob-store-fs');
    },
    async stop() {
      await root.remove();
    },
    freshStore() {
      const directory = path.join(root.path, randomUUID());
      return { store: new FilesystemBlobStore(directory), leftovers: () => countFiles(directory) };
    },
  };
}

function s3Harness(): Harness & { s3(): TestS3; client(): S3Client } {
  let s3: TestS3;
  let client: S3Client;
  return {
    name: 'S3BlobStore',
    s3: () => s3,
    client: () => client,
    async start() {
      s3 = await startS3();
      client = createS3Client({
        endpoint: s3.endpoint,
        region: s3.region,
        forcePathStyle: true,
        credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
      });
    },
    async stop() {
      client.destroy();
      await s3.stop();
    },
    freshStore() {
      const prefix = `run-${randomUUID()}`;
      const store = new S3BlobStore({ client, bucket: s3.bucket, prefix, partSize: PART_SIZE, queueSize: QUEUE_SIZE });
      return {
        store,
        async leftovers() {
          const page = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${prefix}/` }));
          return (page.KeyCount ?? 0) + (await s3.pendingMultipartUploads());
        },
      };
    },
  };
}

const s3 = s3Harness();

describe.each([filesystemHarness(), s3])('$name (BlobStore contract)', (harness) => {
  let store: BlobStore;
  let leftovers: () => Promise<number>;

  beforeAll(() => harness.start());
  afterAll(() => harness.stop());
  beforeEach(() => {
    ({ store, leftovers } = harness.freshStore());
  });

  it('gives back the exact bytes with their size, SHA-256 (hex) and SHA-1 (base64)', async () => {
    const bytes = randomBytes(100_003);

    const stored = await store.put(Readable.from([bytes.subarray(0, 7), bytes.subarray(7)]), putOptions(MiB));

    expect(stored).toEqual({
      key: expect.any(String),
      size: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      sha1: createHash('sha1').update(bytes).digest('base64'),
    });
    expect(await readAll(await store.open(stored))).toEqual(bytes);
  });

  it('stores an empty body', async () => {
    const stored = await store.put(Readable.from([]), putOptions(10));

    expect(stored.size).toBe(0);
    expect(stored.sha256).toBe(createHash('sha256').digest('hex'));
    expect((await readAll(await store.open(stored))).length).toBe(0);
  });

  it('reads the first byte, a middle slice and the last byte as inclusive ranges', async () => {
    const bytes = randomBytes(10_000);
    const stored = await store.put(Readable.from([bytes]), putOptions(MiB));

    expect(await readAll(await store.open(stored, { start: 0, end: 0 }))).toEqual(bytes.subarray(0, 1));
    expect(await readAll(await store.open(stored, { start: 1234, end: 5678 }))).toEqual(bytes.subarray(1234, 5679));
    expect(await readAll(await store.open(stored, { start: 9999, end: 9999 }))).toEqual(bytes.subarray(9999));
  });

  it('accepts a body of exactly maxBytes', async () => {
    const stored = await store.put(Readable.from([randomBytes(64)]), putOptions(64));

    expect(stored.size).toBe(64);
  });

  it('rejects a body over maxBytes with BlobTooLargeError, leaving nothing behind', async () => {
    const body = Readable.from([randomBytes(60), randomBytes(60)]);

    await expect(store.put(body, putOptions(100))).rejects.toBeInstanceOf(BlobTooLargeError);

    expect(body.destroyed).toBe(true);
    expect(await leftovers()).toBe(0);
    expect(await collect(store.list(new Date(Date.now() + 60_000)))).toEqual([]);
  });

  it('rejects a body over maxBytes after several parts have gone out, leaving nothing behind', async () => {
    const body = generatedBody(20 * MiB).stream;

    await expect(store.put(body, putOptions(12 * MiB))).rejects.toBeInstanceOf(BlobTooLargeError);

    expect(await leftovers()).toBe(0);
  });

  it('never reuses a key: identical bytes written twice are two objects', async () => {
    const bytes = Buffer.from('same bytes');

    const first = await store.put(Readable.from([bytes]), putOptions(MiB));
    const second = await store.put(Readable.from([bytes]), putOptions(MiB));

    expect(second.key).not.toBe(first.key);
    expect(second.sha256).toBe(first.sha256);
    expect(await readAll(await store.open(first))).toEqual(bytes);
  });

  it('refuses to open an unknown key with BlobNotFoundError', async () => {
    await expect(store.open({ key: 'ab/cd/abcd0000-0000-4000-8000-000000000000' })).rejects.toBeInstanceOf(
      BlobNotFoundError,
    );
    await expect(store.open({ key: '../../etc/passwd' })).rejects.toBeInstanceOf(BlobNotFoundError);
  });

  it('reports existence, and purges an object for good', async () => {
    const stored = await store.put(Readable.from([Buffer.from('to be purged')]), putOptions(MiB));
    expect(await store.exists(stored)).toBe(true);

    await store.purge(stored);

    expect(await store.exists(stored)).toBe(false);
    await expect(store.open(stored)).rejects.toBeInstanceOf(BlobNotFoundError);
    expect(await leftovers()).toBe(0);
    await expect(store.purge(stored)).resolves.toBeUndefined();
  });

  it('lists only keys written before olderThan', async () => {
    // S3 reports LastModified to the second, so the cut-offs stay seconds away from the writes.
    const beforeWrites = new Date(Date.now() - 5_000);
    const a = await store.put(Readable.from([Buffer.from('a')]), putOptions(10));
    const b = await store.put(Readable.from([Buffer.from('b')]), putOptions(10));

    expect(await collect(store.list(beforeWrites))).toEqual([]);
    expect((await collect(store.list(new Date(Date.now() + 5_000)))).sort()).toEqual([a.key, b.key].sort());
  });

  it('lists each object with its size and when it was written (for the orphan sweep)', async () => {
    const before = Date.now() - 5_000;
    const stored = await store.put(Readable.from([Buffer.from('twelve bytes')]), putOptions(MiB));
    const empty = await store.put(Readable.from([]), putOptions(MiB));

    const listed = [];
    for await (const blob of store.list(new Date(Date.now() + 5_000))) {
      listed.push(blob);
    }

    expect(listed.sort((x, y) => x.key.localeCompare(y.key))).toEqual(
      [
        { key: stored.key, size: 12, lastModified: expect.any(Date) },
        { key: empty.key, size: 0, lastModified: expect.any(Date) },
      ].sort((x, y) => x.key.localeCompare(y.key)),
    );
    for (const blob of listed) {
      expect(blob.lastModified.getTime()).toBeGreaterThan(before);
      expect(blob.lastModified.getTime()).toBeLessThan(Date.now() + 5_000);
    }
  });

  // Memory while streaming is measured in its own process: `BENCH_SECTIONS=blob-memory npm run bench`.
  it(
    'streams 64 MiB through put and reads back the same bytes',
    async () => {
      const size = 64 * MiB;
      const body = generatedBody(size);

      const stored = await store.put(body.stream, putOptions(size));

      expect(stored.size).toBe(size);
      expect(stored.sha256).toBe(body.sha256());
      const readBack = createHash('sha256');
      for await (const chunk of await store.open(stored)) {
        readBack.update(chunk as Buffer);
      }
      expect(readBack.digest('hex')).toBe(body.sha256());
    },
    transferTimeout(2 * 64 * MiB),
  );
});

describe('S3BlobStore on s3rver', () => {
  beforeAll(() => s3.start());
  afterAll(() => s3.stop());

  it('follows ListObjectsV2 continuation pages and lists only its own keys under its prefix', async () => {
    const prefix = `paged-${randomUUID()}`;
    const store = new S3BlobStore({
      client: s3.client(),
      bucket: s3.s3().bucket,
      prefix,
      partSize: PART_SIZE,
      queueSize: QUEUE_SIZE,
      listPageSize: 2,
    });
    const written = [];
    for (let i = 0; i < 5; i++) {
      written.push((await store.put(Readable.from([Buffer.from(`blob ${i}`)]), putOptions(MiB))).key);
    }
    // a foreign object under the same prefix, and one of ours under another prefix
    await s3.client().send(new PutObjectCommand({ Bucket: s3.s3().bucket, Key: `${prefix}/notes.txt`, Body: 'x' }));
    const other = new S3BlobStore({
      client: s3.client(),
      bucket: s3.s3().bucket,
      prefix: `${prefix}-other`,
      partSize: PART_SIZE,
      queueSize: QUEUE_SIZE,
    });
    await other.put(Readable.from([Buffer.from('elsewhere')]), putOptions(MiB));
    const send = jest.spyOn(s3.client(), 'send');

    const listed = await collect(store.list(new Date(Date.now() + 5_000)));

    expect(listed.sort()).toEqual(written.sort());
    const listings = send.mock.calls.filter(([command]) => command instanceof ListObjectsV2Command);
    expect(listings.length).toBeGreaterThanOrEqual(3);
    send.mockRestore();
  });

  it('round-trips a multipart upload larger than the part size, and tags it with its SHA-256', async () => {
    const { store } = s3.freshStore();
    const bytes = randomBytes(2 * PART_SIZE + 12_345);

    const stored = await store.put(Readable.from(chunksOf(bytes, 64 * 1024)), putOptions(3 * PART_SIZE));

    expect(stored.size).toBe(bytes.length);
    expect(stored.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect((await readAll(await store.open(stored))).equals(bytes)).toBe(true);
    const across = { start: PART_SIZE - 10, end: PART_SIZE + 10 };
    expect(await readAll(await store.open(stored, across))).toEqual(bytes.subarray(across.start, across.end + 1));
    const tagging = await s3.client().send(
      new GetObjectTaggingCommand({
        Bucket: s3.s3().bucket,
        Key: await onlyObjectKey(s3.client(), s3.s3().bucket, stored.key),
      }),
    );
    expect(tagging.TagSet).toEqual([{ Key: 'sha256', Value: stored.sha256 }]);
  });
});

function putOptions(maxBytes: number): { contentType: string; maxBytes: number } {
  return { contentType: 'application/octet-stream', maxBytes };
}

function* chunksOf(bytes: Buffer, size: number): Iterable<Buffer> {
  for (let offset = 0; offset < bytes.length; offset += size) {
    yield bytes.subarray(offset, offset + size);
  }
}

/** `size` bytes made on demand in 64 KiB chunks (never all in memory), hashed as they are handed out. */
function generatedBody(size: number): { stream: Readable; sha256(): string } {
  const hash = createHash('sha256');
  let produced = 0;
  let digest: string | undefined;
  const stream = new Readable({
    read() {
      if (produced >= size) {
        this.push(null);
        return;
      }
      const chunk = Buffer.alloc(Math.min(64 * 1024, size - produced), produced % 251);
      chunk.writeUInt32BE(produced, 0);
      produced += chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return {
    stream,
    sha256: () => (digest ??= hash.digest('hex')),
  };
}

async function collect(listed: AsyncIterable<{ key: string }>): Promise<string[]> {
  const all: string[] = [];
  for await (const blob of listed) {
    all.push(blob.key);
  }
  return all;
}

async function countFiles(directory: string): Promise<number> {
  const entries = await readdir(directory, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => !entry.isDirectory()).length;
}

async function onlyObjectKey(client: S3Client, bucket: string, key: string): Promise<string> {
  const page = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
  const matches = (page.Contents ?? []).map((object) => object.Key ?? '').filter((name) => name.endsWith(`/${key}`));
  expect(matches).toHaveLength(1);
  return matches[0];
}
