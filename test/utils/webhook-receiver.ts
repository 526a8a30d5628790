import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  /** The endpoint path: the request path without the `/DocumentReference/{id}` an R4 rest-hook update appends. */
  path: string;
  /** The whole request path and query. */
  url: string;
  method: string;
  headers: IncomingHttpHeaders;
  body: string;
  receivedAt: number;
  /** The status the receiver answered with. */
  status: number;
}

export interface WebhookReceiver {
  /** http://127.0.0.1:PORT */
  readonly origin: string;
  /** A fresh endpoint URL on this receiver (requests are recorded per endpoint path). */
  url(path?: string): string;
  /** Every request, in arrival order (failed ones included). */
  readonly requests: ReceivedWebhook[];
  /** Requests to one path. */
  at(path: string): ReceivedWebhook[];
  /** Answer the next `count` requests to `path` with `status` (default 503). */
  failNext(path: string, count: number, status?: number): void;
  /** Answer every request to `path` only after `delayMs` (recorded on arrival): deliveries stay in flight. */
  slow(path: string, delayMs: number): void;
  /** Requests to `path` that arrived and are not answered yet. */
  inFlight(path: string): number;
  /** Waits until `predicate` holds over the requests to `path`, or fails after `timeoutMs`. */
  waitFor(
    path: string,
    predicate: (requests: ReceivedWebhook[]) => boolean,
    timeoutMs?: number,
  ): Promise<ReceivedWebhook[]>;
  close(): Promise<void>;
}

/** A real HTTP receiver on loopback that records webhooks and can be told to fail. */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const requests: ReceivedWebhook[] = [];
  const failures = new Map<string, { left: number; status: number }>();
  const delays = new Map<string, number>();
  const pending = new Map<string, number>();
  let counter = 0;
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const url = request.url ?? '/';
      // a classic R4 rest-hook with a payload PUTs to {endpoint}/DocumentReference/{id}
      const path = url.replace(/\/DocumentReference\/[^/?]+(?=$|\?)/, '');
      const failure = failures.get(path);
      let status = 200;
      if (failure && failure.left > 0) {
        failure.left -= 1;
        status = failure.status;
      }
      requests.push({
        path,
        url,
        method: request.method ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        receivedAt: Date.now(),
        status,
      });
      const answer = () => {
        pending.set(path, (pending.get(path) ?? 1) - 1);
        if (!response.destroyed) {
          response.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'failing on purpose');
        }
      };
      pending.set(path, (pending.get(path) ?? 0) + 1);
      const delay = delays.get(path);
      if (delay) {
        setTimeout(answer, delay);
      } else {
        answer();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const at = (path: string) => requests.filter((r) => r.path === path);
  return {
    origin,
    url: (path) => `${origin}${path ?? `/hook-${++counter}`}`,
    requests,
    at,
    failNext: (path, count, status = 503) => failures.set(path, { left: count, status }),
    slow: (path, delayMs) => delays.set(path, delayMs),
    inFlight: (path) => pending.get(path) ?? 0,
    waitFor: async (path, predicate, timeoutMs = 10_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(at(path))) {
        if (Date.now() > deadline) {
          throw new Error(
            `Timed out waiting for webhooks at ${path}; got ${at(path).length}: ${JSON.stringify(at(path).map((r) => r.status))}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      return at(path);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
