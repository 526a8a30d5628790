import { decodeCursor, encodeCursor, type SearchCursor } from './search-cursor.js';

describe('search cursors', () => {
  it('round-trips sort, key, id and direction through an opaque base64url token', () => {
    const cursor: SearchCursor = { sort: '-date', key: 1_709_915_100_000, id: 'a1b2-c3', direction: 'previous' };
    const token = encodeCursor(cursor);
    expect(token).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(token).not.toContain('a1b2-c3');
    expect(decodeCursor(token)).toEqual(cursor);
    expect(decodeCursor(encodeCursor({ ...cursor, direction: 'next', key: -5 }))).toEqual({
      ...cursor,
      direction: 'next',
      key: -5,
    });
  });

  it.each([
    ['garbage', '!!!'],
    ['not JSON', Buffer.from('hello').toString('base64url')],
    ['another version', Buffer.from(JSON.stringify([2, '-date', 1, 'x', 0])).toString('base64url')],
    ['a fractional key', Buffer.from(JSON.stringify([1, '-date', 1.5, 'x', 0])).toString('base64url')],
    ['an empty id', Buffer.from(JSON.stringify([1, '-date', 1, '', 0])).toString('base64url')],
    ['a bad direction', Buffer.from(JSON.stringify([1, '-date', 1, 'x', 2])).toString('base64url')],
    ['an offset', Buffer.from('40').toString('base64url')],
  ])('refuses %s', (_label, token) => {
    expect(decodeCursor(token)).toBeUndefined();
  });
});
