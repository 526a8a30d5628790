import type { EntityManager } from 'typeorm';
import type { DeliveryTaskEntity } from './delivery-task.entity.js';

/**
 * What the service answered to one ITK3 message, kept so that the same message sent again gets the same answer and
 * so that a recipient's answer to its delivery Task can go back to the sender as a business acknowledgement.
 */
export interface MessageReceipt {
  id: string;
  /** ODS code of the organisation that sent the message (the token's organization claim). */
  senderOds: string;
  /** MessageHeader.id of the incoming message. */
  messageId: string;
  /** SHA-256 of the message content in canonical JSON: the same id with other content is another message. */
  contentSha256: string;
  /** The ITK3 response code of the answer (20013 stored, 2000x refused). */
  ackCode: string;
  /** The infrastructure acknowledgement message Bundle, as JSON. */
  ack: string;
  receivedAt: number;
  /** The DocumentReference the message's document is indexed as, when it was stored. */
  documentReferenceId: string | null;
  /** The recipients (ODS codes) this message addressed the document to: their answers are acknowledged to it. */
  recipients: string[];
  /** MessageHeader.source.endpoint: where acknowledgements go. */
  sourceEndpoint: string | null;
  busAckRequested: boolean;
  /** '4.0.1' or '3.0.1': acknowledgements are written in the message's FHIR version. */
  fhirVersion: string;
}

/**
 * Where the registry keeps message receipts, inside the same transaction as the document they brought (or alone, for
 * a refused message), and where it says that a delivery Task was answered. The messaging module provides it.
 */
export abstract class MessageReceiptLog {
  abstract record(manager: EntityManager, receipt: MessageReceipt): Promise<void>;
  /** A recipient answered its delivery Task, in the answer's transaction: a business acknowledgement may be due. */
  abstract taskAnswered(manager: EntityManager, task: DeliveryTaskEntity): Promise<void>;
}
