import { FhirError } from '../common/fhir-error.js';
import type { AppConfig } from '../config/app-config.js';
import { ClientRateLimiter, FixedWindowCounter, clientKeyOf } from './client-rate-limiter.js';

describe('FixedWindowCounter', () => {
  it('allows max hits per key in a window and says when the window ends', () => {
    let now = 60_000 * 10 + 15_000;
    const counter = new FixedWindowCounter(2, 60_000, () => now);
    expect(counter.hit('a')).toEqual({ allowed: true });
    expect(counter.hit('a')).toEqual({ allowed: true });
    expect(counter.hit('b')).toEqual({ allowed: true });
    expect(counter.hit('a')).toEqual({ allowed: false, retryAfterMs: 45_000 });
    now += 45_000;
    expect(counter.hit('a')).toEqual({ allowed: true });
  });
});

describe('clientKeyOf', () => {
  it('keys on client, subject and organisation, not on the token', () => {
    const a = { subject: 's', clientId: 'c', organization: 'RTG', scopes: [], tokenId: 'jti-1' };
    expect(clientKeyOf(a)).toBe(clientKeyOf({ ...a, tokenId: 'jti-2' }));
    expect(clientKeyOf(a)).not.toBe(clientKeyOf({ ...a, organization: 'Y12345' }));
    expect(clientKeyOf(a)).not.toBe(clientKeyOf({ ...a, clientId: 'other' }));
  });
});

describe('ClientRateLimiter', () => {
  it('refuses a client past its limit with 429 and Retry-After', () => {
    const limiter = new ClientRateLimiter({ rateLimitPerMinute: 1 } as AppConfig);
    const principal = { subject: 's', scopes: [] };
    limiter.admit(principal);
    try {
      limiter.admit(principal);
      throw new Error('not throttled');
    } catch (error) {
      expect(error).toBeInstanceOf(FhirError);
      expect((error as FhirError).status).toBe(429);
      expect(Number((error as FhirError).headers['retry-after'])).toBeGreaterThan(0);
    }
  });
});
