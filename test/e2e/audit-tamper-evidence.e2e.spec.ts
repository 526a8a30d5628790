import { stat } from 'node:fs/promises';
import path from 'node:path';
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { verifyAuditChain } from '../../scripts/audit-verify.js';
import { loadAuditKey } from '../../src/audit/audit-chain-key.js';
import { dataSourceOptions } from '../../src/database/data-source-options.js';
import { ENTITIES } from '../../src/entities.js';
import { BACKENDS, startTestApp, type TestApp } from '../utils/test-app.js';

const NHS = 'https://fhir.nhs.uk/Id/nhs-number';

describe.each(BACKENDS)('audit trail tamper evidence on %s with %s blobs', (database, blobStore) => {
  let t: TestApp;
  let db: DataSource;
  let key: Buffer;

  beforeAll(async () => {
    t = await startTestApp(database, blobStore, { AUDIT_CHECKPOINT_EVENTS: '3' });
    // the attacker's (and the auditor's) own connection to the same database
    db = new DataSource({ ...dataSourceOptions(t.config), entities: ENTITIES, migrationsRun: false });
    await db.initialize();
    key = await loadAuditKey(t.config.audit);
  });
  afterAll(async () => {
    await db?.destroy();
    await t?.close();
  });

  async function sealedUpTo(): Promise<number> {
    const verdict = await verifyAuditChain(db, key);
    return verdict.ok ? (verdict.sealed?.sequence ?? 0) : -1;
  }

  it('keys the chain with a key generated on first start under DATA_DIR/auth, readable by the owner only', async () => {
    const file = path.join(t.config.dataDir, 'auth', 'audit-hmac-key');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(key.length).toBeGreaterThanOrEqual(32);
  });

  it('seals audited requests with a checkpoint and detects deletion of the newest events', async () => {
    for (let i = 0; i < 4; i++) {
      const response = await t.fetch(`/fhir/DocumentReference?patient.identifier=${NHS}|9434765919`);
      expect(response.status).toBe(200);
    }
    for (let i = 0; i < 100 && (await sealedUpTo()) < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const before = await verifyAuditChain(db, key);
    expect(before).toMatchObject({ ok: true, sealed: { sequence: expect.any(Number) } });
    const sealed = before.ok ? before.sealed!.sequence : 0;
    expect(sealed).toBeGreaterThanOrEqual(3);

    // the attacker lifts the guard and cuts the newest events, sealed ones included
    if (database === 'sqlite') {
      await db.query('DROP TRIGGER "audit_event_no_delete"');
    } else {
      await db.query('ALTER TABLE "audit_event" DISABLE TRIGGER USER');
    }
    await db.query(`DELETE FROM "audit_event" WHERE "sequence" >= ${sealed - 1}`);
    expect(await verifyAuditChain(db, key)).toMatchObject({
      ok: false,
      sequence: sealed - 1,
      reason: expect.stringMatching(new RegExp(`events ${sealed - 1}\\.\\.${sealed} are missing`)),
    });
  });
});
