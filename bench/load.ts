import { Pool } from 'undici';

export interface Request {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

/** One measured round against one server. */
export interface Round {
  requests: number;
  seconds: number;
  /** requests per second */
  rate: number;
  p50Ms: number;
  p99Ms: number;
  /** Server CPU (user + system, all threads) per request, microseconds. */
  cpuMicrosPerRequest: number;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) {
    return Number.NaN;
  }
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

/** A keep-alive connection pool to one server, sized for the concurrency of the bench. */
export function clientPool(origin: string, connections: number): Pool {
  return new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 60_000, bodyTimeout: 120_000 });
}

async function send(pool: Pool, request: Request, expected: number): Promise<Buffer> {
  const response = await pool.request({
    method: request.method,
    path: request.path,
    headers: request.headers,
    body: request.body,
  });
  const body = Buffer.from(await response.body.arrayBuffer());
  if (response.statusCode !== expected) {
    throw new Error(
      `${request.method} ${request.path} answered ${response.statusCode}: ${body.toString().slice(0, 500)}`,
    );
  }
  return body;
}

/**
 * Closed loop: `concurrency` senders, each sending the next request as soon as its previous one is answered,
 * until `count` requests are done. CPU is read from `cpuMicros` (the server process) before and after.
 */
export async function closedLoop(options: {
  pool: Pool;
  concurrency: number;
  count: number;
  request: (i: number) => Request;
  expected: number;
  cpuMicros: () => number;
}): Promise<Round> {
  let next = 0;
  const latencies: number[] = [];
  const cpuBefore = options.cpuMicros();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (next < options.count) {
        const request = options.request(next++);
        const sent = performance.now();
        await send(options.pool, request, options.expected);
        latencies.push(performance.now() - sent);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = options.cpuMicros() - cpuBefore;
  latencies.sort((a, b) => a - b);
  return {
    requests: options.count,
    seconds,
    rate: options.count / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    cpuMicrosPerRequest: cpu / options.count,
  };
}

/**
 * Open loop: request i is sent at start + i / rate whether or not earlier ones were answered (a steady arrival
 * rate, as senders in the field behave). Returns when every request is answered; `onSent` gets each send time.
 */
export async function openLoop(options: {
  pool: Pool;
  rate: number;
  count: number;
  request: (i: number) => Request;
  expected: number;
  onSent: (i: number, sentAt: number, answeredAt: number) => void;
}): Promise<void> {
  const started = performance.now();
  const inFlight: Promise<void>[] = [];
  // caught at once: a request failing while later ones are still being sent must not crash the bench unhandled
  let failure: unknown;
  for (let i = 0; i < options.count; i += 1) {
    const due = started + (i * 1000) / options.rate;
    const wait = due - performance.now();
    if (wait > 0) {
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    const request = options.request(i);
    const sentAt = performance.now();
    inFlight.push(
      send(options.pool, request, options.expected).then(
        () => options.onSent(i, sentAt, performance.now()),
        (error: unknown) => {
          failure ??= error;
        },
      ),
    );
  }
  await Promise.all(inFlight);
  if (failure) {
    throw failure instanceof Error ? failure : new Error(JSON.stringify(failure));
  }
}

/** The medians of a server's rounds: each figure's median over the rounds, taken separately. */
export interface Summary {
  rounds: number;
  rate: number;
  p50Ms: number;
  p99Ms: number;
  cpuMicrosPerRequest: number;
}

export function summarize(rounds: readonly Round[]): Summary {
  return {
    rounds: rounds.length,
    rate: median(rounds.map((r) => r.rate)),
    p50Ms: median(rounds.map((r) => r.p50Ms)),
    p99Ms: median(rounds.map((r) => r.p99Ms)),
    cpuMicrosPerRequest: median(rounds.map((r) => r.cpuMicrosPerRequest)),
  };
}
