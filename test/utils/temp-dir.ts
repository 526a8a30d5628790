import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A fresh directory under the OS temp dir, owned by one test; `remove()` deletes it and everything in it. */
export async function makeTempDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const directory = await mkdtemp(path.join(tmpdir(), `${prefix.replace(/[^\w.-]/g, '-')}-`));
  return {
    path: directory,
    remove: () => rm(directory, { recursive: true, force: true }),
  };
}
