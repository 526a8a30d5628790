import {
  DEFAULT_SWEEP_AGE_MS,
  emptyReport,
  MIN_SWEEP_AGE_MS,
  orphansOf,
  parseAge,
  sweepDetails,
  sweepSummary,
} from './blob-sweep.js';

const blob = (key: string, size = 10) => ({ key, size, lastModified: new Date('2026-01-01T00:00:00Z') });

describe('parseAge', () => {
  it('reads minutes, hours, days and seconds', () => {
    expect(parseAge('90m')).toBe(90 * 60_000);
    expect(parseAge('24h')).toBe(DEFAULT_SWEEP_AGE_MS);
    expect(parseAge('7d')).toBe(7 * 24 * 3_600_000);
    expect(parseAge('3600s')).toBe(MIN_SWEEP_AGE_MS);
  });

  it('refuses an age without a unit, a fraction or a negative number', () => {
    for (const text of ['24', '1.5h', '-2h', 'h', '', '24 hours']) {
      expect(() => parseAge(text)).toThrow(RangeError);
    }
  });

  it('refuses an age under an hour: a write still in flight could look like an orphan', () => {
    expect(() => parseAge('59m')).toThrow(/too young/);
    expect(() => parseAge('10s')).toThrow(/too young/);
  });
});

describe('orphansOf', () => {
  it('keeps the listed blobs no row references, in listing order', () => {
    const page = [blob('a'), blob('b'), blob('c')];
    expect(orphansOf(page, new Set(['b']))).toEqual([blob('a'), blob('c')]);
    expect(orphansOf(page, new Set(['a', 'b', 'c']))).toEqual([]);
  });
});

describe('sweep report', () => {
  const cutoff = new Date('2026-11-29T08:00:00.000Z');

  it('says a dry run removed nothing and how to apply it', () => {
    const report = { ...emptyReport(cutoff, false), listed: 5, orphans: 2, orphanBytes: 30 };
    expect(sweepSummary(report)).toBe(
      'dry run: 2 unreferenced blob(s), 30 bytes, among 5 listed written before 2026-11-29T08:00:00.000Z; ' +
        'nothing removed (run with --apply to remove them)',
    );
  });

  it('says what an applied sweep removed and what it left for the next one', () => {
    const report = {
      ...emptyReport(cutoff, true),
      listed: 5,
      orphans: 2,
      orphanBytes: 30,
      removed: 1,
      removedBytes: 10,
    };
    expect(sweepSummary({ ...report, failed: 1 })).toMatch(/removed 1 \(10 bytes\); 1 could not be removed/);
  });

  it('gives the audit trail every count', () => {
    const details = Object.fromEntries(
      sweepDetails({ ...emptyReport(cutoff, true), listed: 7, removed: 2 }).map((d) => [d.type, d.value]),
    );
    expect(details).toMatchObject({ mode: 'apply', 'older-than': cutoff.toISOString(), listed: '7', removed: '2' });
  });
});
