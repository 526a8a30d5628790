import { isIP } from 'node:net';
import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors,
  type FetchImplementation,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import { Agent, buildConnector, fetch as undiciFetch } from 'undici';
import { AppConfig } from '../config/app-config.js';
import {
  bareHost,
  checkEndpointUrl,
  EndpointAllowlist,
  isForbiddenAddress,
  safeLookup,
  UnsafeEndpointError,
} from '../notifications/endpoint-safety.js';
import { ClientKeysUnavailableError } from './client-assertion.js';
import type { SmartClientEntity } from './smart-client.entity.js';

/** Tuning of clients' remote key sets; the defaults suit production. */
const FETCH_TIMEOUT_MS = 5_000;
/** An unknown kid refetches at most this often (a client rotating keys waits at most this long). */
const COOLDOWN_MS = 30_000;
const CACHE_MAX_AGE_MS = 10 * 60_000;
const MAX_JWKS_BYTES = 64 * 1024;
/** Key sets held at most; the oldest is dropped first. */
const MAX_KEY_SETS = 1000;

/**
 * The public keys of registered clients, for checking their assertions: inline JWKS as registered, or the client's
 * jwks_uri fetched (with a timeout, cached, refetched on an unknown kid after a cooldown) through sockets that only
 * reach addresses the subscription endpoint rules allow (SUBSCRIPTION_ENDPOINT_ALLOWLIST), so a registered URL cannot
 * point the server at its own network.
 */
@Injectable()
export class ClientKeySets implements OnApplicationShutdown {
  private readonly sets = new Map<string, JWTVerifyGetKey>();
  private readonly allowlist: EndpointAllowlist;
  private readonly agent: Agent;

  constructor(config: AppConfig) {
    this.allowlist = new EndpointAllowlist(config.notifications.endpointAllowlist);
    const allowlist = this.allowlist;
    const connect = buildConnector({ timeout: FETCH_TIMEOUT_MS, lookup: safeLookup(allowlist, 'jwks_uri') });
    this.agent = new Agent({
      headersTimeout: FETCH_TIMEOUT_MS,
      bodyTimeout: FETCH_TIMEOUT_MS,
      // an IP literal never goes through lookup, so it is checked here
      connect: (options, callback) => {
        const host = bareHost(options.hostname);
        if (isIP(host) !== 0 && isForbiddenAddress(host) && !allowlist.allowsHost(host)) {
          callback(new UnsafeEndpointError(`jwks_uri address ${host} is not a public address`), null);
          return;
        }
        connect(options, callback);
      },
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.agent.close();
  }

  /** The key resolver for one client's assertions; errors fetching a jwks_uri become ClientKeysUnavailableError. */
  keysOf(client: Pick<SmartClientEntity, 'clientId' | 'jwks' | 'jwksUri'>): JWTVerifyGetKey {
    const cacheKey = JSON.stringify([client.clientId, client.jwks, client.jwksUri]);
    let set = this.sets.get(cacheKey);
    if (!set) {
      set = client.jwksUri ? this.remote(client.jwksUri) : createLocalJWKSet(JSON.parse(client.jwks!) as JSONWebKeySet);
      if (this.sets.size >= MAX_KEY_SETS) {
        this.sets.delete(this.sets.keys().next().value!);
      }
      this.sets.set(cacheKey, set);
    }
    return set;
  }

  private remote(uri: string): JWTVerifyGetKey {
    const remote = createRemoteJWKSet(new URL(uri), {
      timeoutDuration: FETCH_TIMEOUT_MS,
      cooldownDuration: COOLDOWN_MS,
      cacheMaxAge: CACHE_MAX_AGE_MS,
      [customFetch]: this.safeFetch,
    });
    return async (header, token) => {
      try {
        return await remote(header, token);
      } catch (error) {
        if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
          throw error;
        }
        const cause = (error as { cause?: unknown }).cause;
        const message = cause instanceof Error ? cause.message : error instanceof Error ? error.message : String(error);
        throw new ClientKeysUnavailableError(message, { cause: error });
      }
    };
  }

  /** GET through the checked agent, the body cut off at MAX_JWKS_BYTES; jose wants a 200 with JSON. */
  private readonly safeFetch: FetchImplementation = async (url, options) => {
    checkEndpointUrl(url, this.allowlist, 'jwks_uri');
    const response = await undiciFetch(url, {
      method: 'GET',
      headers: Object.fromEntries(new Headers(options.headers)),
      redirect: 'manual',
      signal: options.signal,
      dispatcher: this.agent,
    });
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new Error(`${url} answered HTTP ${response.status}, not 200 with a JWK Set`);
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of response.body ?? []) {
      total += (chunk as Uint8Array).length;
      if (total > MAX_JWKS_BYTES) {
        throw new Error(`the key set is larger than ${MAX_JWKS_BYTES} bytes`);
      }
      chunks.push(chunk as Uint8Array);
    }
    return new Response(Buffer.concat(chunks), { status: 200, headers: { 'content-type': 'application/json' } });
  };
}
