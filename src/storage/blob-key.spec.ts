import { isBlobKey, newBlobKey } from './blob-key.js';

describe('newBlobKey', () => {
  it('shards a random UUID by its own first two byte pairs', () => {
    const key = newBlobKey();
    const [first, second, id] = key.split('/');

    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(first).toBe(id.slice(0, 2));
    expect(second).toBe(id.slice(2, 4));
    expect(isBlobKey(key)).toBe(true);
  });

  it('never repeats', () => {
    const keys = new Set(Array.from({ length: 1000 }, () => newBlobKey()));

    expect(keys.size).toBe(1000);
  });
});

describe('isBlobKey', () => {
  it.each([
    ['a path escaping the store', '../../etc/passwd'],
    ['shards that do not match the id', 'ff/ff/3fa1c2d4-1111-4222-8333-444455556666'],
    ['an absolute path', '/3f/a1/3fa1c2d4-1111-4222-8333-444455556666'],
    ['upper-case hex', '3F/A1/3FA1C2D4-1111-4222-8333-444455556666'],
    ['a temp file name', '3f/a1/.3fa1c2d4-1111-4222-8333-444455556666.tmp'],
    ['an empty key', ''],
  ])('refuses %s', (_label, key) => {
    expect(isBlobKey(key)).toBe(false);
  });

  it('accepts a well-formed key', () => {
    expect(isBlobKey('3f/a1/3fa1c2d4-1111-4222-8333-444455556666')).toBe(true);
  });
});
