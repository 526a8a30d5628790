import { Injectable } from '@nestjs/common';
import { insertRows } from '../database/plain-sql.js';
import { DataSource, type EntityManager } from 'typeorm';
import type { ChainHead, Checkpoint } from './audit-chain.js';
import { AuditCheckpointEntity } from './audit-checkpoint.entity.js';
import { AuditEventEntity } from './audit-event.entity.js';

/** Key of the PostgreSQL advisory lock that serialises appends to the chain ('audi' in ASCII). */
export const AUDIT_CHAIN_LOCK = 0x61756469;

/** Builds the rows to append after the chain's current head (none when the chain is empty). */
export type ChainAfter = (head: ChainHead | undefined) => AuditEventEntity[];

/** Decides the checkpoint for the chain's head and the newest sealed sequence, or null for none. */
export type CheckpointFor = (head: ChainHead | undefined, sealedSequence: number) => Checkpoint | null;

interface SqliteStatement {
  get(): unknown;
  run(...params: unknown[]): unknown;
}

interface BetterSqliteDatabase {
  prepare(sql: string): SqliteStatement;
  transaction<T>(fn: () => T): (() => T) & { immediate(): T };
  readonly inTransaction: boolean;
}

const TAIL_SQL = 'SELECT "sequence", "hash" FROM "audit_event" ORDER BY "sequence" DESC LIMIT 1';
const SEALED_SQL = 'SELECT "sequence" FROM "audit_checkpoint" ORDER BY "sequence" DESC LIMIT 1';

const COLUMNS = [
  'sequence',
  'id',
  'recorded_ms',
  'action',
  'subtype',
  'outcome',
  'agent_subject',
  'agent_client',
  'agent_org',
  'source_ip',
  'request_id',
  'correlation_id',
  'patient_nhs_number',
  'patient_nhs_numbers',
  'custodian_orgs',
  'entity',
  'resource',
  'prev_hash',
  'hash',
];

const headOf = (row: { sequence: string | number | bigint; hash: string } | undefined): ChainHead | undefined =>
  row ? { sequence: Number(row.sequence), hash: row.hash } : undefined;

/**
 * The audit chain's storage: reads the head and appends after it, or seals it, as one atomic step per dialect
 * (PostgreSQL: under one advisory lock in the caller's transaction; SQLite: one synchronous better-sqlite3
 * transaction, with statements prepared once).
 */
@Injectable()
export class AuditChainRepository {
  private sqliteStatements?: { db: BetterSqliteDatabase; tail: SqliteStatement; insert: SqliteStatement };

  constructor(private readonly dataSource: DataSource) {}

  get isSqlite(): boolean {
    return this.dataSource.options.type === 'better-sqlite3';
  }

  findById(id: string): Promise<AuditEventEntity | null> {
    return this.dataSource.getRepository(AuditEventEntity).findOneBy({ id });
  }

  async appendPostgres(manager: EntityManager, chain: ChainAfter): Promise<AuditEventEntity[]> {
    // held until the surrounding transaction ends, so no other writer reads the same tail: one lock per batch
    await this.lockPostgres(manager);
    const [last] = await manager.query<{ sequence: string | number; hash: string }[]>(TAIL_SQL);
    const rows = chain(headOf(last));
    await insertRows(manager, AuditEventEntity, rows);
    return rows;
  }

  /**
   * SQLite: reading the tail and inserting in one synchronous better-sqlite3 transaction cannot interleave with
   * anything. Group commits run between serialised transactions; inside an open transaction the rows join it (as a
   * savepoint) and commit or roll back with it.
   */
  appendSqlite(chain: ChainAfter): AuditEventEntity[] {
    const { db, tail, insert } = this.sqliteAppendStatements();
    return db.transaction(() => {
      const rows = chain(headOf(tail.get() as { sequence: number | bigint; hash: string } | undefined));
      for (const row of rows) {
        insert.run(
          row.sequence,
          row.id,
          row.recordedMs,
          row.action,
          row.subtype,
          row.outcome,
          row.agentSubject,
          row.agentClient,
          row.agentOrg,
          row.sourceIp,
          row.requestId,
          row.correlationId,
          row.patientNhsNumber,
          row.patientNhsNumbers,
          row.custodianOrgs,
          row.entity,
          row.resource,
          row.prevHash,
          row.hash,
        );
      }
      return rows;
    })();
  }

  /** Takes the chain lock for the rest of the caller's transaction (PostgreSQL; re-taking it is harmless). */
  async lockPostgres(manager: EntityManager): Promise<void> {
    await manager.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_CHAIN_LOCK]);
  }

  async sealPostgres(manager: EntityManager, decide: CheckpointFor): Promise<Checkpoint | null> {
    await this.lockPostgres(manager);
    const [tail] = await manager.query<{ sequence: string; hash: string }[]>(TAIL_SQL);
    const [sealed] = await manager.query<{ sequence: string }[]>(SEALED_SQL);
    const checkpoint = decide(headOf(tail), Number(sealed?.sequence ?? 0));
    if (checkpoint) {
      await manager.insert(AuditCheckpointEntity, checkpoint);
    }
    return checkpoint;
  }

  /**
   * SQLite: one immediate transaction, so another process sealing at the same moment waits instead of colliding;
   * inside a group commit's open transaction it joins it (better-sqlite3 nests as a savepoint).
   */
  sealSqlite(decide: CheckpointFor): Checkpoint | null {
    const db = this.connection();
    const tail = db.prepare(TAIL_SQL);
    const sealed = db.prepare(SEALED_SQL);
    const insert = db.prepare(
      'INSERT INTO "audit_checkpoint" ("sequence", "hash", "created_ms", "mac") VALUES (?, ?, ?, ?)',
    );
    return db
      .transaction(() => {
        const checkpoint = decide(
          headOf(tail.get() as { sequence: number; hash: string } | undefined),
          Number((sealed.get() as { sequence: number } | undefined)?.sequence ?? 0),
        );
        if (checkpoint) {
          insert.run(checkpoint.sequence, checkpoint.hash, checkpoint.createdMs, checkpoint.mac);
        }
        return checkpoint;
      })
      .immediate();
  }

  private connection(): BetterSqliteDatabase {
    return (this.dataSource.driver as unknown as { databaseConnection: BetterSqliteDatabase }).databaseConnection;
  }

  /** The append statements, prepared once: preparing them on every request cost as much as the insert. */
  private sqliteAppendStatements(): { db: BetterSqliteDatabase; tail: SqliteStatement; insert: SqliteStatement } {
    const db = this.connection();
    if (this.sqliteStatements?.db !== db) {
      const insert = db.prepare(
        `INSERT INTO "audit_event" (${COLUMNS.map((c) => `"${c}"`).join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`,
      );
      this.sqliteStatements = { db, tail: db.prepare(TAIL_SQL), insert };
    }
    return this.sqliteStatements;
  }
}
