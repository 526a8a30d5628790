import type { Logger } from '@nestjs/common';
import { FhirError } from '../common/fhir-error.js';
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
