import type { DataSource, EntityManager } from 'typeorm';
import type { AppConfig } from '../../src/config/app-config.js';
import { NotificationOutboxEntity } from '../../src/notifications/notification-outbox.entity.js';
import { NotificationOutboxRepository } from '../../src/notifications/notification-outbox.repository.js';
import { SubscriptionRepository } from '../../src/notifications/subscription.repository.js';
import { type Dialect, openTestDatabase } from '../utils/database.js';

const ROUTED = 5000;
const WAITING = 7;

/** A long routed history and a short backlog: only an index makes the backlog cheap to read. */
async function fill(dataSource: DataSource): Promise<void> {
  const base = Date.parse('2025-01-01T00:00:00Z');
  for (let start = 0; start < ROUTED + WAITING; start += 500) {
    const rows: NotificationOutboxEntity[] = [];
    for (let i = start; i < Math.min(start + 500, ROUTED + WAITING); i++) {
      rows.push({
        id: `event-${String(i).padStart(6, '0')}`,
        kind: 'created',
        documentReferenceId: `doc-${i}`,
        versionId: '1',
        createdAt: base + i * 1000,
        taskId: null,
        routedAt: i < ROUTED ? base + i * 1000 + 50 : null,
      });
    }
    await dataSource.getRepository(NotificationOutboxEntity).insert(rows);
  }
}

/** The SQL a repository method sends, captured on its way to the database. */
function capturing(dataSource: DataSource): { statements: string[]; manager: EntityManager; source: DataSource } {
  const statements: string[] = [];
  const query = (sql: string, parameters?: unknown[]) => {
    statements.push(sql);
    return dataSource.query(sql, parameters);
  };
  return {
    statements,
    manager: { query } as unknown as EntityManager,
    source: { query } as unknown as DataSource,
  };
}

async function explain(dataSource: DataSource, dialect: Dialect, sql: string): Promise<string> {
  if (dialect === 'sqlite') {
    const rows = await dataSource.query<{ detail: string }[]>(`EXPLAIN QUERY PLAN ${sql}`);
    return rows.map((r) => r.detail).join('\n');
  }
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    // Small test tables make sequential scans look cheap; the question is whether an index can serve the query.
    await runner.query('SET enable_seqscan = off');
    const rows = (await runner.query(`EXPLAIN ${sql}`)) as { 'QUERY PLAN': string }[];
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  } finally {
    await runner.release();
  }
}

describe.each<Dialect>(['sqlite', 'postgres'])('the queries of a metrics scrape on %s', (dialect) => {
  let database: Awaited<ReturnType<typeof openTestDatabase>>;
  beforeAll(async () => {
    database = await openTestDatabase(dialect);
    await fill(database.dataSource);
    await database.dataSource.query('ANALYZE');
  });
  afterAll(async () => {
    await database?.close();
  });

  it('reads the outbox backlog through the (routed_at, created_at) index, not the whole table', async () => {
    const { statements, manager } = capturing(database.dataSource);
    const config = { database: { kind: dialect } } as AppConfig;
    const backlog = await new NotificationOutboxRepository(config).backlog(manager);
    expect(backlog).toEqual({ depth: WAITING, oldestCreatedAt: Date.parse('2025-01-01T00:00:00Z') + ROUTED * 1000 });
    expect(statements).toHaveLength(1);
    const plan = await explain(database.dataSource, dialect, statements[0]);
    if (dialect === 'sqlite') {
      expect(plan).toMatch(
        /SEARCH notification_outbox USING (COVERING )?INDEX ix_notification_outbox_pending \(routed_at=\?\)/,
      );
    } else {
      expect(plan).toMatch(/Index (Only )?Scan using ix_notification_outbox_pending on notification_outbox/);
      expect(plan).toMatch(/Index Cond: \(routed_at IS NULL\)/);
    }
    expect(plan).not.toMatch(/SCAN notification_outbox(?! USING)|Seq Scan/);
  });

  it('counts subscriptions by status through the status index', async () => {
    const { statements, source } = capturing(database.dataSource);
    expect(await new SubscriptionRepository(source).countByStatus()).toEqual({
      requested: 0,
      active: 0,
      error: 0,
      off: 0,
    });
    const plan = await explain(database.dataSource, dialect, statements[0]);
    expect(plan).toMatch(/ix_subscription_status/);
    expect(plan).not.toMatch(/Seq Scan/);
  });
});
