import type { DeliveryTaskEntity } from '../registry/delivery-task.entity.js';
import { withStep } from '../registry/delivery-task.js';
import { deliveryViews } from './deliveries.js';

const stored: DeliveryTaskEntity = {
  id: 't1',
  versionId: 1,
  documentReferenceId: 'd1',
  ownerOds: 'Y22222',
  requesterOds: 'RTG',
  patientNhsNumber: null,
  businessStatus: 'stored',
  authoredOnMs: Date.parse('2024-03-08T16:20:00Z'),
  lastModifiedMs: Date.parse('2024-03-08T16:20:00Z'),
  journey: JSON.stringify({ steps: [{ step: 'stored', at: Date.parse('2024-03-08T16:20:00Z') }] }),
};

describe('deliveryViews', () => {
  it('says where each delivery stands, since when, and why it was rejected', () => {
    const rejected = withStep(stored, 'rejected', Date.parse('2024-03-09T08:05:00Z'), {
      code: '30002',
      text: 'Not registered here',
    });
    expect(deliveryViews([rejected])).toEqual([
      {
        recipient: 'Y22222',
        status: 'rejected',
        label: 'Rejected',
        when: '09-Mar-2024 08:05 UTC',
        reason: '30002 Patient not known here: Not registered here',
        steps: [
          { label: 'Stored', when: '08-Mar-2024 16:20 UTC' },
          { label: 'Rejected', when: '09-Mar-2024 08:05 UTC' },
        ],
      },
    ]);
  });

  it('names an overdue delivery as such, with no reason', () => {
    const [view] = deliveryViews([withStep(stored, 'overdue', Date.parse('2024-03-11T16:20:00Z'))]);
    expect(view).toMatchObject({ status: 'overdue', label: 'Overdue: not retrieved in time' });
    expect(view.reason).toBeUndefined();
  });
});
