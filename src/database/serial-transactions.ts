import { AsyncLocalStorage } from 'node:async_hooks';
import type { DataSource, EntityManager } from 'typeorm';

/**
 * TypeORM's better-sqlite3 driver runs every transaction on one shared connection and nests concurrent ones
 * as savepoints, so one request's rollback could undo another's writes. On SQLite, transactions therefore
 * run one at a time. A transaction started from inside another (same async context) nests as before.
 */
export function serialiseTransactions(dataSource: DataSource): void {
  const manager = dataSource.manager;
  const original = manager.transaction.bind(manager) as (...args: unknown[]) => Promise<unknown>;
  const inside = new AsyncLocalStorage<true>();
  let tail: Promise<unknown> = Promise.resolve();
  const serial = (...args: unknown[]): Promise<unknown> => {
    if (inside.getStore()) {
      return original(...args);
    }
    const run = tail.then(() => inside.run(true, () => original(...args)));
    tail = run.catch(() => undefined);
    return run;
  };
  (manager as EntityManager & { transaction: typeof serial }).transaction = serial;
}
