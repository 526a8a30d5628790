import type { DeliveryTaskEntity } from '../registry/delivery-task.entity.js';
import { ITK_BUSINESS_CODES, parseJourney } from '../registry/delivery-task.js';
import { formatFhirDate } from './display.js';

/** One recipient's delivery of a document, as the document page shows it. */
export interface DeliveryView {
  /** The recipient organisation's ODS code. */
  recipient: string;
  /** The business status (stored, notified, overdue, retrieved, accepted, rejected, closed). */
  status: string;
  label: string;
  /** When it reached that status, UTC. */
  when: string;
  /** The recipient's reason (ITK3 code and words, and its own text), or why the sender closed it. */
  reason?: string;
  steps: { label: string; when: string }[];
}

const LABELS: Readonly<Record<string, string>> = {
  stored: 'Stored, not yet notified',
  notified: 'Notified',
  overdue: 'Overdue: not retrieved in time',
  retrieved: 'Retrieved',
  accepted: 'Accepted',
  rejected: 'Rejected',
  closed: 'Closed: recalled by the sender',
};

const label = (status: string) => LABELS[status] ?? status;
// a step of the journey: what happened then
const stepLabel = (step: string) => step.charAt(0).toUpperCase() + step.slice(1);
const utc = (ms: number) => `${formatFhirDate(new Date(ms).toISOString())} UTC`;

/** The delivery Tasks of a document in words a clinician reads, one per recipient. */
export function deliveryViews(rows: DeliveryTaskEntity[]): DeliveryView[] {
  return rows.map((row) => {
    const journey = parseJourney(row);
    const code = journey.reason?.code;
    const reason = [code ? `${code} ${ITK_BUSINESS_CODES[code]?.display ?? ''}`.trim() : '', journey.reason?.text ?? '']
      .filter(Boolean)
      .join(': ');
    return {
      recipient: row.ownerOds,
      status: row.businessStatus,
      label: label(row.businessStatus),
      when: utc(row.lastModifiedMs),
      ...(reason ? { reason } : {}),
      steps: journey.steps.map((s) => ({ label: stepLabel(s.step), when: utc(s.at) })),
    };
  });
}
