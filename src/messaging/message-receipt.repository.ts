import { Injectable, Logger } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { insertRows } from '../database/plain-sql.js';
import { NotificationOutbox } from '../notifications/notification-outbox.service.js';
import type { DeliveryTaskEntity } from '../registry/delivery-task.entity.js';
import { parseJourney } from '../registry/delivery-task.js';
import { MessageReceiptLog, type MessageReceipt } from '../registry/message-receipts.js';
import { businessAcknowledgement } from './itk-response.js';
import { MessageReceiptEntity } from './message-receipt.entity.js';

/**
 * Message receipts, written by the DocumentWriter in its transactions (the registry's MessageReceiptLog port), and
 * the business acknowledgement a recipient's answer owes the sender, appended to the outbox in the answer's
 * transaction.
 */
@Injectable()
export class MessageReceiptRepository extends MessageReceiptLog {
  private readonly logger = new Logger(MessageReceiptRepository.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly outbox: NotificationOutbox,
    private readonly config: AppConfig,
  ) {
    super();
  }

  async record(manager: EntityManager, receipt: MessageReceipt): Promise<void> {
    await insertRows(manager, MessageReceiptEntity, [receipt]);
  }

  find(senderOds: string, messageId: string): Promise<MessageReceiptEntity | null> {
    return this.dataSource.getRepository(MessageReceiptEntity).findOne({ where: { senderOds, messageId } });
  }

  async taskAnswered(manager: EntityManager, task: DeliveryTaskEntity): Promise<void> {
    // the message that addressed the document to this recipient (each recipient is added by one message)
    const receipt = (
      await manager
        .getRepository(MessageReceiptEntity)
        .find({ where: { documentReferenceId: task.documentReferenceId }, order: { receivedAt: 'ASC' } })
    ).find((r) => r.recipients.includes(task.ownerOds));
    if (!receipt?.busAckRequested || !receipt.sourceEndpoint) {
      return;
    }
    const reason = parseJourney(task).reason;
    // ITK3 business codes: an acceptance is 30001; a rejection must name 30002 or 30003 (text alone has no code)
    const code = reason?.code ?? (task.businessStatus === 'accepted' ? '30001' : undefined);
    if (code !== '30001' && code !== '30002' && code !== '30003') {
      this.logger.warn(
        `Task/${task.id} was ${task.businessStatus} without an ITK3 business code: no business acknowledgement for message ${receipt.messageId}`,
      );
      return;
    }
    const ack = businessAcknowledgement({
      receipt,
      code,
      recipientOds: task.ownerOds,
      sourceEndpoint: `${this.config.baseUrl}/fhir/$process-message`,
      now: new Date(),
    });
    await this.outbox.appendMessage(manager, {
      id: ack.id,
      kind: 'itk-business-ack',
      endpoint: receipt.sourceEndpoint,
      contentType: receipt.fhirVersion.startsWith('3.')
        ? 'application/fhir+json; fhirVersion=3.0'
        : 'application/fhir+json; fhirVersion=4.0',
      body: JSON.stringify(ack),
    });
  }
}
