import { isIP } from 'node:net';
import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { Pool, buildConnector } from 'undici';
import { AppConfig } from '../config/app-config.js';
import {
  EndpointAllowlist,
  UnsafeEndpointError,
  bareHost,
  checkEndpointUrl,
  isForbiddenAddress,
  safeLookup,
} from './endpoint-safety.js';

export interface PostResult {
  ok: boolean;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
}

/** Sends webhooks over keep-alive pools (one per origin) whose sockets only ever reach checked addresses. */
@Injectable()
export class WebhookClient implements OnApplicationShutdown {
  private readonly pools = new Map<string, Pool>();
  readonly allowlist: EndpointAllowlist;

  constructor(private readonly config: AppConfig) {
    this.allowlist = new EndpointAllowlist(config.notifications.endpointAllowlist);
  }

  private pool(origin: string): Pool {
    let pool = this.pools.get(origin);
    if (!pool) {
      const { deliveryTimeoutMs: timeout, connectTimeoutMs, endpointConcurrency } = this.config.notifications;
      const connect = buildConnector({
        timeout: Math.min(connectTimeoutMs, timeout),
        lookup: safeLookup(this.allowlist),
      });
      const allowlist = this.allowlist;
      pool = new Pool(origin, {
        // the endpoint gate admits at most this many requests per endpoint, so none waits here for a socket
        connections: endpointConcurrency,
        keepAliveTimeout: 30_000,
        headersTimeout: timeout,
        bodyTimeout: timeout,
        // An IP literal never goes through lookup, so it is checked here, at every new connection.
        connect: (options, callback) => {
          const host = bareHost(options.hostname);
          if (isIP(host) !== 0 && isForbiddenAddress(host) && !allowlist.allowsHost(host)) {
            callback(new UnsafeEndpointError(`endpoint address ${host} is not a public address`), null);
            return;
          }
          connect(options, callback);
        },
      });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  /** One delivery attempt: 2xx is success; anything else (including redirects) is a failure to retry. */
  async send(
    method: 'POST' | 'PUT',
    endpoint: string,
    body: string,
    headers: Record<string, string>,
  ): Promise<PostResult> {
    const started = performance.now();
    const latency = () => Math.round(performance.now() - started);
    try {
      const url = checkEndpointUrl(endpoint, this.allowlist);
      const response = await this.pool(url.origin).request({
        path: `${url.pathname}${url.search}`,
        method,
        headers,
        body,
        signal: AbortSignal.timeout(this.config.notifications.deliveryTimeoutMs),
      });
      await response.body.dump();
      const ok = response.statusCode >= 200 && response.statusCode < 300;
      return {
        ok,
        statusCode: response.statusCode,
        latencyMs: latency(),
        error: ok ? null : `HTTP ${response.statusCode}`,
      };
    } catch (error) {
      const cause = (error as { cause?: Error }).cause;
      const message =
        cause && cause.message ? `${(error as Error).message}: ${cause.message}` : (error as Error).message;
      return { ok: false, statusCode: null, latencyMs: latency(), error: message || String(error) };
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => pool.close()));
    this.pools.clear();
  }
}
