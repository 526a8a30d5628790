import { conflict, FhirError, forbidden, invalid, notFound } from '../common/fhir-error.js';
import type { DeliveryTaskEntity } from './delivery-task.entity.js';
import { NHS_NUMBER_SYSTEM, ODS_ORGANIZATION_SYSTEM } from './nhs-number.js';

/**
 * A document's journey to one recipient. The order is the only way it moves: a step never goes back, and `accepted`,
 * `rejected` and `closed` end it. `closed` is the sender's recall (the document was superseded or withdrawn).
 * `overdue` is a step, not a flag: nobody retrieved the document by the deadline (DELIVERY_OVERDUE_AFTER). It sits
 * just before `retrieved`, so a late read, an answer or a recall still moves the Task on, and it is set once.
 */
export const BUSINESS_STATUSES = [
  'stored',
  'notified',
  'overdue',
  'retrieved',
  'accepted',
  'rejected',
  'closed',
] as const;
export type BusinessStatus = (typeof BUSINESS_STATUSES)[number];

/** Task.status for each business status (FHIR R4 task-status). */
export const TASK_STATUS: Readonly<Record<BusinessStatus, string>> = {
  stored: 'requested',
  notified: 'received',
  // still waiting for the recipient to act, so the inbox search (status=requested,received) keeps listing it
  overdue: 'requested',
  retrieved: 'in-progress',
  accepted: 'completed',
  rejected: 'rejected',
  closed: 'cancelled',
};

export const BUSINESS_STATUS_SYSTEM = 'urn:fhir-document-registry:delivery-status';
/** ITK3 response codes (business acknowledgements 3000x). */
export const ITK_RESPONSE_SYSTEM = 'https://fhir.nhs.uk/STU3/CodeSystem/ITK-ResponseCodes-1';
export const ITK_BUSINESS_CODES: Readonly<Record<string, { display: string; outcome: 'accepted' | 'rejected' }>> = {
  '30001': { display: 'Patient known here and record updated', outcome: 'accepted' },
  '30002': { display: 'Patient not known here', outcome: 'rejected' },
  '30003': { display: 'Patient no longer at this care setting', outcome: 'rejected' },
};

export interface JourneyStep {
  step: BusinessStatus;
  at: number;
}
export interface Journey {
  steps: JourneyStep[];
  reason?: { code?: string; text?: string };
}

const ENDED: readonly BusinessStatus[] = ['accepted', 'rejected', 'closed'];

export const isEnded = (status: string): boolean => ENDED.includes(status as BusinessStatus);

/** Whether `to` is a step forward from `from` (notified and retrieved may be skipped, nothing may be repeated). */
export function movesForward(from: string, to: BusinessStatus): boolean {
  if (isEnded(from)) {
    return false;
  }
  if (ENDED.includes(to)) {
    return true;
  }
  return BUSINESS_STATUSES.indexOf(to) > BUSINESS_STATUSES.indexOf(from as BusinessStatus);
}

export function parseJourney(row: Pick<DeliveryTaskEntity, 'journey'>): Journey {
  return JSON.parse(row.journey) as Journey;
}

/** The steps a sender is told of (the delivery-status topic): the recipient's answer, or nobody retrieved it. */
export const REPORTED_STEPS = ['accepted', 'rejected', 'overdue'] as const satisfies readonly BusinessStatus[];

/** The steps before retrieval, from which a Task can become overdue. */
export const AWAITING_RETRIEVAL: readonly BusinessStatus[] = ['stored', 'notified'];

/**
 * The row as it was at an earlier version: each version adds one step (version 1 is `stored`), and the reason only
 * comes with the last, ending step. The current row for its own version or a later one.
 */
export function atVersion(row: DeliveryTaskEntity, versionId: number): DeliveryTaskEntity {
  const journey = parseJourney(row);
  if (versionId >= row.versionId || versionId < 1 || versionId > journey.steps.length) {
    return row;
  }
  const steps = journey.steps.slice(0, versionId);
  const last = steps[steps.length - 1];
  return {
    ...row,
    versionId,
    businessStatus: last.step,
    lastModifiedMs: last.at,
    journey: JSON.stringify({ steps }),
  };
}

/** The row after a step; the caller has checked the step moves forward. */
export function withStep(
  row: DeliveryTaskEntity,
  step: BusinessStatus,
  at: number,
  reason?: Journey['reason'],
): DeliveryTaskEntity {
  const journey = parseJourney(row);
  return {
    ...row,
    versionId: row.versionId + 1,
    businessStatus: step,
    lastModifiedMs: at,
    journey: JSON.stringify({ ...journey, steps: [...journey.steps, { step, at }], ...(reason ? { reason } : {}) }),
  };
}

const ods = (value: string) => ({ identifier: { system: ODS_ORGANIZATION_SYSTEM, value } });
const iso = (ms: number) => new Date(ms).toISOString();

/** The FHIR R4 Task a row stands for. */
export function taskResource(row: DeliveryTaskEntity, fhirBase: string): Record<string, unknown> {
  const journey = parseJourney(row);
  const status = row.businessStatus as BusinessStatus;
  const reason = journey.reason;
  return {
    resourceType: 'Task',
    id: row.id,
    meta: { versionId: String(row.versionId), lastUpdated: iso(row.lastModifiedMs) },
    status: TASK_STATUS[status],
    ...(reason
      ? {
          statusReason: {
            ...(reason.code
              ? {
                  coding: [
                    {
                      system: ITK_RESPONSE_SYSTEM,
                      code: reason.code,
                      display: ITK_BUSINESS_CODES[reason.code]?.display ?? reason.code,
                    },
                  ],
                }
              : {}),
            ...(reason.text ? { text: reason.text } : {}),
          },
        }
      : {}),
    businessStatus: { coding: [{ system: BUSINESS_STATUS_SYSTEM, code: status }], text: status },
    intent: 'order',
    code: { text: 'Deliver a clinical document to its recipient' },
    focus: { reference: `${fhirBase}/DocumentReference/${row.documentReferenceId}` },
    ...(row.patientNhsNumber
      ? { for: { identifier: { system: NHS_NUMBER_SYSTEM, value: row.patientNhsNumber } } }
      : {}),
    authoredOn: iso(row.authoredOnMs),
    lastModified: iso(row.lastModifiedMs),
    requester: ods(row.requesterOds),
    owner: ods(row.ownerOds),
    output: journey.steps.map((s) => ({
      type: { coding: [{ system: BUSINESS_STATUS_SYSTEM, code: s.step }], text: s.step },
      valueDateTime: iso(s.at),
    })),
  };
}

interface Coding {
  system?: string;
  code?: string;
}

/**
 * The recipient's answer read from a changed Task (after a JSON Patch, or a whole Task sent with PUT): `status`
 * completed or rejected, with a `statusReason` (an ITK3 business code 3000x, and/or text). Nothing else may change.
 */
export function recipientAnswer(
  current: Record<string, unknown>,
  proposed: unknown,
): { outcome: 'accepted' | 'rejected'; reason?: Journey['reason'] } {
  if (typeof proposed !== 'object' || proposed === null || Array.isArray(proposed)) {
    throw invalid('The changed Task is not a JSON object');
  }
  const changed = proposed as Record<string, unknown>;
  for (const key of new Set([...Object.keys(current), ...Object.keys(changed)])) {
    if (key !== 'status' && key !== 'statusReason' && key !== 'meta' && key !== 'businessStatus' && key !== 'text') {
      if (JSON.stringify(current[key]) !== JSON.stringify(changed[key])) {
        throw new FhirError(422, 'business-rule', `Task.${key} cannot be changed: only status and statusReason can`, {
          expression: `Task.${key}`,
        });
      }
    }
  }
  const status = changed.status;
  if (status !== 'completed' && status !== 'rejected') {
    throw new FhirError(
      422,
      'business-rule',
      `A recipient answers with status completed (accepted) or rejected, not ${JSON.stringify(status)}`,
      { expression: 'Task.status' },
    );
  }
  const outcome = status === 'completed' ? 'accepted' : 'rejected';
  const statusReason = changed.statusReason as { coding?: Coding[]; text?: unknown } | undefined;
  const coding = statusReason?.coding?.find((c) => c.system === ITK_RESPONSE_SYSTEM || c.code?.startsWith('300'));
  const code = coding?.code;
  if (code !== undefined && !(code in ITK_BUSINESS_CODES)) {
    throw new FhirError(
      422,
      'value',
      `statusReason ${code} is not an ITK3 business acknowledgement code (30001, 30002, 30003)`,
      { expression: 'Task.statusReason' },
    );
  }
  if (code !== undefined && ITK_BUSINESS_CODES[code].outcome !== outcome) {
    throw new FhirError(
      422,
      'business-rule',
      `statusReason ${code} (${ITK_BUSINESS_CODES[code].display}) does not go with status ${status}`,
      { expression: 'Task.statusReason' },
    );
  }
  const text =
    typeof statusReason?.text === 'string' && statusReason.text.trim() ? statusReason.text.trim() : undefined;
  if (outcome === 'rejected' && code === undefined && text === undefined) {
    throw new FhirError(422, 'required', 'A rejection needs a statusReason: an ITK3 code (30002, 30003) or text', {
      expression: 'Task.statusReason',
    });
  }
  if (text && text.length > 1000) {
    throw new FhirError(422, 'too-long', 'statusReason.text is limited to 1,000 characters', {
      expression: 'Task.statusReason.text',
    });
  }
  return { outcome, ...(code || text ? { reason: { ...(code ? { code } : {}), ...(text ? { text } : {}) } } : {}) };
}

/**
 * Only the recipient answers, and only once: a Task that has ended is refused (409), so is the sender (403); to any
 * other organisation the Task does not exist (404), as on read.
 */
export function checkAnswerAllowed(row: DeliveryTaskEntity, callerOds: string | undefined): void {
  if (!callerOds || (callerOds !== row.ownerOds && callerOds !== row.requesterOds)) {
    throw notFound(`Task/${row.id} is not known to this server`);
  }
  if (callerOds !== row.ownerOds) {
    throw forbidden(
      `Only the recipient (${row.ownerOds}) may answer Task/${row.id}; your organisation is ${callerOds ?? 'not given'}`,
    );
  }
  if (isEnded(row.businessStatus)) {
    throw conflict(`Task/${row.id} is already ${row.businessStatus}: a delivery's answer cannot change`);
  }
}
