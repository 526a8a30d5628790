import { applyPatch, type Operation } from 'rfc6902';
import { FhirError } from '../common/fhir-error.js';
import { DEFAULT_MAX_JSON_DEPTH, FORBIDDEN_KEYS } from '../format/fhir-json.js';

/** Operations one patch may hold: a withdrawal or relabel needs a handful. */
export const MAX_PATCH_OPERATIONS = 1000;

/** JSON nodes one patch may copy in all: a copy of a copy would otherwise double the resource each time. */
export const MAX_COPIED_NODES = 10_000;

const OPS: ReadonlySet<string> = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);

// RFC 6901 section 4: an array index is 0 or digits without a leading zero.
const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;

type Container = Record<string, unknown> | unknown[];

const invalidPatch = (message: string) => new FhirError(400, 'invalid', `Invalid JSON Patch: ${message}`);

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The reference tokens of a JSON Pointer (RFC 6901). Refuses `__proto__`, `constructor` and `prototype`
 * segments and numeric segments with a leading zero, whatever the document holds.
 */
export function pointerTokens(pointer: string): string[] {
  if (pointer === '') {
    return [];
  }
  if (!pointer.startsWith('/')) {
    throw invalidPatch(`"${pointer}" is not a JSON Pointer: it must start with /`);
  }
  if (/~(?![01])/.test(pointer)) {
    throw invalidPatch(`"${pointer}" is not a JSON Pointer: ~ must be followed by 0 or 1`);
  }
  const tokens = pointer
    .slice(1)
    .split('/')
    .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
  for (const token of tokens) {
    if (FORBIDDEN_KEYS.has(token)) {
      throw invalidPatch(`"${pointer}" has a "${token}" segment, which is not allowed`);
    }
    if (/^0[0-9]/.test(token)) {
      throw invalidPatch(`"${pointer}" has an array index with a leading zero (RFC 6901)`);
    }
  }
  return tokens;
}

/** The value at `tokens`, following own properties and in-range canonical indexes only. */
function lookup(document: unknown, tokens: string[]): { found: boolean; value?: unknown } {
  let node = document;
  for (const token of tokens) {
    if (Array.isArray(node)) {
      if (!ARRAY_INDEX.test(token) || Number(token) >= node.length) {
        return { found: false };
      }
      node = node[Number(token)];
    } else if (isObject(node) && Object.hasOwn(node, token)) {
      node = node[token];
    } else {
      return { found: false };
    }
  }
  return { found: true, value: node };
}

function existing(document: unknown, pointer: string): unknown {
  const { found, value } = lookup(document, pointerTokens(pointer));
  if (!found) {
    throw invalidPatch(`path "${pointer}" does not exist`);
  }
  return value;
}

/** Checks that a value can be added at `pointer`: its parent exists, and an array index is at most the length. */
function checkInsertable(document: unknown, pointer: string): void {
  const tokens = pointerTokens(pointer);
  if (tokens.length === 0) {
    throw invalidPatch('the whole resource cannot be replaced by a patch');
  }
  const parent = lookup(document, tokens.slice(0, -1));
  const key = tokens[tokens.length - 1];
  if (!parent.found || (!Array.isArray(parent.value) && !isObject(parent.value))) {
    throw invalidPatch(`the parent of path "${pointer}" does not exist`);
  }
  const container: Container = parent.value;
  if (Array.isArray(container) && key !== '-' && (!ARRAY_INDEX.test(key) || Number(key) > container.length)) {
    throw invalidPatch(`index in "${pointer}" is out of range`);
  }
}

/** JSON equality (RFC 6902 section 4.6): object members in any order, own properties only. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  }
  if (isObject(a) || isObject(b)) {
    if (!isObject(a) || !isObject(b)) {
      return false;
    }
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && jsonEqual(a[key], b[key]))
    );
  }
  return a === b;
}

/** JSON nodes in `value`, counting no further than `limit + 1`. */
function nodeCount(value: unknown, limit: number): number {
  let count = 0;
  const pending: unknown[] = [value];
  while (pending.length > 0 && count <= limit) {
    const node = pending.pop();
    count++;
    if (Array.isArray(node) || isObject(node)) {
      for (const child of Object.values(node) as unknown[]) {
        pending.push(child);
      }
    }
  }
  return count;
}

/** Nesting depth of `value`, counting no further than `limit + 1`. */
function depthOf(value: unknown, limit: number): number {
  let deepest = 0;
  const pending: [unknown, number][] = [[value, 0]];
  while (pending.length > 0) {
    const [node, depth] = pending.pop()!;
    if (Array.isArray(node) || isObject(node)) {
      deepest = Math.max(deepest, depth + 1);
      if (deepest > limit) {
        return deepest;
      }
      for (const child of Array.isArray(node) ? node : Object.values(node)) {
        pending.push([child, depth + 1]);
      }
    }
  }
  return deepest;
}

/** Checks one operation's members (RFC 6902 section 4) and returns it typed. */
function checkedOperation(candidate: unknown, index: number): Operation {
  const at = `operation ${index}`;
  if (!isObject(candidate)) {
    throw invalidPatch(`${at} is not an object`);
  }
  const { op, path, from } = candidate;
  if (typeof op !== 'string' || !OPS.has(op)) {
    throw invalidPatch(`${at} has op ${JSON.stringify(op) ?? '(none)'}: expected one of ${[...OPS].join(', ')}`);
  }
  if (typeof path !== 'string') {
    throw invalidPatch(`${at} (${op}) needs a path`);
  }
  pointerTokens(path);
  if ((op === 'move' || op === 'copy') && typeof from !== 'string') {
    throw invalidPatch(`${at} (${op}) needs a from`);
  }
  if (typeof from === 'string') {
    pointerTokens(from);
  }
  if ((op === 'add' || op === 'replace' || op === 'test') && !Object.hasOwn(candidate, 'value')) {
    throw invalidPatch(`${at} (${op}) needs a value`);
  }
  return candidate as unknown as Operation;
}

/** Runs one operation through rfc6902 once our own-property checks have passed; it reports failures as values. */
function apply(document: Container, operation: Operation): void {
  const [failure] = applyPatch(document, [operation]);
  if (failure) {
    throw invalidPatch(`${operation.op} at "${operation.path}" failed: ${failure.message}`);
  }
}

/**
 * Applies an RFC 6902 JSON Patch to a copy of `document`, all or nothing. Pointers may only follow own
 * properties; a failed `test` is a 422, every other problem a 400.
 */
export function applyJsonPatch<T extends Record<string, unknown>>(document: T, operations: unknown): T {
  if (!Array.isArray(operations)) {
    throw invalidPatch('the body must be an array of operations');
  }
  if (operations.length > MAX_PATCH_OPERATIONS) {
    throw invalidPatch(`${operations.length} operations is more than the ${MAX_PATCH_OPERATIONS} allowed`);
  }
  const checked = operations.map(checkedOperation);
  const result = structuredClone(document);
  let copied = 0;
  for (const operation of checked) {
    switch (operation.op) {
      case 'add':
        checkInsertable(result, operation.path);
        apply(result, operation);
        break;
      case 'remove':
      case 'replace':
        if (operation.path === '') {
          throw invalidPatch('the whole resource cannot be replaced by a patch');
        }
        existing(result, operation.path);
        apply(result, operation);
        break;
      case 'move': {
        // RFC 6902 4.4: a remove at from, then an add at path (whose indexes count after the remove).
        const from = pointerTokens(operation.from);
        const path = pointerTokens(operation.path);
        if (from.length === 0) {
          throw invalidPatch('the whole resource cannot be moved');
        }
        if (from.length < path.length && from.every((token, i) => token === path[i])) {
          throw invalidPatch(`"${operation.from}" cannot be moved into its own child "${operation.path}"`);
        }
        const value = existing(result, operation.from);
        apply(result, { op: 'remove', path: operation.from });
        checkInsertable(result, operation.path);
        apply(result, { op: 'add', path: operation.path, value });
        break;
      }
      case 'copy': {
        const value = existing(result, operation.from);
        copied += nodeCount(value, MAX_COPIED_NODES - copied);
        if (copied > MAX_COPIED_NODES) {
          throw invalidPatch(`the patch copies more than ${MAX_COPIED_NODES} values`);
        }
        checkInsertable(result, operation.path);
        apply(result, operation);
        break;
      }
      case 'test':
        // Our own comparison: linear, own properties only (rfc6902 diffs arrays in quadratic memory).
        if (!jsonEqual(existing(result, operation.path), operation.value)) {
          throw new FhirError(422, 'processing', `JSON Patch test failed at ${operation.path}`);
        }
        break;
    }
  }
  if (depthOf(result, DEFAULT_MAX_JSON_DEPTH) > DEFAULT_MAX_JSON_DEPTH) {
    throw invalidPatch(`the patched resource would nest deeper than ${DEFAULT_MAX_JSON_DEPTH} levels`);
  }
  return result;
}
