import { createHash } from 'node:crypto';

/** The prev_hash of the first event. */
export const GENESIS_HASH = '0'.repeat(64);

/** The stored fields of one audit event that its hash covers (every column except the hashes). */
export interface ChainContent {
  sequence: number;
  id: string;
  recordedMs: number;
  action: string;
  subtype: string;
  outcome: string;
  agentSubject: string | null;
  agentClient: string | null;
  agentOrg: string | null;
  sourceIp: string;
  requestId: string;
  correlationId: string | null;
  patientNhsNumber: string | null;
  entity: string;
  resource: string;
}

export interface ChainRow extends ChainContent {
  prevHash: string;
  hash: string;
}

/** Where a verified stretch of the chain ended, so the next page can continue from it. */
export interface ChainHead {
  sequence: number;
  hash: string;
}

export type ChainVerdict =
  { ok: true; count: number; head: ChainHead } | { ok: false; count: number; sequence: number; reason: string };

/** JSON with object keys sorted at every level, so equal content always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    return JSON.stringify(value ?? null);
  }
  if (Array.isArray(value)) {
    return `[${value.map((item) => canonicalJson(item)).join(',')}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, item]) => item !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
}

/** SHA-256 (hex) over the previous event's hash, a newline and this event's canonical JSON. */
export function hashOf(prevHash: string, canonical: string): string {
  return createHash('sha256').update(`${prevHash}\n${canonical}`, 'utf8').digest('hex');
}

/** Only the hashed fields, whatever else the row object carries. */
export function chainContent(row: ChainContent): ChainContent {
  return {
    sequence: row.sequence,
    id: row.id,
    recordedMs: row.recordedMs,
    action: row.action,
    subtype: row.subtype,
    outcome: row.outcome,
    agentSubject: row.agentSubject,
    agentClient: row.agentClient,
    agentOrg: row.agentOrg,
    sourceIp: row.sourceIp,
    requestId: row.requestId,
    correlationId: row.correlationId,
    patientNhsNumber: row.patientNhsNumber,
    entity: row.entity,
    resource: row.resource,
  };
}

/** The hash an event with this content must carry when it follows `prevHash`. */
export function hashOfRow(prevHash: string, row: ChainContent): string {
  return hashOf(prevHash, canonicalJson(chainContent(row)));
}

/**
 * Checks rows given in sequence order, continuing from `from` (the genesis when omitted): sequences must be gap-free,
 * each prev_hash must be the previous hash, and each hash must match the content. Reports the first break.
 */
export function verifyChain(
  rows: Iterable<ChainRow>,
  from: ChainHead = { sequence: 0, hash: GENESIS_HASH },
): ChainVerdict {
  let head = from;
  let count = 0;
  for (const row of rows) {
    if (row.sequence !== head.sequence + 1) {
      const reason =
        row.sequence > head.sequence + 1
          ? `sequence ${head.sequence + 1} is missing (next stored event is ${row.sequence}): an event was deleted`
          : `sequence ${row.sequence} is out of order after ${head.sequence}`;
      return { ok: false, count, sequence: head.sequence + 1, reason };
    }
    if (row.prevHash !== head.hash) {
      return {
        ok: false,
        count,
        sequence: row.sequence,
        reason: 'prev_hash does not match the hash of the event before it',
      };
    }
    if (row.hash !== hashOfRow(row.prevHash, row)) {
      return {
        ok: false,
        count,
        sequence: row.sequence,
        reason: 'hash does not match the stored content: the event was altered',
      };
    }
    head = { sequence: row.sequence, hash: row.hash };
    count += 1;
  }
  return { ok: true, count, head };
}
