import { Clock } from '../common/clock.js';
import type { AppConfig } from '../config/app-config.js';
import type { DeliveryTaskEntity } from './delivery-task.entity.js';
import type { DeliveryTaskRepository } from './delivery-task.repository.js';
import type { DocumentReferenceRepository } from './document-reference.repository.js';
import { DeliveryTaskService } from './delivery-task.service.js';
import type { DocumentWriter } from './document-writer.js';
import type { TaskStepPlan } from './write-plan.js';

const DAY = 86_400_000;

class FakeClock extends Clock {
  constructor(public at: number) {
    super();
  }
  now(): number {
    return this.at;
  }
}

const aTask = (id: string, authoredOnMs: number, businessStatus = 'stored'): DeliveryTaskEntity => ({
  id,
  versionId: 1,
  documentReferenceId: `doc-${id}`,
  ownerOds: 'Y12345',
  requesterOds: 'RTG',
  patientNhsNumber: null,
  businessStatus,
  authoredOnMs,
  lastModifiedMs: authoredOnMs,
  journey: JSON.stringify({ steps: [{ step: businessStatus, at: authoredOnMs }] }),
});

describe('the retrieval deadline', () => {
  const stored = [aTask('a', 0), aTask('b', 2 * DAY, 'notified'), aTask('c', 5 * DAY)];
  let clock: FakeClock;
  let steps: TaskStepPlan[];
  let service: DeliveryTaskService;

  beforeEach(() => {
    clock = new FakeClock(0);
    steps = [];
    const repository = {
      // as the indexed query: awaiting retrieval and stored before the deadline, minus what already moved
      findAwaitingSince: (statuses: readonly string[], before: number, limit: number) =>
        Promise.resolve(
          stored
            .filter((t) => statuses.includes(t.businessStatus) && t.authoredOnMs < before)
            .filter((t) => !steps.some((s) => s.documentReferenceId === t.documentReferenceId))
            .slice(0, limit),
        ),
    } as unknown as DeliveryTaskRepository;
    const writer = {
      advanceTask: (plan: TaskStepPlan) => {
        steps.push(plan);
        return Promise.resolve();
      },
    } as unknown as DocumentWriter;
    const config = { baseUrl: 'https://r.example', notifications: { overdueAfterMs: 3 * DAY } } as AppConfig;
    service = new DeliveryTaskService(repository, writer, config, clock, {} as DocumentReferenceRepository);
  });

  it('makes overdue, through the writer and at the time of the clock, what nobody retrieved within the deadline', async () => {
    clock.at = 3 * DAY - 1;
    expect(await service.markOverdue()).toBe(0);
    clock.at = 5 * DAY + 1;
    expect(await service.markOverdue()).toBe(2);
    expect(steps).toEqual([
      { kind: 'task-step', documentReferenceId: 'doc-a', ownerOds: 'Y12345', step: 'overdue', at: 5 * DAY + 1 },
      { kind: 'task-step', documentReferenceId: 'doc-b', ownerOds: 'Y12345', step: 'overdue', at: 5 * DAY + 1 },
    ]);
    // once only
    expect(await service.markOverdue()).toBe(0);
  });

  it('works through more than one batch', async () => {
    clock.at = 30 * DAY;
    expect(await service.markOverdue(1)).toBe(3);
    expect(steps.map((s) => s.documentReferenceId)).toEqual(['doc-a', 'doc-b', 'doc-c']);
  });
});
