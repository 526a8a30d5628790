import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { createSecretFileOnce, hasErrorCode } from '../common/secret-file.js';
import { AppConfig, ConfigError } from '../config/app-config.js';
import { SessionCodec } from './viewer-session.js';

const VARIABLE = 'VIEWER_SESSION_KEY_FILE';
const MIN_KEY_BYTES = 32;

async function readKey(file: string): Promise<Buffer | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (hasErrorCode(error, 'ENOENT')) {
      return undefined;
    }
    throw new ConfigError(VARIABLE, `names ${file}, which cannot be read (${String(error)})`);
  }
  const key = Buffer.from(text.trim(), 'utf8');
  if (key.length < MIN_KEY_BYTES) {
    throw new ConfigError(VARIABLE, `names ${file}, which holds fewer than ${MIN_KEY_BYTES} bytes of key`);
  }
  return key;
}

/**
 * The viewer's signing key, read at start-up from VIEWER_SESSION_KEY_FILE, or generated (mode 0600) under DATA_DIR on
 * first start when that is not set. Every API process that serves /app must read the same key.
 */
@Injectable()
export class ViewerKey implements OnModuleInit {
  private loaded?: SessionCodec;

  constructor(private readonly config: AppConfig) {}

  async onModuleInit(): Promise<void> {
    const { sessionKeyFile: file, generateSessionKey: generate, sessionIdleMinutes } = this.config.viewer;
    let key = await readKey(file);
    if (!key && generate) {
      await createSecretFileOnce(file, `${randomBytes(48).toString('base64')}\n`);
      key = await readKey(file);
      new Logger(ViewerKey.name).log(`Viewer sessions signed with the generated key ${file}`);
    }
    if (!key) {
      throw new ConfigError(
        VARIABLE,
        `names ${file}, which does not exist (create it: openssl rand -base64 48 > FILE)`,
      );
    }
    this.loaded = new SessionCodec(key, sessionIdleMinutes * 60);
  }

  get codec(): SessionCodec {
    if (!this.loaded) {
      throw new Error('The viewer key is read when the module starts');
    }
    return this.loaded;
  }
}
