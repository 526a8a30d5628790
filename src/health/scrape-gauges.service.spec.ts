import type { DataSource } from 'typeorm';
import type { GroupCommitter } from '../database/group-commit.js';
import type { NotificationOutboxRepository } from '../notifications/notification-outbox.repository.js';
import type { NotificationQueue } from '../notifications/notification-queue.service.js';
import type { SubscriptionRepository } from '../notifications/subscription.repository.js';
import { Metrics } from './metrics.service.js';
import { ScrapeGauges } from './scrape-gauges.service.js';

function gauges(queue: Partial<NotificationQueue>, backlog: NotificationOutboxRepository['backlog']): Metrics {
  const metrics = new Metrics();
  new ScrapeGauges(
    metrics,
    { manager: {} } as DataSource,
    { batchesCommitted: 4, unitsCommitted: 9 } as GroupCommitter,
    { backlog } as NotificationOutboxRepository,
    { countByStatus: () => Promise.resolve({ requested: 1, active: 2, error: 0, off: 0 }) } as SubscriptionRepository,
    queue as NotificationQueue,
  ).onModuleInit();
  return metrics;
}

describe('ScrapeGauges', () => {
  it('reads the outbox once per scrape for both of its gauges', async () => {
    let reads = 0;
    const metrics = gauges({ jobCounts: () => Promise.resolve({ waiting: 3, active: 1 }) }, () => {
      reads += 1;
      return Promise.resolve({ depth: 5, oldestCreatedAt: Date.now() - 90_000 });
    });
    const text = await metrics.registry.metrics();
    expect(reads).toBe(1);
    expect(text).toMatch(/^registry_outbox_pending 5$/m);
    expect(text).toMatch(/^registry_outbox_oldest_age_seconds 9\d\.\d+$/m);
    expect(text).toMatch(/^registry_queue_jobs\{state="waiting"\} 3$/m);
    expect(text).toMatch(/^registry_subscriptions\{status="active"\} 2$/m);
    expect(text).toMatch(/^registry_group_commits_total 4$/m);
    expect(text).toMatch(/^registry_group_commit_units_total 9$/m);
    await metrics.registry.metrics();
    expect(reads).toBe(2);
  });

  it('answers within about a second when Redis hangs, leaving the queue gauge out', async () => {
    const metrics = gauges({ jobCounts: () => new Promise(() => undefined) }, () =>
      Promise.resolve({ depth: 0, oldestCreatedAt: null }),
    );
    const started = Date.now();
    const text = await metrics.registry.metrics();
    expect(Date.now() - started).toBeLessThan(1500);
    expect(text).not.toMatch(/^registry_queue_jobs\{/m);
    expect(text).toMatch(/^registry_outbox_pending 0$/m);
    expect(text).toMatch(/^registry_outbox_oldest_age_seconds 0$/m);
  });

  it('shows the outbox as unknown (NaN) when the database fails, instead of failing the scrape', async () => {
    const metrics = gauges({ jobCounts: () => Promise.resolve({}) }, () => Promise.reject(new Error('gone')));
    const text = await metrics.registry.metrics();
    // prom-client writes Nan; Prometheus parses NaN case-insensitively
    expect(text).toMatch(/^registry_outbox_pending nan$/im);
    expect(text).toMatch(/^registry_outbox_oldest_age_seconds nan$/im);
    expect(text).toMatch(/^registry_subscriptions\{status="requested"\} 1$/m);
  });
});
