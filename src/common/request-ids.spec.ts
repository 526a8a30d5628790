import { cleanId, correlationIdOf } from './request-ids.js';

describe('cleanId', () => {
  it.each(['corr-9', 'a.b:c_d-e', 'x'.repeat(128), '0b5e1c1e-8f2a-4a8e-9a53-1d2f0c8b7a11'])('keeps %s', (id) => {
    expect(cleanId(id)).toBe(id);
  });

  it.each([
    ['empty', ''],
    ['longer than 128 characters', 'x'.repeat(129)],
    ['a CR LF', 'a\r\nX-Injected: yes'],
    ['a space', 'two words'],
    ['unicode', 'corr-\u2603'],
    ['Latin-1 bytes', 'corr-\u00fc'],
    ['JSON punctuation', 'a","level":"fatal'],
    ['a percent-encoded CR LF', 'evil%0d%0a'],
  ])('drops a value with %s', (_label, value) => {
    expect(cleanId(value)).toBeUndefined();
  });

  it('drops an absent or repeated header', () => {
    expect(cleanId(undefined)).toBeUndefined();
    expect(cleanId(['a', 'b'])).toBeUndefined();
  });
});

describe('correlationIdOf', () => {
  it("is the caller's clean X-Correlation-ID", () => {
    expect(correlationIdOf({ id: 'req-1', headers: { 'x-correlation-id': 'corr-9' } })).toBe('corr-9');
  });

  it('is the request id when the header is absent or unsafe', () => {
    expect(correlationIdOf({ id: 'req-2', headers: {} })).toBe('req-2');
    expect(correlationIdOf({ id: 'req-3', headers: { 'x-correlation-id': 'x'.repeat(1024) } })).toBe('req-3');
  });

  it('is decided once per request, shared by the Fastify request and its raw Node request', () => {
    const raw = {};
    const request = { id: 'req-4', raw, headers: { 'x-correlation-id': 'first' } };
    expect(correlationIdOf(request)).toBe('first');
    request.headers['x-correlation-id'] = 'changed later';
    expect(correlationIdOf(request)).toBe('first');
    expect(correlationIdOf({ id: 'other', raw, headers: {} })).toBe('first');
  });
});
