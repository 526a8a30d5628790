import crypto, { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, rm, utimes } from 'node:fs/promises';
import type { Server } from 'node:http';
import path from 'node:path';
import type { Readable } from 'node:stream';
import S3rver from 's3rver';
import { makeTempDir } from './temp-dir.js';

export interface TestS3 {
  readonly endpoint: string;
  readonly bucket: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Multipart uploads begun in the bucket and neither completed nor aborted. */
  pendingMultipartUploads(): Promise<number>;
  /** Back-dates an object: s3rver reports its file's mtime as LastModified (an orphan written days ago). */
  setLastModified(key: string, when: Date): Promise<void>;
  /** An outage: stops listening and drops every open connection; the objects stay. */
  halt(): Promise<void>;
  /** Ends an outage: listens again on the same port, over the same objects. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

/** The parts of s3rver 3.7 that its published types leave out and the workarounds below rely on. */
interface S3rverObject {
  content: Readable | null;
  range?: { start: number; end: number };
}
interface S3rverStore {
  getObject(bucket: string, key: string, options?: { start?: number; end?: number }): Promise<S3rverObject | null>;
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
}
interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  status: number;
  body: unknown;
}
type KoaMiddleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void> | void;
interface S3rverInternals {
  store: S3rverStore;
  middleware: KoaMiddleware[];
}

/**
 * Starts s3rver on a free loopback port over a fresh temp directory, with one fresh bucket. Two s3rver 3.7
 * bugs are patched here (the adapter is not weakened for them): see `fixRangeEndingAtByteZero` and
 * `supportAbortMultipartUpload`; and its ListObjectsV2 continuation tokens work again (`continuationTokensWithoutDes`).
 */
/** The server settings that point it at this s3rver (the AWS SDK reads the credentials from the environment). */
export function s3Env(s3: TestS3, prefix = 'blobs'): Record<string, string> {
  return {
    BLOB_STORE: `s3://${s3.bucket}/${prefix}`,
    S3_ENDPOINT: s3.endpoint,
    S3_REGION: s3.region,
    S3_FORCE_PATH_STYLE: 'true',
    // s3rver accepts its fixed pair
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  };
}

export async function startS3(): Promise<TestS3> {
  continuationTokensWithoutDes();
  const directory = await makeTempDir('s3rver');
  const bucket = `test-${randomUUID()}`;
  const launch = async (port: number) => {
    const server = new S3rver({
      address: '127.0.0.1',
      port,
      silent: true,
      directory: directory.path,
      configureBuckets: [{ name: bucket, configs: [] }],
    });
    const internals = server as unknown as S3rverInternals;
    fixRangeEndingAtByteZero(internals.store);
    supportAbortMultipartUpload(internals);
    const address = await server.run();
    return { server, internals, port: address.port };
  };
  const shut = async (server: S3rver) => {
    const { httpServer: http, logger } = server as unknown as { httpServer?: Server; logger?: { silent: boolean } };
    // requests cut off by the close finish after its logger closed, and winston warns about each
    if (logger) {
      logger.silent = true;
    }
    const closed = server.close();
    http?.closeAllConnections();
    await closed;
  };
  let current: Awaited<ReturnType<typeof launch>> | undefined = await launch(0);
  const { port, internals } = current;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    region: 'us-east-1',
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    async pendingMultipartUploads() {
      const entries = await readdir(internals.store.getResourcePath(bucket, undefined, 'uploads')).catch(() => []);
      return entries.filter((name) => /^[0-9a-f]+$/.test(name)).length;
    },
    async setLastModified(key, when) {
      await utimes(internals.store.getResourcePath(bucket, key, 'object'), when, when);
    },
    async halt() {
      const running = current;
      current = undefined;
      if (running) {
        await shut(running.server);
      }
    },
    async resume() {
      current ??= await launch(port);
    },
    async stop() {
      const running = current;
      current = undefined;
      if (running) {
        await shut(running.server);
      }
      await directory.remove();
    },
  };
}

/**
 * s3rver seals ListObjectsV2 continuation tokens with DES, which OpenSSL 3 (Node 17+) no longer offers, so any listing
 * longer than one page fails with InternalError. Its tokens need no secrecy here: DES becomes the identity.
 */
function continuationTokensWithoutDes(): void {
  const patched = crypto as typeof crypto & { s3rverDes?: true };
  if (patched.s3rverDes) {
    return;
  }
  patched.s3rverDes = true;
  const identity = () => ({ update: (data: Buffer | string) => Buffer.from(data), final: () => Buffer.alloc(0) });
  const { createCipheriv, createDecipheriv } = crypto;
  const writable = crypto as unknown as Record<string, unknown>;
  writable.createCipheriv = (algorithm: string, ...rest: unknown[]) =>
    algorithm === 'des' ? identity() : (createCipheriv as (...args: unknown[]) => unknown)(algorithm, ...rest);
  writable.createDecipheriv = (algorithm: string, ...rest: unknown[]) =>
    algorithm === 'des' ? identity() : (createDecipheriv as (...args: unknown[]) => unknown)(algorithm, ...rest);
}

/**
 * s3rver reads `Range: bytes=0-0` as "from 0 to the end" (its FilesystemStore.getObject does
 * `options.end || Infinity`), so a first-byte read returns the whole object. Serve the one byte instead.
 */
function fixRangeEndingAtByteZero(store: S3rverStore): void {
  const getObject = store.getObject.bind(store);
  store.getObject = async (bucket, key, options) => {
    const object = await getObject(bucket, key, options);
    if (object?.content && options?.end === 0 && (options.start ?? 0) === 0) {
      object.content.destroy();
      object.content = createReadStream(store.getResourcePath(bucket, key, 'object'), { start: 0, end: 0 });
      object.range = { start: 0, end: 0 };
    }
    return object;
  };
}

/**
 * s3rver routes `DELETE /bucket/key?uploadId=` (AbortMultipartUpload) to "method not allowed", so
 * lib-storage's cleanup of a failed upload errors. Answer it the way S3 does: drop the parts, 204.
 */
function supportAbortMultipartUpload(internals: S3rverInternals): void {
  internals.middleware.unshift(async (ctx, next) => {
    const uploadId = ctx.query['uploadId'];
    const [, bucket] = ctx.path.split('/');
    if (ctx.method !== 'DELETE' || typeof uploadId !== 'string' || !/^[0-9a-f]+$/.test(uploadId) || !bucket) {
      await next();
      return;
    }
    await rm(path.join(internals.store.getResourcePath(bucket, undefined, 'uploads'), uploadId), {
      recursive: true,
      force: true,
    });
    ctx.status = 204;
    ctx.body = null;
  });
}
