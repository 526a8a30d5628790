import { Injectable, Logger } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { DeliveryTaskService } from '../registry/delivery-task.service.js';
import { NotificationOutbox } from './notification-outbox.service.js';
import {
  NotificationOutboxRepository,
  type OutboxRow,
  type PendingEventRow,
} from './notification-outbox.repository.js';
import { DeliveryJobName, NotificationQueue, type DeliveryJob } from './notification-queue.service.js';
import { OutboundMessageRepository } from './outbound-message.repository.js';
import { SubscriptionDisclosure } from './subscription-disclosure.service.js';
import { SubscriptionEntity } from './subscription.entity.js';
import { SubscriptionRepository } from './subscription.repository.js';

const BATCH = 50;
/** Events offered again per query after Redis came back. */
const BATCH_AFTER_RECONNECT = 500;
// A requested subscription's handshake job is re-offered this often (the jobId keeps it single).
const REOFFER_MS = 30_000;

/**
 * Worker role: routes outbox rows to matching subscriptions (numbering each subscription's events gap-free),
 * then hands one job per (event, subscription) to the queue. Also offers handshakes and heartbeats when due.
 */
@Injectable()
export class OutboxRelay {
  private readonly logger = new Logger(OutboxRelay.name);
  private timer?: NodeJS.Timeout;
  private heartbeatTimer?: NodeJS.Timeout;
  private overdueTimer?: NodeJS.Timeout;
  private overdueSweep?: Promise<unknown>;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;
  private unsubscribe?: () => void;
  private readonly offered = new Map<string, number>();

  private staleCheckedAt = 0;
  private messagesCheckedAt = 0;
  /** Set when Redis came back: events queued before this are offered again, all of them, on the next pass. */
  private reofferBefore?: number;

  constructor(
    private readonly dataSource: DataSource,
    private readonly outbox: NotificationOutbox,
    private readonly outboxRows: NotificationOutboxRepository,
    private readonly queue: NotificationQueue,
    private readonly subscriptions: SubscriptionRepository,
    private readonly disclosure: SubscriptionDisclosure,
    private readonly tasks: DeliveryTaskService,
    private readonly config: AppConfig,
    private readonly messages: OutboundMessageRepository,
  ) {}

  private get postgres(): boolean {
    return this.config.database.kind === 'postgres';
  }

  start(): void {
    this.unsubscribe = this.outbox.onCommitted(() => this.kick());
    // what Redis held may be lost: offer every undelivered event again now, not DELIVERY_REOFFER_MS later
    this.queue.onReconnect(() => {
      this.reofferBefore = Date.now();
      this.kick();
    });
    this.timer = setInterval(() => this.kick(), this.config.notifications.relayPollMs);
    this.heartbeatTimer = setInterval(
      () => void this.offerHeartbeats().catch((e: Error) => this.logger.warn(`Heartbeats: ${e.message}`)),
      this.config.notifications.heartbeatCheckSeconds * 1000,
    );
    // a quarter of the deadline late at most, and no more than a minute; one sweep at a time
    const overdueCheckMs = Math.min(60_000, Math.max(1000, Math.floor(this.config.notifications.overdueAfterMs / 4)));
    this.overdueTimer = setInterval(() => this.sweepOverdue(), overdueCheckMs);
    this.kick();
  }

  /** Delivery Tasks past the retrieval deadline become overdue (their senders' events are written with them). */
  private sweepOverdue(): void {
    if (this.overdueSweep || this.stopped) {
      return;
    }
    this.overdueSweep = this.tasks
      .markOverdue(100, () => this.stopped)
      .catch((e: Error) => this.logger.warn(`Overdue deliveries: ${e.message}`))
      .finally(() => (this.overdueSweep = undefined));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.heartbeatTimer);
    clearInterval(this.overdueTimer);
    this.unsubscribe?.();
    await Promise.all([this.running, this.overdueSweep]);
  }

  /** Runs a pass now, or right after the current one. */
  kick(): void {
    if (this.stopped) {
      return;
    }
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass()
      .catch((error: Error) => this.logger.warn(`Relay pass failed: ${error.message}`))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** One pass: route everything waiting, then enqueue whatever has no job yet. */
  async pass(): Promise<void> {
    try {
      while ((await this.routeBatch()) === BATCH && !this.stopped) {
        // keep going while full batches come back
      }
    } finally {
      // Routing trouble (a bad row, a lock timeout) must not hold back events already routed, nor handshakes.
      await this.enqueuePending();
      await this.enqueueMessages();
      await this.offerHandshakes();
    }
  }

  /** Claims up to BATCH outbox rows and gives every matching subscription its numbered event; returns the count. */
  async routeBatch(): Promise<number> {
    return this.dataSource.transaction(async (manager) => {
      // PostgreSQL: concurrent relays each take different rows. SQLite: one process, one writer.
      const rows = await this.outboxRows.claimUnrouted(manager, BATCH);
      if (rows.length === 0) {
        return 0;
      }
      const receiving = await this.subscriptions.findReceiving(manager);
      const matches: { row: OutboxRow; subscription: SubscriptionEntity }[] = [];
      for (const row of rows) {
        for (const subscription of receiving) {
          if (subscription.createdAt <= Number(row.created_at) && (await this.matches(subscription, row))) {
            matches.push({ row, subscription });
          }
        }
      }
      await this.numberEvents(manager, matches);
      const now = Date.now();
      const ids = rows.map((r) => r.id);
      await this.outboxRows.markRouted(manager, ids, now);
      return rows.length;
    });
  }

  private async matches(subscription: SubscriptionEntity, row: OutboxRow): Promise<boolean> {
    try {
      // the criteria, and the organisation's reach whatever criteria an older row may hold
      return await this.disclosure.receivesEvent(subscription, {
        documentReferenceId: row.document_reference_id,
        versionId: row.version_id,
        taskId: row.task_id,
      });
    } catch (error) {
      this.logger.warn(`Subscription/${subscription.id} criteria no longer evaluate: ${(error as Error).message}`);
      return false;
    }
  }

  /** Takes each subscription's next numbers with one row update (locks in id order, so relays never deadlock). */
  private async numberEvents(
    manager: EntityManager,
    matches: { row: OutboxRow; subscription: SubscriptionEntity }[],
  ): Promise<void> {
    const bySubscription = new Map<string, OutboxRow[]>();
    for (const { row, subscription } of matches) {
      bySubscription.set(subscription.id, [...(bySubscription.get(subscription.id) ?? []), row]);
    }
    for (const id of [...bySubscription.keys()].sort()) {
      const rows = bySubscription.get(id)!;
      const first = await this.outboxRows.reserveEventNumbers(manager, id, rows.length);
      await this.outboxRows.appendEvents(manager, id, first, rows);
    }
  }

  /**
   * Enqueues events that have no job yet; when Redis is down they stay marked pending for the next pass. Events
   * queued DELIVERY_REOFFER_MS ago and still undelivered are offered again under the same job id: a job still queued
   * is not doubled, and one lost (a worker killed twice during the same delivery, a Redis that lost its data) is
   * replaced.
   */
  async enqueuePending(): Promise<void> {
    await this.enqueueClaimed((manager) => this.outboxRows.claimUnenqueued(manager, 500));
    const now = Date.now();
    const { reofferMs, retryHours } = this.config.notifications;
    const reconnectedAt = this.reofferBefore;
    if (reconnectedAt !== undefined) {
      this.reofferBefore = undefined;
      // each batch is marked queued now, past the cut-off, so this ends; a failure leaves the flag for the next pass
      let offered = BATCH_AFTER_RECONNECT;
      while (offered === BATCH_AFTER_RECONNECT && !this.stopped) {
        offered = await this.enqueueClaimed(
          (manager) =>
            this.outboxRows.claimStale(manager, reconnectedAt, now - retryHours * 3_600_000, BATCH_AFTER_RECONNECT),
          true,
        );
        if (offered < 0) {
          this.reofferBefore ??= reconnectedAt;
          break;
        }
      }
    }
    // a tenth of the re-offer delay is soon enough to look again; every pass would be wasted queries
    if (now - this.staleCheckedAt < reofferMs / 10) {
      return;
    }
    this.staleCheckedAt = now;
    await this.enqueueClaimed(
      (manager) => this.outboxRows.claimStale(manager, now - reofferMs, now - retryHours * 3_600_000, 100),
      true,
    );
  }

  /**
   * Enqueues what `claim` returns (`again`: events queued before, whose jobs may be gone); how many it enqueued, or
   * -1 when Redis (or the database) refused.
   */
  private async enqueueClaimed(
    claim: (manager: EntityManager) => Promise<PendingEventRow[]>,
    again = false,
  ): Promise<number> {
    const work = async (manager: EntityManager) => {
      const rows = await claim(manager);
      if (rows.length === 0) {
        return 0;
      }
      const jobs: DeliveryJob[] = rows.map((r) => ({
        name: DeliveryJobName.Event,
        subscriptionEventId: r.id,
        jobId: `${r.outbox_id}:${r.subscription_id}`,
      }));
      await (again ? this.queue.reoffer(jobs) : this.queue.enqueue(jobs));
      await this.outboxRows.markEnqueued(
        manager,
        rows.map((r) => r.id),
        Date.now(),
      );
      return rows.length;
    };
    try {
      // PostgreSQL holds the row locks across the enqueue so two relays never add the same job twice.
      return await (this.postgres ? this.dataSource.transaction(work) : work(this.dataSource.manager));
    } catch (error) {
      this.logger.debug(`Enqueue deferred: ${(error as Error).message}`);
      return -1;
    }
  }

  /**
   * Queues outbound messages (ITK3 business acknowledgements) that have no job yet, and offers again those queued
   * DELIVERY_REOFFER_MS ago and still unsent (the job id keeps one job per message); Redis down leaves them for later.
   */
  private async enqueueMessages(): Promise<void> {
    const now = Date.now();
    const { reofferMs, retryHours } = this.config.notifications;
    const stale = now - this.messagesCheckedAt >= reofferMs / 10;
    const work = async (manager: EntityManager) => {
      const rows = [
        ...(await this.messages.claimUnenqueued(manager, 100)),
        ...(stale ? await this.messages.claimStale(manager, now - reofferMs, now - retryHours * 3_600_000, 100) : []),
      ];
      if (rows.length === 0) {
        return;
      }
      // reoffer: a job still queued under the same id is left alone, one lost is added again
      await this.queue.reoffer(
        rows.map((r) => ({ name: DeliveryJobName.OutboundMessage, outboundMessageId: r.id, jobId: `message:${r.id}` })),
      );
      await this.messages.markEnqueued(
        manager,
        rows.map((r) => r.id),
        Date.now(),
      );
    };
    try {
      await (this.postgres ? this.dataSource.transaction(work) : work(this.dataSource.manager));
      if (stale) {
        this.messagesCheckedAt = now;
      }
    } catch (error) {
      this.logger.debug(`Outbound messages deferred: ${(error as Error).message}`);
    }
  }

  private async offerHandshakes(): Promise<void> {
    const now = Date.now();
    const due = (await this.subscriptions.findByStatus('requested')).filter(
      (s) => (this.offered.get(`${s.id}:${s.versionId}`) ?? 0) + REOFFER_MS < now,
    );
    if (due.length === 0) {
      return;
    }
    try {
      await this.queue.enqueue(
        due.map((s) => ({
          name: DeliveryJobName.Handshake,
          subscriptionId: s.id,
          jobId: `handshake:${s.id}:${s.versionId}`,
        })),
      );
      due.forEach((s) => this.offered.set(`${s.id}:${s.versionId}`, now));
    } catch (error) {
      this.logger.debug(`Handshakes deferred: ${(error as Error).message}`);
    }
  }

  /** Backport subscriptions with a heartbeat period get a heartbeat when nothing was sent for that long. */
  async offerHeartbeats(): Promise<void> {
    const now = Date.now();
    const due = (await this.subscriptions.findReceiving()).filter(
      (s) =>
        s.kind === 'backport' &&
        s.heartbeatPeriodSeconds &&
        (s.lastSentMs ?? s.createdAt) + s.heartbeatPeriodSeconds * 1000 <= now,
    );
    await this.queue.enqueue(
      due.map((s) => ({
        name: DeliveryJobName.Heartbeat,
        subscriptionId: s.id,
        jobId: `heartbeat:${s.id}:${s.lastSentMs ?? s.createdAt}`,
      })),
    );
  }
}
