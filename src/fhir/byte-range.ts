import { rangeNotSatisfiable } from '../common/fhir-error.js';
import type { ByteRange } from '../storage/blob-store.js';

/**
 * The single byte range a `Range` header asks for (RFC 9110 14.1.2), or undefined to serve the whole
 * object (no header, several ranges, or a unit other than bytes). Throws 416 when it cannot be satisfied.
 */
export function parseByteRange(header: string | undefined, size: number): ByteRange | undefined {
  if (!header) {
    return undefined;
  }
  const match = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header.trim());
  if (!match) {
    return undefined;
  }
  const [, first, last] = match;
  let start: number;
  let end: number;
  if (first === '' && last === '') {
    return undefined;
  }
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) {
      throw rangeNotSatisfiable(`Range ${header} asks for no bytes`, size);
    }
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(first);
    end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
    if (last !== '' && Number(last) < start) {
      return undefined;
    }
  }
  if (start >= size || size === 0) {
    throw rangeNotSatisfiable(`Range ${header} starts beyond the ${size} bytes of this Binary`, size);
  }
  return { start, end };
}
