import { FhirError } from '../common/fhir-error.js';
import type { AppConfig } from '../config/app-config.js';
import { Metrics } from '../health/metrics.service.js';
import { ClientRateLimiter, clientKeyOf } from './client-rate-limiter.js';

async function refusal(attempt: Promise<void>): Promise<FhirError> {
  try {
    await attempt;
  } catch (error) {
    if (error instanceof FhirError) {
      return error;
    }
    throw error;
  }
  throw new Error('not throttled');
}

describe('clientKeyOf', () => {
  it('keys on client, subject and organisation, not on the token', () => {
    const a = { subject: 's', clientId: 'c', organization: 'RTG', scopes: [], tokenId: 'jti-1' };
    expect(clientKeyOf(a)).toBe(clientKeyOf({ ...a, tokenId: 'jti-2' }));
    expect(clientKeyOf(a)).not.toBe(clientKeyOf({ ...a, organization: 'Y12345' }));
    expect(clientKeyOf(a)).not.toBe(clientKeyOf({ ...a, clientId: 'other' }));
  });
});

describe('ClientRateLimiter', () => {
  it('refuses a client past its limit with 429 and Retry-After, and not another client', async () => {
    const limiter = new ClientRateLimiter({ rateLimitPerMinute: 1, rateLimitStore: 'memory' } as AppConfig);
    const principal = { subject: 's', scopes: [] };
    await limiter.admit(principal);
    const error = await refusal(limiter.admit(principal));
    expect(error.status).toBe(429);
    expect(error.issues[0].code).toBe('throttled');
    expect(Number(error.headers['retry-after'])).toBeGreaterThan(0);
    await limiter.admit({ subject: 'other', scopes: [] });
  });

  it('counts in this process while Redis does not answer, logs it once and counts the fallbacks', async () => {
    const metrics = new Metrics();
    // a port nothing listens on
    const config = {
      rateLimitPerMinute: 2,
      rateLimitStore: 'redis',
      redisUrl: 'redis://127.0.0.1:1',
      queuePrefix: 'unit',
    } as AppConfig;
    const limiter = new ClientRateLimiter(config, metrics);
    limiter.onApplicationBootstrap();
    try {
      const principal = { subject: 's', scopes: [] };
      await limiter.admit(principal);
      await limiter.admit(principal);
      expect((await refusal(limiter.admit(principal))).status).toBe(429);
      const fallbacks = await metrics.registry.getSingleMetricAsString('registry_rate_limit_fallbacks_total');
      expect(fallbacks).toMatch(/registry_rate_limit_fallbacks_total 3/);
    } finally {
      limiter.onApplicationShutdown();
    }
  });
});
