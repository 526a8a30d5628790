import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { BlobTooLargeError } from './blob-store.js';

/** What a `HashingStream` measured once every byte has passed through it. */
export interface ContentDigest {
  readonly size: number;
  /** Lower-case hex SHA-256. */
  readonly sha256: string;
  /** Base64 SHA-1 (FHIR R4 Attachment.hash). */
  readonly sha1: string;
}

/**
 * A pass-through that hashes (SHA-256 and SHA-1) and counts the bytes flowing through it, and fails with
 * `BlobTooLargeError` on the first chunk that takes the count past `maxBytes` (that chunk is not passed on).
 */
export class HashingStream extends Transform {
  // ES-private on purpose: lib-storage sizes a Body from any `size` or `length` property it finds.
  readonly #maxBytes: number;
  readonly #sha256: Hash = createHash('sha256');
  readonly #sha1: Hash = createHash('sha1');
  #byteCount = 0;
  #result?: ContentDigest;

  constructor(maxBytes: number) {
    super();
    this.#maxBytes = maxBytes;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
      throw new RangeError(`maxBytes must be a non-negative integer, got ${maxBytes}`);
    }
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#byteCount += chunk.length;
    if (this.#byteCount > this.#maxBytes) {
      callback(new BlobTooLargeError(this.#maxBytes));
      return;
    }
    this.#sha256.update(chunk);
    this.#sha1.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.#result = {
      size: this.#byteCount,
      sha256: this.#sha256.digest('hex'),
      sha1: this.#sha1.digest('base64'),
    };
    callback();
  }

  /** The measurements; only available after the stream has ended. */
  digest(): ContentDigest {
    if (!this.#result) {
      throw new Error('HashingStream.digest() called before the stream ended');
    }
    return this.#result;
  }
}
