import { createHash, createHmac } from 'node:crypto';
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { type Dialect, openTestDatabase } from '../utils/database.js';
import { verifyAuditChain } from '../../scripts/audit-verify.js';
import type { Actor } from '../../src/audit/actor.js';
import { canonicalJson, chainContent } from '../../src/audit/audit-chain.js';
import type { AuditChainKey } from '../../src/audit/audit-chain-key.js';
import { AuditEventEntity } from '../../src/audit/audit-event.entity.js';
import type { AuditInput } from '../../src/audit/audit-event-resource.js';
import { AuditEventRepository } from '../../src/audit/audit-event.repository.js';
import { type AuditVisibility, parseAuditSearch } from '../../src/audit/audit-search.js';
import { AuditChainRepository } from '../../src/audit/audit-chain.repository.js';
import { AuditService } from '../../src/audit/audit.service.js';
import { GroupCommitter } from '../../src/database/group-commit.js';
import type { AppConfig } from '../../src/config/app-config.js';

const ALL: AuditVisibility = { kind: 'all' };

const config = {
  baseUrl: 'http://127.0.0.1:8080',
  auth: { issuer: 'urn:test-issuer' },
  audit: { checkpointEvents: 1000, checkpointSeconds: 60 },
} as AppConfig;
const SECRET = Buffer.from('the-real-audit-key-kept-outside-the-database-0123456789');
// type-only import: the key is a plain holder of the secret loaded at start-up
const key = { secret: SECRET } as AuditChainKey;
const actor: Actor = {
  subject: 'user-1',
  clientId: 'client-1',
  organization: 'RTG',
  ip: '127.0.0.1',
  requestId: 'req-1',
};

function anEvent(overrides: Partial<AuditInput> = {}): AuditInput {
  return {
    actor,
    action: 'R',
    subtype: 'read',
    outcome: '0',
    entities: [{ reference: 'DocumentReference/dr-1' }],
    patientNhsNumbers: ['9434765919'],
    ...overrides,
  };
}

describe.each<Dialect>(['sqlite', 'postgres'])('audit chain on %s', (dialect) => {
  let dataSource: DataSource;
  let audit: AuditService;
  let cleanup: () => Promise<void>;

  /** Lets the test play the attacker with database rights: lifts the append-only triggers. */
  async function liftAppendOnlyGuard(): Promise<void> {
    if (dialect === 'sqlite') {
      for (const trigger of await dataSource.query<{ name: string }[]>(
        `SELECT "name" FROM "sqlite_master" WHERE "type" = 'trigger' AND "tbl_name" = 'audit_event'`,
      )) {
        await dataSource.query(`DROP TRIGGER "${trigger.name}"`);
      }
    } else {
      await dataSource.query('ALTER TABLE "audit_event" DISABLE TRIGGER USER');
    }
  }

  const param = (n: number) => (dialect === 'postgres' ? `$${n}` : '?');

  /** The attacker's rewrite: changes one event, then recomputes every following link with `hash`. */
  async function rewriteAndRehash(sequence: number, hash: (prevHash: string, canonical: string) => string) {
    await liftAppendOnlyGuard();
    const rows = await dataSource
      .getRepository(AuditEventEntity)
      .createQueryBuilder('e')
      .where('e.sequence >= :from', { from: sequence - 1 })
      .orderBy('e.sequence', 'ASC')
      .getMany();
    let prevHash = rows[0].sequence === sequence ? rows[0].prevHash : rows[0].hash;
    for (const row of rows.filter((r) => r.sequence >= sequence)) {
      const changed = row.sequence === sequence ? { ...row, outcome: '4' } : row;
      const newHash = hash(prevHash, canonicalJson(chainContent(changed)));
      await dataSource.query(
        `UPDATE "audit_event" SET "outcome" = ${param(1)}, "prev_hash" = ${param(2)}, "hash" = ${param(3)} WHERE "sequence" = ${param(4)}`,
        [changed.outcome, prevHash, newHash, row.sequence],
      );
      prevHash = newHash;
    }
  }

  /** A row as the application would write it, at any sequence, for the insert attacks. */
  async function insertRow(verb: string, sequence: number, id: string, tail = ''): Promise<unknown> {
    const [row] = await dataSource.query<Record<string, unknown>[]>(`SELECT * FROM "audit_event" WHERE "sequence" = 1`);
    const values = { ...row, sequence, id };
    const columns = Object.keys(values);
    return dataSource.query(
      `${verb} INTO "audit_event" (${columns.map((c) => `"${c}"`).join(', ')}) VALUES (${columns.map((_, i) => param(i + 1)).join(', ')}) ${tail}`,
      Object.values(values),
    );
  }

  beforeEach(async () => {
    const opened = await openTestDatabase(dialect);
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

  it('gives 20 concurrent writers a gap-free, valid chain', async () => {
    const written = await Promise.all(
      Array.from({ length: 20 }, (_, i) => audit.record(anEvent({ actor: { ...actor, requestId: `req-${i}` } }))),
    );
    expect(written.map((row) => row.sequence).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    expect(await verifyAuditChain(dataSource, SECRET)).toMatchObject({ ok: true, count: 20, head: { sequence: 20 } });
  });

  it('keeps the chain valid when writers inside other transactions race with plain writers', async () => {
    const inTransaction = dataSource.transaction(async (manager) => {
      await audit.record(anEvent({ subtype: 'create', action: 'C' }), manager);
      await audit.record(anEvent({ subtype: 'update', action: 'U' }), manager);
    });
    const plain = Array.from({ length: 8 }, () => audit.record(anEvent()));
    await Promise.all([inTransaction, ...plain]);
    expect(await verifyAuditChain(dataSource, SECRET)).toMatchObject({ ok: true, count: 10 });
  });

  it('writes an event inside the caller transaction: it is gone when that transaction rolls back', async () => {
    await audit.record(anEvent());
    await expect(
      dataSource.transaction(async (manager) => {
        await audit.record(anEvent({ action: 'C', subtype: 'create' }), manager);
        throw new Error('the document insert failed');
      }),
    ).rejects.toThrow('the document insert failed');
    await audit.record(anEvent());
    const verdict = await verifyAuditChain(dataSource, SECRET);
    expect(verdict).toMatchObject({ ok: true, count: 2 });
    const rows = await new AuditEventRepository(dataSource).search(parseAuditSearch({ action: 'C' }), ALL);
    expect(rows).toHaveLength(0);
  });

  it('refuses UPDATE and DELETE of audit rows at the database', async () => {
    await audit.record(anEvent());
    await expect(dataSource.query(`UPDATE "audit_event" SET "outcome" = '4'`)).rejects.toThrow(/append-only/);
    await expect(dataSource.query('DELETE FROM "audit_event"')).rejects.toThrow(/append-only/);
    expect(await verifyAuditChain(dataSource, SECRET)).toMatchObject({ ok: true, count: 1 });
  });

  it('detects an altered event at its sequence', async () => {
    for (let i = 0; i < 8; i++) {
      await audit.record(anEvent());
    }
    await liftAppendOnlyGuard();
    const [row] = await dataSource.query<{ resource: string }[]>(
      'SELECT "resource" FROM "audit_event" WHERE "sequence" = 5',
    );
    const forged = row.resource.replace('"outcome":"0"', '"outcome":"4"');
    expect(forged).not.toBe(row.resource);
    await dataSource.query(
      `UPDATE "audit_event" SET "resource" = ${dialect === 'postgres' ? '$1' : '?'} WHERE "sequence" = 5`,
      [forged],
    );
    expect(await verifyAuditChain(dataSource, SECRET)).toMatchObject({
      ok: false,
      sequence: 5,
      count: 4,
      reason: expect.stringMatching(/altered/),
    });
  });

  it('detects a deleted event', async () => {
    for (let i = 0; i < 8; i++) {
      await audit.record(anEvent());
    }
    await liftAppendOnlyGuard();
    await dataSource.query('DELETE FROM "audit_event" WHERE "sequence" = 7');
    expect(await verifyAuditChain(dataSource, SECRET)).toMatchObject({
      ok: false,
      sequence: 7,
      reason: expect.stringMatching(/deleted/),
    });
  });

  it('detects a rewrite whose following hashes were recomputed with plain SHA-256', async () => {
    for (let i = 0; i < 8; i++) {
      await audit.record(anEvent());
    }
    await rewriteAndRehash(5, (prev, canonical) =>
      createHash('sha256').update(`${prev}\n${canonical}`, 'utf8').digest('hex'),
    );
    expect(await verifyAuditChain(dataSource, SECRET)).toMatchObject({
      ok: false,
      sequence: 5,
      count: 4,
      reason: expect.stringMatching(/not keyed/),
    });
  });

  it('detects a rewrite whose following hashes were recomputed with a guessed key', async () => {
    for (let i = 0; i < 8; i++) {
      await audit.record(anEvent());
    }
    const guessed = Buffer.from('guessed-audit-key-guessed-audit-key-guessed');
    // the genuine chain does not verify under any other key
    expect(await verifyAuditChain(dataSource, guessed)).toMatchObject({ ok: false, sequence: 1 });
    await rewriteAndRehash(3, (prev, canonical) =>
      createHmac('sha256', guessed).update(`${prev}\n${canonical}`, 'utf8').digest('hex'),
    );
    expect(await verifyAuditChain(dataSource, SECRET)).toMatchObject({
      ok: false,
      sequence: 3,
      count: 2,
      reason: expect.stringMatching(/altered/),
    });
  });

  it('detects deletion of the newest events: a checkpoint lies beyond the end of the chain', async () => {
    for (let i = 0; i < 8; i++) {
      await audit.record(anEvent());
    }
    expect(await audit.seal()).toMatchObject({ sequence: 8 });
    await audit.record(anEvent());
    await liftAppendOnlyGuard();
    await dataSource.query('DELETE FROM "audit_event" WHERE "sequence" > 6');
    expect(await verifyAuditChain(dataSource, SECRET)).toMatchObject({
      ok: false,
      sequence: 7,
      count: 6,
      reason: expect.stringMatching(/events 7\.\.8 are missing/),
    });
  });

  it('reports how far the chain is sealed and how many events follow unsealed', async () => {
    expect(await audit.seal()).toBeNull();
    expect(await verifyAuditChain(dataSource, SECRET)).toEqual({
      ok: true,
      count: 0,
      head: { sequence: 0, hash: '0'.repeat(64) },
      unsealed: 0,
    });
    for (let i = 0; i < 3; i++) {
      await audit.record(anEvent());
    }
    const checkpoint = await audit.seal();
    expect(checkpoint).toMatchObject({ sequence: 3 });
    // nothing new: no second checkpoint at the same head
    expect(await audit.seal()).toBeNull();
    await audit.record(anEvent());
    await audit.record(anEvent());
    expect(await verifyAuditChain(dataSource, SECRET)).toMatchObject({
      ok: true,
      count: 5,
      sealed: checkpoint,
      unsealed: 2,
    });
  });

  it('seals the chain every AUDIT_CHECKPOINT_EVENTS events, on a timer, and at shutdown', async () => {
    const sealing = new AuditService(
      dataSource,
      new AuditChainRepository(dataSource),
      { ...config, audit: { ...config.audit, checkpointEvents: 4, checkpointSeconds: 1 } },
      key,
      new GroupCommitter(dataSource),
    );
    const sealedUpTo = async () => {
      const verdict = await verifyAuditChain(dataSource, SECRET);
      return verdict.ok ? (verdict.sealed?.sequence ?? 0) : -1;
    };
    const until = async (sequence: number) => {
      for (let i = 0; i < 50 && (await sealedUpTo()) < sequence; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return sealedUpTo();
    };
    for (let i = 0; i < 5; i++) {
      await sealing.record(anEvent());
    }
    expect(await until(4)).toBeGreaterThanOrEqual(4);
    sealing.onApplicationBootstrap();
    try {
      await sealing.record(anEvent());
      await sealing.record(anEvent());
      expect(await until(7)).toBe(7);
      await sealing.record(anEvent());
    } finally {
      await sealing.beforeApplicationShutdown();
    }
    expect(await sealedUpTo()).toBe(8);
  });

  it('detects a forged checkpoint', async () => {
    for (let i = 0; i < 3; i++) {
      await audit.record(anEvent());
    }
    const [tail] = await dataSource.query<{ hash: string }[]>('SELECT "hash" FROM "audit_event" WHERE "sequence" = 3');
    await dataSource.query(
      `INSERT INTO "audit_checkpoint" ("sequence", "hash", "created_ms", "mac") VALUES (3, ${param(1)}, ${Date.now()}, ${param(2)})`,
      [tail.hash, 'f'.repeat(64)],
    );
    expect(await verifyAuditChain(dataSource, SECRET)).toMatchObject({
      ok: false,
      sequence: 3,
      reason: expect.stringMatching(/checkpoint/),
    });
  });

  it('refuses an insert at an old sequence, even into the gap a deletion left', async () => {
    for (let i = 0; i < 3; i++) {
      await audit.record(anEvent());
    }
    if (dialect === 'sqlite') {
      await expect(insertRow('INSERT OR REPLACE', 2, 'forged-id')).rejects.toThrow(/append-only/);
      await expect(insertRow('INSERT OR IGNORE', 2, 'forged-id')).rejects.toThrow(/append-only/);
      const [second] = await dataSource.query<{ id: string }[]>('SELECT "id" FROM "audit_event" WHERE "sequence" = 2');
      // REPLACE on the unique id would silently delete event 2 while appending at the end
      await expect(insertRow('INSERT OR REPLACE', 4, second.id)).rejects.toThrow(/append-only/);
      await dataSource.query('DROP TRIGGER "audit_event_no_delete"');
    } else {
      await expect(insertRow('INSERT', 2, 'forged-id', 'ON CONFLICT DO NOTHING')).rejects.toThrow(/append-only/);
      await dataSource.query('ALTER TABLE "audit_event" DISABLE TRIGGER "audit_event_no_change"');
    }
    expect(await verifyAuditChain(dataSource, SECRET)).toMatchObject({ ok: true, count: 3 });
    await dataSource.query('DELETE FROM "audit_event" WHERE "sequence" = 2');
    await expect(insertRow('INSERT', 2, 'forged-id')).rejects.toThrow(/append-only/);
    expect(await verifyAuditChain(dataSource, SECRET)).toMatchObject({ ok: false, sequence: 2 });
  });

  it('keeps checkpoints append-only at the database', async () => {
    for (let i = 0; i < 3; i++) {
      await audit.record(anEvent());
    }
    await audit.seal();
    await expect(dataSource.query(`UPDATE "audit_checkpoint" SET "created_ms" = 0`)).rejects.toThrow(/append-only/);
    await expect(dataSource.query('DELETE FROM "audit_checkpoint"')).rejects.toThrow(/append-only/);
    const or = dialect === 'sqlite' ? 'OR REPLACE ' : '';
    await expect(
      dataSource.query(
        `INSERT ${or}INTO "audit_checkpoint" ("sequence", "hash", "created_ms", "mac") VALUES (2, 'x', 0, 'y')`,
      ),
    ).rejects.toThrow(/append-only/);
    expect(await verifyAuditChain(dataSource, SECRET)).toMatchObject({ ok: true, sealed: { sequence: 3 } });
  });

  it('walks a chain longer than one verification page', async () => {
    for (let i = 0; i < 3; i++) {
      await Promise.all(Array.from({ length: 400 }, () => audit.record(anEvent())));
    }
    expect(await verifyAuditChain(dataSource, SECRET)).toMatchObject({ ok: true, count: 1200 });
  });

  it('finds events by patient, agent, whole entity reference, action and date, newest first', async () => {
    const before = Date.now();
    const first = await audit.record(anEvent({ entities: [{ reference: 'DocumentReference/a_1' }] }));
    await audit.record(
      anEvent({
        actor: { ...actor, subject: 'user-2', organization: 'Y12345' },
        action: 'C',
        subtype: 'create',
        entities: [{ reference: 'Bundle/b1' }, { reference: 'DocumentReference/a_12' }],
        patientNhsNumbers: ['9000000009'],
      }),
    );
    const third = await audit.record(
      anEvent({ action: 'E', subtype: 'search', entities: [{ role: 'query', query: 'x=1' }] }),
    );
    const ids = async (query: Record<string, unknown>) =>
      (await new AuditEventRepository(dataSource).search(parseAuditSearch(query), ALL)).map((r) => r.sequence);

    expect(await ids({})).toEqual([3, 2, 1]);
    expect(await ids({ 'patient.identifier': '9434765919' })).toEqual([3, 1]);
    expect(await ids({ agent: 'user-2' })).toEqual([2]);
    expect(await ids({ agent: 'https://fhir.nhs.uk/Id/ods-organization-code|RTG' })).toEqual([3, 1]);
    expect(await ids({ agent: 'client-1' })).toEqual([3, 2, 1]);
    // whole references only: a_1 must not match a_12, and _ is not a wildcard
    expect(await ids({ entity: 'DocumentReference/a_1' })).toEqual([1]);
    expect(await ids({ entity: 'DocumentReference/a%' })).toEqual([]);
    expect(await ids({ entity: 'Bundle/b1,DocumentReference/a_1' })).toEqual([2, 1]);
    expect(await ids({ action: 'C,E' })).toEqual([3, 2]);
    expect(await ids({ _count: '2' })).toEqual([3, 2]);
    const from = new Date(before - 1000).toISOString().replace(/\.\d+Z$/, 'Z');
    expect(await ids({ date: [`ge${from}`, `le${new Date(third.recordedMs + 2000).toISOString()}`] })).toEqual([
      3, 2, 1,
    ]);
    expect(await ids({ date: `lt${from}` })).toEqual([]);
    expect((await audit.findById(first.id))?.sequence).toBe(1);
  });
});
