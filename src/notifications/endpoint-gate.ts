import { jitteredBackoff } from './notification-queue.service.js';

export interface EndpointGateSettings {
  /** Requests one endpoint (origin) may have in flight at once from this process, once it has answered. */
  readonly maxInFlight: number;
  /** First back-off of a failing endpoint; doubles per consecutive failure, capped at an hour. */
  readonly backoffBaseMs: number;
  /** How long a request may take: while a probe of a recovering endpoint is out, others wait about this long. */
  readonly requestTimeoutMs: number;
}

/** Whether a delivery may go out now, or when to try again without having sent anything. */
export type Admission = { admitted: true } | { admitted: false; retryAt: number; reason: string };

interface EndpointState {
  inFlight: number;
  /** The last request answered: until then one request at a time, so an endpoint that hangs holds one slot. */
  answered: boolean;
  /** Consecutive failed requests; 0 = healthy. */
  failures: number;
  openedAt: number;
  /** Until then nothing is sent; after it one probe goes out while the others wait. */
  openUntil: number;
}

/** Wait for a slot at a busy endpoint: long enough not to spin, short next to a webhook's usual latency budget. */
// (Endpoints are kept once seen, answered or not: one entry per subscription origin, a few thousand at most.)
const BUSY_RETRY_MS = 250;

/**
 * Per-endpoint admission for webhook deliveries (a circuit breaker with a concurrency cap), so a few dead or hanging
 * GP endpoints cannot hold the worker's delivery slots. An endpoint is an origin (a supplier hosting many practices
 * fails as one). An endpoint not yet heard from gets one request at a time; once it answers, up to `maxInFlight`.
 * After a failure (no answer in time, 5xx, 429) the endpoint as a whole backs off (exponentially, with jitter) and
 * every delivery to it is deferred without a request; when the back-off ends a single probe goes out, and its answer
 * reopens the endpoint for all. State is per process: several workers each back off on their own.
 */
export class EndpointGate {
  private readonly endpoints = new Map<string, EndpointState>();

  constructor(
    private readonly settings: EndpointGateSettings,
    private readonly random: () => number = Math.random,
  ) {}

  admit(endpoint: string, now: number): Admission {
    const state = this.endpoints.get(endpoint) ?? {
      inFlight: 0,
      answered: false,
      failures: 0,
      openedAt: 0,
      openUntil: 0,
    };
    if (state.failures > 0) {
      if (now < state.openUntil) {
        return { admitted: false, retryAt: this.afterBackoff(state), reason: this.backingOff(state) };
      }
      if (state.inFlight > 0) {
        // half-open: one probe is out; the rest hear its result within about one request timeout
        const wait = this.settings.requestTimeoutMs * (0.5 + this.random());
        return { admitted: false, retryAt: now + Math.round(wait), reason: 'a probe of the failing endpoint is out' };
      }
    } else if (state.inFlight >= (state.answered ? this.settings.maxInFlight : 1)) {
      const wait = BUSY_RETRY_MS * (1 + this.random());
      return {
        admitted: false,
        retryAt: now + Math.round(wait),
        reason: state.answered
          ? `the endpoint already has ${state.inFlight} deliveries in flight`
          : 'the first request to the endpoint has not been answered yet',
      };
    }
    state.inFlight += 1;
    this.endpoints.set(endpoint, state);
    return { admitted: true };
  }

  /**
   * Ends an admitted request: `ok` true (the endpoint answered) reopens the endpoint, false (no answer in time, 5xx,
   * 429) backs it off and returns when to try this delivery again; undefined (nothing was sent) changes nothing.
   */
  settle(endpoint: string, ok: boolean | undefined, now: number): number | undefined {
    const state = this.endpoints.get(endpoint);
    if (!state) {
      return undefined;
    }
    state.inFlight = Math.max(0, state.inFlight - 1);
    let retryAt: number | undefined;
    if (ok === true) {
      state.answered = true;
      state.failures = 0;
      state.openUntil = 0;
    } else if (ok === false) {
      state.answered = false;
      // requests that were already out when the endpoint failed do not deepen the back-off they share
      if (now >= state.openUntil) {
        state.failures += 1;
        state.openedAt = now;
        state.openUntil = now + jitteredBackoff(this.settings.backoffBaseMs, state.failures, this.random());
      }
      retryAt = this.afterBackoff(state);
    }
    return retryAt;
  }

  /** Endpoints currently backing off (for metrics and tests). */
  get failing(): number {
    let count = 0;
    for (const state of this.endpoints.values()) {
      count += state.failures > 0 ? 1 : 0;
    }
    return count;
  }

  /** Spread the deferred deliveries over half the back-off after it ends, so they do not all wake at once. */
  private afterBackoff(state: EndpointState): number {
    const spread = Math.max(100, (state.openUntil - state.openedAt) / 2);
    return Math.round(state.openUntil + this.random() * spread);
  }

  private backingOff(state: EndpointState): string {
    return `the endpoint failed ${state.failures} time(s) in a row; backing off until ${new Date(state.openUntil).toISOString()}`;
  }
}
