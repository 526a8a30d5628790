import path from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/bootstrap.js';
import { type AppConfig, loadConfig } from '../../src/config/app-config.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';
import { startS3, type TestS3 } from './start-s3.js';
import { makeTempDir } from './temp-dir.js';
import { aLocalToken } from './tokens.js';
import { freePort } from './free-port.js';

export type DatabaseKind = 'sqlite' | 'postgres';
export type BlobStoreKind = 'file' | 's3';

/** The backend combinations the end-to-end suites run on. */
export const BACKENDS: [DatabaseKind, BlobStoreKind][] = [
  ['sqlite', 'file'],
  ['postgres', 's3'],
];

export interface TestApp {
  readonly baseUrl: string;
  readonly fhirUrl: string;
  readonly config: AppConfig;
  readonly app: NestFastifyApplication;
  /** A bearer token from the server's local issuer; all scopes for organisation RTG unless told otherwise. */
  token(spec?: { org?: string; scope?: string; sub?: string }): Promise<string>;
  /** fetch() against the server with a full-scope token unless `authorization` is given. */
  fetch(pathOrUrl: string, init?: RequestInit & { org?: string; scope?: string }): Promise<Response>;
  close(): Promise<void>;
}

/** Starts the whole server over real HTTP on a fresh database and blob store. */
export async function startTestApp(
  database: DatabaseKind = 'sqlite',
  blobStore: BlobStoreKind = 'file',
  env: Record<string, string> = {},
): Promise<TestApp> {
  const dataDir = await makeTempDir('registry-e2e');
  let testDatabase: TestDatabase | undefined;
  let s3: TestS3 | undefined;
  const port = await freePort();
  const vars: Record<string, string> = {
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir.path,
    LOG_LEVEL: 'error',
    QUEUE_PREFIX: `test-${port}-${Date.now()}`,
  };
  if (database === 'postgres') {
    testDatabase = await createTestDatabase();
    vars.DATABASE_URL = testDatabase.url;
  } else {
    vars.DATABASE_URL = `sqlite:${path.join(dataDir.path, 'registry.db')}`;
  }
  if (blobStore === 's3') {
    s3 = await startS3();
    Object.assign(vars, {
      BLOB_STORE: `s3://${s3.bucket}/blobs`,
      S3_ENDPOINT: s3.endpoint,
      S3_REGION: s3.region,
      S3_FORCE_PATH_STYLE: 'true',
    });
    // The AWS SDK reads credentials from the environment; s3rver accepts its fixed pair.
    process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
  } else {
    vars.BLOB_STORE = `file:${path.join(dataDir.path, 'blobs')}`;
  }
  const config = loadConfig({ ...vars, ...env });
  const app = await createApp(config);
  await app.listen(port, '127.0.0.1');
  const baseUrl = config.baseUrl;
  const token = (spec: { org?: string; scope?: string; sub?: string } = {}) => aLocalToken(config, spec);
  return {
    baseUrl,
    fhirUrl: `${baseUrl}/fhir`,
    config,
    app,
    token,
    fetch: async (pathOrUrl, init = {}) => {
      const { org, scope, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (!headers.has('authorization')) {
        headers.set('authorization', `Bearer ${await token({ org, scope })}`);
      }
      const url = pathOrUrl.startsWith('http') ? pathOrUrl : `${baseUrl}${pathOrUrl}`;
      return fetch(url, { ...rest, headers });
    },
    close: async () => {
      await app.close();
      await s3?.stop();
      await testDatabase?.drop();
      await dataDir.remove();
    },
  };
}
