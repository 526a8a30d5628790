import { createHash } from 'node:crypto';
import {
  type ChainContent,
  type ChainRow,
  GENESIS_HASH,
  canonicalJson,
  hashOf,
  hashOfRow,
  verifyChain,
} from './audit-chain.js';

function content(sequence: number, overrides: Partial<ChainContent> = {}): ChainContent {
  return {
    sequence,
    id: `id-${sequence}`,
    recordedMs: 1_700_000_000_000 + sequence,
    action: 'R',
    subtype: 'read',
    outcome: '0',
    agentSubject: 'user-1',
    agentClient: null,
    agentOrg: 'RTG',
    sourceIp: '127.0.0.1',
    requestId: `req-${sequence}`,
    correlationId: null,
    patientNhsNumber: '9434765919',
    entity: `DocumentReference/${sequence}`,
    resource: JSON.stringify({ resourceType: 'AuditEvent', id: `id-${sequence}` }),
    ...overrides,
  };
}

function chainOf(length: number): ChainRow[] {
  const rows: ChainRow[] = [];
  let prevHash = GENESIS_HASH;
  for (let sequence = 1; sequence <= length; sequence++) {
    const row = content(sequence);
    const hash = hashOfRow(prevHash, row);
    rows.push({ ...row, prevHash, hash });
    prevHash = hash;
  }
  return rows;
}

describe('canonicalJson', () => {
  it('sorts keys at every level so key order does not change the hash', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { y: 1, x: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[2,{"x":2,"y":1}]},"b":1}',
    );
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }));
  });

  it('leaves out undefined properties, as JSON.stringify does', () => {
    expect(canonicalJson({ a: undefined, b: 'x' })).toBe('{"b":"x"}');
  });
});

describe('hashOf', () => {
  it('is SHA-256 hex over the previous hash, a newline and the canonical JSON', () => {
    const expected = createHash('sha256').update(`${GENESIS_HASH}\n{"a":1}`).digest('hex');
    expect(hashOf(GENESIS_HASH, '{"a":1}')).toBe(expected);
    expect(GENESIS_HASH).toBe('0'.repeat(64));
  });

  it('changes when the previous hash changes', () => {
    expect(hashOf('1'.repeat(64), '{}')).not.toBe(hashOf(GENESIS_HASH, '{}'));
  });
});

describe('verifyChain', () => {
  it('accepts an intact chain and reports its length and head', () => {
    const rows = chainOf(5);
    expect(verifyChain(rows)).toEqual({ ok: true, count: 5, head: { sequence: 5, hash: rows[4].hash } });
  });

  it('accepts an empty chain', () => {
    expect(verifyChain([])).toEqual({ ok: true, count: 0, head: { sequence: 0, hash: GENESIS_HASH } });
  });

  it('continues from a head, so a long chain can be checked a page at a time', () => {
    const rows = chainOf(6);
    const first = verifyChain(rows.slice(0, 3));
    expect(first.ok).toBe(true);
    const second = verifyChain(rows.slice(3), first.ok ? first.head : undefined);
    expect(second).toMatchObject({ ok: true, count: 3, head: { sequence: 6 } });
  });

  it('finds an altered column at its sequence', () => {
    const rows = chainOf(5);
    rows[2] = { ...rows[2], agentSubject: 'someone-else' };
    expect(verifyChain(rows)).toMatchObject({
      ok: false,
      sequence: 3,
      count: 2,
      reason: expect.stringMatching(/altered/),
    });
  });

  it('finds an altered resource JSON', () => {
    const rows = chainOf(4);
    rows[1] = { ...rows[1], resource: rows[1].resource.replace('AuditEvent', 'Patient') };
    expect(verifyChain(rows)).toMatchObject({ ok: false, sequence: 2 });
  });

  it('finds a deleted event as the missing sequence', () => {
    const rows = chainOf(5);
    rows.splice(2, 1);
    expect(verifyChain(rows)).toMatchObject({
      ok: false,
      sequence: 3,
      reason: expect.stringMatching(/missing.*deleted/),
    });
  });

  it('finds a deleted first event', () => {
    expect(verifyChain(chainOf(3).slice(1))).toMatchObject({ ok: false, sequence: 1 });
  });

  it('finds a re-hashed event whose successor no longer links to it', () => {
    const rows = chainOf(4);
    const forged = { ...rows[1], outcome: '4' };
    rows[1] = { ...forged, hash: hashOfRow(forged.prevHash, forged) };
    expect(verifyChain(rows)).toMatchObject({ ok: false, sequence: 3, reason: expect.stringMatching(/prev_hash/) });
  });
});
