import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { createSecretFileOnce } from '../common/secret-file.js';
import { AppConfig, ConfigError } from '../config/app-config.js';

/** Shorter keys are refused: HMAC-SHA-256 wants at least its output size of secret. */
export const MIN_AUDIT_KEY_BYTES = 32;

const VARIABLE = 'AUDIT_HMAC_KEY_FILE';

/** Where the generated key lives under DATA_DIR when AUDIT_HMAC_KEY_FILE is not set. */
export function defaultAuditKeyPath(dataDir: string): string {
  return path.join(dataDir, 'auth', 'audit-hmac-key');
}

// duck-typed: fs errors may come from another realm (e.g. under jest's VM), where instanceof Error fails
function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? (error as NodeJS.ErrnoException).code : undefined;
}

/** The key in `file`, or undefined when there is no such file. */
async function readKey(file: string): Promise<Buffer | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT') {
      return undefined;
    }
    throw new ConfigError(VARIABLE, `names ${file}, which cannot be read (${code ?? String(error)})`);
  }
  const key = Buffer.from(text.trim(), 'utf8');
  if (key.length < MIN_AUDIT_KEY_BYTES) {
    throw new ConfigError(VARIABLE, `names ${file}, which holds fewer than ${MIN_AUDIT_KEY_BYTES} bytes of key`);
  }
  return key;
}

/** Writes a fresh key (mode 0600) unless another process got there first. */
async function createKey(file: string): Promise<void> {
  await createSecretFileOnce(file, `${randomBytes(48).toString('base64')}\n`);
}

/**
 * The secret that keys the audit chain, read from `hmacKeyFile`; the generated default under DATA_DIR is created
 * (mode 0600) on first start unless `create` is false (verification never invents a key).
 */
export async function loadAuditKey(
  audit: AppConfig['audit'],
  { create = audit.generateHmacKey }: { create?: boolean } = {},
): Promise<Buffer> {
  const file = audit.hmacKeyFile;
  let key = await readKey(file);
  if (!key && create) {
    await createKey(file);
    key = await readKey(file);
  }
  if (!key) {
    throw new ConfigError(VARIABLE, `names ${file}, which does not exist (create it: openssl rand -base64 48 > FILE)`);
  }
  return key;
}

/** The audit chain's HMAC key, kept outside the database and read at start-up. */
@Injectable()
export class AuditChainKey implements OnModuleInit {
  private loaded?: Buffer;

  constructor(private readonly config: AppConfig) {}

  /** In a lifecycle hook, not a provider factory: a factory's error aborts the process instead of naming the variable. */
  async onModuleInit(): Promise<void> {
    this.loaded = await loadAuditKey(this.config.audit);
    if (this.config.audit.generateHmacKey) {
      new Logger(AuditChainKey.name).log(`Audit chain keyed with the generated key ${this.config.audit.hmacKeyFile}`);
    }
  }

  get secret(): Buffer {
    if (!this.loaded) {
      throw new Error('The audit chain key is read at start-up (onModuleInit)');
    }
    return this.loaded;
  }
}
