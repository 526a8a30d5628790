/** Longest media type the binary table's content_type column holds. */
export const MAX_CONTENT_TYPE_LENGTH = 255;

// RFC 9110 5.6.2 tchar, 5.6.4 quoted-string (ASCII only: no obs-text), 8.3.1 media-type with parameters.
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED_STRING = '"(?:[\\t !#-\\[\\]-~]|\\\\[\\t -~])*"';
const MEDIA_TYPE = new RegExp(`^${TOKEN}/${TOKEN}(?:[ \\t]*;[ \\t]*${TOKEN}=(?:${TOKEN}|${QUOTED_STRING}))*$`);

/** Whether `value` is one media type as RFC 9110 8.3.1 spells it (`type/subtype; name=value`), and fits the column. */
export function isMediaType(value: string): boolean {
  return value.length <= MAX_CONTENT_TYPE_LENGTH && MEDIA_TYPE.test(value);
}

/** The type to send for stored bytes: what was recorded when valid, else opaque bytes (rows stored before the check). */
export function servedContentType(stored: string): string {
  return isMediaType(stored) ? stored : 'application/octet-stream';
}
