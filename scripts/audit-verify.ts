import 'reflect-metadata';
import { pathToFileURL } from 'node:url';
import { DataSource } from 'typeorm';
import { type ChainHead, type ChainVerdict, GENESIS_HASH, verifyChain } from '../src/audit/audit-chain.js';
import { AuditEventEntity } from '../src/audit/audit-event.entity.js';
import { loadConfigFromProcess } from '../src/config/app-config.js';
import { dataSourceOptions } from '../src/database/data-source-options.js';

const PAGE_SIZE = 1000;

/** Walks the whole audit chain in sequence order, a page at a time; the first break, or the count and head. */
export async function verifyAuditChain(dataSource: DataSource): Promise<ChainVerdict> {
  const repository = dataSource.getRepository(AuditEventEntity);
  let head: ChainHead = { sequence: 0, hash: GENESIS_HASH };
  let count = 0;
  for (;;) {
    const page = await repository
      .createQueryBuilder('e')
      .where('e.sequence > :after', { after: head.sequence })
      .orderBy('e.sequence', 'ASC')
      .limit(PAGE_SIZE)
      .getMany();
    const verdict = verifyChain(page, head);
    count += verdict.count;
    if (!verdict.ok) {
      return { ...verdict, count };
    }
    if (page.length < PAGE_SIZE) {
      return { ok: true, count, head: verdict.head };
    }
    head = verdict.head;
  }
}

async function main(): Promise<number> {
  const config = loadConfigFromProcess();
  // read-only walk: never run migrations from a verification tool
  const dataSource = new DataSource({ ...dataSourceOptions(config), migrationsRun: false });
  await dataSource.initialize();
  try {
    const verdict = await verifyAuditChain(dataSource);
    if (verdict.ok) {
      process.stdout.write(
        `ok: ${verdict.count} events, head sequence ${verdict.head.sequence} hash ${verdict.head.hash}\n`,
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
