/** Where a page of a keyset-paged search starts: just after (or, going back, just before) one row. */
export interface SearchCursor {
  /** The `_sort` the cursor was made for, e.g. `-date`; a cursor is only valid with the same sort. */
  sort: string;
  /** The row's sort key (epoch milliseconds). */
  key: number;
  /** The row's id, the tie-break that makes the order total. */
  id: string;
  direction: 'next' | 'previous';
}

const VERSION = 1;

/** Encodes a cursor as an opaque base64url token for a `next` or `previous` link. */
export function encodeCursor(cursor: SearchCursor): string {
  const payload = [VERSION, cursor.sort, cursor.key, cursor.id, cursor.direction === 'previous' ? 1 : 0];
  return Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
}

/** Decodes a token made by encodeCursor; undefined when it is not one (tampered, truncated, another version). */
export function decodeCursor(token: string): SearchCursor | undefined {
  if (!/^[A-Za-z0-9_-]{1,1024}$/.test(token)) {
    return undefined;
  }
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(payload) || payload.length !== 5) {
    return undefined;
  }
  const [version, sort, key, id, previous] = payload as unknown[];
  if (
    version !== VERSION ||
    typeof sort !== 'string' ||
    typeof key !== 'number' ||
    !Number.isSafeInteger(key) ||
    typeof id !== 'string' ||
    id.length === 0 ||
    id.length > 64 ||
    (previous !== 0 && previous !== 1)
  ) {
    return undefined;
  }
  return { sort, key, id, direction: previous === 1 ? 'previous' : 'next' };
}
