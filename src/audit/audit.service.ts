import { randomUUID } from 'node:crypto';
import { type BeforeApplicationShutdown, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { type ChainHead, type Checkpoint, GENESIS_HASH, hashOfRow, sealCheckpoint } from './audit-chain.js';
import { AuditChainKey } from './audit-chain-key.js';
import { AuditChainRepository } from './audit-chain.repository.js';
import { AuditEventEntity } from './audit-event.entity.js';
import { GroupCommitter } from '../database/group-commit.js';
import { insideSerialTransaction } from '../database/serial-transactions.js';
import { type AuditInput, type AuditObserver, buildAuditEvent } from './audit-event-resource.js';

/** Events one group commit writes at most; more wait for the next. */
const MAX_BATCH = 512;

type AuditDraft = Omit<AuditEventEntity, 'sequence' | 'prevHash' | 'hash'>;

interface PendingAppend {
  draft: AuditDraft;
  resolve(row: AuditEventEntity): void;
  reject(error: unknown): void;
}

// values stored space-separated for whole-token search: anything that could break a token is left out
const searchableTokens = (values: string[] = []): string[] =>
  [...new Set(values)].filter((value) => /^[A-Za-z0-9.-]{1,32}$/.test(value));

/** Writes AuditEvents to the keyed hash chain, seals it with signed checkpoints, and finds events again. */
@Injectable()
export class AuditService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(AuditService.name);
  private readonly observer: AuditObserver;
  private readonly checkpointEvents: number;
  private readonly checkpointSeconds: number;
  private appendedSinceSeal = 0;
  private sealing?: Promise<Checkpoint | null>;
  private timer?: NodeJS.Timeout;
  private readonly pending: PendingAppend[] = [];
  private flushing?: Promise<void>;
  private flushScheduled = false;
  /** Group commits written so far (each one durable commit for one or more events). */
  batchesCommitted = 0;

  constructor(
    private readonly dataSource: DataSource,
    private readonly chain: AuditChainRepository,
    config: AppConfig,
    private readonly key: AuditChainKey,
    private readonly committer: GroupCommitter,
  ) {
    this.observer = { baseUrl: config.baseUrl, issuer: config.auth.issuer };
    if (!chain.isSqlite) {
      // every batch appends to the chain: taking its lock first orders batches across processes without deadlocks
      committer.onBatchStart((manager) => chain.lockPostgres(manager));
    }
    this.checkpointEvents = config.audit.checkpointEvents;
    this.checkpointSeconds = config.audit.checkpointSeconds;
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.sealQuietly(), this.checkpointSeconds * 1000);
    this.timer.unref();
  }

  /** Seals what was written before shutdown (events still arriving after this stay unsealed until the next start). */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.flushing;
    await this.drain();
    await this.sealQuietly();
  }

  /**
   * Writes a checkpoint signing the chain's current head unless that head is already sealed (then null). Seals run
   * one after another; they take the chain lock only for two index reads and one insert.
   */
  async seal(): Promise<Checkpoint | null> {
    const next = (this.sealing ?? Promise.resolve(null)).catch(() => null).then(() => this.sealNow());
    this.sealing = next;
    try {
      return await next;
    } finally {
      if (this.sealing === next) {
        this.sealing = undefined;
      }
    }
  }

  /**
   * Appends one AuditEvent. With `manager` (or inside a transaction) the row joins that transaction and commits or
   * rolls back with it. Without, it joins the next group commit (GroupCommitter, shared with every write): events
   * recorded by concurrent requests are chained and written together, and each caller resumes once that commit is
   * durable. Appends are serialised either way, so the chain stays gap-free.
   */
  async record(input: AuditInput, manager?: EntityManager): Promise<AuditEventEntity> {
    const draft = this.draftOf(input);
    if (this.chain.isSqlite) {
      if (manager || insideSerialTransaction(this.dataSource)) {
        const [row] = this.appendSqlite([draft]);
        return row;
      }
      return this.enqueue(draft);
    }
    if (manager?.queryRunner?.isTransactionActive) {
      const [row] = await this.appendPostgres(manager, [draft]);
      return row;
    }
    return manager ? manager.transaction(async (m) => (await this.appendPostgres(m, [draft]))[0]) : this.enqueue(draft);
  }

  private draftOf(input: AuditInput): AuditDraft {
    const recorded = new Date();
    const id = randomUUID();
    const resource = buildAuditEvent(input, { id, recorded, observer: this.observer });
    const patients = searchableTokens(input.patientNhsNumbers);
    const custodians = searchableTokens(input.custodianOrgs);
    return {
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
      patientNhsNumbers: patients.length > 0 ? patients.join(' ') : null,
      custodianOrgs: custodians.length > 0 ? custodians.join(' ') : null,
      entity: [
        ...new Set(input.entities.flatMap((e) => (e.reference && e.role !== 'query' ? [e.reference] : []))),
      ].join(' '),
      resource: JSON.stringify(resource),
    };
  }

  private enqueue(draft: AuditDraft): Promise<AuditEventEntity> {
    return new Promise((resolve, reject) => {
      this.pending.push({ draft, resolve, reject });
      this.scheduleFlush();
    });
  }

  /**
   * setImmediate, not a timer: every event recorded in this turn of the event loop joins the same commit, and an idle
   * server writes at once. Events arriving while a batch commits join the next one.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.flushing) {
      return;
    }
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flushing = this.drain().finally(() => {
        this.flushing = undefined;
        // an event enqueued after the last batch was taken but before this ran
        if (this.pending.length > 0) {
          this.scheduleFlush();
        }
      });
    });
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      await this.commitBatch(this.pending.splice(0, MAX_BATCH));
    }
  }

  private async commitBatch(batch: PendingAppend[]): Promise<void> {
    try {
      const rows = await this.appendBatch(batch.map((p) => p.draft));
      batch.forEach((p, i) => p.resolve(rows[i]));
    } catch (error) {
      if (batch.length === 1) {
        batch[0].reject(error);
        return;
      }
      // one event the database refuses must not fail the others: each alone, as it would have been
      for (const p of batch) {
        await this.appendBatch([p.draft]).then(
          ([row]) => p.resolve(row),
          (error: unknown) => p.reject(error),
        );
      }
    }
  }

  private async appendBatch(drafts: AuditDraft[]): Promise<AuditEventEntity[]> {
    const rows = await this.committer.run(async (manager) =>
      this.chain.isSqlite ? this.appendSqlite(drafts) : this.appendPostgres(manager, drafts),
    );
    this.batchesCommitted += 1;
    return rows;
  }

  async findById(id: string): Promise<AuditEventEntity | null> {
    return this.chain.findById(id);
  }

  private async appendPostgres(manager: EntityManager, drafts: AuditDraft[]): Promise<AuditEventEntity[]> {
    const rows = await this.chain.appendPostgres(manager, (head) => this.chainAll(drafts, head));
    this.noteAppended(rows.length);
    return rows;
  }

  private appendSqlite(drafts: AuditDraft[]): AuditEventEntity[] {
    const rows = this.chain.appendSqlite((head) => this.chainAll(drafts, head));
    this.noteAppended(rows.length);
    return rows;
  }

  /** Chains drafts in order after `tail`: commit order is chain order. */
  private chainAll(drafts: AuditDraft[], tail?: ChainHead): AuditEventEntity[] {
    let sequence = tail?.sequence ?? 0;
    let prevHash = tail?.hash ?? GENESIS_HASH;
    return drafts.map((draft) => {
      sequence += 1;
      const content = { ...draft, sequence };
      const row = { ...content, prevHash, hash: hashOfRow(this.key.secret, prevHash, content) };
      prevHash = row.hash;
      return row;
    });
  }

  private noteAppended(count: number): void {
    this.appendedSinceSeal += count;
    if (this.appendedSinceSeal >= this.checkpointEvents && !this.sealing) {
      // not awaited: on PostgreSQL the caller's transaction may hold the chain lock the seal waits for
      void this.sealQuietly();
    }
  }

  private async sealQuietly(): Promise<void> {
    try {
      await this.seal();
    } catch (error) {
      this.logger.warn(`Could not seal the audit chain: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** A seal is a unit of its own group commit; never joined to the unit that triggered it, which may roll back. */
  private async sealNow(): Promise<Checkpoint | null> {
    const decide = (head: ChainHead | undefined, sealed: number) => this.nextCheckpoint(head, sealed);
    const checkpoint = await this.committer.runInNextBatch(async (manager) =>
      this.chain.isSqlite ? this.chain.sealSqlite(decide) : this.chain.sealPostgres(manager, decide),
    );
    if (checkpoint) {
      // the log is a witness outside the database: a later truncation of both tables still shows against it
      this.logger.log(`Audit chain sealed at sequence ${checkpoint.sequence}, head ${checkpoint.hash}`);
    }
    return checkpoint;
  }

  /** The checkpoint to write for this head, or null when the newest checkpoint already covers it. */
  private nextCheckpoint(head: ChainHead | undefined, sealedSequence: number): Checkpoint | null {
    this.appendedSinceSeal = 0;
    if (!head || head.sequence <= sealedSequence) {
      return null;
    }
    return sealCheckpoint(this.key.secret, head, Date.now());
  }
}
