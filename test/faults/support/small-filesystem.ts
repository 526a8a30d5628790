import { execFile } from 'node:child_process';
import { open, unlink } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { makeTempDir } from '../../utils/temp-dir.js';

const run = promisify(execFile);

/** A filesystem of a few MiB of its own (tmpfs), to be filled up and freed again. */
export interface SmallFilesystem {
  readonly path: string;
  /** Writes a ballast file until the filesystem is full (ENOSPC); the bytes it took. */
  fill(): Promise<number>;
  /** Deletes the ballast: the space returns. */
  free(): Promise<void>;
  /** Unmounts and deletes the mount point. */
  remove(): Promise<void>;
}

/**
 * Mounts a tmpfs of `sizeMiB` on a fresh temp folder. Needs the right to mount (root, or CAP_SYS_ADMIN); without it
 * this fails saying so, rather than fake a full disk.
 */
export async function mountSmallFilesystem(sizeMiB: number): Promise<SmallFilesystem> {
  const dir = await makeTempDir('faults-small-fs');
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0755`, 'tmpfs', dir.path]);
  } catch (error) {
    await dir.remove();
    throw new Error(
      `The disk-full test mounts a ${sizeMiB} MiB tmpfs and could not (${(error as Error).message.trim()}): ` +
        'run the fault suite as root or with CAP_SYS_ADMIN (CI does)',
    );
  }
  const ballast = path.join(dir.path, '.ballast');
  return {
    path: dir.path,
    fill: async () => {
      const file = await open(ballast, 'a');
      let written = 0;
      try {
        // big chunks until one does not fit, then smaller ones, down to a page
        for (let chunk = 1024 * 1024; chunk >= 4096; chunk /= 4) {
          const bytes = Buffer.alloc(chunk, 0x5a);
          for (;;) {
            try {
              written += (await file.write(bytes)).bytesWritten;
            } catch (error) {
              if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') {
                throw error;
              }
              break;
            }
          }
        }
      } finally {
        await file.close();
      }
      return written;
    },
    free: () => unlink(ballast),
    remove: async () => {
      await run('umount', ['-l', dir.path]).catch(() => undefined);
      await dir.remove();
    },
  };
}
