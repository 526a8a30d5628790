import { AsyncLocalStorage } from 'node:async_hooks';
import { Injectable, Logger } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';

/** One request's share of a group commit: database work only, safe to run again if its batch fails to commit. */
export type UnitOfWork<T> = (manager: EntityManager) => Promise<T>;

/** Work run at the start of every batch transaction, before any unit (e.g. taking a lock in a fixed order). */
export type BatchStart = (manager: EntityManager) => Promise<void>;

/** Units one transaction takes at most; more wait for the next. */
const MAX_BATCH = 128;

interface PendingUnit {
  work: UnitOfWork<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Group commit: units of work from concurrent requests run in one database transaction, one durable commit for all
 * of them, and each caller resumes once the commit that holds its unit is durable.
 *
 * - A batch starts on the next turn of the event loop (setImmediate, no timer), so an idle server commits at once;
 *   units arriving while a batch commits form the next one.
 * - Each unit of a shared batch runs inside its own savepoint: a unit that fails rolls back alone and its caller gets
 *   its error, while the others commit. Units run one after another and see the writes of those before them, exactly
 *   as if each had committed alone in that order.
 * - If the commit itself fails, every unit of the batch runs again alone, so each gets the answer it would have got
 *   by itself.
 */
@Injectable()
export class GroupCommitter {
  private readonly logger = new Logger(GroupCommitter.name);
  private readonly pending: PendingUnit[] = [];
  private readonly starts: BatchStart[] = [];
  private readonly inside = new AsyncLocalStorage<EntityManager>();
  private running?: Promise<void>;
  private scheduled = false;
  /** Batches committed so far, and the units they held (for the metrics and the tests). */
  batchesCommitted = 0;
  unitsCommitted = 0;
  /** Batches whose transaction failed as a whole, so that each unit ran again alone (should stay 0). */
  batchesFailed = 0;

  // batches run in the context the committer was made in, not in that of whichever request happened to start one
  private readonly detached = AsyncLocalStorage.snapshot();

  constructor(private readonly dataSource: DataSource) {}

  /** Registers work to run first in every batch transaction. */
  onBatchStart(start: BatchStart): void {
    this.starts.push(start);
  }

  /**
   * Runs `work` in the next group commit and resolves with its result once that commit is durable. Called from
   * inside a unit, the work joins that unit (waiting for the next batch would wait forever).
   */
  run<T>(work: UnitOfWork<T>): Promise<T> {
    const current = this.inside.getStore();
    if (current) {
      return work(current);
    }
    return this.runInNextBatch(work);
  }

  /**
   * Like run, but always in a batch of its own choosing, never joining the caller's unit (for work a unit triggers
   * but must not share its fate with). Awaiting it from inside a unit would wait forever: don't.
   */
  runInNextBatch<T>(work: UnitOfWork<T>): Promise<T> {
    return this.inside.exit(
      () =>
        new Promise<T>((resolve, reject) => {
          this.pending.push({ work, resolve: resolve, reject });
          this.schedule();
        }),
    );
  }

  /** Resolves when every unit queued so far has been committed or refused. */
  async drained(): Promise<void> {
    while (this.running || this.scheduled || this.pending.length > 0) {
      await (this.running ?? new Promise((resolve) => setImmediate(resolve)));
    }
  }

  private schedule(): void {
    if (this.scheduled || this.running) {
      return;
    }
    this.scheduled = true;
    this.detached(setImmediate, () => {
      this.scheduled = false;
      this.running = this.drain().finally(() => {
        this.running = undefined;
        if (this.pending.length > 0) {
          this.schedule();
        }
      });
    });
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      await this.commit(this.pending.splice(0, MAX_BATCH));
    }
  }

  private async commit(batch: PendingUnit[]): Promise<void> {
    let settled: Settled[];
    try {
      settled = await this.dataSource.transaction(async (manager) => {
        for (const start of this.starts) {
          await start(manager);
        }
        const results: Settled[] = [];
        for (const unit of batch) {
          results.push(batch.length === 1 ? await this.runAlone(manager, unit) : await this.runIsolated(manager, unit));
        }
        return results;
      });
    } catch (error) {
      if (batch.length === 1) {
        batch[0].reject(error);
        return;
      }
      this.batchesFailed += 1;
      this.logger.warn(
        `A group commit of ${batch.length} units failed (${error instanceof Error ? error.message : String(error)}); each runs again alone`,
      );
      // nothing of this batch is durable: each unit again by itself, as it would have run alone
      for (const unit of batch) {
        await this.commit([unit]);
      }
      return;
    }
    this.batchesCommitted += 1;
    this.unitsCommitted += settled.filter((s) => s.ok).length;
    settled.forEach((outcome, i) => (outcome.ok ? batch[i].resolve(outcome.value) : batch[i].reject(outcome.error)));
  }

  /** The only unit: its failure rolls back the whole transaction (the caller gets the error from commit). */
  private async runAlone(manager: EntityManager, unit: PendingUnit): Promise<Settled> {
    return { ok: true, value: await this.inside.run(manager, () => unit.work(manager)) };
  }

  /** One unit among several, in a savepoint: its failure undoes only its own writes. */
  private async runIsolated(manager: EntityManager, unit: PendingUnit): Promise<Settled> {
    try {
      // on a transaction's own manager, transaction() nests as SAVEPOINT / RELEASE / ROLLBACK TO
      const value = await manager.transaction((savepoint) => this.inside.run(savepoint, () => unit.work(savepoint)));
      return { ok: true, value };
    } catch (error) {
      return { ok: false, error };
    }
  }
}
