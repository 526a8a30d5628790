import type { ByteRange } from './blob-store.js';

/** Refuses ranges no store could serve (negative, reversed, fractional) before any I/O happens. */
export function assertByteRange(range: ByteRange): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(`Invalid byte range ${start}-${end}`);
  }
}
