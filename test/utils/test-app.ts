import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/bootstrap.js';
import { type AppConfig, loadConfig } from '../../src/config/app-config.js';
import { type BlobStoreKind, type DatabaseKind, prepareBackends } from './backends.js';
import { aLocalToken } from './tokens.js';
import { freePort } from './free-port.js';

export { BACKENDS, type BlobStoreKind, type DatabaseKind } from './backends.js';

export interface TestApp {
  readonly baseUrl: string;
  readonly fhirUrl: string;
  readonly config: AppConfig;
  /** The environment the server was configured from: a command run with it works on the same database and store. */
  readonly env: Readonly<Record<string, string>>;
  readonly app: NestFastifyApplication;
  /** Back-dates a stored blob by its BlobStore key, as if written at `when`. */
  setBlobLastModified(key: string, when: Date): Promise<void>;
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
  const backends = await prepareBackends(database, blobStore);
  const port = await freePort();
  const vars: Record<string, string> = {
    ...backends.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'error',
    QUEUE_PREFIX: `test-${port}-${Date.now()}`,
  };
  // The AWS SDK in this process reads its credentials from process.env.
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
    if (vars[name] !== undefined) {
      process.env[name] = vars[name];
    }
  }
  let config: AppConfig;
  let app: NestFastifyApplication | undefined;
  try {
    config = loadConfig({ ...vars, ...env });
    app = await createApp(config);
    await app.listen(port, '127.0.0.1');
  } catch (error) {
    // Bad config, or a start-up check that failed (a bad AUTH_CLIENTS_FILE, say) after modules had opened Redis
    // connections and the database: close them and the backends, or they keep this process alive after the tests.
    await app?.close().catch(() => undefined);
    await backends.release();
    throw error;
  }
  const baseUrl = config.baseUrl;
  const token = (spec: { org?: string; scope?: string; sub?: string } = {}) => aLocalToken(config, spec);
  return {
    baseUrl,
    fhirUrl: `${baseUrl}/fhir`,
    config,
    env: { ...vars, ...env },
    app,
    setBlobLastModified: (key, when) => backends.setBlobLastModified(key, when),
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
      await backends.release();
    },
  };
}
