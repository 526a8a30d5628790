import { randomUUID } from 'node:crypto';
import { link, mkdir, open, unlink } from 'node:fs/promises';
import path from 'node:path';

/** Whether a Node system error carries `code` (ENOENT, EEXIST, ...); duck-typed, as errors from another realm (jest's VM) fail instanceof. */
export function hasErrorCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}

/**
 * Creates `file` (mode 0600, its folder 0700) holding `content`, unless it already exists: the content is synced to a
 * temp file first, then link(2) gives it its name, which fails instead of replacing. So processes starting together
 * agree on one secret: the loser's is discarded and it reads the winner's.
 */
export async function createSecretFileOnce(file: string, content: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.${randomUUID()}.tmp`;
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(content);
    // the secret must be on disk before it becomes visible under its final name
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temp, file);
  } catch (error) {
    if (!hasErrorCode(error, 'EEXIST')) {
      throw error;
    }
  } finally {
    await unlink(temp);
  }
}
