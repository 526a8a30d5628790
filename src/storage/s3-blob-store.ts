import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { NETWORK_ERROR_CODES } from '../common/network-errors.js';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectTaggingCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { OnApplicationShutdown } from '@nestjs/common';
import {
  BlobNotFoundError,
  BlobStore,
  BlobStoreUnavailableError,
  type BlobRef,
  type ByteRange,
  type ListedBlob,
  type StoredBlob,
} from './blob-store.js';
import { isBlobKey, newBlobKey } from './blob-key.js';
import { assertByteRange } from './byte-range.js';
import { HashingStream } from './hashing-stream.js';

export interface S3BlobStoreOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** Key prefix inside the bucket ("" or e.g. "documents"); slashes at either end are ignored. */
  readonly prefix: string;
  /** Multipart part size in bytes (S3 minimum 5 MiB). Memory per upload is about partSize x (queueSize + 1). */
  readonly partSize: number;
  /** Parts uploaded concurrently per upload. */
  readonly queueSize: number;
  /** Keys per ListObjectsV2 page (S3's maximum and default: 1000). */
  readonly listPageSize?: number;
}

export interface S3ClientOptions {
  /** S3-compatible endpoint (MinIO, s3rver); omit for AWS. */
  readonly endpoint?: string;
  readonly region: string;
  readonly forcePathStyle: boolean;
  /** Explicit credentials; omitted, the SDK's default chain (AWS_ACCESS_KEY_ID, instance roles...) applies. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

/** Builds the one S3 client the storage adapter uses, so the SDK is configured in one place. */
export function createS3Client(options: S3ClientOptions): S3Client {
  return new S3Client({
    region: options.region,
    forcePathStyle: options.forcePathStyle,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
}

/** Blobs as objects in one S3 bucket under a prefix, written by streaming multipart upload. */
export class S3BlobStore extends BlobStore implements OnApplicationShutdown {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly listPageSize: number | undefined;

  constructor(options: S3BlobStoreOptions) {
    super();
    this.client = options.client;
    this.bucket = options.bucket;
    const prefix = options.prefix.replace(/^\/+|\/+$/g, '');
    this.prefix = prefix === '' ? '' : `${prefix}/`;
    this.partSize = options.partSize;
    this.queueSize = options.queueSize;
    this.listPageSize = options.listPageSize;
  }

  async put(body: Readable, options: { contentType: string; maxBytes: number }): Promise<StoredBlob> {
    const hasher = new HashingStream(options.maxBytes);
    const key = newBlobKey();
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.objectKey(key), Body: hasher, ContentType: options.contentType },
      partSize: this.partSize,
      queueSize: this.queueSize,
      leavePartsOnError: false,
    });
    // Which side failed first decides the error: the store's (an outage) or the body's (too large, client gone).
    let storeFailure: unknown;
    // A failed upload stops reading; destroying the hasher then unblocks and fails the pipeline too.
    const uploaded = upload.done().catch((error: unknown) => {
      if (!hasher.destroyed) {
        storeFailure = error;
        hasher.destroy(error instanceof Error ? error : new Error(String(error)));
      }
      throw error;
    });
    const [streamed, stored] = await Promise.allSettled([pipeline(body, hasher), uploaded]);
    if (storeFailure !== undefined) {
      throw storeError(storeFailure);
    }
    if (streamed.status === 'rejected') {
      // The hasher's error already failed the Upload, and done() settled only after it aborted the multipart
      // upload (upload.abort() would have settled it early, before that cleanup). Delete in case it finished.
      if (stored.status === 'fulfilled') {
        await this.deleteObject(key).catch(() => undefined); // left behind, it is an orphan the sweep removes
      }
      throw streamed.reason;
    }
    if (stored.status === 'rejected') {
      throw storeError(stored.reason);
    }
    const digest = hasher.digest();
    try {
      // User metadata must be sent before the bytes, when the hash is not yet known: the hash goes in a tag.
      await this.client.send(
        new PutObjectTaggingCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          Tagging: { TagSet: [{ Key: 'sha256', Value: digest.sha256 }] },
        }),
      );
    } catch (error) {
      await this.deleteObject(key).catch(() => undefined); // no row will name it: an orphan at worst
      throw storeError(error);
    }
    return { key, ...digest };
  }

  async open(ref: BlobRef, range?: ByteRange): Promise<Readable> {
    if (range) {
      assertByteRange(range);
    }
    if (!isBlobKey(ref.key)) {
      throw new BlobNotFoundError(ref.key);
    }
    let response;
    try {
      response = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.objectKey(ref.key),
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      );
    } catch (error) {
      throw isNotFound(error) ? new BlobNotFoundError(ref.key) : storeError(error);
    }
    const content = response.Body;
    if (!(content instanceof Readable)) {
      throw new Error(`S3 returned no readable body for ${ref.key}`);
    }
    if (range) {
      // Serving the wrong bytes for a range is worse than failing: check what the server says it sent.
      const served = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.ContentRange ?? '');
      const expectedEnd = served ? Math.min(range.end, Number(served[3]) - 1) : NaN;
      if (!served || Number(served[1]) !== range.start || Number(served[2]) !== expectedEnd) {
        content.destroy();
        throw new Error(
          `S3 answered range ${range.start}-${range.end} of ${ref.key} with "${response.ContentRange ?? 'no Content-Range'}"`,
        );
      }
    }
    return content;
  }

  async exists(ref: BlobRef): Promise<boolean> {
    if (!isBlobKey(ref.key)) {
      return false;
    }
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(ref.key) }));
      return true;
    } catch (error) {
      if (isNotFound(error)) {
        return false;
      }
      throw storeError(error);
    }
  }

  /** Closes the client's sockets once requests are drained (Nest calls this on the factory-made instance too). */
  onApplicationShutdown(): void {
    this.client.destroy();
  }

  async probe(signal?: AbortSignal): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: signal });
    } catch (error) {
      throw storeError(error);
    }
  }

  async purge(ref: BlobRef): Promise<void> {
    if (!isBlobKey(ref.key)) {
      return;
    }
    await this.deleteObject(ref.key);
  }

  async *list(olderThan: Date): AsyncIterable<ListedBlob> {
    let continuationToken: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix,
            ContinuationToken: continuationToken,
            ...(this.listPageSize ? { MaxKeys: this.listPageSize } : {}),
          }),
        );
      } catch (error) {
        throw storeError(error);
      }
      for (const object of page.Contents ?? []) {
        const key = object.Key?.slice(this.prefix.length);
        // Only our own keys: the orphan sweep must never touch foreign objects sharing the prefix.
        if (
          key !== undefined &&
          isBlobKey(key) &&
          object.LastModified !== undefined &&
          object.LastModified < olderThan
        ) {
          yield { key, size: object.Size ?? 0, lastModified: object.LastModified };
        }
      }
      continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuationToken !== undefined);
  }

  private objectKey(key: string): string {
    return `${this.prefix}${key}`;
  }

  private async deleteObject(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
    } catch (error) {
      throw storeError(error);
    }
  }
}

/**
 * An S3 failure as the port's error: an outage (no connection, a broken one, a timeout, a 5xx such as SlowDown
 * or InternalError) becomes BlobStoreUnavailableError; anything else (403, a bad request) stays as it is.
 */
export function storeError(error: unknown): unknown {
  if (!(error instanceof Error)) {
    return error;
  }
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (error instanceof S3ServiceException) {
    return error.$fault === 'server' || (status ?? 0) >= 500
      ? new BlobStoreUnavailableError(`S3 ${error.name}`)
      : error;
  }
  const code = (error as NodeJS.ErrnoException).code;
  if (code && NETWORK_ERROR_CODES.has(code)) {
    return new BlobStoreUnavailableError(`S3 ${code}`);
  }
  if (error.name === 'TimeoutError' || (status ?? 0) >= 500) {
    return new BlobStoreUnavailableError(`S3 ${error.name}${status ? ` ${status}` : ''}`);
  }
  return error;
}

function isNotFound(error: unknown): boolean {
  return (
    error instanceof S3ServiceException &&
    (error.name === 'NoSuchKey' ||
      error.name === 'NotFound' ||
      (error.$metadata.httpStatusCode === 404 && error.name !== 'NoSuchBucket'))
  );
}
