import { Injectable } from '@nestjs/common';
import { insertRows } from '../database/plain-sql.js';
import { Brackets, DataSource, type EntityManager, type SelectQueryBuilder } from 'typeorm';
import type { DateCondition } from './document-reference-search.js';
import type { SubmissionSetSearch } from './submission-set-search.js';
import { SubmissionSetEntity } from './submission-set.entity.js';

/** Storage of SubmissionSet Lists: insert once (inside the provide transaction), read, search. */
@Injectable()
export class SubmissionSetRepository {
  constructor(private readonly dataSource: DataSource) {}

  async insert(manager: EntityManager, row: SubmissionSetEntity): Promise<void> {
    await insertRows(manager, SubmissionSetEntity, [row]);
  }

  async findById(id: string): Promise<SubmissionSetEntity | null> {
    return this.dataSource.getRepository(SubmissionSetEntity).findOneBy({ id });
  }

  /** Matching Lists newest first (ties by id), with the total number of matches. */
  async search(search: SubmissionSetSearch): Promise<{ rows: SubmissionSetEntity[]; total: number }> {
    const query = this.dataSource.getRepository(SubmissionSetEntity).createQueryBuilder('l');
    let n = 0;
    const name = () => `p${n++}`;
    const anyOf = (column: string, values: string[]) => {
      if (values.length === 0) {
        query.andWhere('1 = 0');
        return;
      }
      const p = name();
      query.andWhere(`l.${column} IN (:...${p})`, { [p]: values });
    };
    search.ids.forEach((ids) => anyOf('id', ids));
    search.nhsNumbers.forEach((numbers) => anyOf('patient_nhs_number', numbers));
    search.statuses.forEach((statuses) => anyOf('status', statuses));
    for (const codes of search.codes) {
      query.andWhere(
        new Brackets((or) => {
          for (const code of codes) {
            const [s, c] = [name(), name()];
            const system =
              code.system === undefined ? '1 = 1' : code.system === null ? '1 = 0' : `l.code_system = :${s}`;
            const value = code.code === undefined ? '1 = 1' : `l.code = :${c}`;
            or.orWhere(`(${system} AND ${value})`, {
              ...(typeof code.system === 'string' ? { [s]: code.system } : {}),
              ...(code.code !== undefined ? { [c]: code.code } : {}),
            });
          }
        }),
      );
    }
    search.dates.forEach((condition) => dateClause(query, condition, name()));
    const [rows, total] = await query
      .orderBy('l.date_ms', 'DESC')
      .addOrderBy('l.id', 'ASC')
      .take(search.count)
      .getManyAndCount();
    return { rows, total };
  }
}

/** List.date is one instant: compared with the value's range [low, high) as R4 search.html#prefix describes. */
function dateClause(query: SelectQueryBuilder<SubmissionSetEntity>, condition: DateCondition, p: string): void {
  const params = { [`${p}l`]: condition.low, [`${p}h`]: condition.high };
  const low = `:${p}l`;
  const high = `:${p}h`;
  const sql: Record<DateCondition['prefix'], string> = {
    eq: `l.date_ms >= ${low} AND l.date_ms < ${high}`,
    ap: `l.date_ms >= ${low} AND l.date_ms < ${high}`,
    ne: `(l.date_ms < ${low} OR l.date_ms >= ${high})`,
    lt: `l.date_ms < ${low}`,
    eb: `l.date_ms < ${low}`,
    le: `l.date_ms < ${high}`,
    gt: `l.date_ms >= ${high}`,
    sa: `l.date_ms >= ${high}`,
    ge: `l.date_ms >= ${low}`,
  };
  query.andWhere(sql[condition.prefix], params);
}
