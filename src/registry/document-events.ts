import type { EntityManager } from 'typeorm';

/** `addressed`: a stored document was addressed to more recipients (an ITK3 message for another recipient). */
export type DocumentEventKind = 'created' | 'superseded' | 'withdrawn' | 'addressed';

export interface DocumentEvent {
  kind: DocumentEventKind;
  documentReferenceId: string;
  versionId: string;
}

/**
 * Where the registry records that a DocumentReference changed, inside the same transaction as the change
 * (the transactional outbox). The notifications module provides it; the registry never knows who listens.
 */
export abstract class DocumentEventLog {
  abstract append(manager: EntityManager, event: DocumentEvent): Promise<void>;
}
