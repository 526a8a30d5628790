import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

import { StoredTotals, type StoredKind } from '../registry/stored-totals.js';

/** How one webhook POST ended: a 2xx, an error or non-2xx (retried), or not sent because the grant no longer allows it. */
export type DeliveryAttemptOutcome = 'success' | 'failure' | 'refused';

// Seconds; FHIR reads are milliseconds, large Binary uploads and searches under load take seconds.
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
// Seconds from commit to the subscriber's 2xx: sub-second when healthy, up to the retry budget (hours) when not.
const DELIVERY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21_600, 86_400];

/**
 * The process's Prometheus registry (one per application, so tests can run several in one process) and the
 * instruments the code paths record into. Scrape-time gauges are added by MetricsCollectors.
 */
@Injectable()
export class Metrics implements StoredTotals {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from request to response, by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: HTTP_BUCKETS,
    registers: [this.registry],
  });

  readonly storedObjects = new Counter({
    name: 'registry_stored_objects_total',
    help: 'Document Bundles and Binaries stored by this process since it started',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly storedBytes = new Counter({
    name: 'registry_stored_bytes_total',
    help: 'Bytes of document Bundles and Binaries stored by this process since it started',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly heldObjects = new Gauge({
    name: 'registry_objects',
    help: 'Document Bundles and Binaries held: counted once at start, then kept by this process',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly heldBytes = new Gauge({
    name: 'registry_bytes',
    help: 'Bytes of document Bundles and Binaries held: summed once at start, then kept by this process',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly deliveryAttempts = new Counter({
    name: 'registry_delivery_attempts_total',
    help: 'Webhook delivery attempts made by this worker, by notification type and outcome',
    labelNames: ['type', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly deliveryLatency = new Histogram({
    name: 'registry_notification_delivery_seconds',
    help: "Time from a document change's commit to the subscriber's 2xx for its event-notification",
    buckets: DELIVERY_BUCKETS,
    registers: [this.registry],
  });

  readonly rateLimitFallbacks = new Counter({
    name: 'registry_rate_limit_fallbacks_total',
    help: 'Per-client rate-limit checks counted in this process alone because the shared store (Redis) did not answer',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** A document or Binary committed: counted once the transaction that holds it is durable. */
  recordStored(kind: StoredKind, bytes: number): void {
    this.storedObjects.inc({ kind });
    this.storedBytes.inc({ kind }, bytes);
    this.heldObjects.inc({ kind });
    this.heldBytes.inc({ kind }, bytes);
  }

  /** Starting values of the held gauges, read once at start; writes already counted are kept. */
  addHeld(kind: StoredKind, objects: number, bytes: number): void {
    this.heldObjects.inc({ kind }, objects);
    this.heldBytes.inc({ kind }, bytes);
  }

  /** One webhook POST (or refusal); `committedAt` (epoch ms) of an event-notification's change when it got a 2xx. */
  recordDelivery(type: string, outcome: DeliveryAttemptOutcome, committedAt?: number): void {
    this.deliveryAttempts.inc({ type, outcome });
    if (outcome === 'success' && committedAt !== undefined) {
      this.deliveryLatency.observe(Math.max(0, Date.now() - committedAt) / 1000);
    }
  }
}
