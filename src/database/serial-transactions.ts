import { AsyncLocalStorage } from 'node:async_hooks';
import type { DataSource, EntityManager } from 'typeorm';

interface SerialState {
  tail: Promise<unknown>;
  readonly inside: AsyncLocalStorage<true>;
}

const states = new WeakMap<DataSource, SerialState>();

function enqueue<T>(state: SerialState, work: () => T | Promise<T>): Promise<T> {
  const run = state.tail.then(() => state.inside.run(true, work));
  state.tail = run.catch(() => undefined);
  return run;
}

/**
 * TypeORM's better-sqlite3 driver runs every transaction on one shared connection and nests concurrent ones
 * as savepoints, so one request's rollback could undo another's writes. On SQLite, transactions therefore
 * run one at a time. A transaction started from inside another (same async context) nests as before.
 */
export function serialiseTransactions(dataSource: DataSource): void {
  const manager = dataSource.manager;
  const original = manager.transaction.bind(manager) as (...args: unknown[]) => Promise<unknown>;
  const state: SerialState = { tail: Promise.resolve(), inside: new AsyncLocalStorage<true>() };
  states.set(dataSource, state);
  const serial = (...args: unknown[]): Promise<unknown> =>
    state.inside.getStore() ? original(...args) : enqueue(state, () => original(...args));
  (manager as EntityManager & { transaction: typeof serial }).transaction = serial;
}

/** Whether the caller runs inside one of `dataSource`'s serialised transactions. */
export function insideSerialTransaction(dataSource: DataSource): boolean {
  return states.get(dataSource)?.inside.getStore() === true;
}
