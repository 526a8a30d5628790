import { Injectable, Logger } from '@nestjs/common';
import { Clock } from '../common/clock.js';
import { notFound } from '../common/fhir-error.js';
import { AppConfig } from '../config/app-config.js';
import type { DeliveryTaskEntity } from './delivery-task.entity.js';
import { DeliveryTaskRepository } from './delivery-task.repository.js';
import { parseTaskSearch, TASK_SORT } from './delivery-task-search.js';
import { atVersion, AWAITING_RETRIEVAL, movesForward, taskResource } from './delivery-task.js';
import { DocumentWriter } from './document-writer.js';
import { DocumentReferenceRepository } from './document-reference.repository.js';
import { encodeCursor } from './search-cursor.js';
import type { TaskAnswerPlan } from './write-plan.js';

export interface TaskPage {
  resources: { id: string; resource: Record<string, unknown> }[];
  used: [string, string][];
  next?: string;
}

/**
 * Delivery tracking: one Task per (document, recipient organisation), written with the document by the writer, moved
 * on by what the server sees (a notification answered, a read) and by the recipient's answer.
 */
@Injectable()
export class DeliveryTaskService {
  private readonly logger = new Logger(DeliveryTaskService.name);

  constructor(
    private readonly tasks: DeliveryTaskRepository,
    private readonly writer: DocumentWriter,
    private readonly config: AppConfig,
    private readonly clock: Clock,
    private readonly documentReferences: DocumentReferenceRepository,
  ) {}

  private get fhirBase(): string {
    return `${this.config.baseUrl}/fhir`;
  }

  /** A Task, to its recipient or its sender only (to anyone else it does not exist). */
  async read(
    id: string,
    callerOds: string | undefined,
  ): Promise<{ row: DeliveryTaskEntity; resource: Record<string, unknown> }> {
    const row = await this.tasks.findById(id);
    if (!row || !callerOds || (row.ownerOds !== callerOds && row.requesterOds !== callerOds)) {
      throw notFound(`Task/${id} is not known to this server`);
    }
    return { row, resource: taskResource(row, this.fhirBase) };
  }

  /**
   * A document's Tasks as the Task API shows them to one organisation: every recipient's to the sender, its own to a
   * recipient, none to anyone else.
   */
  async ofDocument(documentReferenceId: string, callerOds: string | undefined): Promise<DeliveryTaskEntity[]> {
    if (!callerOds) {
      return [];
    }
    const rows = await this.tasks.listByDocument(documentReferenceId);
    return rows.filter((row) => row.requesterOds === callerOds || row.ownerOds === callerOds);
  }

  async search(params: [string, string][], callerOds: string | undefined): Promise<TaskPage> {
    const search = parseTaskSearch(params, callerOds);
    const rows = await this.tasks.search(search);
    const page = rows.slice(0, search.count);
    const last = page[page.length - 1];
    return {
      resources: page.map((row) => ({ id: row.id, resource: taskResource(row, this.fhirBase) })),
      used: search.used,
      ...(rows.length > search.count && last
        ? {
            next: encodeCursor({ sort: TASK_SORT, key: last.authoredOnMs, id: last.id, direction: 'next' }),
          }
        : {}),
    };
  }

  /** The Task as it was at one version (what a delivery-status event reported), or undefined when it is gone. */
  async resourceAt(
    id: string,
    versionId: number,
  ): Promise<{ row: DeliveryTaskEntity; resource: Record<string, unknown> } | undefined> {
    const row = await this.tasks.findById(id);
    if (!row) {
      return undefined;
    }
    const then = atVersion(row, versionId);
    return { row: then, resource: taskResource(then, this.fhirBase) };
  }

  /**
   * The retrieval deadline (DELIVERY_OVERDUE_AFTER): every Task whose document nobody retrieved in time becomes
   * overdue, through the writer (so the sender's delivery-status event is written with it). Returns how many moved;
   * `stopping` ends a long sweep between batches (the process is shutting down).
   */
  async markOverdue(batch = 100, stopping: () => boolean = () => false): Promise<number> {
    let moved = 0;
    while (!stopping()) {
      const deadline = this.clock.now() - this.config.notifications.overdueAfterMs;
      const due = await this.tasks.findAwaitingSince(AWAITING_RETRIEVAL, deadline, batch);
      for (const row of due) {
        await this.writer.advanceTask({
          kind: 'task-step',
          documentReferenceId: row.documentReferenceId,
          ownerOds: row.ownerOds,
          step: 'overdue',
          at: this.clock.now(),
        });
      }
      moved += due.length;
      if (due.length < batch) {
        break;
      }
    }
    return moved;
  }

  answer(plan: Omit<TaskAnswerPlan, 'kind'>): Promise<DeliveryTaskEntity> {
    return this.writer.answerTask({ kind: 'task-answer', ...plan });
  }

  /**
   * A step the server saw for one recipient. Looked up first without a transaction, so a read of a document already
   * marked retrieved (the usual case) costs one indexed select; never fails the request it comes from.
   */
  async saw(documentReferenceId: string, ownerOds: string | undefined, step: 'notified' | 'retrieved'): Promise<void> {
    if (!ownerOds) {
      return;
    }
    try {
      const row = await this.tasks.findFor(documentReferenceId, ownerOds);
      if (row && movesForward(row.businessStatus, step)) {
        await this.writer.advanceTask({ kind: 'task-step', documentReferenceId, ownerOds, step, at: this.clock.now() });
      }
    } catch (error) {
      this.logger.warn(
        `Task of DocumentReference/${documentReferenceId} for ${ownerOds} not moved to ${step}: ${(error as Error).message}`,
      );
    }
  }

  /**
   * A read of a Binary held here: the caller's Tasks of the DocumentReferences whose content it is move to retrieved,
   * as a read of a document Bundle does. Never fails the read it comes from.
   */
  async sawBinary(binaryId: string, binaryOwnerOds: string | null, callerOds: string | undefined): Promise<void> {
    // the sender reading its own Binary is no delivery
    if (!callerOds || callerOds === binaryOwnerOds) {
      return;
    }
    try {
      const pointers = await this.documentReferences.findIdsByLocation(`${this.fhirBase}/Binary/${binaryId}`);
      for (const documentReferenceId of pointers) {
        await this.saw(documentReferenceId, callerOds, 'retrieved');
      }
    } catch (error) {
      this.logger.warn(`Binary/${binaryId} read by ${callerOds} not tracked: ${(error as Error).message}`);
    }
  }
}
