import { randomBytes } from 'node:crypto';
import { jest } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import type { AppConfig } from '../config/app-config.js';
import { MessageDeliveryService } from './message-delivery.service.js';
import type { OutboundMessageEntity } from './outbound-message.entity.js';
import type { OutboundMessageRepository } from './outbound-message.repository.js';
import type { PostResult, WebhookClient } from './webhook-client.service.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;

const row = (overrides: Partial<OutboundMessageEntity> = {}): OutboundMessageEntity => ({
  id: 'msg-1',
  kind: 'itk-business-ack',
  endpoint: 'https://sender.example/itk',
  contentType: 'application/fhir+json; fhirVersion=4.0',
  body: '{"resourceType":"Bundle","type":"message"}',
  createdAt: 0,
  enqueuedAt: 1,
  deliveredAt: null,
  givenUpAt: null,
  attempts: 0,
  lastError: null,
  ...overrides,
});

function setup(found: OutboundMessageEntity | null, answer: PostResult) {
  const recordAttempt = jest.fn<OutboundMessageRepository['recordAttempt']>().mockResolvedValue(undefined);
  const send = jest.fn<WebhookClient['send']>().mockResolvedValue(answer);
  const service = new MessageDeliveryService(
    { findById: () => Promise.resolve(found), recordAttempt } as unknown as OutboundMessageRepository,
    { send } as unknown as WebhookClient,
    {
      notifications: {
        endpointConcurrency: 4,
        backoffBaseMs: 100,
        deliveryTimeoutMs: 1000,
        messageSigningSecret: secret,
      },
    } as unknown as AppConfig,
  );
  return { service, send, recordAttempt };
}

const ok: PostResult = { ok: true, statusCode: 200, latencyMs: 1, error: null };

describe('MessageDeliveryService', () => {
  it('POSTs the message to its endpoint, signed with MESSAGE_SIGNING_SECRET under the row id, and settles it', async () => {
    const { service, send, recordAttempt } = setup(row(), ok);
    expect(await service.deliver('msg-1')).toEqual({ result: 'sent' });
    const [method, url, body, headers] = send.mock.calls[0];
    expect([method, url]).toEqual(['POST', 'https://sender.example/itk']);
    expect(headers['content-type']).toBe('application/fhir+json; fhirVersion=4.0');
    expect(new Webhook(secret).verify(body, headers)).toMatchObject({ type: 'message' });
    expect(headers['webhook-id']).toBe('msg-1');
    expect(recordAttempt).toHaveBeenCalledWith('msg-1', { delivered: true, error: null });
  });

  it('reports a failed attempt for a retry and records its error', async () => {
    const { service, recordAttempt } = setup(row(), { ok: false, statusCode: 503, latencyMs: 1, error: 'HTTP 503' });
    expect(await service.deliver('msg-1')).toMatchObject({ result: 'failed' });
    expect(recordAttempt).toHaveBeenCalledWith('msg-1', { delivered: false, error: 'HTTP 503' });
  });

  it('skips a message already delivered, given up or gone', async () => {
    for (const found of [row({ deliveredAt: 5 }), row({ givenUpAt: 5 }), null]) {
      const { service, send } = setup(found, ok);
      expect((await service.deliver('msg-1')).result).toBe('skipped');
      expect(send).not.toHaveBeenCalled();
    }
  });
});
