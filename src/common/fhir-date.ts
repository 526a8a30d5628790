/** FHIR date, dateTime and instant values as the ranges of time they stand for. */

const DATE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

function utc(year: number, month = 0, day = 1, hour = 0, minute = 0, second = 0): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  date.setUTCHours(hour, minute, second, 0);
  return date.getTime();
}

/**
 * The range a FHIR date, dateTime or instant stands for, as [low, high) epoch milliseconds: `2024-03` is all of
 * March. Times without a zone are taken as UTC (the server's zone, which R4 search.html lets the server assume).
 */
export function dateRange(value: string): { low: number; high: number } | undefined {
  const m = DATE.exec(value);
  if (!m) {
    return undefined;
  }
  const [, y, mo, d, h, mi, s, fraction, zone] = m;
  const year = Number(y);
  const month = mo === undefined ? undefined : Number(mo) - 1;
  const day = d === undefined ? undefined : Number(d);
  if (month !== undefined && (month < 0 || month > 11)) {
    return undefined;
  }
  if (day !== undefined && (day < 1 || new Date(utc(year, month, day)).getUTCDate() !== day)) {
    return undefined;
  }
  if (h !== undefined && (Number(h) > 23 || Number(mi) > 59 || (s !== undefined && Number(s) > 59))) {
    return undefined;
  }
  if (month === undefined) {
    return { low: utc(year), high: utc(year + 1) };
  }
  if (day === undefined) {
    return { low: utc(year, month), high: utc(year, month + 1) };
  }
  if (h === undefined) {
    return { low: utc(year, month, day), high: utc(year, month, day + 1) };
  }
  let offset = 0;
  if (zone && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const [zh, zm] = zone.slice(1).split(':').map(Number);
    if (zh > 14 || zm > 59) {
      return undefined;
    }
    offset = sign * (zh * 60 + zm) * 60_000;
  }
  const start = utc(year, month, day, Number(h), Number(mi), s === undefined ? 0 : Number(s)) - offset;
  if (s === undefined) {
    return { low: start, high: start + 60_000 };
  }
  if (fraction === undefined) {
    return { low: start, high: start + 1000 };
  }
  // Milliseconds are the finest precision stored; finer digits narrow nothing further.
  const digits = fraction.slice(0, 3);
  const millis = Number(digits.padEnd(3, '0'));
  return { low: start + millis, high: start + millis + 10 ** (3 - digits.length) };
}

/**
 * The `creation` search token (IHE MHD: content.attachment.creation) of one attachment: its value and the inclusive
 * range of time it stands for. Shared by indexing and by the migration that indexed documents stored before.
 */
export function creationTokens(
  creation: unknown,
): { param: 'creation'; system: null; code: string; lowMs: number; highMs: number }[] {
  const range = typeof creation === 'string' ? dateRange(creation) : undefined;
  return range
    ? [{ param: 'creation', system: null, code: creation as string, lowMs: range.low, highMs: range.high - 1 }]
    : [];
}
