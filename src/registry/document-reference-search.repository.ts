import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { countRows, placeholders, positional, selectRows } from '../database/plain-sql.js';
import { AppConfig } from '../config/app-config.js';
import { DocumentReferenceEntity } from './document-reference.entity.js';
import {
  type DateCondition,
  normalizeText,
  parseCriteria,
  PERIOD_OPEN_START,
  type SearchClause,
  type SearchPlan,
  sortName,
} from './document-reference-search.js';
import type { SearchCursor } from './search-cursor.js';

/** One page of a search, with the cursors of the neighbouring pages when there are any. */
export interface SearchPage {
  rows: DocumentReferenceEntity[];
  /** Absent when the plan asked for `_total=none`. */
  total?: number;
  next?: SearchCursor;
  previous?: SearchCursor;
}

type Params = Record<string, unknown>;

/** The SQL of one date condition against a resource range [low, high] (both inclusive; equal for an instant). */
function dateSql(condition: DateCondition, low: string, high: string, name: string, params: Params): string {
  params[`${name}_l`] = condition.low;
  params[`${name}_h`] = condition.high;
  const sl = `:${name}_l`;
  const sh = `:${name}_h`;
  switch (condition.prefix) {
    case 'eq':
      return `(${low} >= ${sl} AND ${high} < ${sh})`;
    case 'ne':
      return `(${low} < ${sl} OR ${high} >= ${sh})`;
    case 'gt':
    case 'sa':
      return condition.prefix === 'gt' ? `${high} >= ${sh}` : `${low} >= ${sh}`;
    case 'lt':
    case 'eb':
      return condition.prefix === 'lt' ? `${low} < ${sl}` : `${high} < ${sl}`;
    case 'ge':
      return `${high} >= ${sl}`;
    case 'le':
      return `${low} < ${sh}`;
    case 'ap':
      return `(${low} < ${sh} AND ${high} >= ${sl})`;
  }
}

const escapeLike = (value: string): string => value.replace(/[\\%_]/g, (c) => `\\${c}`);

/** The WHERE fragment of one clause, its parameters named after `name` so that clauses never collide. */
function clauseSql(clause: SearchClause, name: string): [string, Params] {
  const params: Params = {};
  const token = (param: string, conditions: string[], not = false): string => {
    params[`${name}_param`] = param;
    const t = `${name}_t`;
    const exists =
      `EXISTS (SELECT 1 FROM document_reference_token ${t} WHERE ${t}.document_reference_id = d.id ` +
      `AND ${t}.param = :${name}_param AND (${conditions.join(' OR ')}))`;
    return not ? `NOT ${exists}` : exists;
  };
  const t = `${name}_t`;
  switch (clause.kind) {
    case 'none':
      return ['1 = 0', params];
    case 'id':
      params[name] = clause.ids;
      return [`d.id IN (:...${name})`, params];
    case 'status':
      if (clause.codes.length === 0) {
        return ['1 = 1', params];
      }
      params[name] = clause.codes;
      return [`d.status ${clause.not ? 'NOT IN' : 'IN'} (:...${name})`, params];
    case 'nhs-number':
      params[name] = clause.values;
      return [`d.patient_nhs_number IN (:...${name})`, params];
    case 'token': {
      const conditions = clause.values.map((value, i) => {
        const parts: string[] = [];
        if (value.system === null) {
          parts.push(`${t}.system IS NULL`);
        } else if (value.system !== undefined) {
          params[`${name}_s${i}`] = value.system;
          parts.push(`${t}.system = :${name}_s${i}`);
        }
        if (value.code !== undefined) {
          params[`${name}_c${i}`] = value.code;
          parts.push(`${t}.code = :${name}_c${i}`);
        }
        return `(${parts.join(' AND ')})`;
      });
      return [token(clause.param, conditions, clause.not), params];
    }
    case 'string': {
      const conditions = clause.values.map((value, i) => {
        const key = `${name}_v${i}`;
        if (clause.match === 'exact') {
          params[key] = value;
          return `${t}.code = :${key}`;
        }
        const folded = escapeLike(normalizeText(value));
        params[key] = clause.match === 'contains' ? `%${folded}%` : `${folded}%`;
        return `${t}.normalized LIKE :${key} ESCAPE '\\'`;
      });
      return [token(clause.param, conditions), params];
    }
    case 'date': {
      if (clause.target === 'period' || clause.target === 'creation') {
        // ranges kept as search tokens: context.period, content.attachment.creation
        const conditions = clause.values.map((c, i) =>
          dateSql(c, `${t}.low_ms`, `${t}.high_ms`, `${name}_${i}`, params),
        );
        return [token(clause.target, conditions), params];
      }
      const column = clause.target === 'date' ? 'd.date_ms' : 'd.last_updated_ms';
      const conditions = clause.values.map((c, i) => dateSql(c, column, column, `${name}_${i}`, params));
      return [`(${conditions.join(' OR ')})`, params];
    }
  }
}

/**
 * FHIR search over the DocumentReference index: runs a plan from parseSearch with keyset paging, and evaluates
 * Subscription criteria against one document with the very same SQL.
 */
@Injectable()
export class DocumentReferenceSearchRepository {
  constructor(
    private readonly dataSource: DataSource,
    private readonly config: AppConfig,
  ) {}

  async search(plan: SearchPlan): Promise<SearchPage> {
    const manager = this.dataSource.manager;
    const filter = this.filtered(plan);
    const total =
      plan.total === 'none' && !plan.totalOnly
        ? undefined
        : await countRows(manager, 'document_reference d', filter.sql, filter.parameters);
    if (plan.totalOnly) {
      return { rows: [], total };
    }
    const backwards = plan.cursor?.direction === 'previous';
    const page = this.pageQuery(plan);
    const fetched = await selectRows(manager, DocumentReferenceEntity, page.where, page.parameters, 'd');
    const hasMore = fetched.length > plan.count;
    const rows = fetched.slice(0, plan.count);
    if (backwards) {
      rows.reverse();
    }
    const at = (row: DocumentReferenceEntity | undefined, direction: SearchCursor['direction']) =>
      row ? { sort: sortName(plan.sort), key: this.sortKey(plan, row), id: row.id, direction } : undefined;
    const first = rows[0];
    const last = rows[rows.length - 1];
    return {
      rows,
      total,
      next: backwards || hasMore ? at(last, 'next') : undefined,
      previous: (backwards ? hasMore : plan.cursor !== undefined) ? at(first, 'previous') : undefined,
    };
  }

  /**
   * Whether the DocumentReference `documentReferenceId` matches Subscription criteria (`DocumentReference?...`),
   * evaluated in SQL with the search code itself. Throws the 422 of parseCriteria when the criteria are invalid.
   */
  async matches(criteria: string, documentReferenceId: string): Promise<boolean> {
    const plan = parseCriteria(criteria, { baseUrl: this.config.baseUrl });
    const filter = this.filtered(plan, [['d.id = :matchId', { matchId: documentReferenceId }]]);
    return (await countRows(this.dataSource.manager, 'document_reference d', filter.sql, filter.parameters)) > 0;
  }

  /** One page (count + 1 rows, to know whether another follows): what follows `SELECT ... FROM document_reference d WHERE`. */
  private pageQuery(plan: SearchPlan): { where: string; parameters: unknown[] } {
    const cursor = plan.cursor;
    const descending = plan.sort.descending !== (cursor?.direction === 'previous');
    const key = this.sortExpression(plan);
    const extra: [string, Params][] = [];
    if (cursor) {
      const op = descending ? '<' : '>';
      extra.push([
        `(${key} ${op} :cursorKey OR (${key} = :cursorKey AND d.id ${op} :cursorId))`,
        { cursorKey: cursor.key, cursorId: cursor.id },
      ]);
    }
    const filter = this.filtered(plan, extra);
    const order = descending ? 'DESC' : 'ASC';
    const where = `${filter.sql} ORDER BY ${key} ${order}, d.id ${order} LIMIT ${Number(plan.count) + 1}`;
    return { where, parameters: filter.parameters };
  }

  /** The page query as the database runs it, so tests can EXPLAIN it. */
  pageSql(plan: SearchPlan): { sql: string; parameters: unknown[] } {
    const { where, parameters } = this.pageQuery(plan);
    return {
      sql: placeholders(this.dataSource.manager, `SELECT d.* FROM document_reference d WHERE ${where}`),
      parameters,
    };
  }

  /** The plan's clauses (and `extra` ones) as one WHERE condition with `?` placeholders. */
  private filtered(plan: SearchPlan, extra: [string, Params][] = []): { sql: string; parameters: unknown[] } {
    const parts: string[] = [];
    const named: Params = {};
    plan.clauses.forEach((clause, i) => {
      const [sql, params] = clauseSql(clause, `c${i}`);
      parts.push(`(${sql})`);
      Object.assign(named, params);
    });
    for (const [sql, params] of extra) {
      parts.push(`(${sql})`);
      Object.assign(named, params);
    }
    return positional(parts.length > 0 ? parts.join(' AND ') : '1 = 1', named);
  }

  // Documents without a date sort as the oldest, so keyset comparisons never meet NULL.
  private sortExpression(plan: SearchPlan): string {
    return plan.sort.key === 'date' ? `COALESCE(d.date_ms, ${PERIOD_OPEN_START})` : 'd.last_updated_ms';
  }

  private sortKey(plan: SearchPlan, row: DocumentReferenceEntity): number {
    return plan.sort.key === 'date' ? (row.dateMs ?? PERIOD_OPEN_START) : row.lastUpdatedMs;
  }
}
