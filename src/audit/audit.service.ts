import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { Brackets, DataSource, type EntityManager } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { GENESIS_HASH, hashOfRow } from './audit-chain.js';
import { AuditEventEntity } from './audit-event.entity.js';
import { type AuditInput, type AuditObserver, buildAuditEvent } from './audit-event-resource.js';
import type { AuditSearch } from './audit-search.js';

/** Key of the PostgreSQL advisory lock that serialises appends to the chain ('audi' in ASCII). */
export const AUDIT_CHAIN_LOCK = 0x61756469;

interface ChainTail {
  sequence: number;
  hash: string;
}

interface BetterSqliteDatabase {
  prepare(sql: string): { get(): unknown; run(...params: unknown[]): unknown };
  transaction<T>(fn: () => T): () => T;
}

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
  'entity',
  'resource',
  'prev_hash',
  'hash',
];

const escapeLike = (value: string): string => value.replace(/[\\%_]/g, (c) => `\\${c}`);

/** Writes AuditEvents to the hash chain and finds them again. */
@Injectable()
export class AuditService {
  private readonly observer: AuditObserver;

  constructor(
    private readonly dataSource: DataSource,
    config: AppConfig,
  ) {
    this.observer = { baseUrl: config.baseUrl, issuer: config.auth.issuer };
  }

  /**
   * Appends one AuditEvent. With `manager` the row joins that transaction (and commits or rolls back with it);
   * without, it commits on its own. Either way appends are serialised so the chain stays gap-free.
   */
  async record(input: AuditInput, manager?: EntityManager): Promise<AuditEventEntity> {
    const recorded = new Date();
    const id = randomUUID();
    const resource = buildAuditEvent(input, { id, recorded, observer: this.observer });
    const patients = input.patientNhsNumbers ?? [];
    const draft: Omit<AuditEventEntity, 'sequence' | 'prevHash' | 'hash'> = {
      id,
      recordedMs: recorded.getTime(),
      action: input.action,
      subtype: input.subtype.slice(0, 32),
      outcome: input.outcome,
      agentSubject: input.actor.subject?.slice(0, 255) ?? null,
      agentClient: input.actor.clientId?.slice(0, 255) ?? null,
      agentOrg: input.actor.organization?.slice(0, 32) ?? null,
      sourceIp: input.actor.ip.slice(0, 64),
      requestId: input.actor.requestId.slice(0, 255),
      correlationId: input.actor.correlationId?.slice(0, 255) ?? null,
      patientNhsNumber: patients[0] ?? null,
      entity: [
        ...new Set(input.entities.flatMap((e) => (e.reference && e.role !== 'query' ? [e.reference] : []))),
      ].join(' '),
      resource: JSON.stringify(resource),
    };
    if (this.dataSource.options.type === 'better-sqlite3') {
      return this.appendSqlite(draft);
    }
    const append = (m: EntityManager) => this.appendPostgres(m, draft);
    if (manager?.queryRunner?.isTransactionActive) {
      return append(manager);
    }
    return (manager ?? this.dataSource.manager).transaction(append);
  }

  async findById(id: string): Promise<AuditEventEntity | null> {
    return this.dataSource.getRepository(AuditEventEntity).findOneBy({ id });
  }

  /** Events matching every filter of `search`, newest first. */
  async search(search: AuditSearch): Promise<AuditEventEntity[]> {
    if (search.count === 0) {
      return [];
    }
    const query = this.dataSource.getRepository(AuditEventEntity).createQueryBuilder('e');
    if (search.patientNhsNumbers.length > 0) {
      query.andWhere('e.patientNhsNumber IN (:...patients)', { patients: search.patientNhsNumbers });
    }
    if (search.actions.length > 0) {
      query.andWhere('e.action IN (:...actions)', { actions: search.actions });
    }
    if (search.agents.length > 0) {
      query.andWhere(
        new Brackets((any) => {
          search.agents.forEach((agent, i) => {
            const param = { [`agent${i}`]: agent.value };
            if (agent.kind !== 'subject') {
              any.orWhere(`e.agentOrg = :agent${i}`, param);
            }
            if (agent.kind !== 'organization') {
              any.orWhere(`e.agentSubject = :agent${i}`, param).orWhere(`e.agentClient = :agent${i}`, param);
            }
          });
        }),
      );
    }
    if (search.entities.length > 0) {
      query.andWhere(
        new Brackets((any) => {
          search.entities.forEach((reference, i) => {
            // entity holds space-separated references: pad both sides so only whole references match
            any.orWhere(`(' ' || e.entity || ' ') LIKE :entity${i} ESCAPE '\\'`, {
              [`entity${i}`]: `% ${escapeLike(reference)} %`,
            });
          });
        }),
      );
    }
    search.recorded.forEach((filter, i) => {
      const from = `from${i}`;
      const to = `to${i}`;
      if (filter.outside) {
        query.andWhere(`(e.recordedMs < :${from} OR e.recordedMs >= :${to})`, { [from]: filter.from, [to]: filter.to });
        return;
      }
      if (filter.from !== undefined) {
        query.andWhere(`e.recordedMs >= :${from}`, { [from]: filter.from });
      }
      if (filter.to !== undefined) {
        query.andWhere(`e.recordedMs < :${to}`, { [to]: filter.to });
      }
    });
    return query.orderBy('e.sequence', 'DESC').limit(search.count).getMany();
  }

  private async appendPostgres(
    manager: EntityManager,
    draft: Omit<AuditEventEntity, 'sequence' | 'prevHash' | 'hash'>,
  ): Promise<AuditEventEntity> {
    // held until the surrounding transaction ends, so no other writer reads the same tail
    await manager.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_CHAIN_LOCK]);
    const rows: { sequence: string | number; hash: string }[] = await manager.query(
      'SELECT "sequence", "hash" FROM "audit_event" ORDER BY "sequence" DESC LIMIT 1',
    );
    const row = this.chained(draft, rows[0] ? { sequence: Number(rows[0].sequence), hash: rows[0].hash } : undefined);
    await manager.insert(AuditEventEntity, row);
    return row;
  }

  /**
   * SQLite: TypeORM shares one connection between all "transactions", so concurrent async ones interleave. Reading the
   * tail and inserting in one synchronous better-sqlite3 call cannot interleave with anything; if a TypeORM transaction
   * is open on the connection, the row joins it (as a savepoint) and commits or rolls back with it.
   */
  private appendSqlite(draft: Omit<AuditEventEntity, 'sequence' | 'prevHash' | 'hash'>): AuditEventEntity {
    const db = (this.dataSource.driver as unknown as { databaseConnection: BetterSqliteDatabase }).databaseConnection;
    const tail = db.prepare('SELECT "sequence", "hash" FROM "audit_event" ORDER BY "sequence" DESC LIMIT 1');
    const insert = db.prepare(
      `INSERT INTO "audit_event" (${COLUMNS.map((c) => `"${c}"`).join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`,
    );
    return db.transaction(() => {
      const last = tail.get() as { sequence: number | bigint; hash: string } | undefined;
      const row = this.chained(draft, last ? { sequence: Number(last.sequence), hash: last.hash } : undefined);
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
        row.entity,
        row.resource,
        row.prevHash,
        row.hash,
      );
      return row;
    })();
  }

  private chained(draft: Omit<AuditEventEntity, 'sequence' | 'prevHash' | 'hash'>, tail?: ChainTail): AuditEventEntity {
    const sequence = (tail?.sequence ?? 0) + 1;
    const prevHash = tail?.hash ?? GENESIS_HASH;
    const content = { ...draft, sequence };
    return { ...content, prevHash, hash: hashOfRow(prevHash, content) };
  }
}
