import { FhirError } from '../common/fhir-error.js';

export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: unknown;
}

const invalidPatch = (message: string) => new FhirError(400, 'invalid', `Invalid JSON Patch: ${message}`);

function pointer(path: string): string[] {
  if (path === '') {
    return [];
  }
  if (!path.startsWith('/')) {
    throw invalidPatch(`path "${path}" must start with /`);
  }
  return path
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
}

type Container = Record<string, unknown> | unknown[];

function parentOf(document: unknown, parts: string[], path: string): [Container, string] {
  let node = document;
  for (const part of parts.slice(0, -1)) {
    if (node === null || typeof node !== 'object' || !(part in node)) {
      throw invalidPatch(`path "${path}" does not exist`);
    }
    node = (node as Record<string, unknown>)[part];
  }
  if (node === null || typeof node !== 'object') {
    throw invalidPatch(`path "${path}" does not exist`);
  }
  return [node as Container, parts[parts.length - 1]];
}

function get(document: unknown, path: string): unknown {
  let node = document;
  for (const part of pointer(path)) {
    if (node === null || typeof node !== 'object' || !(part in node)) {
      throw invalidPatch(`path "${path}" does not exist`);
    }
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function put(document: unknown, path: string, value: unknown, replace: boolean): void {
  const parts = pointer(path);
  if (parts.length === 0) {
    throw invalidPatch('the whole resource cannot be replaced by a patch');
  }
  if (parts.some((p) => p === '__proto__' || p === 'constructor' || p === 'prototype')) {
    throw invalidPatch(`path "${path}" is not allowed`);
  }
  const [parent, key] = parentOf(document, parts, path);
  if (Array.isArray(parent)) {
    const index = key === '-' ? parent.length : Number(key);
    if (!Number.isInteger(index) || index < 0 || index > parent.length - (replace ? 1 : 0)) {
      throw invalidPatch(`index in "${path}" is out of range`);
    }
    parent.splice(index, replace ? 1 : 0, value);
    return;
  }
  if (replace && !(key in parent)) {
    throw invalidPatch(`path "${path}" does not exist`);
  }
  parent[key] = value;
}

function remove(document: unknown, path: string): unknown {
  const [parent, key] = parentOf(document, pointer(path), path);
  if (Array.isArray(parent)) {
    const index = Number(key);
    if (!Number.isInteger(index) || index < 0 || index >= parent.length) {
      throw invalidPatch(`index in "${path}" is out of range`);
    }
    return parent.splice(index, 1)[0];
  }
  if (!(key in parent)) {
    throw invalidPatch(`path "${path}" does not exist`);
  }
  const value = parent[key];
  delete parent[key];
  return value;
}

/** Applies an RFC 6902 JSON Patch to a copy of `document`. */
export function applyJsonPatch<T>(document: T, operations: unknown): T {
  if (!Array.isArray(operations)) {
    throw invalidPatch('the body must be an array of operations');
  }
  const result = structuredClone(document);
  for (const operation of operations as JsonPatchOperation[]) {
    if (operation === null || typeof operation !== 'object' || typeof operation.path !== 'string') {
      throw invalidPatch('every operation needs an op and a path');
    }
    switch (operation.op) {
      case 'add':
        put(result, operation.path, structuredClone(operation.value), false);
        break;
      case 'replace':
        put(result, operation.path, structuredClone(operation.value), true);
        break;
      case 'remove':
        remove(result, operation.path);
        break;
      case 'move':
        put(result, operation.path, remove(result, operation.from ?? ''), false);
        break;
      case 'copy':
        put(result, operation.path, structuredClone(get(result, operation.from ?? '')), false);
        break;
      case 'test':
        if (JSON.stringify(get(result, operation.path)) !== JSON.stringify(operation.value)) {
          throw new FhirError(422, 'processing', `JSON Patch test failed at ${operation.path}`);
        }
        break;
      default:
        throw invalidPatch(`unknown op "${String((operation as { op: unknown }).op)}"`);
    }
  }
  return result;
}
