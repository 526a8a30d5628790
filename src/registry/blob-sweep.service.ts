import { Injectable, Logger } from '@nestjs/common';
import type { Actor } from '../audit/actor.js';
import { AuditService } from '../audit/audit.service.js';
import { BlobStore, type ListedBlob } from '../storage/blob-store.js';
import { BlobReferenceRepository } from './blob-reference.repository.js';
import { emptyReport, orphansOf, SWEEP_PAGE_SIZE, sweepDetails, type SweepReport } from './blob-sweep.js';

export interface SweepOptions {
  /** Blobs last written less than this long ago are never looked at (at least MIN_SWEEP_AGE_MS: see parseAge). */
  olderThanMs: number;
  /** False: a dry run that only lists what it would remove. */
  apply: boolean;
  actor: Actor;
  now?: Date;
  pageSize?: number;
  /** Each orphan as it is found (and, when applying, once its removal was tried). */
  onOrphan?(blob: ListedBlob, outcome: 'listed' | 'removed' | 'failed'): void;
}

/**
 * Removes blobs no registry row points at: writes that stored their bytes and then lost a race or failed before
 * their rows committed, and purged documents whose bytes a crash left behind. Audited as one AuditEvent per run.
 */
@Injectable()
export class BlobSweepService {
  private readonly logger = new Logger(BlobSweepService.name);

  constructor(
    private readonly blobs: BlobStore,
    private readonly references: BlobReferenceRepository,
    private readonly audit: AuditService,
  ) {}

  /**
   * Pages through the store's listing of blobs older than the cut-off. Each page's references are read after the
   * page was listed, so a row that commits while the sweep runs is seen; the age cut-off keeps blobs of writes still
   * in flight (stored, not yet referenced) out of the listing altogether.
   */
  async sweep(options: SweepOptions): Promise<SweepReport> {
    const now = options.now ?? new Date();
    const report = emptyReport(new Date(now.getTime() - options.olderThanMs), options.apply);
    const pageSize = options.pageSize ?? SWEEP_PAGE_SIZE;
    let page: ListedBlob[] = [];
    try {
      for await (const blob of this.blobs.list(report.cutoff)) {
        page.push(blob);
        if (page.length >= pageSize) {
          await this.sweepPage(page, report, options);
          page = [];
        }
      }
      await this.sweepPage(page, report, options);
    } catch (error) {
      await this.record(report, options.actor, `stopped by an error: ${(error as Error).message}`);
      throw error;
    }
    await this.record(report, options.actor);
    return report;
  }

  private async sweepPage(page: ListedBlob[], report: SweepReport, options: SweepOptions): Promise<void> {
    if (page.length === 0) {
      return;
    }
    report.listed += page.length;
    report.listedBytes += page.reduce((sum, blob) => sum + blob.size, 0);
    const referenced = await this.references.referencedAmong(page.map((blob) => blob.key));
    for (const orphan of orphansOf(page, referenced)) {
      report.orphans += 1;
      report.orphanBytes += orphan.size;
      if (!options.apply) {
        options.onOrphan?.(orphan, 'listed');
        continue;
      }
      try {
        await this.blobs.purge(orphan);
        report.removed += 1;
        report.removedBytes += orphan.size;
        options.onOrphan?.(orphan, 'removed');
      } catch (error) {
        report.failed += 1;
        this.logger.warn(`Could not remove orphan blob ${orphan.key}: ${(error as Error).message}`);
        options.onOrphan?.(orphan, 'failed');
      }
    }
  }

  private async record(report: SweepReport, actor: Actor, stopped?: string): Promise<void> {
    const failed = stopped ?? (report.failed > 0 ? `${report.failed} orphan(s) could not be removed` : undefined);
    await this.audit.record({
      actor,
      action: report.applied ? 'D' : 'E',
      subtype: 'blob-sweep',
      outcome: failed ? '4' : '0',
      outcomeDescription: failed,
      entities: [],
      details: sweepDetails(report),
    });
  }
}
