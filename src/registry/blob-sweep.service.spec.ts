import { jest } from '@jest/globals';
import type { Actor } from '../audit/actor.js';
import type { AuditInput } from '../audit/audit-event-resource.js';
import type { AuditService } from '../audit/audit.service.js';
import { type BlobStore, BlobStoreUnavailableError, type ListedBlob } from '../storage/blob-store.js';
import type { BlobReferenceRepository } from './blob-reference.repository.js';
import { BlobSweepService } from './blob-sweep.service.js';

const actor: Actor = { clientId: 'npm run blobs:sweep (ops)', ip: 'host', requestId: 'r-1' };
const now = new Date('2026-11-30T08:00:00Z');
const DAY = 24 * 3_600_000;
const listed = (key: string, size = 100): ListedBlob => ({
  key,
  size,
  lastModified: new Date(now.getTime() - 2 * DAY),
});

function harness(keys: string[], referenced: string[], failing: string[] = []) {
  const events: string[] = [];
  const list = jest.fn(async function* (olderThan: Date) {
    events.push(`list before ${olderThan.toISOString()}`);
    for (const key of keys) {
      events.push(`listed ${key}`);
      yield await Promise.resolve(listed(key));
    }
  });
  const purge = jest.fn((ref: { key: string }) => {
    events.push(`purge ${ref.key}`);
    return failing.includes(ref.key) ? Promise.reject(new BlobStoreUnavailableError('EIO')) : Promise.resolve();
  });
  const referencedAmong = jest.fn((page: readonly string[]) => {
    events.push(`references of ${page.join(',')}`);
    return Promise.resolve(new Set(page.filter((key) => referenced.includes(key))));
  });
  const audited: AuditInput[] = [];
  const record = jest.fn((input: AuditInput) => {
    audited.push(input);
    return Promise.resolve();
  });
  const service = new BlobSweepService(
    { list, purge } as unknown as BlobStore,
    { referencedAmong } as unknown as BlobReferenceRepository,
    { record } as unknown as AuditService,
  );
  return { service, events, purge, audited };
}

describe('BlobSweepService', () => {
  it('lists only blobs older than the cut-off, reading each page references after listing it', async () => {
    const { service, events } = harness(['a', 'b', 'c'], ['b'], []);

    const report = await service.sweep({ olderThanMs: DAY, apply: false, actor, now, pageSize: 2 });

    expect(events).toEqual([
      'list before 2026-11-29T08:00:00.000Z',
      'listed a',
      'listed b',
      'references of a,b',
      'listed c',
      'references of c',
    ]);
    expect(report).toMatchObject({ listed: 3, listedBytes: 300, orphans: 2, orphanBytes: 200, removed: 0 });
  });

  it('removes nothing on a dry run, and reports each orphan', async () => {
    const { service, purge, audited } = harness(['a', 'b'], [], []);
    const seen: string[] = [];

    await service.sweep({ olderThanMs: DAY, apply: false, actor, now, onOrphan: (b, o) => seen.push(`${o} ${b.key}`) });

    expect(purge).not.toHaveBeenCalled();
    expect(seen).toEqual(['listed a', 'listed b']);
    expect(audited).toHaveLength(1);
    expect(audited[0]).toMatchObject({ action: 'E', subtype: 'blob-sweep', outcome: '0', actor });
  });

  it('removes only unreferenced blobs when applied, and audits the counts', async () => {
    const { service, purge, audited } = harness(['a', 'b', 'c'], ['b'], []);

    const report = await service.sweep({ olderThanMs: DAY, apply: true, actor, now });

    expect(purge.mock.calls.map(([ref]) => ref.key)).toEqual(['a', 'c']);
    expect(report).toMatchObject({ orphans: 2, removed: 2, removedBytes: 200, failed: 0 });
    expect(audited[0]).toMatchObject({ action: 'D', subtype: 'blob-sweep', outcome: '0' });
    expect(audited[0].details).toContainEqual({ type: 'removed', value: '2' });
  });

  it('carries on past a blob it cannot remove, counting it as failed (minor failure in the audit)', async () => {
    const { service, audited } = harness(['a', 'b'], [], ['a']);

    const report = await service.sweep({ olderThanMs: DAY, apply: true, actor, now });

    expect(report).toMatchObject({ removed: 1, failed: 1 });
    expect(audited[0]).toMatchObject({ outcome: '4', outcomeDescription: '1 orphan(s) could not be removed' });
  });
});
