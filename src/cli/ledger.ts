import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { failure } from './errors.js';

/**
 * Where the Binary ledger lives by default: `$XDG_STATE_HOME/fhir-registry/binaries.json`, else
 * `~/.local/state/fhir-registry/binaries.json`.
 */
export function defaultLedgerPath(env: Readonly<Record<string, string | undefined>>): string {
  const stateHome = env.XDG_STATE_HOME?.trim() || path.join(env.HOME?.trim() || homedir(), '.local', 'state');
  return path.join(stateHome, 'fhir-registry', 'binaries.json');
}

interface LedgerFile {
  version: 1;
  /** FHIR base URL -> "sha256 content-type" -> Binary id. */
  servers: Record<string, Record<string, string>>;
}

/**
 * The Binaries this machine has stored on each server, by content. A Binary POST always creates a new Binary, so
 * this is what makes re-running `submit` over the same PDFs safe: a file already in the ledger is checked on the
 * server (If-None-Match on its SHA-256 ETag) instead of being sent again.
 */
export class BinaryLedger {
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly file: string,
    private readonly data: LedgerFile,
  ) {}

  static async open(file: string): Promise<BinaryLedger> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return new BinaryLedger(file, { version: 1, servers: {} });
      }
      throw error;
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw failure(`The Binary ledger ${file} is not valid JSON: fix or remove it (then Binaries are sent again)`);
    }
    const servers = (data as Partial<LedgerFile> | null)?.servers;
    if (typeof servers !== 'object' || servers === null || Array.isArray(servers)) {
      throw failure(`The Binary ledger ${file} is not a ledger this tool wrote: fix or remove it`);
    }
    return new BinaryLedger(file, { version: 1, servers });
  }

  private static key(sha256: string, contentType: string): string {
    return `${sha256} ${contentType}`;
  }

  find(server: string, sha256: string, contentType: string): string | undefined {
    const id = this.data.servers[server]?.[BinaryLedger.key(sha256, contentType)];
    return typeof id === 'string' ? id : undefined;
  }

  /** Records a stored Binary and writes the ledger (atomically, one write at a time). */
  record(server: string, sha256: string, contentType: string, id: string): Promise<void> {
    (this.data.servers[server] ??= {})[BinaryLedger.key(sha256, contentType)] = id;
    const write = async () => {
      await mkdir(path.dirname(this.file), { recursive: true });
      const temporary = `${this.file}.${process.pid}.tmp`;
      await writeFile(temporary, JSON.stringify(this.data, null, 2), { mode: 0o600 });
      await rename(temporary, this.file);
    };
    this.writing = this.writing.then(write, write);
    return this.writing;
  }

  /** Forgets a Binary the server no longer has (so it is sent again). */
  forget(server: string, sha256: string, contentType: string): void {
    delete this.data.servers[server]?.[BinaryLedger.key(sha256, contentType)];
  }
}
