import type { ListedBlob } from '../storage/blob-store.js';

/** The sweep's default age: blobs written in the last day are never touched. */
export const DEFAULT_SWEEP_AGE_MS = 24 * 60 * 60_000;

/**
 * The youngest a blob may be and still be swept. A write stores its blob before its row commits, within one request
 * (REQUEST_TIMEOUT_MS, minutes at most): an hour leaves room for the slowest upload, so a blob of a write still in
 * flight is never taken for an orphan.
 */
export const MIN_SWEEP_AGE_MS = 60 * 60_000;

/** Listed keys checked against the registry per query. */
export const SWEEP_PAGE_SIZE = 500;

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 60 * 60_000, d: 24 * 60 * 60_000 };

/** `90m`, `24h`, `7d` (or seconds, `3600s`) in milliseconds; throws RangeError naming the rule. */
export function parseAge(text: string): number {
  const match = /^\s*(\d{1,9})\s*([smhd])\s*$/.exec(text);
  if (!match) {
    throw new RangeError(`"${text}" is not an age: write a whole number and a unit, s m h or d (e.g. 24h, 7d)`);
  }
  const ms = Number(match[1]) * UNIT_MS[match[2]];
  if (ms < MIN_SWEEP_AGE_MS) {
    throw new RangeError(
      `--older-than ${text} is too young: blobs of writes still in flight could be taken for orphans (at least 1h)`,
    );
  }
  return ms;
}

/** The listed blobs no registry row points at. */
export function orphansOf(page: readonly ListedBlob[], referenced: ReadonlySet<string>): ListedBlob[] {
  return page.filter((blob) => !referenced.has(blob.key));
}

/** What one sweep saw and did. */
export interface SweepReport {
  /** Only blobs last written before this were looked at. */
  readonly cutoff: Date;
  /** False for a dry run: orphans are listed, nothing is removed. */
  readonly applied: boolean;
  listed: number;
  listedBytes: number;
  orphans: number;
  orphanBytes: number;
  removed: number;
  removedBytes: number;
  /** Orphans whose removal failed (they are left for the next sweep). */
  failed: number;
}

export function emptyReport(cutoff: Date, applied: boolean): SweepReport {
  return {
    cutoff,
    applied,
    listed: 0,
    listedBytes: 0,
    orphans: 0,
    orphanBytes: 0,
    removed: 0,
    removedBytes: 0,
    failed: 0,
  };
}

/** The report's counts as AuditEvent details. */
export function sweepDetails(report: SweepReport): { type: string; value: string }[] {
  return [
    { type: 'mode', value: report.applied ? 'apply' : 'dry-run' },
    { type: 'older-than', value: report.cutoff.toISOString() },
    { type: 'listed', value: String(report.listed) },
    { type: 'orphans', value: String(report.orphans) },
    { type: 'orphan-bytes', value: String(report.orphanBytes) },
    { type: 'removed', value: String(report.removed) },
    { type: 'removed-bytes', value: String(report.removedBytes) },
    { type: 'failed', value: String(report.failed) },
  ];
}

/** One line an operator reads at the end of a sweep. */
export function sweepSummary(report: SweepReport): string {
  const found = `${report.orphans} unreferenced blob(s), ${report.orphanBytes} bytes, among ${report.listed} listed written before ${report.cutoff.toISOString()}`;
  if (!report.applied) {
    return `dry run: ${found}; nothing removed (run with --apply to remove them)`;
  }
  const failed = report.failed > 0 ? `; ${report.failed} could not be removed (left for the next sweep)` : '';
  return `${found}; removed ${report.removed} (${report.removedBytes} bytes)${failed}`;
}
