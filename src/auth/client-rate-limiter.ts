import { Injectable } from '@nestjs/common';
import { FhirError } from '../common/fhir-error.js';
import { AppConfig } from '../config/app-config.js';
import type { Principal } from './principal.js';

/** Requests counted per key in fixed windows aligned to the clock, in memory (one process). */
export class FixedWindowCounter {
  private windowStart = 0;
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one request for `key`: allowed, or how long until the window ends. */
  hit(key: string): { allowed: true } | { allowed: false; retryAfterMs: number } {
    const now = this.now();
    const start = now - (now % this.windowMs);
    if (start !== this.windowStart) {
      // a new window forgets every key, so memory holds only the clients seen in one window
      this.windowStart = start;
      this.counts.clear();
    }
    const count = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, count);
    return count <= this.max ? { allowed: true } : { allowed: false, retryAfterMs: start + this.windowMs - now };
  }
}

/** The bucket of a verified caller: its client, subject and organisation, whatever token or spelling it sends. */
export function clientKeyOf(principal: Principal): string {
  return JSON.stringify([principal.clientId ?? null, principal.subject, principal.organization ?? null]);
}

/** RATE_LIMIT_PER_MINUTE per verified client; the per-address limit before authentication is request-hygiene's. */
@Injectable()
export class ClientRateLimiter {
  private readonly counter: FixedWindowCounter;
  private readonly max: number;

  constructor(config: AppConfig) {
    this.max = config.rateLimitPerMinute;
    this.counter = new FixedWindowCounter(this.max, 60_000);
  }

  /** Throws 429 once the caller has used up this minute's requests. */
  admit(principal: Principal): void {
    const verdict = this.counter.hit(clientKeyOf(principal));
    if (!verdict.allowed) {
      const seconds = Math.max(1, Math.ceil(verdict.retryAfterMs / 1000));
      throw new FhirError(
        429,
        'throttled',
        `Too many requests: the limit is ${this.max} a minute per client; retry after ${seconds} seconds`,
        { headers: { 'retry-after': String(seconds) } },
      );
    }
  }
}
