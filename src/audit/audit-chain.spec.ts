import { createHash, createHmac } from 'node:crypto';
import {
  type ChainContent,
  type ChainRow,
  GENESIS_HASH,
  canonicalJson,
  chainContent,
  checkpointMac,
  hashOf,
  hashOfRow,
  isSigned,
  legacyHashOf,
  sealCheckpoint,
  verifyChain,
  verifyChainEnd,
} from './audit-chain.js';

const KEY = Buffer.from('k'.repeat(48));
const OTHER_KEY = Buffer.from('o'.repeat(48));

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

function chainOf(length: number, hashRow = (prev: string, row: ChainContent) => hashOfRow(KEY, prev, row)): ChainRow[] {
  const rows: ChainRow[] = [];
  let prevHash = GENESIS_HASH;
  for (let sequence = 1; sequence <= length; sequence++) {
    const row = content(sequence);
    const hash = hashRow(prevHash, row);
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
  it('is HMAC-SHA-256 hex under the key over the previous hash, a newline and the canonical JSON', () => {
    const expected = createHmac('sha256', KEY).update(`${GENESIS_HASH}\n{"a":1}`).digest('hex');
    expect(hashOf(KEY, GENESIS_HASH, '{"a":1}')).toBe(expected);
    expect(GENESIS_HASH).toBe('0'.repeat(64));
  });

  it('changes with the key and with the previous hash', () => {
    expect(hashOf(OTHER_KEY, GENESIS_HASH, '{}')).not.toBe(hashOf(KEY, GENESIS_HASH, '{}'));
    expect(hashOf(KEY, '1'.repeat(64), '{}')).not.toBe(hashOf(KEY, GENESIS_HASH, '{}'));
  });

  it('keeps the unkeyed SHA-256 of chains written before the key as legacyHashOf', () => {
    const expected = createHash('sha256').update(`${GENESIS_HASH}\n{"a":1}`).digest('hex');
    expect(legacyHashOf(GENESIS_HASH, '{"a":1}')).toBe(expected);
  });
});

describe('verifyChain', () => {
  it('accepts an intact chain and reports its length and head', () => {
    const rows = chainOf(5);
    expect(verifyChain(rows, KEY)).toEqual({ ok: true, count: 5, head: { sequence: 5, hash: rows[4].hash } });
  });

  it('accepts an empty chain', () => {
    expect(verifyChain([], KEY)).toEqual({ ok: true, count: 0, head: { sequence: 0, hash: GENESIS_HASH } });
  });

  it('continues from a head, so a long chain can be checked a page at a time', () => {
    const rows = chainOf(6);
    const first = verifyChain(rows.slice(0, 3), KEY);
    expect(first.ok).toBe(true);
    const second = verifyChain(rows.slice(3), KEY, { from: first.ok ? first.head : undefined });
    expect(second).toMatchObject({ ok: true, count: 3, head: { sequence: 6 } });
  });

  it('finds an altered column at its sequence', () => {
    const rows = chainOf(5);
    rows[2] = { ...rows[2], agentSubject: 'someone-else' };
    expect(verifyChain(rows, KEY)).toMatchObject({
      ok: false,
      sequence: 3,
      count: 2,
      reason: expect.stringMatching(/altered/),
    });
  });

  it('finds an altered resource JSON', () => {
    const rows = chainOf(4);
    rows[1] = { ...rows[1], resource: rows[1].resource.replace('AuditEvent', 'Patient') };
    expect(verifyChain(rows, KEY)).toMatchObject({ ok: false, sequence: 2 });
  });

  it('finds a deleted event as the missing sequence', () => {
    const rows = chainOf(5);
    rows.splice(2, 1);
    expect(verifyChain(rows, KEY)).toMatchObject({
      ok: false,
      sequence: 3,
      reason: expect.stringMatching(/missing.*deleted/),
    });
  });

  it('finds a deleted first event', () => {
    expect(verifyChain(chainOf(3).slice(1), KEY)).toMatchObject({ ok: false, sequence: 1 });
  });

  it('finds a re-hashed event whose successor no longer links to it', () => {
    const rows = chainOf(4);
    const forged = { ...rows[1], outcome: '4' };
    rows[1] = { ...forged, hash: hashOfRow(KEY, forged.prevHash, forged) };
    expect(verifyChain(rows, KEY)).toMatchObject({
      ok: false,
      sequence: 3,
      reason: expect.stringMatching(/prev_hash/),
    });
  });

  it('refuses a chain written under another key at its first event', () => {
    expect(verifyChain(chainOf(3), OTHER_KEY)).toMatchObject({
      ok: false,
      sequence: 1,
      count: 0,
      reason: expect.stringMatching(/not the key that wrote it/),
    });
  });

  it('names an unkeyed SHA-256 hash as such: forged without the key, or from before the key', () => {
    const rows = chainOf(4);
    // the attacker rewrites from event 3 on, re-hashing with the old public algorithm
    let prevHash = rows[1].hash;
    for (let i = 2; i < 4; i++) {
      const row = { ...rows[i], outcome: i === 2 ? '4' : rows[i].outcome, prevHash };
      rows[i] = { ...row, hash: legacyHashOf(prevHash, canonicalJson(chainContent(row))) };
      prevHash = rows[i].hash;
    }
    expect(verifyChain(rows, KEY)).toMatchObject({
      ok: false,
      sequence: 3,
      count: 2,
      reason: expect.stringMatching(/not keyed/),
    });
  });

  it('accepts unkeyed events only up to the legacy head given, pinned by its hash', () => {
    const legacy = chainOf(3, (prev, row) => legacyHashOf(prev, canonicalJson(chainContent(row))));
    const keyed = { ...content(4), prevHash: legacy[2].hash };
    const rows = [...legacy, { ...keyed, hash: hashOfRow(KEY, keyed.prevHash, keyed) }];
    expect(verifyChain(rows, KEY)).toMatchObject({ ok: false, sequence: 1 });
    expect(verifyChain(rows, KEY, { legacy: { sequence: 3, hash: legacy[2].hash } })).toMatchObject({
      ok: true,
      count: 4,
    });
    expect(verifyChain(rows, KEY, { legacy: { sequence: 3, hash: 'f'.repeat(64) } })).toMatchObject({
      ok: false,
      sequence: 3,
      reason: expect.stringMatching(/legacy head/),
    });
    // past the legacy head only keyed hashes count
    expect(verifyChain(rows, KEY, { legacy: { sequence: 2, hash: legacy[1].hash } })).toMatchObject({
      ok: false,
      sequence: 3,
    });
  });
});

describe('checkpoints', () => {
  it('signs sequence, head hash and time with the key', () => {
    const checkpoint = sealCheckpoint(KEY, { sequence: 7, hash: 'a'.repeat(64) }, 1_700_000_000_000);
    expect(checkpoint).toEqual({
      sequence: 7,
      hash: 'a'.repeat(64),
      createdMs: 1_700_000_000_000,
      mac: createHmac('sha256', KEY)
        .update(`audit-checkpoint\n7\n${'a'.repeat(64)}\n1700000000000`)
        .digest('hex'),
    });
    expect(isSigned(KEY, checkpoint)).toBe(true);
    expect(isSigned(OTHER_KEY, checkpoint)).toBe(false);
    expect(isSigned(KEY, { ...checkpoint, sequence: 8 })).toBe(false);
    expect(checkpointMac(KEY, checkpoint)).toBe(checkpoint.mac);
  });

  it('reports the newest checkpoint met along the chain', () => {
    const rows = chainOf(5);
    const at2 = sealCheckpoint(KEY, rows[1], 1);
    const at4 = sealCheckpoint(KEY, rows[3], 2);
    expect(verifyChain(rows, KEY, { checkpoints: [at4, at2] })).toEqual({
      ok: true,
      count: 5,
      head: { sequence: 5, hash: rows[4].hash },
      sealed: at4,
    });
  });

  it('finds a forged checkpoint and one that sealed a different head', () => {
    const rows = chainOf(5);
    expect(verifyChain(rows, KEY, { checkpoints: [sealCheckpoint(OTHER_KEY, rows[2], 1)] })).toMatchObject({
      ok: false,
      sequence: 3,
      reason: expect.stringMatching(/checkpoint at sequence 3 is not signed/),
    });
    expect(
      verifyChain(rows, KEY, { checkpoints: [sealCheckpoint(KEY, { sequence: 3, hash: 'b'.repeat(64) }, 1)] }),
    ).toMatchObject({ ok: false, sequence: 3, reason: expect.stringMatching(/different head/) });
  });

  it('names the missing range when a signed checkpoint lies beyond the end of the chain', () => {
    const rows = chainOf(8);
    const at8 = sealCheckpoint(KEY, rows[7], Date.UTC(2026, 10, 1));
    expect(verifyChainEnd(rows[5], 6, KEY, [sealCheckpoint(KEY, rows[6], 1), at8])).toEqual({
      ok: false,
      count: 6,
      sequence: 7,
      reason: expect.stringMatching(/^events 7\.\.8 are missing: the chain ends at 6 .*2026-11-01T00:00:00\.000Z/),
    });
    expect(verifyChainEnd(rows[7], 8, KEY, [])).toBeUndefined();
  });

  it('refuses a forged checkpoint beyond the end, and a chain that ends before the legacy head', () => {
    const rows = chainOf(3);
    expect(
      verifyChainEnd(rows[2], 3, KEY, [sealCheckpoint(OTHER_KEY, { sequence: 9, hash: 'c'.repeat(64) }, 1)]),
    ).toMatchObject({
      ok: false,
      sequence: 9,
      reason: expect.stringMatching(/forged/),
    });
    expect(verifyChainEnd(rows[2], 3, KEY, [], { sequence: 5, hash: 'd'.repeat(64) })).toMatchObject({
      ok: false,
      sequence: 4,
      reason: expect.stringMatching(/events 4\.\.5 are missing/),
    });
  });
});
