import { Webhook } from 'standardwebhooks';
import { generateWebhookSecret, isValidWebhookSecret, signWebhook } from './webhook-signature.js';

describe('Standard Webhooks signatures', () => {
  it('signs so that the standardwebhooks library verifies the message', () => {
    const secret = generateWebhookSecret();
    const body = JSON.stringify({ resourceType: 'Bundle' });
    const headers = signWebhook(secret, 'evt-1', Math.floor(Date.now() / 1000), body);
    expect(new Webhook(secret).verify(body, headers)).toEqual({ resourceType: 'Bundle' });
    expect(() => new Webhook(generateWebhookSecret()).verify(body, headers)).toThrow();
    expect(() => new Webhook(secret).verify(`${body} `, headers)).toThrow();
  });

  it('accepts only whsec_ secrets of 24 to 64 bytes', () => {
    expect(isValidWebhookSecret(generateWebhookSecret())).toBe(true);
    expect(isValidWebhookSecret('whsec_c2hvcnQ=')).toBe(false);
    expect(isValidWebhookSecret(`sk_${Buffer.alloc(32).toString('base64')}`)).toBe(false);
  });
});
