import path from 'node:path';
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { verifyAuditChain } from '../../scripts/audit-verify.js';
import type { Actor } from '../../src/audit/actor.js';
import type { AuditInput } from '../../src/audit/audit-event-resource.js';
import { parseAuditSearch } from '../../src/audit/audit-search.js';
import { AuditService } from '../../src/audit/audit.service.js';
import type { AppConfig } from '../../src/config/app-config.js';
import { dataSourceOptions } from '../../src/database/data-source-options.js';
import { createTestDatabase, type TestDatabase } from '../utils/postgres.js';
import { makeTempDir } from '../utils/temp-dir.js';

type Dialect = 'sqlite' | 'postgres';

const config = { baseUrl: 'http://127.0.0.1:8080', auth: { issuer: 'urn:test-issuer' } } as AppConfig;
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
      await dataSource.query('DROP TRIGGER "audit_event_no_update"');
      await dataSource.query('DROP TRIGGER "audit_event_no_delete"');
    } else {
      await dataSource.query('ALTER TABLE "audit_event" DISABLE TRIGGER "audit_event_no_change"');
    }
  }

  beforeEach(async () => {
    let database: TestDatabase | undefined;
    const dir = await makeTempDir('audit-chain');
    if (dialect === 'postgres') {
      database = await createTestDatabase();
      dataSource = new DataSource(
        dataSourceOptions({ database: { kind: 'postgres', url: database.url }, sqliteSynchronous: 'FULL' }),
      );
    } else {
      const file = path.join(dir.path, 'audit.db');
      dataSource = new DataSource(
        dataSourceOptions({ database: { kind: 'sqlite', file }, sqliteSynchronous: 'NORMAL' }),
      );
    }
    await dataSource.initialize();
    audit = new AuditService(dataSource, config);
    cleanup = async () => {
      await dataSource.destroy();
      await database?.drop();
      await dir.remove();
    };
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
    expect(await verifyAuditChain(dataSource)).toMatchObject({ ok: true, count: 20, head: { sequence: 20 } });
  });

  it('keeps the chain valid when writers inside other transactions race with plain writers', async () => {
    const inTransaction = dataSource.transaction(async (manager) => {
      await audit.record(anEvent({ subtype: 'create', action: 'C' }), manager);
      await audit.record(anEvent({ subtype: 'update', action: 'U' }), manager);
    });
    const plain = Array.from({ length: 8 }, () => audit.record(anEvent()));
    await Promise.all([inTransaction, ...plain]);
    expect(await verifyAuditChain(dataSource)).toMatchObject({ ok: true, count: 10 });
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
    const verdict = await verifyAuditChain(dataSource);
    expect(verdict).toMatchObject({ ok: true, count: 2 });
    const rows = await audit.search(parseAuditSearch({ action: 'C' }));
    expect(rows).toHaveLength(0);
  });

  it('refuses UPDATE and DELETE of audit rows at the database', async () => {
    await audit.record(anEvent());
    await expect(dataSource.query(`UPDATE "audit_event" SET "outcome" = '4'`)).rejects.toThrow(/append-only/);
    await expect(dataSource.query('DELETE FROM "audit_event"')).rejects.toThrow(/append-only/);
    expect(await verifyAuditChain(dataSource)).toMatchObject({ ok: true, count: 1 });
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
    expect(await verifyAuditChain(dataSource)).toMatchObject({
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
    expect(await verifyAuditChain(dataSource)).toMatchObject({
      ok: false,
      sequence: 7,
      reason: expect.stringMatching(/deleted/),
    });
  });

  it('walks a chain longer than one verification page', async () => {
    for (let i = 0; i < 3; i++) {
      await Promise.all(Array.from({ length: 400 }, () => audit.record(anEvent())));
    }
    expect(await verifyAuditChain(dataSource)).toMatchObject({ ok: true, count: 1200 });
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
      (await audit.search(parseAuditSearch(query))).map((r) => r.sequence);

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
