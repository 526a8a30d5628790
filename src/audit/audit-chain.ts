import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { canonicalJson } from '../common/canonical-json.js';

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
  /** Every patient concerned, space-separated; hashed only when present, so rows from before it keep their hash. */
  patientNhsNumbers?: string | null;
  /** Custodian ODS codes of the documents concerned, space-separated; hashed only when present, likewise. */
  custodianOrgs?: string | null;
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

/** A signed statement that the chain reached `sequence` with head `hash` at `createdMs`: deleting sealed events shows. */
export interface Checkpoint {
  sequence: number;
  hash: string;
  createdMs: number;
  mac: string;
}

export type ChainVerdict =
  | { ok: true; count: number; head: ChainHead; sealed?: Checkpoint }
  | { ok: false; count: number; sequence: number; reason: string };

export type ChainBreak = Extract<ChainVerdict, { ok: false }>;

export interface VerifyOptions {
  /** Where the previous page ended (the genesis when omitted). */
  from?: ChainHead;
  /** Checkpoints at sequences of these rows: each must be signed with the key and name the row's hash. */
  checkpoints?: Iterable<Checkpoint>;
  /** Events up to this head were written before the chain was keyed (plain SHA-256); its hash pins them. */
  legacy?: ChainHead;
}

/** HMAC-SHA-256 (hex) keyed with the audit key, over the previous event's hash, a newline and this event's canonical JSON. */
export function hashOf(key: Uint8Array, prevHash: string, canonical: string): string {
  return createHmac('sha256', key).update(`${prevHash}\n${canonical}`, 'utf8').digest('hex');
}

/** The unkeyed SHA-256 of chains written before the key existed: anyone can recompute it. */
export function legacyHashOf(prevHash: string, canonical: string): string {
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
    ...(row.patientNhsNumbers ? { patientNhsNumbers: row.patientNhsNumbers } : {}),
    ...(row.custodianOrgs ? { custodianOrgs: row.custodianOrgs } : {}),
    entity: row.entity,
    resource: row.resource,
  };
}

/** The hash an event with this content must carry when it follows `prevHash`. */
export function hashOfRow(key: Uint8Array, prevHash: string, row: ChainContent): string {
  return hashOf(key, prevHash, canonicalJson(chainContent(row)));
}

/** The MAC of a checkpoint; the prefix keeps it from ever equalling an event hash (those start with a hash). */
export function checkpointMac(key: Uint8Array, checkpoint: Omit<Checkpoint, 'mac'>): string {
  return createHmac('sha256', key)
    .update(`audit-checkpoint\n${checkpoint.sequence}\n${checkpoint.hash}\n${checkpoint.createdMs}`, 'utf8')
    .digest('hex');
}

/** Signs the head of the chain. */
export function sealCheckpoint(key: Uint8Array, head: ChainHead, createdMs: number): Checkpoint {
  const checkpoint = { sequence: head.sequence, hash: head.hash, createdMs };
  return { ...checkpoint, mac: checkpointMac(key, checkpoint) };
}

function sameHex(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** Whether the checkpoint was signed with this key. */
export function isSigned(key: Uint8Array, checkpoint: Checkpoint): boolean {
  return sameHex(checkpoint.mac, checkpointMac(key, checkpoint));
}

function rowBreak(key: Uint8Array, row: ChainRow, legacy: boolean): string | undefined {
  const canonical = canonicalJson(chainContent(row));
  if (legacy) {
    return row.hash === legacyHashOf(row.prevHash, canonical)
      ? undefined
      : 'hash does not match the stored content: the event was altered';
  }
  if (sameHex(row.hash, hashOf(key, row.prevHash, canonical))) {
    return undefined;
  }
  if (row.hash === legacyHashOf(row.prevHash, canonical)) {
    return 'hash is plain SHA-256, not keyed: forged without the key, or written before the chain was keyed (see --legacy-head)';
  }
  return 'hash does not match the stored content under this key: the event was altered, or this is not the key that wrote it';
}

/**
 * Checks rows given in sequence order, continuing from `from` (the genesis when omitted): sequences must be gap-free,
 * each prev_hash must be the previous hash, each hash must be the keyed hash of the content, and each checkpoint at
 * one of these rows must be signed and name that row's hash. Reports the first break, or the newest checkpoint met.
 */
export function verifyChain(rows: Iterable<ChainRow>, key: Uint8Array, options: VerifyOptions = {}): ChainVerdict {
  const { legacy } = options;
  const checkpoints = new Map([...(options.checkpoints ?? [])].map((c) => [c.sequence, c]));
  let head = options.from ?? { sequence: 0, hash: GENESIS_HASH };
  let count = 0;
  let sealed: Checkpoint | undefined;
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
    const inLegacy = legacy !== undefined && row.sequence <= legacy.sequence;
    const reason = rowBreak(key, row, inLegacy);
    if (reason) {
      return { ok: false, count, sequence: row.sequence, reason };
    }
    if (inLegacy && row.sequence === legacy.sequence && row.hash !== legacy.hash) {
      return { ok: false, count, sequence: row.sequence, reason: 'hash differs from the legacy head given' };
    }
    const checkpoint = checkpoints.get(row.sequence);
    if (checkpoint) {
      const problem = !isSigned(key, checkpoint)
        ? 'is not signed with this key: it was forged'
        : checkpoint.hash !== row.hash
          ? 'sealed a different head hash: the events up to it were rewritten'
          : undefined;
      if (problem) {
        return {
          ok: false,
          count,
          sequence: row.sequence,
          reason: `checkpoint at sequence ${row.sequence} ${problem}`,
        };
      }
      sealed = checkpoint;
    }
    head = { sequence: row.sequence, hash: row.hash };
    count += 1;
  }
  return { ok: true, count, head, ...(sealed ? { sealed } : {}) };
}

/**
 * Checks where the chain ends against the checkpoints beyond that end (and the legacy head): a signed checkpoint there
 * means sealed events were deleted; an unsigned one was forged. The break names the missing range.
 */
export function verifyChainEnd(
  head: ChainHead,
  count: number,
  key: Uint8Array,
  beyond: readonly Checkpoint[],
  legacy?: ChainHead,
): ChainBreak | undefined {
  const first = head.sequence + 1;
  const forged = beyond.find((c) => !isSigned(key, c));
  if (forged) {
    return {
      ok: false,
      count,
      sequence: forged.sequence,
      reason: `checkpoint at sequence ${forged.sequence} (beyond the chain's end at ${head.sequence}) is not signed with this key: it was forged`,
    };
  }
  const newest = beyond.reduce<Checkpoint | undefined>((a, c) => (a && a.sequence > c.sequence ? a : c), undefined);
  if (newest) {
    const when = new Date(newest.createdMs).toISOString();
    return {
      ok: false,
      count,
      sequence: first,
      reason: `events ${first}..${newest.sequence} are missing: the chain ends at ${head.sequence} but a checkpoint of ${when} sealed it up to ${newest.sequence} (the newest events were deleted)`,
    };
  }
  if (legacy && head.sequence < legacy.sequence) {
    return {
      ok: false,
      count,
      sequence: first,
      reason: `events ${first}..${legacy.sequence} are missing: the chain ends before the legacy head given`,
    };
  }
  return undefined;
}

export { canonicalJson };
