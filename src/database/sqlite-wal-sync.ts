import { type FileHandle, open } from 'node:fs/promises';
import type { DataSource, QueryRunner } from 'typeorm';

interface BetterSqliteHandle {
  pragma(statement: string): unknown;
}

/** A transaction's end (TypeORM still counts it active while its COMMIT runs) and a write outside any transaction. */
const COMMIT = /^\s*(COMMIT|END)\b/i;
const WRITE = /^\s*(INSERT|UPDATE|DELETE|REPLACE)\b/i;

/**
 * Makes commits durable without holding the event loop. With `synchronous=FULL`, SQLite fsyncs the WAL inside every
 * COMMIT, and better-sqlite3 runs on the event loop: each commit stalled every request in the process for a disk
 * flush. Here the connection runs at `synchronous=NORMAL` (SQLite still syncs the WAL before each checkpoint and the
 * database after it) and every statement that ends a write waits, before its caller resumes, for an `fdatasync` of the
 * WAL file on libuv's thread pool: the caller hears "committed" only once the commit is on disk, which is what FULL
 * promises. Commits that end while a flush runs share the next one.
 *
 * Between the COMMIT and the flush (about a millisecond) other requests can already read the rows; only a power
 * failure or kernel crash inside that window could lose them (a killed process cannot: the page cache survives it),
 * and no writer has been answered yet.
 */
export class WalSync {
  /** Flushes done so far (tests and metrics). */
  flushes = 0;
  private file?: Promise<FileHandle>;
  private running: Promise<void> = Promise.resolve();
  private queued?: Promise<void>;

  constructor(private readonly walPath: string) {}

  /** Resolves once everything committed before the call is on disk. */
  sync(): Promise<void> {
    if (this.queued) {
      return this.queued;
    }
    const next = this.running.then(async () => {
      this.queued = undefined; // commits from now on need a flush that starts after them
      await (await this.handle()).datasync();
      this.flushes += 1;
    });
    this.queued = next;
    this.running = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    await this.running;
    await (await this.file?.catch(() => undefined))?.close();
    this.file = undefined;
  }

  private handle(): Promise<FileHandle> {
    // the WAL keeps its inode while any connection is open; a failed open is retried by the next flush
    this.file ??= open(this.walPath, 'r').catch((error: unknown) => {
      this.file = undefined;
      throw error;
    });
    return this.file;
  }
}

const syncs = new WeakMap<DataSource, WalSync>();

/**
 * Switches an initialised better-sqlite3 DataSource (WAL mode) from synchronous=FULL to NORMAL plus WalSync.
 * TypeORM's better-sqlite3 driver runs every query through one shared query runner; its `query` is wrapped.
 */
export function syncWalOffTheEventLoop(dataSource: DataSource, databaseFile: string): WalSync {
  const driver = dataSource.driver as unknown as {
    databaseConnection: BetterSqliteHandle;
    createQueryRunner(mode: 'master'): QueryRunner;
  };
  const wal = new WalSync(`${databaseFile}-wal`);
  const runner = driver.createQueryRunner('master');
  const query = runner.query.bind(runner) as (...args: unknown[]) => Promise<unknown>;
  (runner as unknown as { query: typeof query }).query = async (...args: unknown[]) => {
    const result = await query(...args);
    const sql = typeof args[0] === 'string' ? args[0] : '';
    if (COMMIT.test(sql) || (!runner.isTransactionActive && WRITE.test(sql))) {
      await wal.sync();
    }
    return result;
  };
  driver.databaseConnection.pragma('synchronous = NORMAL');
  const destroy = dataSource.destroy.bind(dataSource);
  dataSource.destroy = async () => {
    await wal.close();
    await destroy();
  };
  syncs.set(dataSource, wal);
  return wal;
}

/** The WalSync of a DataSource, if it has one. */
export function walSyncOf(dataSource: DataSource): WalSync | undefined {
  return syncs.get(dataSource);
}
