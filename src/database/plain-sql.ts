import type { EntityManager, EntityMetadata, EntityTarget, ObjectLiteral } from 'typeorm';

/**
 * Plain SQL for an entity's hot statements, behind the repositories. TypeORM's query builder costs tens of
 * microseconds per call, and it writes numbers into the SQL text as literals, so no two inserts share a text and
 * SQLite's statement cache never hits (every insert was prepared again). These statements keep one text per shape,
 * take every value as a parameter and map columns through the entity's metadata and transformers. TypeORM still owns
 * the schema, the entities and the migrations.
 */
interface Column {
  name: string;
  property: string;
  to(value: unknown): unknown;
  from(value: unknown): unknown;
}

interface Shape {
  table: string;
  columns: Column[];
  /** Without generated columns (the database numbers them). */
  insertable: Column[];
  selectList: string;
}

const shapes = new WeakMap<EntityMetadata, Shape>();

function shapeOf(metadata: EntityMetadata): Shape {
  let shape = shapes.get(metadata);
  if (!shape) {
    const columns = metadata.columns.map((column) => {
      const transformer = Array.isArray(column.transformer) ? undefined : column.transformer;
      return {
        name: column.databaseName,
        property: column.propertyName,
        generated: column.isGenerated,
        to: (value: unknown) => (transformer ? (transformer.to(value) as unknown) : value),
        from: (value: unknown) => (transformer ? (transformer.from(value) as unknown) : value),
      };
    });
    shape = {
      table: metadata.tableName,
      columns,
      insertable: columns.filter((c) => !c.generated),
      // qualified by the table's own name, which an alias in FROM hides: so unqualified (one table per FROM)
      selectList: columns.map((c) => `"${c.name}"`).join(', '),
    };
    shapes.set(metadata, shape);
  }
  return shape;
}

const isPostgres = (manager: EntityManager): boolean => manager.connection.options.type === 'postgres';

/** `?` placeholders as the dialect wants them (PostgreSQL numbers them). */
export function placeholders(manager: EntityManager, sql: string): string {
  if (!isPostgres(manager)) {
    return sql;
  }
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/**
 * Inserts rows of `entity`. SQLite: one cached statement run per row (microseconds each, no round trips);
 * PostgreSQL: one multi-row statement (a round trip per row would cost more than the text).
 */
export async function insertRows<T extends ObjectLiteral>(
  manager: EntityManager,
  entity: EntityTarget<T>,
  rows: readonly T[],
): Promise<void> {
  if (rows.length === 0) {
    return;
  }
  const { table, insertable: columns } = shapeOf(manager.connection.getMetadata(entity));
  const names = columns.map((c) => `"${c.name}"`).join(', ');
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  const valuesOf = (row: T) => columns.map((c) => c.to((row as Record<string, unknown>)[c.property]) ?? null);
  if (isPostgres(manager)) {
    const sql = `INSERT INTO "${table}" (${names}) VALUES ${rows.map(() => tuple).join(', ')}`;
    await manager.query(placeholders(manager, sql), rows.flatMap(valuesOf));
    return;
  }
  const sql = `INSERT INTO "${table}" (${names}) VALUES ${tuple}`;
  for (const row of rows) {
    await manager.query(sql, valuesOf(row));
  }
}

/**
 * Rows of `entity` matching `where` (SQL with `?` placeholders; ORDER BY and LIMIT may follow), mapped to the
 * entity's properties. `alias` names the table for the clauses.
 */
export async function selectRows<T extends ObjectLiteral>(
  manager: EntityManager,
  entity: EntityTarget<T>,
  where: string,
  parameters: unknown[],
  alias?: string,
): Promise<T[]> {
  const { table, columns, selectList } = shapeOf(manager.connection.getMetadata(entity));
  const from = alias ? `"${table}" ${alias}` : `"${table}"`;
  const raw = await manager.query<Record<string, unknown>[]>(
    placeholders(manager, `SELECT ${selectList} FROM ${from} WHERE ${where}`),
    parameters,
  );
  return raw.map((record) => {
    const row: Record<string, unknown> = {};
    for (const column of columns) {
      row[column.property] = column.from(record[column.name]);
    }
    return row as T;
  });
}

/** Counts rows of a query (`from` and `where` with `?` placeholders). */
export async function countRows(
  manager: EntityManager,
  from: string,
  where: string,
  parameters: unknown[],
): Promise<number> {
  const [row] = await manager.query<{ n: string | number }[]>(
    placeholders(manager, `SELECT COUNT(*) AS n FROM ${from} WHERE ${where}`),
    parameters,
  );
  return Number(row?.n ?? 0);
}

/**
 * Named parameters (`:name`, and `:...name` for a list) as `?` placeholders with their values in order, for SQL
 * built from fragments. The SQL must hold no other colon followed by a letter (no literals with one, no `::` casts).
 */
export function positional(sql: string, named: Record<string, unknown>): { sql: string; parameters: unknown[] } {
  const parameters: unknown[] = [];
  const text = sql.replace(/:(\.\.\.)?([A-Za-z_][A-Za-z0-9_]*)/g, (_, spread: string | undefined, name: string) => {
    if (!(name in named)) {
      throw new Error(`SQL parameter :${name} has no value`);
    }
    const value = named[name];
    if (spread) {
      const list = value as unknown[];
      parameters.push(...list);
      return list.map(() => '?').join(', ');
    }
    parameters.push(value);
    return '?';
  });
  return { sql: text, parameters };
}
