import { Injectable } from '@nestjs/common';
import { Brackets, DataSource, type SelectQueryBuilder } from 'typeorm';
import { AuditEventEntity } from './audit-event.entity.js';
import type { AuditSearch, AuditVisibility } from './audit-search.js';

const escapeLike = (value: string): string => value.replace(/[\\%_]/g, (c) => `\\${c}`);

/** `column` (space-separated tokens) holds `token` as a whole token. */
const holdsToken = (column: string, param: string): string => `(' ' || ${column} || ' ') LIKE :${param} ESCAPE '\\'`;
const tokenPattern = (token: string): string => `% ${escapeLike(token)} %`;

/** Reads the audit trail: searches and reads, always within what the caller may see. */
@Injectable()
export class AuditEventRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Events matching every filter of `search` that `visibility` allows, newest first. */
  async search(search: AuditSearch, visibility: AuditVisibility): Promise<AuditEventEntity[]> {
    if (search.count === 0) {
      return [];
    }
    const query = this.visible(visibility);
    if (search.patientNhsNumbers.length > 0) {
      query.andWhere(
        new Brackets((any) => {
          // patient_nhs_number alone covers events written before every patient was stored
          any.where('e.patientNhsNumber IN (:...patients)', { patients: search.patientNhsNumbers });
          search.patientNhsNumbers.forEach((nhsNumber, i) => {
            any.orWhere(holdsToken('e.patientNhsNumbers', `patient${i}`), { [`patient${i}`]: tokenPattern(nhsNumber) });
          });
        }),
      );
    }
    if (search.actions.length > 0) {
      query.andWhere('e.action IN (:...actions)', { actions: search.actions });
    }
    if (search.agents.length > 0) {
      query.andWhere(
        new Brackets((any) => {
          search.agents.forEach((agent, i) => {
            const param = { [`agent${i}`]: agent.value };
            if (agent.kind !== 'subject') {
              any.orWhere(`e.agentOrg = :agent${i}`, param);
            }
            if (agent.kind !== 'organization') {
              any.orWhere(`e.agentSubject = :agent${i}`, param).orWhere(`e.agentClient = :agent${i}`, param);
            }
          });
        }),
      );
    }
    if (search.entities.length > 0) {
      query.andWhere(
        new Brackets((any) => {
          search.entities.forEach((reference, i) => {
            any.orWhere(holdsToken('e.entity', `entity${i}`), { [`entity${i}`]: tokenPattern(reference) });
          });
        }),
      );
    }
    search.recorded.forEach((filter, i) => {
      const from = `from${i}`;
      const to = `to${i}`;
      if (filter.outside) {
        query.andWhere(`(e.recordedMs < :${from} OR e.recordedMs >= :${to})`, { [from]: filter.from, [to]: filter.to });
        return;
      }
      if (filter.from !== undefined) {
        query.andWhere(`e.recordedMs >= :${from}`, { [from]: filter.from });
      }
      if (filter.to !== undefined) {
        query.andWhere(`e.recordedMs < :${to}`, { [to]: filter.to });
      }
    });
    return query.orderBy('e.sequence', 'DESC').limit(search.count).getMany();
  }

  /** One event by id, or null when there is none or `visibility` does not allow it. */
  async findVisible(id: string, visibility: AuditVisibility): Promise<AuditEventEntity | null> {
    return this.visible(visibility).andWhere('e.id = :id', { id }).getOne();
  }

  private visible(visibility: AuditVisibility): SelectQueryBuilder<AuditEventEntity> {
    const query = this.dataSource.getRepository(AuditEventEntity).createQueryBuilder('e');
    if (visibility.kind === 'organization') {
      query.where(
        new Brackets((any) => {
          any
            .where('e.agentOrg = :visibleOrg', { visibleOrg: visibility.ods })
            .orWhere(holdsToken('e.custodianOrgs', 'visibleCustodian'), {
              visibleCustodian: tokenPattern(visibility.ods),
            });
        }),
      );
    }
    return query;
  }
}
