import { once } from 'node:events';
import { Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { BullAdapter } from '@bull-board/api/bullAdapter';
import Bull from 'bull';
import { Redis, type RedisOptions } from 'ioredis';
import { AppConfig } from '../config/app-config.js';

export enum NotificationQueueName {
  Delivery = 'subscription-delivery',
}

export enum DeliveryJobName {
  Event = 'event-notification',
  Handshake = 'handshake',
  Heartbeat = 'heartbeat',
  /** A message Bundle to POST to an endpoint (an ITK3 business acknowledgement), not a subscription's. */
  OutboundMessage = 'outbound-message',
}

/** Job payloads carry ids only: the worker re-reads the subscription and the event at every attempt. */
export type DeliveryJob =
  | { name: DeliveryJobName.Event; subscriptionEventId: string; jobId: string }
  | { name: DeliveryJobName.Handshake; subscriptionId: string; jobId: string }
  | { name: DeliveryJobName.Heartbeat; subscriptionId: string; jobId: string }
  | { name: DeliveryJobName.OutboundMessage; outboundMessageId: string; jobId: string };

export type DeliveryJobData =
  | { subscriptionEventId: string; subscriptionId?: undefined; outboundMessageId?: undefined }
  | { subscriptionId: string; subscriptionEventId?: undefined; outboundMessageId?: undefined }
  | { outboundMessageId: string; subscriptionEventId?: undefined; subscriptionId?: undefined };

function jobData(job: DeliveryJob): DeliveryJobData {
  switch (job.name) {
    case DeliveryJobName.Event:
      return { subscriptionEventId: job.subscriptionEventId };
    case DeliveryJobName.OutboundMessage:
      return { outboundMessageId: job.outboundMessageId };
    case DeliveryJobName.Handshake:
    case DeliveryJobName.Heartbeat:
      return { subscriptionId: job.subscriptionId };
  }
}

export const JITTERED_BACKOFF = 'jittered-exponential';
const MAX_BACKOFF_MS = 3_600_000;
// Bull needs a finite count; the real budget is DELIVERY_RETRY_HOURS, enforced by the processor.
const ATTEMPTS = 100_000;
// How long a health or metrics read waits for a connection still being made.
const READ_TIMEOUT_MS = 1000;
/** Jobs whose state a re-offer looks up at once. */
const REOFFER_CHECKS_AT_ONCE = 50;
/** Times a job is taken over from a worker that died running it before Bull gives it up. */
const MAX_STALLS = 10;

/** A delivery to try again: at `retryAt` when the endpoint's back-off says when, else after the job's own backoff. */
export class RetryLater extends Error {
  constructor(
    message: string,
    readonly retryAt?: number,
  ) {
    super(message);
  }
}

/** Exponential backoff with equal jitter: base x 2^(attempt-1), capped at an hour, then 50-100% of that. */
export function jitteredBackoff(baseMs: number, attemptsMade: number, random = Math.random()): number {
  const ceiling = Math.min(baseMs * 2 ** Math.max(0, attemptsMade - 1), MAX_BACKOFF_MS);
  return Math.round(ceiling / 2 + (random * ceiling) / 2);
}

/**
 * The delivery queue (Bull on Redis), the only place that knows the queue library. The producer fails fast
 * while Redis is down (callers keep their rows and retry); the worker side waits for Redis to come back.
 */
@Injectable()
export class NotificationQueue implements BeforeApplicationShutdown {
  private readonly logger = new Logger(NotificationQueue.name);
  private producer?: Bull.Queue<DeliveryJobData>;
  private worker?: Bull.Queue<DeliveryJobData>;
  // Bull leaves connections made by createClient to their maker: we close them at shutdown.
  private readonly connections: Redis[] = [];
  private readonly reconnectListeners: (() => void)[] = [];

  constructor(private readonly config: AppConfig) {}

  private redisOptions(): RedisOptions {
    const url = new URL(this.config.redisUrl);
    return {
      host: url.hostname,
      port: Number(url.port || 6379),
      username: url.username || undefined,
      password: url.password ? decodeURIComponent(url.password) : undefined,
      db: url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0,
      tls: url.protocol === 'rediss:' ? {} : undefined,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    };
  }

  private createQueue(role: 'producer' | 'worker'): Bull.Queue<DeliveryJobData> {
    const options = this.redisOptions();
    const queue = new Bull<DeliveryJobData>(NotificationQueueName.Delivery, {
      prefix: this.config.queuePrefix,
      createClient: (type) => {
        const producer = type === 'client' && role === 'producer';
        const connection = producer
          ? // Fail fast: an add while Redis is down must error at once, not hang a relay pass.
            new Redis({ ...options, enableOfflineQueue: false, maxRetriesPerRequest: 1 })
          : // Bull requires these for its blocking and subscriber connections; the worker waits out outages.
            new Redis({ ...options, enableReadyCheck: false, maxRetriesPerRequest: null });
        if (producer) {
          let readyBefore = false;
          connection.on('ready', () => {
            if (readyBefore) {
              this.reconnectListeners.forEach((listener) => listener());
            }
            readyBefore = true;
          });
        }
        this.connections.push(connection);
        return connection;
      },
      settings: {
        // a job of a worker that died stays locked until its lock expires, found by the next stalled-job check
        lockDuration: this.config.notifications.lockMs,
        stalledInterval: this.config.notifications.lockMs,
        // Bull's default of 1 drops a job whose worker died twice mid-delivery (two restarts in a row), leaving it
        // to the re-offer ten minutes on; a job that kills this many workers is a poison pill and may wait for that
        maxStalledCount: MAX_STALLS,
        backoffStrategies: {
          [JITTERED_BACKOFF]: (attemptsMade: number, error?: Error) =>
            error instanceof RetryLater && error.retryAt !== undefined
              ? Math.max(1, error.retryAt - Date.now())
              : jitteredBackoff(this.config.notifications.backoffBaseMs, attemptsMade),
        },
      },
    });
    queue.on('error', (error: Error) => this.logger.debug(`Queue ${role}: ${error.message}`));
    return queue;
  }

  private producerQueue(): Bull.Queue<DeliveryJobData> {
    this.producer ??= this.createQueue('producer');
    return this.producer;
  }

  /** Adds jobs; a jobId already in the queue is not added twice. Throws when Redis is unreachable. */
  async enqueue(jobs: DeliveryJob[]): Promise<void> {
    if (jobs.length === 0) {
      return;
    }
    await this.producerQueue().addBulk(
      jobs.map((job) => ({
        name: job.name,
        data: jobData(job),
        opts: {
          jobId: job.jobId,
          attempts: ATTEMPTS,
          backoff: { type: JITTERED_BACKOFF },
          removeOnComplete: true,
          removeOnFail: true,
        },
      })),
    );
  }

  /**
   * The producer queue once its connection is up. A connection still being made (the first call in this process, or
   * a reconnect attempt) is waited for until `signal` aborts; one known to be down fails at once.
   */
  private async readyProducer(signal: AbortSignal): Promise<Bull.Queue<DeliveryJobData>> {
    const queue = this.producerQueue();
    if (queue.client.status === 'wait' || queue.client.status === 'connecting' || queue.client.status === 'connect') {
      await once(queue.client, 'ready', { signal });
    }
    return queue;
  }

  /**
   * Adds jobs offered before that may have been lost. One still waiting, delayed or running is left as it is; a job
   * hash with no place in any list is removed first, or the add would be taken for a duplicate and dropped (a worker
   * that finished a job while Redis was down replays its writes into the restarted, empty Redis: they leave such a
   * hash behind, under the id the job must be offered again with).
   */
  async reoffer(jobs: DeliveryJob[]): Promise<void> {
    const queue = this.producerQueue();
    const lost: DeliveryJob[] = [];
    for (let i = 0; i < jobs.length; i += REOFFER_CHECKS_AT_ONCE) {
      await Promise.all(
        jobs.slice(i, i + REOFFER_CHECKS_AT_ONCE).map(async (job) => {
          const existing = await queue.getJob(job.jobId);
          if (existing) {
            const state = await existing.getState();
            if (state === 'waiting' || state === 'delayed' || state === 'active' || state === 'paused') {
              return;
            }
            await existing.remove();
          }
          lost.push(job);
        }),
      );
    }
    await this.enqueue(lost);
  }

  /**
   * Calls `listener` each time the producer's connection comes back after losing Redis: jobs queued before may be
   * gone with it (a Redis restarted without persistence, or one that lost its last writes).
   */
  onReconnect(listener: () => void): void {
    this.reconnectListeners.push(listener);
  }

  /** Resolves when Redis answers `PING`, for readiness. */
  async ping(signal: AbortSignal = AbortSignal.timeout(READ_TIMEOUT_MS)): Promise<void> {
    await (await this.readyProducer(signal)).client.ping();
  }

  /** Jobs in the queue by state (waiting, active, delayed, failed, completed, paused), for the metrics. */
  async jobCounts(signal: AbortSignal = AbortSignal.timeout(READ_TIMEOUT_MS)): Promise<Record<string, number>> {
    const counts = await (await this.readyProducer(signal)).getJobCounts();
    return { ...counts };
  }

  /** The queue as the operator dashboard (bull-board) sees it; read-only, since retries belong to the relay. */
  dashboardAdapter(): BullAdapter {
    return new BullAdapter(this.producerQueue(), { readOnlyMode: true });
  }

  /** Starts consuming jobs in this process (worker role). */
  process(handler: (job: Bull.Job<DeliveryJobData>) => Promise<void>): void {
    this.worker = this.createQueue('worker');
    const names = Object.values(DeliveryJobName);
    for (const name of names) {
      // Bull adds each named handler's concurrency together; split the budget across the names.
      const concurrency = Math.max(1, Math.floor(this.config.notifications.deliveryConcurrency / names.length));
      // Bull rejects with undefined when the queue closes right after it started
      this.worker.process(name, concurrency, handler).catch((error: unknown) => {
        this.logger.error(`Delivery worker stopped: ${error instanceof Error ? error.message : String(error)}`);
      });
    }
  }

  /** Lets in-flight deliveries finish and leaves the rest queued, before the database closes. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.worker?.close();
    await this.producer?.close();
    for (const connection of this.connections.splice(0)) {
      connection.disconnect();
    }
  }
}
