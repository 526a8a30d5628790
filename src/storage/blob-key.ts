import { randomUUID } from 'node:crypto';

const KEY_PATTERN = /^([0-9a-f]{2})\/([0-9a-f]{2})\/\1\2[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A fresh random key such as `3f/a1/3fa1c2d4-...`: two shard levels taken from the UUID itself so that
 * no directory (or listing page) grows huge.
 */
export function newBlobKey(): string {
  const id = randomUUID();
  return `${id.slice(0, 2)}/${id.slice(2, 4)}/${id}`;
}

/** Whether `key` has the exact shape `newBlobKey` produces; anything else (`..`, absolute paths) is refused. */
export function isBlobKey(key: string): boolean {
  return KEY_PATTERN.test(key);
}
