import type { Readable } from 'node:stream';
import { FhirError } from '../common/fhir-error.js';

/** Where one stored object lives inside a BlobStore: the key the store chose when it was written. */
export interface BlobRef {
  readonly key: string;
}

/** What a completed write measured while the bytes streamed through. */
export interface StoredBlob extends BlobRef {
  readonly size: number;
  /** Lower-case hex SHA-256 of the bytes. */
  readonly sha256: string;
  /** Base64 SHA-1 of the bytes, as FHIR R4 Attachment.hash requires. */
  readonly sha1: string;
}

export interface ByteRange {
  /** First byte, inclusive. */
  readonly start: number;
  /** Last byte, inclusive. */
  readonly end: number;
}

/**
 * Write-once storage for document and binary bytes. Objects are never overwritten: `put` always
 * creates a new key, and only `purge` (the audited administrative paths) removes one.
 */
export abstract class BlobStore {
  /**
   * Streams `body` into a new object, hashing as it goes. Rejects with a `BlobTooLargeError` as soon
   * as more than `maxBytes` arrive, leaving nothing visible behind; with `BlobStoreUnavailableError` or
   * `BlobStoreFullError` when the store fails or has no room (the body's own errors pass through as they are).
   */
  abstract put(body: Readable, options: { contentType: string; maxBytes: number }): Promise<StoredBlob>;

  /**
   * Opens the object (or one byte range of it) for reading. Rejects with `BlobNotFoundError` if absent, with
   * `BlobStoreUnavailableError` when the store does not answer (never a not-found for an outage).
   */
  abstract open(ref: BlobRef, range?: ByteRange): Promise<Readable>;

  /** Whether the object exists (orphan sweeps). */
  abstract exists(ref: BlobRef): Promise<boolean>;

  /**
   * Resolves when the store answers and can be written to (readiness); rejects with why not
   * (`BlobStoreUnavailableError` when it does not answer).
   */
  abstract probe(signal?: AbortSignal): Promise<void>;

  /** Removes an object for good. Only the audited administrative paths (document purge, orphan sweep) call this. */
  abstract purge(ref: BlobRef): Promise<void>;

  /**
   * Objects last written before `olderThan`, in pages as the store lists them (a directory, a ListObjectsV2 page),
   * for the orphan sweep. Only keys of the shape `put` makes: foreign files and writes in progress are never listed.
   */
  abstract list(olderThan: Date): AsyncIterable<ListedBlob>;
}

/** One object as a listing sees it. */
export interface ListedBlob extends BlobRef {
  readonly size: number;
  readonly lastModified: Date;
}

export class BlobTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`The content is larger than the limit of ${maxBytes} bytes`);
    this.name = 'BlobTooLargeError';
  }
}

/** Seconds a client is told to wait before retrying when the blob store is down or full. */
export const BLOB_STORE_RETRY_AFTER_SECONDS = 5;

/**
 * The blob store did not answer (connection refused or reset, a 5xx, an I/O error). Nothing of a write that fails
 * with it is visible; a read that fails with it is of an object that exists. 503 with Retry-After: try again.
 */
export class BlobStoreUnavailableError extends FhirError {
  constructor(readonly reason: string) {
    super(503, 'no-store', `The document store is not available (${reason}); retry later`, {
      headers: { 'retry-after': String(BLOB_STORE_RETRY_AFTER_SECONDS) },
    });
    this.name = 'BlobStoreUnavailableError';
  }
}

/** The blob store has no room (disk full, quota reached): 507, nothing of the write is visible; retry later. */
export class BlobStoreFullError extends FhirError {
  constructor(readonly reason: string) {
    super(507, 'no-store', `The document store has no room left (${reason}); nothing was stored: retry later`, {
      headers: { 'retry-after': String(BLOB_STORE_RETRY_AFTER_SECONDS) },
    });
    this.name = 'BlobStoreFullError';
  }
}

export class BlobNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`No stored object with key ${key}`);
    this.name = 'BlobNotFoundError';
  }
}
