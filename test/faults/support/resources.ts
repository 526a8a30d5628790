import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { signLocalToken } from '../../../src/auth/local-issuer.js';
import { freePort } from '../../utils/free-port.js';
import { startServerProcess, type ServerProcess } from '../../utils/server-process.js';
import { makeTempDir } from '../../utils/temp-dir.js';
import { Load, type LoadOptions } from './load.js';
import { FHIR_JSON, settle } from './submissions.js';

/**
 * What one fault test started: server processes, dependencies, temp folders. `release()` SIGKILLs the servers and
 * runs the clean-ups, last first, even when the test failed; `withResources` makes sure it runs.
 */
export class Resources {
  private readonly servers = new Set<ServerProcess>();
  private readonly cleanups: (() => Promise<void>)[] = [];
  private readonly loads: Load[] = [];
  private readonly started: ServerProcess[] = [];

  /** Starts the compiled server and waits until it is ready (an api process) or running (worker only). */
  async start(env: Record<string, string>): Promise<ServerProcess> {
    const server = await startServerProcess(env);
    this.servers.add(server);
    this.started.push(server);
    return server;
  }

  /** The end of what each server process started so far wrote (for a failing test's message). */
  logs(): string {
    // unexpected errors first: an outage's expected complaints can be many
    return this.started
      .map((server, i) => {
        const lines = server.output().split('\n');
        const unhandled = lines.filter((line) => /Unhandled error|Error:|TypeError|RangeError/.test(line));
        return `--- server ${i + 1} (pid ${server.pid}) ---\n${unhandled.slice(0, 20).join('\n')}\n...\n${lines.slice(-30).join('\n')}`;
      })
      .join('\n');
  }

  async stop(server: ServerProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await server.kill(signal);
    this.servers.delete(server);
  }

  /** Starts a load that release() stops, should the test fail while it runs. */
  load(options: LoadOptions): Load {
    const load = new Load(options).start();
    this.loads.push(load);
    return load;
  }

  onRelease(cleanup: () => Promise<void>): void {
    this.cleanups.push(cleanup);
  }

  /** A temp folder removed at release. */
  async tempDir(prefix: string): Promise<string> {
    const dir = await makeTempDir(prefix);
    this.onRelease(() => dir.remove());
    return dir.path;
  }

  async release(): Promise<void> {
    await Promise.all(this.loads.splice(0).map((load) => load.stop()));
    // FAULTS_LOG_DIR=folder keeps every server process's whole output, for a failure that needs more than its end
    const logDir = process.env.FAULTS_LOG_DIR;
    if (logDir) {
      await mkdir(logDir, { recursive: true });
      await Promise.all(
        this.started.map((server) => writeFile(path.join(logDir, `server-${server.pid}.log`), server.output())),
      );
    }
    await Promise.all([...this.servers].map((server) => server.kill('SIGKILL')));
    this.servers.clear();
    const errors: unknown[] = [];
    for (const cleanup of this.cleanups.splice(0).reverse()) {
      await cleanup().catch((error: unknown) => errors.push(error));
    }
    if (errors.length > 0) {
      throw errors[0];
    }
  }
}

const unreleased = new Set<Resources>();

/** Runs a test body with its own Resources, released however it ends. */
export async function withResources(body: (resources: Resources) => Promise<void>): Promise<void> {
  const resources = new Resources();
  unreleased.add(resources);
  try {
    await body(resources);
  } catch (error) {
    if (error instanceof Error) {
      error.message += `\n${resources.logs()}`;
    }
    throw error;
  } finally {
    unreleased.delete(resources);
    await resources.release();
  }
}

/** A safety net for afterAll: hooks do not run around concurrent tests, and a timed-out test leaves its own. */
export async function releaseAll(): Promise<void> {
  await Promise.all([...unreleased].map((resources) => resources.release()));
  unreleased.clear();
}

/** Deletes the Redis keys of one test's queue prefix. */
export async function dropQueue(prefix: string, redisUrl = 'redis://127.0.0.1:6379'): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length > 0) {
        await redis.del(...keys);
      }
      cursor = next;
    } while (cursor !== '0');
  } catch {
    // a private Redis already gone has nothing left to drop
  } finally {
    redis.disconnect();
  }
}

/**
 * The environment of a fault test's server: fast notification polling and retries, no rate limit (the load is
 * the point), a queue prefix of its own (dropped at release) on the shared Redis unless REDIS_URL is given.
 */
export async function faultEnv(
  resources: Resources,
  dataDir: string,
  extra: Record<string, string> = {},
): Promise<Record<string, string>> {
  const env: Record<string, string> = {
    PORT: String(await freePort()), // kept across restarts, so stored URLs stay this server's
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    QUEUE_PREFIX: `test-faults-${randomUUID()}`,
    SUBSCRIPTION_ENDPOINT_ALLOWLIST: '127.0.0.1,localhost',
    DELIVERY_BACKOFF_BASE_MS: '50',
    OUTBOX_POLL_MS: '100',
    // a killed worker's jobs are taken over within seconds, not a minute
    DELIVERY_LOCK_MS: '3000',
    RATE_LIMIT_PER_MINUTE: '1000000',
    RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '1000000',
    LOG_LEVEL: 'error',
    ...extra,
  };
  resources.onRelease(() => dropQueue(env.QUEUE_PREFIX, env.REDIS_URL));
  return env;
}

/** A full-scope token of `org` from the local issuer whose key lives in `dataDir`. */
export function tokenFor(dataDir: string, org: string): Promise<string> {
  return signLocalToken(dataDir, {
    issuer: 'urn:fhir-document-registry:local',
    audience: 'urn:fhir-document-registry',
    subject: `fault-test-${org}`,
    organization: org,
    scope: 'system/*.cruds',
    expiresInSeconds: 1800,
  });
}

/** Creates a classic rest-hook Subscription with a payload and waits until it is active; returns its id. */
export async function subscribe(baseUrl: string, token: string, criteria: string, endpoint: string): Promise<string> {
  const response = await fetch(`${baseUrl}/fhir/Subscription`, {
    method: 'POST',
    headers: { 'content-type': FHIR_JSON, authorization: `Bearer ${token}` },
    body: JSON.stringify({
      resourceType: 'Subscription',
      status: 'requested',
      reason: 'fault test',
      criteria,
      channel: { type: 'rest-hook', endpoint, payload: FHIR_JSON },
    }),
  });
  const body = (await response.json()) as { id?: string; status?: string };
  if (response.status !== 201 || !body.id) {
    throw new Error(`creating the Subscription answered ${response.status}: ${JSON.stringify(body)}`);
  }
  const deadline = Date.now() + 30_000;
  for (;;) {
    const current = (await (
      await fetch(`${baseUrl}/fhir/Subscription/${body.id}`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as { status?: string };
    if (current.status === 'active') {
      return body.id;
    }
    if (Date.now() > deadline) {
      throw new Error(`Subscription/${body.id} is ${current.status}, expected active`);
    }
    await settle(100);
  }
}
