import { utimes } from 'node:fs/promises';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from './postgres.js';
import { s3Env, startS3, type TestS3 } from './start-s3.js';
import { makeTempDir } from './temp-dir.js';

export type DatabaseKind = 'sqlite' | 'postgres';
export type BlobStoreKind = 'file' | 's3';

/** The backend combinations the end-to-end suites run on. */
export const BACKENDS: [DatabaseKind, BlobStoreKind][] = [
  ['sqlite', 'file'],
  ['postgres', 's3'],
];

export interface Backends {
  /** A fresh DATA_DIR. */
  readonly dataDir: string;
  /** DATA_DIR, DATABASE_URL, BLOB_STORE (and the S3 settings and credentials) for a server on these backends. */
  readonly env: Record<string, string>;
  /** Back-dates a stored blob by its BlobStore key (its file's mtime, or the s3rver object's LastModified). */
  setBlobLastModified(key: string, when: Date): Promise<void>;
  /** Stops s3rver, drops the database and removes DATA_DIR. */
  release(): Promise<void>;
}

/**
 * A fresh database (a SQLite file in DATA_DIR, or a new PostgreSQL database) and blob store (a directory in DATA_DIR,
 * or a new s3rver bucket), for a server in this process (startTestApp) or in a child (startServerProcess).
 */
export async function prepareBackends(database: DatabaseKind, blobStore: BlobStoreKind): Promise<Backends> {
  const dataDir = await makeTempDir('registry-e2e');
  let testDatabase: TestDatabase | undefined;
  let s3: TestS3 | undefined;
  const env: Record<string, string> = { DATA_DIR: dataDir.path };
  if (database === 'postgres') {
    testDatabase = await createTestDatabase();
    env.DATABASE_URL = testDatabase.url;
  } else {
    env.DATABASE_URL = `sqlite:${path.join(dataDir.path, 'registry.db')}`;
  }
  if (blobStore === 's3') {
    s3 = await startS3();
    Object.assign(env, s3Env(s3));
  } else {
    env.BLOB_STORE = `file:${path.join(dataDir.path, 'blobs')}`;
  }
  return {
    dataDir: dataDir.path,
    env,
    setBlobLastModified: async (key, when) => {
      if (s3) {
        await s3.setLastModified(`blobs/${key}`, when);
      } else {
        await utimes(path.join(dataDir.path, 'blobs', ...key.split('/')), when, when);
      }
    },
    release: async () => {
      await s3?.stop();
      await testDatabase?.drop();
      await dataDir.remove();
    },
  };
}
