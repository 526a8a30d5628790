import { FhirError } from '../common/fhir-error.js';
import { parseTaskSearch } from './delivery-task-search.js';
import {
  atVersion,
  checkAnswerAllowed,
  movesForward,
  recipientAnswer,
  taskResource,
  withStep,
} from './delivery-task.js';
import type { DeliveryTaskEntity } from './delivery-task.entity.js';

const ITK = 'https://fhir.nhs.uk/STU3/CodeSystem/ITK-ResponseCodes-1';
const row: DeliveryTaskEntity = {
  id: 't1',
  versionId: 1,
  documentReferenceId: 'd1',
  ownerOds: 'Y12345',
  requesterOds: 'RTG',
  patientNhsNumber: '9434765919',
  businessStatus: 'stored',
  authoredOnMs: 1000,
  lastModifiedMs: 1000,
  journey: JSON.stringify({ steps: [{ step: 'stored', at: 1000 }] }),
};
const current = taskResource(row, 'https://r.example/fhir');

describe('delivery Task steps', () => {
  it('only ever move forward, may skip notified or retrieved, and end at accepted, rejected or closed', () => {
    expect(movesForward('stored', 'notified')).toBe(true);
    expect(movesForward('stored', 'retrieved')).toBe(true);
    expect(movesForward('retrieved', 'notified')).toBe(false);
    expect(movesForward('notified', 'notified')).toBe(false);
    expect(movesForward('notified', 'rejected')).toBe(true);
    expect(movesForward('accepted', 'closed')).toBe(false);
    expect(movesForward('closed', 'accepted')).toBe(false);
  });

  it('become overdue once, from stored or notified, and a late read, answer or recall still moves them on', () => {
    expect(movesForward('stored', 'overdue')).toBe(true);
    expect(movesForward('notified', 'overdue')).toBe(true);
    expect(movesForward('overdue', 'overdue')).toBe(false);
    expect(movesForward('retrieved', 'overdue')).toBe(false);
    expect(movesForward('accepted', 'overdue')).toBe(false);
    expect(movesForward('overdue', 'retrieved')).toBe(true);
    expect(movesForward('overdue', 'rejected')).toBe(true);
    expect(movesForward('overdue', 'closed')).toBe(true);
    // an overdue Task is still waiting for its recipient: it stays in the inbox (status requested)
    const overdue = taskResource(withStep(withStep(row, 'notified', 2000), 'overdue', 3000), 'https://r.example/fhir');
    expect(overdue).toMatchObject({ status: 'requested', businessStatus: { coding: [{ code: 'overdue' }] } });
  });

  it('rebuild an earlier version of a Task from its journey, without the reason of a later answer', () => {
    const rejected = withStep(withStep(withStep(row, 'notified', 2000), 'overdue', 3000), 'rejected', 4000, {
      code: '30002',
    });
    const atOverdue = atVersion(rejected, 3);
    expect(atOverdue).toMatchObject({ versionId: 3, businessStatus: 'overdue', lastModifiedMs: 3000 });
    expect(taskResource(atOverdue, 'https://r.example/fhir').statusReason).toBeUndefined();
    expect(atVersion(rejected, 4)).toBe(rejected);
    expect(atVersion(rejected, 9)).toBe(rejected);
    expect(atVersion(rejected, 1).businessStatus).toBe('stored');
  });

  it('keep each step in the journey and render it as Task.output, with the FHIR status that goes with it', () => {
    const retrieved = withStep(withStep(row, 'notified', 2000), 'retrieved', 3000);
    const task = taskResource(retrieved, 'https://r.example/fhir');
    expect(task).toMatchObject({
      status: 'in-progress',
      meta: { versionId: '3' },
      lastModified: '1970-01-01T00:00:03.000Z',
    });
    expect((task.output as { type: { text: string } }[]).map((o) => o.type.text)).toEqual([
      'stored',
      'notified',
      'retrieved',
    ]);
  });
});

describe('recipientAnswer', () => {
  const change = (status: string, statusReason?: unknown) => ({
    ...current,
    status,
    ...(statusReason ? { statusReason } : {}),
  });

  it('reads an acceptance or a rejection with its ITK3 business code or text', () => {
    expect(recipientAnswer(current, change('completed', { coding: [{ system: ITK, code: '30001' }] }))).toEqual({
      outcome: 'accepted',
      reason: { code: '30001' },
    });
    expect(
      recipientAnswer(current, change('rejected', { coding: [{ system: ITK, code: '30003' }], text: ' moved ' })),
    ).toEqual({
      outcome: 'rejected',
      reason: { code: '30003', text: 'moved' },
    });
    expect(recipientAnswer(current, change('completed'))).toEqual({ outcome: 'accepted' });
  });

  it.each([
    ['a status other than completed or rejected', change('in-progress')],
    ['a rejection without a reason', change('rejected')],
    ['a code that is not a business acknowledgement', change('rejected', { coding: [{ system: ITK, code: '20013' }] })],
    ['a code that contradicts the status', change('completed', { coding: [{ system: ITK, code: '30002' }] })],
    ['a change to anything else', { ...change('completed'), owner: { identifier: { value: 'Y99999' } } }],
  ])('refuses %s with 422', (_name, proposed) => {
    expect(() => recipientAnswer(current, proposed)).toThrow(expect.objectContaining({ status: 422 }));
  });

  it('lets only the recipient answer, once', () => {
    expect(() => checkAnswerAllowed(row, 'Y12345')).not.toThrow();
    expect(() => checkAnswerAllowed(row, 'RTG')).toThrow(expect.objectContaining({ status: 403 }));
    expect(() => checkAnswerAllowed(row, 'Y99999')).toThrow(expect.objectContaining({ status: 404 }));
    expect(() => checkAnswerAllowed(withStep(row, 'accepted', 2), 'Y12345')).toThrow(
      expect.objectContaining({ status: 409 }),
    );
  });
});

describe('parseTaskSearch', () => {
  it('reads an inbox query: owner, FHIR status mapped to delivery steps, patient', () => {
    const search = parseTaskSearch(
      [
        ['owner', 'https://fhir.nhs.uk/Id/ods-organization-code|y12345'],
        ['status', 'requested,received'],
        ['patient.identifier', 'https://fhir.nhs.uk/Id/nhs-number|9434765919'],
      ],
      'Y12345',
    );
    expect(search).toMatchObject({
      owners: ['Y12345'],
      // an overdue Task is still requested: the inbox keeps it
      businessStatuses: ['stored', 'notified', 'overdue'],
      patients: ['9434765919'],
    });
  });

  it('needs the caller as owner or requester, and refuses unknown parameters and bad values', () => {
    const refused = (params: [string, string][]) => {
      try {
        parseTaskSearch(params, 'Y12345');
      } catch (error) {
        return (error as FhirError).status;
      }
      return 200;
    };
    expect(refused([['status', 'requested']])).toBe(400);
    expect(refused([['owner', 'Y99999']])).toBe(400);
    expect(
      refused([
        ['owner', 'Y12345'],
        ['colour', 'red'],
      ]),
    ).toBe(400);
    expect(
      refused([
        ['owner', 'Y12345'],
        ['status', 'done'],
      ]),
    ).toBe(400);
    expect(
      refused([
        ['owner', 'Y12345'],
        ['business-status', 'lost'],
      ]),
    ).toBe(400);
    expect(
      refused([
        ['owner', 'Y12345'],
        ['_cursor', 'bogus!'],
      ]),
    ).toBe(400);
    expect(
      refused([
        ['requester', 'Y12345'],
        ['_lastUpdated', 'ge2026-01-01'],
      ]),
    ).toBe(200);
  });
});
