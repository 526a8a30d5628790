import { constants } from 'node:fs';
import { access, type FileHandle, link, mkdir, open, opendir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  BlobNotFoundError,
  BlobStore,
  BlobStoreFullError,
  BlobStoreUnavailableError,
  type BlobRef,
  type ByteRange,
  type ListedBlob,
  type StoredBlob,
} from './blob-store.js';
import { isBlobKey, newBlobKey } from './blob-key.js';
import { assertByteRange } from './byte-range.js';
import { HashingStream } from './hashing-stream.js';

const SHARD = /^[0-9a-f]{2}$/;

/** Blobs as files under one directory, keyed `ab/cd/<uuid>`; writes are atomic and durable (fsync). */
export class FilesystemBlobStore extends BlobStore {
  private readonly root: string;

  constructor(directory: string) {
    super();
    this.root = path.resolve(directory);
  }

  async put(body: Readable, options: { contentType: string; maxBytes: number }): Promise<StoredBlob> {
    const hasher = new HashingStream(options.maxBytes);
    // Attached before the first await, so a body that fails while the file is being opened is never unhandled.
    const hashing = pipeline(body, hasher);
    hashing.catch(() => undefined);
    const key = newBlobKey();
    const finalPath = this.pathOf(key);
    const directory = path.dirname(finalPath);
    // Dot-prefixed so list never mistakes a write in progress (or one left by a crash) for an object.
    const tempPath = path.join(directory, `.${path.basename(finalPath)}.tmp`);
    let linked = false;
    try {
      await this.makeDurableDirectory(directory);
      const file = await open(tempPath, 'wx');
      try {
        await Promise.all([hashing, pipeline(hasher, fileSink(file))]);
        // link() fails with EEXIST instead of replacing: objects are write-once.
        await link(tempPath, finalPath);
        linked = true;
        // The file's bytes and its directory entry are flushed side by side: nothing refers to the key until put()
        // returns (the registry row commits after), so their order on disk does not matter, only that both are done.
        await Promise.all([file.datasync(), syncDirectory(directory)]);
      } finally {
        await file.close();
      }
    } catch (error) {
      hasher.destroy();
      body.destroy();
      await unlink(tempPath).catch(() => undefined);
      if (linked) {
        await unlink(finalPath).catch(() => undefined);
      }
      throw storeError(error);
    }
    // A leftover temp name (dot-prefixed, never listed) is only litter; the next directory flush records its removal.
    await unlink(tempPath).catch(() => undefined);
    return { key, ...hasher.digest() };
  }

  async open(ref: BlobRef, range?: ByteRange): Promise<Readable> {
    if (range) {
      assertByteRange(range);
    }
    if (!isBlobKey(ref.key)) {
      throw new BlobNotFoundError(ref.key);
    }
    const file = await open(this.pathOf(ref.key), 'r').catch((error: unknown) => {
      throw isMissing(error) ? new BlobNotFoundError(ref.key) : storeError(error);
    });
    return file.createReadStream(range ? { start: range.start, end: range.end } : {});
  }

  async exists(ref: BlobRef): Promise<boolean> {
    if (!isBlobKey(ref.key)) {
      return false;
    }
    try {
      return (await stat(this.pathOf(ref.key))).isFile();
    } catch (error) {
      if (isMissing(error)) {
        return false;
      }
      throw storeError(error);
    }
  }

  /** The store answers and can be written to: the root (created if missing) is a writable directory. */
  async probe(): Promise<void> {
    try {
      await mkdir(this.root, { recursive: true });
      await access(this.root, constants.W_OK);
    } catch (error) {
      const mapped = storeError(error);
      // any other failure here (the root is a file: EEXIST) still means the store cannot take blobs
      throw mapped instanceof BlobStoreUnavailableError || mapped instanceof BlobStoreFullError
        ? mapped
        : new BlobStoreUnavailableError(`${this.root} cannot hold blobs: ${(error as Error).message}`);
    }
    // and it is a directory
    const info = await stat(this.root)
      .catch((error: unknown) => {
        if (isMissing(error)) {
          return stat(path.dirname(this.root));
        }
        throw error;
      })
      .catch((error: unknown) => {
        throw storeError(error);
      });
    if (!info.isDirectory()) {
      throw new BlobStoreUnavailableError(`${this.root} is not a directory`);
    }
  }

  async purge(ref: BlobRef): Promise<void> {
    if (!isBlobKey(ref.key)) {
      return;
    }
    const file = this.pathOf(ref.key);
    try {
      await unlink(file);
    } catch (error) {
      // Idempotent, like S3 DeleteObject: a retried purge must not fail.
      if (isMissing(error)) {
        return;
      }
      throw error;
    }
    await syncDirectory(path.dirname(file));
  }

  async *list(olderThan: Date): AsyncIterable<ListedBlob> {
    for await (const first of subdirectories(this.root)) {
      for await (const second of subdirectories(path.join(this.root, first))) {
        const directory = path.join(this.root, first, second);
        for await (const entry of await opendir(directory)) {
          const key = `${first}/${second}/${entry.name}`;
          if (!entry.isFile() || !isBlobKey(key)) {
            continue;
          }
          const info = await stat(path.join(directory, entry.name)).catch((error: unknown) => {
            if (isMissing(error)) {
              return undefined;
            }
            throw error;
          });
          if (info && info.mtime < olderThan) {
            yield { key, size: info.size, lastModified: new Date(info.mtimeMs) };
          }
        }
      }
    }
  }

  private pathOf(key: string): string {
    return path.join(this.root, ...key.split('/'));
  }

  /** Creates the shard directories and fsyncs each parent that gained an entry, so the new path survives a crash. */
  private async makeDurableDirectory(directory: string): Promise<void> {
    const firstCreated = await mkdir(directory, { recursive: true });
    if (firstCreated === undefined) {
      return;
    }
    const top = path.dirname(path.resolve(firstCreated));
    for (let parent = path.dirname(directory); ; parent = path.dirname(parent)) {
      await syncDirectory(parent);
      if (parent === top || parent === path.dirname(parent)) {
        return;
      }
    }
  }
}

async function* subdirectories(directory: string): AsyncIterable<string> {
  let handle;
  try {
    handle = await opendir(directory);
  } catch (error) {
    if (isMissing(error)) {
      return;
    }
    throw error;
  }
  for await (const entry of handle) {
    if (entry.isDirectory() && SHARD.test(entry.name)) {
      yield entry.name;
    }
  }
}

/** Writes into an open file (a FileHandle write stream would close the handle, which the flush still needs). */
function fileSink(file: FileHandle): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      writeFully(file, chunk).then(() => callback(), callback);
    },
  });
}

async function writeFully(file: FileHandle, chunk: Buffer): Promise<void> {
  for (let offset = 0; offset < chunk.length;) {
    const { bytesWritten } = await file.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** No room: a full disk or a quota. */
const FULL = new Set(['ENOSPC', 'EDQUOT']);
/** The filesystem failed or went away (an I/O error, read-only after an error, a lost network mount, no handles). */
const UNAVAILABLE = new Set(['EIO', 'EROFS', 'ENOTCONN', 'ESTALE', 'EMFILE', 'ENFILE', 'ENXIO']);

/**
 * A filesystem error as the port's error (full: 507, failing: 503); anything else, the body's own errors
 * included (a client gone, too large), stays as it is.
 */
export function storeError(error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code && FULL.has(code)) {
    return new BlobStoreFullError(code);
  }
  if (code && UNAVAILABLE.has(code)) {
    return new BlobStoreUnavailableError(code);
  }
  return error;
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
