import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { type Dialect, openTestDatabase } from '../utils/database.js';
import { verifyAuditChain } from '../../scripts/audit-verify.js';
import type { Actor } from '../../src/audit/actor.js';
import type { AuditChainKey } from '../../src/audit/audit-chain-key.js';
import type { AuditInput } from '../../src/audit/audit-event-resource.js';
import { AUDIT_CHAIN_LOCK, AuditChainRepository } from '../../src/audit/audit-chain.repository.js';
import { AuditService } from '../../src/audit/audit.service.js';
import { GroupCommitter } from '../../src/database/group-commit.js';
import type { AppConfig } from '../../src/config/app-config.js';

const config = {
  baseUrl: 'http://127.0.0.1:8080',
  auth: { issuer: 'urn:test-issuer' },
  audit: { checkpointEvents: 100_000, checkpointSeconds: 3600 },
} as AppConfig;
const SECRET = Buffer.from('group-commit-test-key-kept-outside-the-database-0123');
const key = { secret: SECRET } as AuditChainKey;

const anEvent = (i: number, actor: Partial<Actor> = {}): AuditInput => ({
  actor: {
    subject: 'user-1',
    clientId: 'client-1',
    organization: 'RTG',
    ip: '127.0.0.1',
    requestId: `req-${i}`,
    ...actor,
  },
  action: 'R',
  subtype: 'read',
  outcome: '0',
  entities: [{ reference: `DocumentReference/dr-${i}` }],
  patientNhsNumbers: ['9434765919'],
});

describe.each<Dialect>(['sqlite', 'postgres'])('audit group commit on %s', (dialect) => {
  let dataSource: DataSource;
  let audit: AuditService;
  let cleanup: () => Promise<void>;

  beforeEach(async () => {
    const opened = await openTestDatabase(dialect, 'FULL');
    dataSource = opened.dataSource;
    audit = new AuditService(
      dataSource,
      new AuditChainRepository(dataSource),
      config,
      key,
      new GroupCommitter(dataSource),
    );
    cleanup = opened.close;
  });
  afterEach(async () => {
    await cleanup();
  });

  it('writes the events of concurrent requests in a few durable commits, as one gap-free chain', async () => {
    const written = await Promise.all(Array.from({ length: 200 }, (_, i) => audit.record(anEvent(i))));
    expect(written.map((row) => row.sequence).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
    expect(audit.batchesCommitted).toBeGreaterThanOrEqual(1);
    expect(audit.batchesCommitted).toBeLessThanOrEqual(10);
    expect(await verifyAuditChain(dataSource, SECRET)).toMatchObject({ ok: true, count: 200 });
  });

  it('answers each caller only once its event is committed', async () => {
    const row = await audit.record(anEvent(1));
    const [stored] = await dataSource.query<{ hash: string }[]>(
      `SELECT "hash" FROM "audit_event" WHERE "id" = ${dialect === 'postgres' ? '$1' : '?'}`,
      [row.id],
    );
    expect(stored.hash).toBe(row.hash);
  });

  it('adds no waiting when idle: one event alone is its own commit', async () => {
    await audit.record(anEvent(1));
    await audit.record(anEvent(2));
    expect(audit.batchesCommitted).toBe(2);
  });

  /** Until the chain lock (PostgreSQL) has a waiter: the read's batch is queued behind the open transaction. */
  const lockHasWaiter = async () => {
    if (dialect !== 'postgres') {
      return;
    }
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
      const [row] = await dataSource.query<{ waiting: number }[]>(
        `SELECT count(*)::int AS "waiting" FROM pg_locks
          WHERE "locktype" = 'advisory' AND "objid" = $1 AND NOT "granted"
            AND "database" = (SELECT "oid" FROM pg_database WHERE "datname" = current_database())`,
        [AUDIT_CHAIN_LOCK],
      );
      if (row.waiting > 0) {
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error("the read's batch never waited for the chain lock");
  };

  // The read waits for the writer's transaction to end (on PostgreSQL the writer holds the chain lock), but its
  // event must neither join that transaction nor roll back with it. Each step waits for the one before it (no sleeps):
  // a fixed pause once let the read start before the writer had its lock, and the writer then waited for ever.
  it("does not let a read's event join, or roll back with, another request's open transaction", async () => {
    let recorded!: () => void;
    const writerRecorded = new Promise<void>((resolve) => (recorded = resolve));
    let fail!: () => void;
    const writerMayFail = new Promise<void>((resolve) => (fail = resolve));
    const held = dataSource.transaction(async (manager) => {
      await audit.record(anEvent(1), manager);
      recorded();
      await writerMayFail;
      throw new Error('the writer fails');
    });
    // if the writer fails early, say so rather than wait for it
    await Promise.race([writerRecorded, held]);
    const read = audit.record(anEvent(2));
    await lockHasWaiter();
    fail();
    await expect(held).rejects.toThrow('the writer fails');
    const row = await read;
    const rows = await dataSource.query<{ request_id: string }[]>('SELECT "request_id" FROM "audit_event"');
    expect(rows.map((r) => r.request_id)).toEqual([row.requestId]);
    expect(await verifyAuditChain(dataSource, SECRET)).toMatchObject({ ok: true, count: 1 });
  });

  if (dialect === 'postgres') {
    it('fails only the event the database refuses, not the others in its batch', async () => {
      // PostgreSQL refuses NUL in text: a hostile token subject must cost only its own request
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => audit.record(anEvent(i, i === 7 ? { subject: 'evil\u0000sub' } : {}))),
      );
      expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
      expect(results[7].status).toBe('rejected');
      expect(await verifyAuditChain(dataSource, SECRET)).toMatchObject({ ok: true, count: 19 });
    });
  }
});
