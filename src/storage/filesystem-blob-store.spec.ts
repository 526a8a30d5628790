import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer as readAll } from 'node:stream/consumers';
import { makeTempDir } from '../../test/utils/temp-dir.js';
import { BlobStoreFullError, BlobStoreUnavailableError } from './blob-store.js';
import { FilesystemBlobStore, storeError } from './filesystem-blob-store.js';

async function collect(listed: AsyncIterable<{ key: string }>): Promise<string[]> {
  const all: string[] = [];
  for await (const blob of listed) {
    all.push(blob.key);
  }
  return all;
}

async function filesUnder(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(directory, path.join(e.parentPath, e.name)));
}

describe('FilesystemBlobStore', () => {
  let dir: Awaited<ReturnType<typeof makeTempDir>>;
  let store: FilesystemBlobStore;

  beforeEach(async () => {
    dir = await makeTempDir('fs-blob-store');
    store = new FilesystemBlobStore(dir.path);
  });
  afterEach(() => dir.remove());

  it('writes the object at its sharded key path and nothing else', async () => {
    const stored = await store.put(Readable.from([Buffer.from('hello')]), { contentType: 'text/plain', maxBytes: 10 });

    expect(await filesUnder(dir.path)).toEqual([stored.key.split('/').join(path.sep)]);
  });

  it('removes the temp file when the body fails part-way', async () => {
    const body = new Readable({ read() {} });
    body.push(Buffer.from('partial'));
    setImmediate(() => body.destroy(new Error('client went away')));

    await expect(store.put(body, { contentType: 'text/plain', maxBytes: 100 })).rejects.toThrow('client went away');

    expect(await filesUnder(dir.path)).toEqual([]);
  });

  it('lists by modification time, skipping temp files and foreign files', async () => {
    const old = await store.put(Readable.from([Buffer.from('old')]), { contentType: 'text/plain', maxBytes: 10 });
    const fresh = await store.put(Readable.from([Buffer.from('new')]), { contentType: 'text/plain', maxBytes: 10 });
    const anHourAgo = new Date(Date.now() - 3_600_000);
    await utimes(path.join(dir.path, old.key), anHourAgo, anHourAgo);
    const [first, second, id] = old.key.split('/');
    await writeFile(path.join(dir.path, first, second, `.${id}x.tmp`), 'in progress');
    await utimes(path.join(dir.path, first, second, `.${id}x.tmp`), anHourAgo, anHourAgo);
    await mkdir(path.join(dir.path, 'lost+found'));
    await writeFile(path.join(dir.path, 'lost+found', 'x'), 'not ours');

    expect(await collect(store.list(new Date(Date.now() - 60_000)))).toEqual([old.key]);
    expect((await collect(store.list(new Date(Date.now() + 60_000)))).sort()).toEqual([old.key, fresh.key].sort());
  });

  it('serves a range that runs past the end up to the last byte', async () => {
    const stored = await store.put(Readable.from([Buffer.from('0123456789')]), {
      contentType: 'text/plain',
      maxBytes: 10,
    });

    expect((await readAll(await store.open(stored, { start: 7, end: 100 }))).toString()).toBe('789');
  });

  it('refuses a reversed or negative range', async () => {
    const stored = await store.put(Readable.from([Buffer.from('0123456789')]), {
      contentType: 'text/plain',
      maxBytes: 10,
    });

    await expect(store.open(stored, { start: 5, end: 4 })).rejects.toThrow(RangeError);
    await expect(store.open(stored, { start: -1, end: 4 })).rejects.toThrow(RangeError);
  });

  it('reads a full disk or quota as BlobStoreFullError (507), I/O failures as BlobStoreUnavailableError (503)', () => {
    const errno = (code: string) => Object.assign(new Error(code), { code });
    expect(storeError(errno('ENOSPC'))).toBeInstanceOf(BlobStoreFullError);
    expect((storeError(errno('EDQUOT')) as BlobStoreFullError).status).toBe(507);
    expect((storeError(errno('EIO')) as BlobStoreUnavailableError).status).toBe(503);
    // the body's own failures stay what they are
    const aborted = errno('ECONNRESET');
    expect(storeError(aborted)).toBe(aborted);
  });

  it('answers its readiness probe while its folder (or the folder it will be made in) is there', async () => {
    await expect(store.probe()).resolves.toBeUndefined();
    await expect(new FilesystemBlobStore(path.join(dir.path, 'not-yet')).probe()).resolves.toBeUndefined();
    await writeFile(path.join(dir.path, 'a-file'), 'x');
    await expect(new FilesystemBlobStore(path.join(dir.path, 'a-file')).probe()).rejects.toBeInstanceOf(
      BlobStoreUnavailableError,
    );
  });

  it('lists nothing when the directory does not exist yet', async () => {
    const empty = new FilesystemBlobStore(path.join(dir.path, 'never-written'));

    expect(await collect(empty.list(new Date()))).toEqual([]);
  });
});
