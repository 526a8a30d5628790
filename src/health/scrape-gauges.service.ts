import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { Counter, Gauge } from 'prom-client';
import { DataSource } from 'typeorm';
import { GroupCommitter } from '../database/group-commit.js';
import { NotificationOutboxRepository } from '../notifications/notification-outbox.repository.js';
import { NotificationQueue } from '../notifications/notification-queue.service.js';
import { SubscriptionRepository } from '../notifications/subscription.repository.js';
import { Metrics } from './metrics.service.js';

// A scrape must answer even when a dependency hangs: labelled gauges are then left out, the outbox ones read NaN.
const SCRAPE_READ_TIMEOUT_MS = 1000;

function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Gauges read when Prometheus scrapes, each one cheap: the unrouted outbox through its index, the small subscription
 * table through its status index, the queue's counters in Redis, the group committer's in-memory counts. Nothing
 * here counts a document table.
 */
@Injectable()
export class ScrapeGauges implements OnModuleInit {
  private readonly logger = new Logger(ScrapeGauges.name);

  constructor(
    private readonly metrics: Metrics,
    private readonly dataSource: DataSource,
    private readonly committer: GroupCommitter,
    private readonly outbox: NotificationOutboxRepository,
    private readonly subscriptions: SubscriptionRepository,
    private readonly queue: NotificationQueue,
  ) {}

  onModuleInit(): void {
    const registers = [this.metrics.registry];
    const read = <T>(what: string, promise: Promise<T>): Promise<T | undefined> =>
      within(promise, SCRAPE_READ_TIMEOUT_MS).catch((error: unknown) => {
        this.logger.debug(`Metrics: ${what} left out: ${error instanceof Error ? error.message : String(error)}`);
        return undefined;
      });
    // prom-client collects in registration order: the pending gauge starts this scrape's read, the age gauge reuses it
    let backlog: Promise<{ depth: number; oldestCreatedAt: number | null } | undefined> | undefined;
    const readBacklog = () => (backlog = read('outbox', this.outbox.backlog(this.dataSource.manager)));
    // an unlabelled gauge cannot be left out, so an unreadable backlog is NaN (unknown), never a reassuring 0
    new Gauge({
      name: 'registry_outbox_pending',
      help: 'Document events not yet routed to subscriptions (NaN when the database did not answer)',
      registers,
      async collect() {
        const found = await readBacklog();
        this.set(found ? found.depth : Number.NaN);
      },
    });
    new Gauge({
      name: 'registry_outbox_oldest_age_seconds',
      help: 'Age of the oldest document event not yet routed (0 when none waits, NaN when the database did not answer)',
      registers,
      async collect() {
        const found = await (backlog ?? readBacklog());
        this.set(
          !found
            ? Number.NaN
            : found.oldestCreatedAt === null
              ? 0
              : Math.max(0, Date.now() - found.oldestCreatedAt) / 1000,
        );
      },
    });
    const subscriptions = this.subscriptions;
    new Gauge({
      name: 'registry_subscriptions',
      help: 'Subscriptions by status',
      labelNames: ['status'] as const,
      registers,
      async collect() {
        this.reset();
        const counts = await read('subscriptions', subscriptions.countByStatus());
        for (const [status, n] of Object.entries(counts ?? {})) {
          this.set({ status }, n);
        }
      },
    });
    const queue = this.queue;
    new Gauge({
      name: 'registry_queue_jobs',
      help: 'Delivery jobs in the Redis queue by state (left out while Redis is unreachable)',
      labelNames: ['state'] as const,
      registers,
      async collect() {
        this.reset();
        const counts = await read('queue', queue.jobCounts());
        for (const [state, n] of Object.entries(counts ?? {})) {
          this.set({ state }, n);
        }
      },
    });
    const committer = this.committer;
    new Counter({
      name: 'registry_group_commits_total',
      help: 'Durable database commits of the group committer (each holds one or more writes and audit batches)',
      registers,
      collect() {
        this.reset();
        this.inc(committer.batchesCommitted);
      },
    });
    new Counter({
      name: 'registry_group_commit_units_total',
      help: 'Writes and audit batches committed by the group committer',
      registers,
      collect() {
        this.reset();
        this.inc(committer.unitsCommitted);
      },
    });
  }
}
