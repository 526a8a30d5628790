import { Injectable, Logger } from '@nestjs/common';
import type { Actor } from '../audit/actor.js';
import { notFound } from '../common/fhir-error.js';
import { BlobStore } from '../storage/blob-store.js';
import { purgeReason } from './document-lifecycle.js';
import { DocumentWriter, type PurgedContent } from './document-writer.js';

export interface PurgeResult extends PurgedContent {
  /** Blobs that could not be removed now (the store failed): rows say purged, so a rerun or the sweep removes them. */
  leftBehind: { reference: string; key: string; reason: string }[];
}

/**
 * Legal erasure of a document's bytes, the one exception to immutable storage: rows first (one transaction, audited),
 * then the blobs. A crash or a store outage between the two leaves purged rows and blobs nothing references, which
 * a rerun of the purge or the orphan sweep removes; the reverse order could leave rows pointing at bytes gone.
 */
@Injectable()
export class DocumentPurgeService {
  private readonly logger = new Logger(DocumentPurgeService.name);

  constructor(
    private readonly writer: DocumentWriter,
    private readonly blobs: BlobStore,
  ) {}

  async purge(id: string, reason: string | undefined, actor: Actor): Promise<PurgeResult> {
    const checked = purgeReason(reason);
    if (!/^[A-Za-z0-9.-]{1,64}$/.test(id)) {
      throw notFound(`DocumentReference/${id} is not known to this server`);
    }
    const purged = await this.writer.purge({
      kind: 'purge',
      id,
      reason: checked,
      audit: { actor, subtype: 'purge' },
      now: new Date(),
    });
    const leftBehind: PurgeResult['leftBehind'] = [];
    for (const blob of purged.released) {
      try {
        await this.blobs.purge({ key: blob.key });
      } catch (error) {
        this.logger.error(
          `Purged ${blob.reference} but could not remove its blob ${blob.key}: ${(error as Error).message}`,
        );
        leftBehind.push({ ...blob, reason: (error as Error).message });
      }
    }
    return { ...purged, leftBehind };
  }
}
