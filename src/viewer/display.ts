import { isValidNhsNumber } from '../registry/nhs-number.js';

/** An NHS number as people read it: 3-3-4 with spaces (NHS Digital Common User Interface). */
export function formatNhsNumber(value: string): string {
  return /^\d{10}$/.test(value) ? `${value.slice(0, 3)} ${value.slice(3, 6)} ${value.slice(6)}` : value;
}

export type NhsNumberInput = { ok: true; value: string } | { ok: false; message: string };

/** An NHS number as typed: spaces and dashes between the groups are fine, the check digit must be right. */
export function parseNhsNumberInput(typed: string): NhsNumberInput {
  const digits = typed.replace(/[\s-]/g, '');
  if (digits === '') {
    return { ok: false, message: 'Enter an NHS number' };
  }
  if (!/^\d+$/.test(digits)) {
    return { ok: false, message: 'An NHS number has only digits, for example 943 476 5919' };
  }
  if (digits.length !== 10) {
    return { ok: false, message: `An NHS number has 10 digits; this has ${digits.length}` };
  }
  if (!isValidNhsNumber(digits)) {
    return { ok: false, message: `${formatNhsNumber(digits)} is not a valid NHS number: check for a mistyped digit` };
  }
  return { ok: true, value: digits };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const FHIR_DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * A FHIR date or dateTime as written, e.g. `08-Mar-2024 16:20`: the clock time the author recorded, in its own zone
 * (converting it would show a time nobody wrote). Partial dates stay partial; anything else is shown as it is.
 */
export function formatFhirDate(value: string | undefined): string {
  if (!value) {
    return '';
  }
  const match = FHIR_DATE.exec(value);
  if (!match) {
    return value;
  }
  const [, year, month, day, hour, minute] = match;
  const monthName = month ? MONTHS[Number(month) - 1] : undefined;
  if (month && !monthName) {
    return value;
  }
  const date = [day, monthName, year].filter(Boolean).join('-');
  return hour ? `${date} ${hour}:${minute}` : date;
}

export interface HumanName {
  use?: string;
  text?: string;
  family?: string | string[];
  given?: string[];
  prefix?: string[];
  suffix?: string[];
}

const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];

/** The name to show of a list of HumanNames: the official one, else the usual, else the first. */
export function pickName(names: unknown): HumanName | undefined {
  if (!Array.isArray(names)) {
    return undefined;
  }
  const list = names.filter((n): n is HumanName => typeof n === 'object' && n !== null);
  return list.find((n) => n.use === 'official') ?? list.find((n) => n.use === 'usual') ?? list[0];
}

/** A patient's name as NHS banners show it: FAMILY, Given (Title). STU3 family may be a list. */
export function bannerName(name: HumanName | undefined): string {
  if (!name) {
    return '';
  }
  const family = (Array.isArray(name.family) ? strings(name.family) : strings([name.family])).join(' ');
  const given = strings(name.given).join(' ');
  const prefix = strings(name.prefix).join(' ');
  if (!family && !given) {
    return typeof name.text === 'string' ? name.text : '';
  }
  const main = [family.toUpperCase(), given].filter(Boolean).join(', ');
  return prefix ? `${main} (${prefix})` : main;
}

/** A person's name in running text: Title Given Family. */
export function plainName(name: HumanName | undefined): string {
  if (!name) {
    return '';
  }
  if (typeof name.text === 'string' && name.text.trim()) {
    return name.text;
  }
  const family = Array.isArray(name.family) ? strings(name.family) : strings([name.family]);
  return [...strings(name.prefix), ...strings(name.given), ...family, ...strings(name.suffix)].join(' ');
}

interface CodingLike {
  display?: unknown;
  code?: unknown;
}

/** What to call a CodeableConcept: its text, else the first coding's display, else its code. */
export function conceptText(concept: unknown): string {
  if (typeof concept !== 'object' || concept === null) {
    return '';
  }
  const { text, coding } = concept as { text?: unknown; coding?: unknown };
  if (typeof text === 'string' && text) {
    return text;
  }
  const codings = Array.isArray(coding) ? (coding as CodingLike[]) : [];
  const withDisplay = codings.find((c) => typeof c?.display === 'string' && c.display);
  if (withDisplay) {
    return withDisplay.display as string;
  }
  const withCode = codings.find((c) => typeof c?.code === 'string');
  return withCode ? (withCode.code as string) : '';
}

const STATUS_LABELS: Readonly<Record<string, string>> = {
  current: 'Current',
  superseded: 'Superseded',
  'entered-in-error': 'Withdrawn',
};

/** DocumentReference.status in words a clinician uses. */
export function statusLabel(status: string): string {
  return STATUS_LABELS[status] ?? status;
}
