import type { EntityManager } from 'typeorm';

/**
 * A DocumentReference was created, superseded or withdrawn; `addressed`: a stored document was addressed to more
 * recipients (an ITK3 message for another recipient); `delivery-status`: a delivery Task of it moved.
 */
export type DocumentEventKind = 'created' | 'superseded' | 'withdrawn' | 'addressed' | 'delivery-status';

export interface DocumentEvent {
  kind: DocumentEventKind;
  documentReferenceId: string;
  /** The DocumentReference's version; for `delivery-status`, the Task's. */
  versionId: string;
  /** The delivery Task that moved (`delivery-status` only). */
  taskId?: string;
}

/**
 * Where the registry records that a DocumentReference changed, inside the same transaction as the change
 * (the transactional outbox). The notifications module provides it; the registry never knows who listens.
 */
export abstract class DocumentEventLog {
  abstract append(manager: EntityManager, event: DocumentEvent): Promise<void>;
}
