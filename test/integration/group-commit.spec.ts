import type { DataSource, EntityManager } from 'typeorm';
import { GroupCommitter } from '../../src/database/group-commit.js';
import { openTestDatabase, type Dialect } from '../utils/database.js';

/** Units that each insert one row; `fail` makes a unit throw after its insert, `duplicate` collide on the key. */
describe.each<Dialect>(['sqlite', 'postgres'])('group commit on %s', (dialect) => {
  let dataSource: DataSource;
  let committer: GroupCommitter;
  let cleanup: () => Promise<void>;

  const ids = async (): Promise<number[]> =>
    (await dataSource.query<{ id: number | string }[]>('SELECT id FROM gc_row ORDER BY id')).map((r) => Number(r.id));
  const insert = (manager: EntityManager, id: number, parent: number | null = null) =>
    manager.query(
      dialect === 'postgres'
        ? 'INSERT INTO gc_row (id, parent) VALUES ($1, $2)'
        : 'INSERT INTO gc_row (id, parent) VALUES (?, ?)',
      [id, parent],
    );

  beforeEach(async () => {
    const opened = await openTestDatabase(dialect, 'FULL');
    dataSource = opened.dataSource;
    cleanup = opened.close;
    committer = new GroupCommitter(dataSource);
    await dataSource.query('CREATE TABLE gc_parent (id integer PRIMARY KEY)');
    // checked only at COMMIT: a violation fails the whole batch's commit, not the unit's savepoint
    await dataSource.query(
      'CREATE TABLE gc_row (id integer PRIMARY KEY, parent integer REFERENCES gc_parent (id) DEFERRABLE INITIALLY DEFERRED)',
    );
  });
  afterEach(async () => {
    await cleanup();
  });

  it('commits concurrent units together, and a failing unit rolls back alone', async () => {
    const outcomes = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) =>
        committer.run(async (manager) => {
          await insert(manager, i);
          if (i % 10 === 7) {
            throw new Error(`unit ${i} refuses`);
          }
          return i;
        }),
      ),
    );
    const refused = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [i] : []));
    expect(refused).toEqual([7, 17, 27, 37]);
    expect((outcomes[17] as PromiseRejectedResult).reason).toEqual(new Error('unit 17 refuses'));
    expect(await ids()).toEqual(Array.from({ length: 40 }, (_, i) => i).filter((i) => !refused.includes(i)));
    expect(committer.unitsCommitted).toBe(36);
    // every unit was queued in one turn of the event loop: one transaction holds them all (128 at most)
    expect(committer.batchesCommitted).toBe(1);
  });

  it('isolates a unit that breaks a unique index, so the database error does not abort its neighbours', async () => {
    await committer.run((manager) => insert(manager, 1));
    const outcomes = await Promise.allSettled([
      committer.run((manager) => insert(manager, 2)),
      committer.run((manager) => insert(manager, 1)),
      committer.run((manager) => insert(manager, 3)),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await ids()).toEqual([1, 2, 3]);
  });

  it('runs every unit again alone when the batch fails at COMMIT, so each gets its own answer', async () => {
    const runs = new Map<number, number>();
    const outcomes = await Promise.allSettled(
      [10, 11, 12, 13].map((id) =>
        committer.run(async (manager) => {
          runs.set(id, (runs.get(id) ?? 0) + 1);
          // 12 points at a parent that does not exist: fine until the deferred check at COMMIT
          await insert(manager, id, id === 12 ? 999 : null);
          return id;
        }),
      ),
    );
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(await ids()).toEqual([10, 11, 13]);
    expect([...runs.values()]).toEqual([2, 2, 2, 2]);
  });

  it('forms the next batch from units that arrive while one commits, without waiting when idle', async () => {
    const first = committer.run((manager) => insert(manager, 100));
    // queued after the first batch has started: they wait for its commit, then go together
    await new Promise((resolve) => setImmediate(resolve));
    const later = Array.from({ length: 10 }, (_, i) => committer.run((manager) => insert(manager, 101 + i)));
    await Promise.all([first, ...later]);
    expect(committer.batchesCommitted).toBe(2);
    expect(await ids()).toHaveLength(11);
  });

  it('lets work started inside a unit join that unit instead of waiting for a batch that cannot start', async () => {
    const result = await committer.run(async (manager) => {
      await insert(manager, 200);
      return committer.run(async (same) => {
        expect(same).toBe(manager);
        await insert(same, 201);
        return 'joined';
      });
    });
    expect(result).toBe('joined');
    expect(await ids()).toEqual([200, 201]);
    expect(committer.batchesCommitted).toBe(1);
  });
});
