/** What a stored blob holds: a document Bundle or a Binary. */
export type StoredKind = 'document' | 'binary';

/**
 * Where the writer reports what it stores (the core declares this port; health's Metrics implements it as Prometheus
 * counters, so the registry imports nothing from the outer modules).
 */
export abstract class StoredTotals {
  /** One blob this process has just stored. */
  abstract recordStored(kind: StoredKind, bytes: number): void;
  /** What was already stored when the process started. */
  abstract addHeld(kind: StoredKind, objects: number, bytes: number): void;
}
