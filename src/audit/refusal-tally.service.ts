import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import type { AuditInput } from './audit-event-resource.js';
import { AuditService } from './audit.service.js';
import { isTallied } from './request-audit.js';

interface Window {
  /** The first refusal of the window: its request id and reason stand for all of them. */
  input: AuditInput;
  count: number;
  first: number;
  last: number;
  closes: number;
}

// distinct callers held per window; past it, further ones share one overflow event so memory stays bounded
const MAX_WINDOWS = 10_000;
// a flush runs just after a window closes, so a refusal at its last millisecond is counted in it
const FLUSH_SLACK_MS = 20;

/** One event per address, caller and kind of refusal: the same attacker flooding with bad tokens is one row. */
function keyOf(input: AuditInput): string {
  const { actor } = input;
  return JSON.stringify([actor.ip, actor.subject, actor.clientId, actor.organization, input.subtype, input.outcome]);
}

/**
 * Audits refusals (401, 429, refusals of unverified callers) as one AuditEvent per address and window with their count,
 * so a client that is refused cannot grow the audit trail without bound. Each window is written when it closes, and
 * whatever is open at shutdown is written then.
 */
@Injectable()
export class RefusalTallyService implements OnModuleDestroy {
  private readonly logger = new Logger(RefusalTallyService.name);
  private readonly windows = new Map<string, Window>();
  private readonly windowMs: number;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly audit: AuditService,
    config: AppConfig,
  ) {
    this.windowMs = config.auditRefusalWindowMs;
  }

  /** Counts a refusal into its window and answers true; false for anything that must be audited on its own. */
  absorb(statusCode: number, input: AuditInput, now = Date.now()): boolean {
    if (!isTallied(statusCode, input)) {
      return false;
    }
    const start = now - (now % this.windowMs);
    let key = `${start} ${keyOf(input)}`;
    if (!this.windows.has(key) && this.windows.size >= MAX_WINDOWS) {
      key = `${start} overflow`;
    }
    const window = this.windows.get(key);
    if (window) {
      window.count += 1;
      window.last = now;
    } else {
      this.windows.set(key, { input, count: 1, first: now, last: now, closes: start + this.windowMs });
    }
    this.schedule();
    return true;
  }

  /** Writes the windows that have closed, or all of them; a window whose write fails is kept for the next flush. */
  flush(all = false): Promise<void> {
    this.flushing = this.flushing.then(() => this.write(all));
    return this.flushing;
  }

  async onModuleDestroy(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush(true);
  }

  private async write(all: boolean): Promise<void> {
    const now = Date.now();
    const due = [...this.windows].filter(([, window]) => all || window.closes <= now);
    for (const [key, window] of due) {
      try {
        const aggregate = { count: window.count, start: new Date(window.first), end: new Date(window.last) };
        await this.audit.record({ ...window.input, aggregate });
        this.windows.delete(key);
      } catch (error) {
        this.logger.error(`Could not audit ${window.count} refused requests: ${String(error)}`);
      }
    }
  }

  private schedule(): void {
    if (this.timer || this.windows.size === 0) {
      return;
    }
    const next = Math.min(...[...this.windows.values()].map((window) => window.closes));
    const now = Date.now();
    // a window already closed is one whose write failed: retry a window later, not in a tight loop
    const delay = next > now ? next - now + FLUSH_SLACK_MS : this.windowMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush().then(() => this.schedule());
    }, delay);
    // pending windows must not keep a finished process alive; shutdown flushes them
    this.timer.unref();
  }
}
