import {
  acknowledgement,
  answeredAsRetry,
  aSubmission,
  describeError,
  isAcknowledged,
  send,
  settle,
  succeeded,
  type Submission,
  UUID_SYSTEM,
} from './submissions.js';

/** One read a load reader made: a stored document's bytes, or a search for its DocumentReference. */
export interface ReadAttempt {
  what: 'document' | 'search';
  url: string;
  startedAt: number;
  endedAt: number;
  status?: number;
  retryAfter?: string;
  /** For a 200 document read: whether the bytes were the very bytes submitted. */
  identical?: boolean;
  error?: string;
}

export interface LoadOptions {
  /** The API base URLs to spread requests over (read at each request: a test may swap servers). */
  targets: () => string[];
  token: string;
  submitters: number;
  readers: number;
  /** Builds the n-th submission (mixed Bundles, ITI-65 and pointers by default). */
  makeSubmission?: (n: number) => Submission;
  /** A client gives up on a request after this long (an unanswered attempt). */
  requestTimeoutMs?: number;
  /** Pause between one client's requests. */
  pauseMs?: number;
}

/**
 * A steady load: `submitters` clients each submitting a fresh document after the previous answer, and `readers`
 * clients reading back documents already acknowledged (the stored bytes, and a search for their DocumentReference).
 * Everything is recorded; nothing is retried here (the test retries what went unacknowledged, after the fault).
 */
export class Load {
  readonly submissions: Submission[] = [];
  readonly reads: ReadAttempt[] = [];
  private running = false;
  private clients: Promise<void>[] = [];
  private turn = 0;

  constructor(private readonly options: LoadOptions) {}

  start(): this {
    this.running = true;
    const { submitters, readers } = this.options;
    this.clients = [
      ...Array.from({ length: submitters }, () => this.submitter()),
      ...Array.from({ length: readers }, () => this.reader()),
    ];
    return this;
  }

  /** Stops starting requests and waits for those in flight. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.clients);
  }

  get acknowledged(): number {
    return this.submissions.filter(isAcknowledged).length;
  }

  /**
   * Resolves once `count` more submissions were acknowledged than when called; after `timeoutMs` it fails, or
   * with `atMost` it resolves anyway (a fault that must strike at a given moment, whatever the machine's speed).
   */
  async waitForAcknowledged(count: number, timeoutMs = 30_000, atMost = false): Promise<void> {
    const target = this.acknowledged + count;
    const deadline = Date.now() + timeoutMs;
    while (this.acknowledged < target) {
      if (Date.now() > deadline) {
        if (atMost) {
          return;
        }
        throw new Error(`Only ${this.acknowledged} of ${target} submissions acknowledged within ${timeoutMs} ms`);
      }
      await settle(20);
    }
  }

  private target(): string {
    const targets = this.options.targets();
    return targets[this.turn++ % targets.length];
  }

  private async submitter(): Promise<void> {
    const make = this.options.makeSubmission ?? aSubmission;
    while (this.running) {
      const submission = make(this.submissions.length);
      this.submissions.push(submission);
      const attempt = await send(this.target(), this.options.token, submission, this.options.requestTimeoutMs);
      // a refused connection or a 503 answers at once: a client pauses before it tries again
      await settle(succeeded(submission, attempt) ? (this.options.pauseMs ?? 0) : 200);
    }
  }

  private async reader(): Promise<void> {
    while (this.running) {
      const stored = this.submissions.filter((s) => s.kind === 'bundle' && isAcknowledged(s));
      if (stored.length === 0) {
        await settle(50);
        continue;
      }
      const submission = stored[Math.floor(Math.random() * stored.length)];
      const location = acknowledgement(submission)!.location;
      if (location) {
        this.reads.push(await this.read('document', new URL(location).pathname, submission.documentBytes));
      }
      const query = encodeURIComponent(`${UUID_SYSTEM}|${submission.documentIdentifier}`);
      const search = await this.read('search', `/fhir/DocumentReference?identifier=${query}`);
      this.reads.push(search);
      await settle(search.status === undefined ? 100 : (this.options.pauseMs ?? 0));
    }
  }

  private async read(what: ReadAttempt['what'], url: string, expected?: Buffer): Promise<ReadAttempt> {
    const startedAt = Date.now();
    try {
      const response = await fetch(`${this.target()}${url}`, {
        headers: { authorization: `Bearer ${this.options.token}` },
        signal: AbortSignal.timeout(this.options.requestTimeoutMs ?? 60_000),
      });
      const body = Buffer.from(await response.arrayBuffer());
      return {
        what,
        url,
        startedAt,
        endedAt: Date.now(),
        status: response.status,
        retryAfter: response.headers.get('retry-after') ?? undefined,
        ...(expected && response.status === 200 ? { identical: body.equals(expected) } : {}),
      };
    } catch (error) {
      return { what, url, startedAt, endedAt: Date.now(), error: describeError(error) };
    }
  }
}

/**
 * The client's part after a fault: each submission not yet acknowledged is sent again (same bytes) until it is
 * stored or answered as the retry it is; answers other than `retryable` statuses fail the test. An earlier attempt
 * may have stored it only if it got no answer, or one of `ambiguous` (a database lost during COMMIT cannot say).
 * Returns the answers the retries got, in order.
 */
export async function retryUnacknowledged(
  targets: () => string[],
  token: string,
  submissions: Submission[],
  options: { retryable?: number[]; ambiguous?: number[]; timeoutMs?: number } = {},
): Promise<string[]> {
  const retryable = new Set(options.retryable ?? [503]);
  const ambiguous = new Set(options.ambiguous ?? []);
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  const outcomes: string[] = [];
  let turn = 0;
  const retry = async (submission: Submission) => {
    for (;;) {
      const all = targets();
      const attempt = await send(all[turn++ % all.length], token, submission);
      outcomes.push(String(attempt.status ?? attempt.error));
      if (succeeded(submission, attempt)) {
        return;
      }
      if (answeredAsRetry(submission, attempt)) {
        // a 503 or 507 must mean nothing was kept, unless the fault left the outcome unknown
        const earlier = submission.attempts.slice(0, -1);
        const couldHaveStored = earlier.some((a) => a.status === undefined || ambiguous.has(a.status));
        expect([
          submission.kind,
          submission.masterIdentifiers[0],
          earlier.map((a) => a.status ?? a.error),
          couldHaveStored,
        ]).toEqual([submission.kind, submission.masterIdentifiers[0], expect.anything(), true]);
        return;
      }
      if (attempt.status !== undefined && !retryable.has(attempt.status)) {
        throw new Error(
          `retry of ${submission.kind} ${submission.masterIdentifiers[0]} answered ${attempt.status}: ${attempt.body?.toString('utf8').slice(0, 300)}`,
        );
      }
      if (Date.now() > deadline) {
        throw new Error(
          `retries of ${submission.kind} ${submission.masterIdentifiers[0]} never succeeded: ${outcomes.slice(-5).join(', ')}`,
        );
      }
      await settle(attempt.status === undefined ? 200 : 100);
    }
  };
  // several clients retrying at once, each its own submissions in order
  const pending = submissions.filter((s) => !isAcknowledged(s));
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let next = pending.shift(); next; next = pending.shift()) {
        await retry(next);
      }
    }),
  );
  return outcomes;
}
