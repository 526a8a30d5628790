import type { Readable } from 'node:stream';
import { Agent, type Dispatcher, request } from 'undici';
import { failure } from './errors.js';

/** Where bearer tokens come from: a fixed one, or one that can be fetched again when the server says 401. */
export interface TokenSource {
  token(): Promise<string>;
  /** A fresh token after a 401; absent when the token is fixed (FHIR_TOKEN). */
  refresh?(): Promise<string>;
}

export interface FhirResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
}

export interface SendOptions {
  headers?: Record<string, string>;
  /** A body maker, called again for each attempt (a stream cannot be replayed). */
  body?: () => Buffer | string | Readable;
  /** Safe to send again after a broken connection: reads, and writes the server deduplicates. */
  idempotent?: boolean;
}

const MAX_ATTEMPTS = 3;
const MAX_RETRY_WAIT_MS = 30_000;
const USER_AGENT = 'fhir-registry-cli/0.1.0';

/** How long a 429 or 503 asks us to wait (Retry-After in seconds or as an HTTP date), capped. */
export function retryDelayMs(retryAfter: string | undefined, attempt: number, now = Date.now()): number {
  const fallback = 500 * 2 ** attempt;
  if (!retryAfter) {
    return fallback;
  }
  const seconds = /^\d+$/.test(retryAfter.trim()) ? Number(retryAfter) * 1000 : Date.parse(retryAfter) - now;
  return Number.isFinite(seconds) ? Math.min(Math.max(seconds, 0), MAX_RETRY_WAIT_MS) : fallback;
}

/** One line saying why a request never got an answer. */
export function networkReason(error: unknown, base: string): string {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return `could not reach ${base}: ${typeof code === 'string' ? code : message}`;
}

export function header(response: { headers: FhirResponse['headers'] }, name: string): string | undefined {
  const value = response.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * A FHIR client over one keep-alive connection pool. It sends the bearer token only to the origin of the base
 * URL (a `next` link pointing elsewhere is refused), retries 429 and 503 as the server's Retry-After says, and
 * fetches a fresh token once after a 401 when the token source can.
 */
export class FhirClient {
  readonly base: string;
  private readonly origin: string;
  private readonly agent: Agent;

  constructor(
    base: string,
    private readonly tokens: TokenSource,
    connections = 4,
  ) {
    this.base = base.replace(/\/+$/, '');
    this.origin = new URL(this.base).origin;
    this.agent = new Agent({ connections, keepAliveTimeout: 10_000, pipelining: 1 });
  }

  /** An absolute URL for a path under the base ("Bundle/1") or a link the server gave (same origin only). */
  url(pathOrUrl: string): URL {
    const url = /^https?:\/\//i.test(pathOrUrl)
      ? new URL(pathOrUrl)
      : new URL(`${this.base}/${pathOrUrl.replace(/^\/+/, '')}`);
    if (url.origin !== this.origin) {
      throw failure(`Refusing to send the token to ${url.origin}: only ${this.origin} (FHIR_BASE_URL) gets it`);
    }
    return url;
  }

  async send(method: Dispatcher.HttpMethod, pathOrUrl: string, options: SendOptions = {}): Promise<FhirResponse> {
    const url = this.url(pathOrUrl);
    let token = await this.tokens.token();
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      let response: Dispatcher.ResponseData;
      try {
        response = await request(url, {
          method,
          dispatcher: this.agent,
          headers: { 'user-agent': USER_AGENT, ...options.headers, authorization: `Bearer ${token}` },
          body: options.body?.(),
        });
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        const broken = code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE';
        if (options.idempotent && broken && attempt + 1 < MAX_ATTEMPTS) {
          continue;
        }
        throw failure(networkReason(error, this.base));
      }
      const status = response.statusCode;
      if (status === 401 && this.tokens.refresh && !refreshed) {
        await response.body.dump();
        token = await this.tokens.refresh();
        refreshed = true;
        continue;
      }
      if ((status === 429 || status === 503) && attempt + 1 < MAX_ATTEMPTS) {
        await response.body.dump();
        const retryAfter = response.headers['retry-after'];
        await new Promise((resolve) =>
          setTimeout(resolve, retryDelayMs(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, attempt)),
        );
        continue;
      }
      return { status, headers: response.headers, body: response.body };
    }
  }

  /** send() and read the whole answer as text. */
  async sendText(
    method: Dispatcher.HttpMethod,
    pathOrUrl: string,
    options: SendOptions = {},
  ): Promise<{ status: number; headers: FhirResponse['headers']; text: string }> {
    const response = await this.send(method, pathOrUrl, options);
    return { status: response.status, headers: response.headers, text: await response.body.text() };
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
