import { createHash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';

/** The bytes read back do not hash to what was recorded when they were stored. */
export class IntegrityError extends Error {
  constructor(
    readonly key: string,
    readonly expectedSha256: string,
    readonly actualSha256: string,
  ) {
    super(`Stored object ${key} failed its SHA-256 check (expected ${expectedSha256}, read ${actualSha256})`);
    this.name = 'IntegrityError';
  }
}

/** Reads a whole object into memory and checks its SHA-256 before anyone sees a byte. */
export async function readVerified(stream: Readable, key: string, expectedSha256: string): Promise<Buffer> {
  const hash = createHash('sha256');
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    chunks.push(chunk as Buffer);
  }
  const actual = hash.digest('hex');
  if (actual !== expectedSha256) {
    throw new IntegrityError(key, expectedSha256, actual);
  }
  return Buffer.concat(chunks);
}

/**
 * Passes a whole object through while hashing it, holding back the last chunk until the hash is known:
 * on a mismatch the stream errors instead, so a client never receives a complete body of bad bytes.
 */
export function verifyingStream(key: string, expectedSha256: string): Transform {
  const hash = createHash('sha256');
  let held: Buffer | undefined;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      hash.update(chunk);
      const previous = held;
      held = chunk;
      callback(null, previous);
    },
    flush(callback: TransformCallback) {
      const actual = hash.digest('hex');
      if (actual !== expectedSha256) {
        callback(new IntegrityError(key, expectedSha256, actual));
        return;
      }
      callback(null, held);
    },
  });
}
