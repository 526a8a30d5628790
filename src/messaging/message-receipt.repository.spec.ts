import { jest } from '@jest/globals';
import type { DataSource, EntityManager } from 'typeorm';
import type { AppConfig } from '../config/app-config.js';
import type { NotificationOutbox } from '../notifications/notification-outbox.service.js';
import type { OutboundMessage } from '../notifications/outbound-message.repository.js';
import type { DeliveryTaskEntity } from '../registry/delivery-task.entity.js';
import { responseCodesOf } from './itk-response.js';
import type { MessageReceiptEntity } from './message-receipt.entity.js';
import { MessageReceiptRepository } from './message-receipt.repository.js';

type Json = Record<string, any>;

const receipt = (overrides: Partial<MessageReceiptEntity> = {}): MessageReceiptEntity => ({
  id: 'r-1',
  senderOds: 'RTG',
  messageId: 'incoming-1',
  contentSha256: 'x',
  ackCode: '20013',
  ack: '{}',
  receivedAt: 0,
  documentReferenceId: 'dr-1',
  recipients: ['Y11111'],
  sourceEndpoint: 'https://sender.example/itk',
  busAckRequested: true,
  fhirVersion: '3.0.1',
  ...overrides,
});

const task = (status: string, reason?: { code?: string; text?: string }): DeliveryTaskEntity => ({
  id: 't-1',
  versionId: 2,
  documentReferenceId: 'dr-1',
  ownerOds: 'Y11111',
  requesterOds: 'RTG',
  patientNhsNumber: null,
  businessStatus: status,
  authoredOnMs: 0,
  lastModifiedMs: 0,
  journey: JSON.stringify({ steps: [], ...(reason ? { reason } : {}) }),
});

function setup(found: MessageReceiptEntity | null) {
  const appendMessage = jest.fn<(manager: EntityManager, message: OutboundMessage) => Promise<void>>();
  appendMessage.mockResolvedValue(undefined);
  const repository = new MessageReceiptRepository(
    {} as DataSource,
    { appendMessage } as unknown as NotificationOutbox,
    { baseUrl: 'https://registry.example' } as AppConfig,
  );
  const manager = {
    getRepository: () => ({ find: () => Promise.resolve(found ? [found] : []) }),
  } as unknown as EntityManager;
  return { appendMessage, answered: (t: DeliveryTaskEntity) => repository.taskAnswered(manager, t) };
}

describe('business acknowledgements owed when a recipient answers its Task', () => {
  it('appends the 3000x code the recipient gave, in the message FHIR version, to the source endpoint', async () => {
    const { appendMessage, answered } = setup(receipt());
    await answered(task('rejected', { code: '30003' }));
    const [, message] = appendMessage.mock.calls[0];
    expect(message).toMatchObject({
      kind: 'itk-business-ack',
      endpoint: 'https://sender.example/itk',
      contentType: 'application/fhir+json; fhirVersion=3.0',
    });
    const ack = JSON.parse(message.body) as Json;
    expect(ack.id).toBe(message.id);
    expect(ack.entry[0].resource.event.code).toBe('ITK008M');
    expect(ack.entry[0].resource.response.identifier).toBe('incoming-1');
    expect(responseCodesOf(ack)).toEqual(['30003']);
  });

  it('answers an acceptance without a code with 30001', async () => {
    const { appendMessage, answered } = setup(receipt());
    await answered(task('accepted'));
    expect(responseCodesOf(JSON.parse(appendMessage.mock.calls[0][1].body))).toEqual(['30001']);
  });

  it.each([
    ['the sender did not ask for one', receipt({ busAckRequested: false }), task('accepted')],
    ['the document did not come as a message', null, task('accepted')],
    ['the message did not address this recipient', receipt({ recipients: ['Y22222'] }), task('accepted')],
    ['a rejection gave text but no ITK3 code', receipt(), task('rejected', { text: 'not our patient' })],
  ])('sends nothing when %s', async (_why, found, answeredTask) => {
    const { appendMessage, answered } = setup(found);
    await answered(answeredTask);
    expect(appendMessage).not.toHaveBeenCalled();
  });
});
