import type { Logger } from '@nestjs/common';
import { FhirError, gone } from '../common/fhir-error.js';
import type { BlobStore } from '../storage/blob-store.js';
import { IntegrityError, readVerified } from '../storage/integrity.js';

/**
 * The whole stored object in memory, checked against its recorded SHA-256. Bytes that fail the check are never
 * served: the caller gets a 500 and the mismatch is logged for an operator.
 */
export async function readStoredBytes(
  blobs: BlobStore,
  stored: { blobKey: string; sha256: string },
  label: string,
  logger: Logger,
): Promise<Buffer> {
  try {
    return await readVerified(await blobs.open({ key: stored.blobKey }), stored.blobKey, stored.sha256);
  } catch (error) {
    if (error instanceof IntegrityError) {
      logger.error(`Refusing to serve ${label}: ${error.message}`);
      throw new FhirError(500, 'exception', `The stored bytes of ${label} failed their integrity check`);
    }
    throw error;
  }
}

/** 410 for bytes an administrative purge removed; the DocumentReference that indexed them says why. */
export function purged(reference: string, atMs: number): FhirError {
  return gone(
    `The content of ${reference} was removed by an administrative purge on ${new Date(atMs).toISOString()}; ` +
      'the DocumentReference that indexed it is entered-in-error and gives the reason',
  );
}
