import 'reflect-metadata';
import { pathToFileURL } from 'node:url';
import { DataSource } from 'typeorm';
import {
  type ChainBreak,
  type ChainHead,
  type Checkpoint,
  GENESIS_HASH,
  verifyChain,
  verifyChainEnd,
} from '../src/audit/audit-chain.js';
import { loadAuditKey } from '../src/audit/audit-chain-key.js';
import { AuditCheckpointEntity } from '../src/audit/audit-checkpoint.entity.js';
import { AuditEventEntity } from '../src/audit/audit-event.entity.js';
import { loadConfigFromProcess } from '../src/config/app-config.js';
import { dataSourceOptions } from '../src/database/data-source-options.js';
import { ENTITIES } from '../src/entities.js';

const PAGE_SIZE = 1000;

export type AuditVerdict =
  { ok: true; count: number; head: ChainHead; sealed?: Checkpoint; unsealed: number } | ChainBreak;

export interface AuditVerifyOptions {
  /** The head of a chain written before it was keyed, as recorded by the old audit:verify before upgrading. */
  legacy?: ChainHead;
}

/**
 * Walks the whole audit chain in sequence order, a page at a time, checking every hash with the key and every
 * checkpoint against the chain; then that no signed checkpoint lies beyond the chain's end. The first break, or the
 * count, the head, the newest checkpoint and how many events follow it unsealed.
 */
export async function verifyAuditChain(
  dataSource: DataSource,
  key: Uint8Array,
  options: AuditVerifyOptions = {},
): Promise<AuditVerdict> {
  const events = dataSource.getRepository(AuditEventEntity);
  const checkpoints = dataSource.getRepository(AuditCheckpointEntity);
  let head: ChainHead = { sequence: 0, hash: GENESIS_HASH };
  let count = 0;
  let sealed: Checkpoint | undefined;
  for (;;) {
    const page = await events
      .createQueryBuilder('e')
      .where('e.sequence > :after', { after: head.sequence })
      .orderBy('e.sequence', 'ASC')
      .limit(PAGE_SIZE)
      .getMany();
    const pageCheckpoints =
      page.length === 0
        ? []
        : await checkpoints
            .createQueryBuilder('c')
            .where('c.sequence > :after AND c.sequence <= :last', { after: head.sequence, last: page.at(-1)!.sequence })
            .getMany();
    const verdict = verifyChain(page, key, { from: head, checkpoints: pageCheckpoints, legacy: options.legacy });
    count += verdict.count;
    if (!verdict.ok) {
      return { ...verdict, count };
    }
    sealed = verdict.sealed ?? sealed;
    head = verdict.head;
    if (page.length < PAGE_SIZE) {
      break;
    }
  }
  const beyond = await checkpoints
    .createQueryBuilder('c')
    .where('c.sequence > :end', { end: head.sequence })
    .orderBy('c.sequence', 'DESC')
    .limit(PAGE_SIZE)
    .getMany();
  const broken = verifyChainEnd(head, count, key, beyond, options.legacy);
  if (broken) {
    return broken;
  }
  return { ok: true, count, head, ...(sealed ? { sealed } : {}), unsealed: head.sequence - (sealed?.sequence ?? 0) };
}

function parseArguments(argv: readonly string[]): AuditVerifyOptions {
  const options: AuditVerifyOptions = {};
  for (const argument of argv) {
    const legacy = /^--legacy-head=(\d+):([0-9a-f]{64})$/.exec(argument);
    if (!legacy) {
      throw new Error(`unknown argument "${argument}" (usage: audit-verify [--legacy-head=SEQUENCE:HASH])`);
    }
    options.legacy = { sequence: Number(legacy[1]), hash: legacy[2] };
  }
  return options;
}

async function main(): Promise<number> {
  const options = parseArguments(process.argv.slice(2));
  const config = loadConfigFromProcess();
  // never invent a key here: a chain only verifies with the key that wrote it
  const key = await loadAuditKey(config.audit, { create: false });
  // read-only walk: never run migrations from a verification tool
  const dataSource = new DataSource({ ...dataSourceOptions(config), entities: ENTITIES, migrationsRun: false });
  await dataSource.initialize();
  try {
    if (await dataSource.showMigrations()) {
      throw new Error('the database has pending migrations: start the server once (or npm run migration:run) first');
    }
    const verdict = await verifyAuditChain(dataSource, key, options);
    if (verdict.ok) {
      const seal = verdict.sealed
        ? `sealed up to sequence ${verdict.sealed.sequence} (checkpoint of ${new Date(verdict.sealed.createdMs).toISOString()}), ${verdict.unsealed} events after it unsealed`
        : `not sealed by any checkpoint yet (${verdict.unsealed} events unsealed)`;
      process.stdout.write(
        `ok: ${verdict.count} events, head sequence ${verdict.head.sequence} hash ${verdict.head.hash}; ${seal}\n`,
      );
      return 0;
    }
    process.stderr.write(
      `broken at sequence ${verdict.sequence}: ${verdict.reason} (${verdict.count} events verified before it)\n`,
    );
    return 1;
  } finally {
    await dataSource.destroy();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 2;
    },
  );
}
