import { createHash } from 'node:crypto';
import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown, Optional } from '@nestjs/common';
import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { FhirError } from '../common/fhir-error.js';
import { AppConfig } from '../config/app-config.js';
import { Metrics } from '../health/metrics.service.js';
import type { Principal } from './principal.js';

const WINDOW_SECONDS = 60;
// A rate-limit check must not hold a request up: past this, the process counts alone.
const STORE_TIMEOUT_MS = 500;

/** The bucket of a verified caller: its client, subject and organisation, whatever token or spelling it sends. */
export function clientKeyOf(principal: Principal): string {
  return JSON.stringify([principal.clientId ?? null, principal.subject, principal.organization ?? null]);
}

// Redis holds a digest, not who the caller is.
const storeKeyOf = (principal: Principal): string =>
  createHash('sha256').update(clientKeyOf(principal)).digest('base64url');

/**
 * RATE_LIMIT_PER_MINUTE per verified client, counted in Redis so that every replica shares one count
 * (RATE_LIMIT_STORE=redis), or in this process. While Redis does not answer, each process counts alone (logged once
 * per outage, and counted in registry_rate_limit_fallbacks_total): a limiter outage never refuses a request.
 * The per-address limit before authentication is request-hygiene's.
 */
@Injectable()
export class ClientRateLimiter implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ClientRateLimiter.name);
  private readonly max: number;
  private readonly local: RateLimiterMemory;
  private readonly shared?: RateLimiterAbstract;
  private readonly redis?: Redis;
  private storeDown = false;

  constructor(
    config: AppConfig,
    @Optional() private readonly metrics?: Metrics,
  ) {
    this.max = config.rateLimitPerMinute;
    this.local = new RateLimiterMemory({ points: this.max, duration: WINDOW_SECONDS });
    if (config.rateLimitStore === 'redis') {
      this.redis = new Redis(config.redisUrl, {
        lazyConnect: true,
        // fail at once while disconnected, and never wait long on a slow Redis
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        commandTimeout: STORE_TIMEOUT_MS,
        connectTimeout: 2000,
        retryStrategy: (times) => Math.min(times * 200, 2000),
      });
      // connection errors are reported by the first check that falls back, once per outage
      this.redis.on('error', () => undefined);
      this.redis.on('ready', () => {
        if (this.storeDown) {
          this.storeDown = false;
          this.logger.log('Rate limit store is back: counting per client across replicas again');
        }
      });
      this.shared = new RateLimiterRedis({
        storeClient: this.redis,
        rejectIfRedisNotReady: true,
        keyPrefix: `${config.queuePrefix}:rate-limit`,
        points: this.max,
        duration: WINDOW_SECONDS,
      });
    }
  }

  /** Throws 429 once the caller has used up this minute's requests. */
  async admit(principal: Principal): Promise<void> {
    const key = storeKeyOf(principal);
    try {
      await this.consume(key);
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) {
        throw error;
      }
      const seconds = Math.max(1, Math.ceil(error.msBeforeNext / 1000));
      throw new FhirError(
        429,
        'throttled',
        `Too many requests: the limit is ${this.max} a minute per client; retry after ${seconds} seconds`,
        { headers: { 'retry-after': String(seconds) } },
      );
    }
  }

  /** Resolves when allowed; rejects with a RateLimiterRes when over the limit. */
  private async consume(key: string): Promise<void> {
    if (!this.shared) {
      await this.local.consume(key);
      return;
    }
    try {
      await this.shared.consume(key);
      return;
    } catch (error) {
      if (error instanceof RateLimiterRes) {
        throw error;
      }
      this.metrics?.rateLimitFallbacks.inc();
      if (!this.storeDown) {
        this.storeDown = true;
        this.logger.warn(
          `Rate limit store unreachable (${error instanceof Error ? error.message : String(error)}): ` +
            'each process counts its clients alone until Redis is back',
        );
      }
    }
    await this.local.consume(key);
  }

  onApplicationBootstrap(): void {
    // a Redis that is not up yet is retried in the background; checks count per process meanwhile
    this.redis?.connect().catch(() => undefined);
  }

  onApplicationShutdown(): void {
    this.redis?.disconnect();
  }
}
