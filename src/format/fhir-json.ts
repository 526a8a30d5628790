import { structure } from '../common/fhir-error.js';

/** A FHIR resource in its JSON representation, as parsed from a request body. */
export type FhirResource = { resourceType: string; [key: string]: unknown };

/** Nesting of objects and arrays allowed by default; real FHIR documents stay well under 20. */
export const DEFAULT_MAX_JSON_DEPTH = 64;

/** Object keys that could reach a prototype; FHIR never uses them. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;

/**
 * Decodes a request body as strict UTF-8, dropping one leading byte order mark.
 * Throws a 400 `structure` FhirError on any invalid byte sequence.
 */
export function decodeUtf8Body(body: Buffer): string {
  let text: string;
  try {
    // fatal: refuse instead of inserting U+FFFD; the decoder also drops a leading BOM.
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw structure('body is not valid UTF-8');
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * Parses a FHIR JSON request body into a plain resource object.
 *
 * The text is scanned once before `JSON.parse` so that over-deep nesting and prototype-polluting keys
 * (`__proto__`, `constructor`, `prototype`) are refused without ever reaching the recursive parser.
 * Every refusal is a 400 `structure` FhirError.
 */
export function parseFhirJson(body: Buffer, options: { maxDepth?: number } = {}): FhirResource {
  const value = parseJsonBody(body, options);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw structure('body must be a JSON object (a FHIR resource)');
  }
  const resourceType = (value as Record<string, unknown>).resourceType;
  if (typeof resourceType !== 'string' || resourceType === '') {
    throw structure('body has no resourceType: a FHIR resource must name its type in a string resourceType');
  }
  return value as FhirResource;
}

/**
 * Parses any JSON request body (a JSON Patch array, say) after the same depth and forbidden-key scan as
 * `parseFhirJson`. Every refusal is a 400 `structure` FhirError.
 */
export function parseJsonBody(body: Buffer, options: { maxDepth?: number } = {}): unknown {
  const text = decodeUtf8Body(body);
  scan(text, options.maxDepth ?? DEFAULT_MAX_JSON_DEPTH);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw structure(`body is not valid JSON: ${message}`);
  }
}

/** One linear pass: nesting depth outside strings, forbidden keys, and truncation. */
function scan(text: string, maxDepth: number): void {
  let depth = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
      if (depth > maxDepth) {
        throw structure(`JSON nesting is deeper than ${maxDepth} levels (at position ${i})`);
      }
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    } else if (c === QUOTE) {
      const start = i;
      let escaped = false;
      for (i++; i < length; i++) {
        const d = text.charCodeAt(i);
        if (d === BACKSLASH) {
          escaped = true;
          i++;
        } else if (d === QUOTE) {
          break;
        }
      }
      if (i >= length) {
        throw structure(
          `body is not valid JSON: unexpected end of input at position ${length} in a string opened at position ${start}`,
        );
      }
      checkKey(text, start, i, escaped);
    }
  }
  if (depth > 0) {
    throw structure(`body is not valid JSON: unexpected end of input at position ${length}`);
  }
}

/** Refuses the string at [start, end] (quotes included) if it is an object key that could reach a prototype. */
function checkKey(text: string, start: number, end: number, escaped: boolean): void {
  const length = end - start - 1;
  // Shortest escape-free spelling of a forbidden key is 9 characters, longest 11; escapes only lengthen it.
  if (length < 9 || (!escaped && length > 11)) {
    return;
  }
  let next = end + 1;
  while (next < text.length && isJsonWhitespace(text.charCodeAt(next))) {
    next++;
  }
  if (text.charCodeAt(next) !== COLON) {
    return;
  }
  const raw = text.slice(start, end + 1);
  let key: string;
  try {
    key = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
  } catch {
    // A bad escape: JSON.parse of the whole body reports it with its position.
    return;
  }
  if (FORBIDDEN_KEYS.has(key)) {
    throw structure(`body uses the forbidden property name "${key}" (at position ${start})`);
  }
}

function isJsonWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}
