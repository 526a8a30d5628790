import { execFile } from 'node:child_process';
import { chown, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from '../../utils/free-port.js';
import { makeTempDir } from '../../utils/temp-dir.js';

const run = promisify(execFile);

/** A PostgreSQL cluster of the test's own, so that stopping it touches nothing shared. */
export interface PostgresCluster {
  /** postgres://postgres@127.0.0.1:PORT/registry, a database made for the test. */
  readonly url: string;
  readonly port: number;
  /** Stops the cluster: `immediate` is a crash (recovery at the next start), `fast` a clean shutdown. */
  stop(mode?: 'immediate' | 'fast'): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it if running and deletes its files. */
  remove(): Promise<void>;
}

async function binDir(): Promise<string> {
  const versions = (await readdir('/usr/lib/postgresql')).sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) {
    throw new Error('No PostgreSQL server binaries under /usr/lib/postgresql');
  }
  return path.join('/usr/lib/postgresql', versions[0], 'bin');
}

/**
 * initdb + pg_ctl in a temp folder, on a free loopback port, trust auth. PostgreSQL refuses to run as root: as root
 * the cluster is made and run by the postgres user.
 */
export async function startPostgresCluster(): Promise<PostgresCluster> {
  const bin = await binDir();
  const dir = await makeTempDir('faults-pg');
  const data = path.join(dir.path, 'data');
  const log = path.join(dir.path, 'server.log');
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(dir.path, Number(stdout.trim()), Number(gid.trim()));
  }
  const pgRun = (tool: string, args: string[]) =>
    asRoot
      ? run('runuser', ['-u', 'postgres', '--', path.join(bin, tool), ...args], { cwd: dir.path, timeout: 60_000 })
      : run(path.join(bin, tool), args, { cwd: dir.path, timeout: 60_000 });
  const options = `-p ${port} -k ${dir.path} -c listen_addresses=127.0.0.1 -c max_connections=100`;
  let running = false;
  const cluster: PostgresCluster = {
    url: `postgres://postgres@127.0.0.1:${port}/registry`,
    port,
    start: async () => {
      try {
        await pgRun('pg_ctl', ['-D', data, '-o', options, '-l', log, '-w', '-t', '30', 'start']);
      } catch (error) {
        const text = await readFile(log, 'utf8').catch(() => '');
        throw new Error(`pg_ctl start failed: ${(error as Error).message}\n${text.slice(-2000)}`);
      }
      running = true;
    },
    stop: async (mode = 'immediate') => {
      await pgRun('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '30', 'stop']);
      running = false;
    },
    remove: async () => {
      if (running) {
        await cluster.stop('immediate').catch(() => undefined);
      }
      await dir.remove();
    },
  };
  try {
    await pgRun('initdb', [
      '-D',
      data,
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
      '--no-sync',
      '--no-instructions',
    ]);
    await cluster.start();
    const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
    await admin.connect();
    try {
      await admin.query('CREATE DATABASE registry');
    } finally {
      await admin.end();
    }
  } catch (error) {
    await cluster.remove();
    throw error;
  }
  return cluster;
}
