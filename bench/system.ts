import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { signLocalToken } from '../src/auth/local-issuer.js';
import { systemEnv } from './knobs.js';
import { type Child, freePort, MAIN, startChild } from './processes.js';

export type Dialect = 'sqlite' | 'postgres';

export const POSTGRES_ADMIN_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A throwaway database or SQLite file, and a data directory for blobs, keys and the audit key. */
export interface Store {
  readonly dialect: Dialect;
  readonly dataDir: string;
  readonly databaseUrl: string;
  /** The SQLite file or the PostgreSQL URL, for loaders that write rows directly. */
  readonly location: string;
  drop(): Promise<void>;
}

export async function createStore(dialect: Dialect, label: string): Promise<Store> {
  const dataDir = await mkdtemp(path.join(tmpdir(), `registry-bench-${label}-`));
  if (dialect === 'sqlite') {
    const file = path.join(dataDir, 'registry.db');
    return {
      dialect,
      dataDir,
      databaseUrl: `sqlite:${file}`,
      location: file,
      drop: () => rm(dataDir, { recursive: true, force: true }),
    };
  }
  const name = `bench_${randomBytes(8).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    dialect,
    dataDir,
    databaseUrl: url.toString(),
    location: url.toString(),
    drop: async () => {
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Removes every Redis key under a queue prefix (Bull leaves its lists and hashes behind). */
export async function dropQueueKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [nextCursor, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = nextCursor;
      if (keys.length > 0) {
        await redis.del(...keys);
      }
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export interface SystemServer {
  readonly child: Child;
  readonly store: Store;
  /** A bearer token from the server's local issuer (all scopes unless told) for one organisation. */
  token(organization: string, scope?: string): Promise<string>;
  /** Stops the process (SIGTERM, or SIGUSR2 for a profiled one), keeps the store. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** The system under test: `node dist/src/main.js` as a child process on `store`. */
export async function startSystem(options: {
  name: string;
  store: Store;
  env?: Record<string, string>;
  nodeArgs?: string[];
}): Promise<SystemServer> {
  const { store } = options;
  const port = await freePort();
  const queuePrefix = `bench-${port}-${Date.now()}`;
  const child = await startChild({
    name: options.name,
    script: MAIN,
    port,
    readyPath: '/health/ready',
    nodeArgs: options.nodeArgs,
    env: {
      DATA_DIR: store.dataDir,
      DATABASE_URL: store.databaseUrl,
      BLOB_STORE: `file:${path.join(store.dataDir, 'blobs')}`,
      REDIS_URL,
      QUEUE_PREFIX: queuePrefix,
      APP_ROLES: 'api',
      LOG_LEVEL: 'error',
      // the bench is one client sending as fast as it can: the per-client limits would only measure 429s
      RATE_LIMIT_PER_MINUTE: '1000000000',
      RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '1000000000',
      ...systemEnv(),
      ...options.env,
    },
  });
  return {
    child,
    store,
    token: (organization, scope = 'system/*.cruds') =>
      signLocalToken(store.dataDir, {
        issuer: 'urn:fhir-document-registry:local',
        audience: 'urn:fhir-document-registry',
        subject: 'bench',
        clientId: 'bench',
        organization,
        scope,
        expiresInSeconds: 6 * 3600,
      }),
    stop: async (signal) => {
      await child.stop(signal);
      await dropQueueKeys(queuePrefix).catch(() => undefined);
    },
  };
}
