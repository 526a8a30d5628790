import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import type { AuditInput } from './audit-event-resource.js';
import type { AuditService } from './audit.service.js';
import { RefusalTallyService } from './refusal-tally.service.js';

const refusal = (ip: string, requestId: string, outcomeDescription = 'bad token'): AuditInput => ({
  actor: { ip, requestId },
  action: 'R',
  subtype: 'login-failure',
  outcome: '4',
  outcomeDescription,
  entities: [],
});

function tallyWith(windowMs: number) {
  const recorded: AuditInput[] = [];
  const record = jest.fn((input: AuditInput) => {
    recorded.push(input);
    return Promise.resolve({});
  });
  const tally = new RefusalTallyService(
    { record } as unknown as AuditService,
    { auditRefusalWindowMs: windowMs } as AppConfig,
  );
  return { tally, recorded, record };
}

describe('RefusalTallyService', () => {
  it('writes one event per address and window, with the count, period and first reason', async () => {
    const { tally, recorded } = tallyWith(60_000);
    const start = 1_700_000_040_000; // a minute boundary
    expect(tally.absorb(401, refusal('10.0.0.1', 'r1', 'first'), start + 1)).toBe(true);
    expect(tally.absorb(401, refusal('10.0.0.1', 'r2', 'second'), start + 500)).toBe(true);
    expect(tally.absorb(401, refusal('10.0.0.2', 'r3'), start + 600)).toBe(true);
    expect(tally.absorb(401, refusal('10.0.0.1', 'r4'), start + 60_001)).toBe(true);
    await tally.onModuleDestroy();
    expect(recorded).toHaveLength(3);
    expect(recorded[0]).toMatchObject({
      outcomeDescription: 'first',
      actor: { requestId: 'r1' },
      aggregate: { count: 2, start: new Date(start + 1), end: new Date(start + 500) },
    });
    expect(recorded.map((input) => input.aggregate?.count)).toEqual([2, 1, 1]);
  });

  it('leaves to the caller what must be written at once', () => {
    const { tally } = tallyWith(60_000);
    const verified = { ...refusal('10.0.0.1', 'r1'), actor: { ip: '10.0.0.1', requestId: 'r1', subject: 'user-1' } };
    expect(tally.absorb(403, verified)).toBe(false);
    expect(tally.absorb(200, refusal('10.0.0.1', 'r2'))).toBe(false);
    expect(tally.absorb(429, verified)).toBe(true);
  });

  it('writes a window once it has closed, without waiting for shutdown', async () => {
    const { tally, recorded } = tallyWith(100);
    tally.absorb(401, refusal('10.0.0.1', 'r1'));
    for (let i = 0; i < 50 && recorded.length === 0; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(recorded).toHaveLength(1);
    await tally.onModuleDestroy();
    expect(recorded).toHaveLength(1);
  });

  it('keeps a window whose write failed and writes it on the next flush', async () => {
    const { tally, record, recorded } = tallyWith(60_000);
    record.mockRejectedValueOnce(new Error('database down'));
    const quiet = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    tally.absorb(401, refusal('10.0.0.1', 'r1'));
    await tally.flush(true);
    expect(recorded).toHaveLength(0);
    await tally.onModuleDestroy();
    expect(record).toHaveBeenCalledTimes(2);
    expect(recorded).toHaveLength(1);
    quiet.mockRestore();
  });
});
