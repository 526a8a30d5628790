import 'reflect-metadata';
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DataSource } from 'typeorm';
import { validateClientRegistration } from '../src/auth/smart-client.js';
import { SmartClientRepository } from '../src/auth/smart-client.repository.js';
import { loadConfig } from '../src/config/app-config.js';
import { dataSourceOptions } from '../src/database/data-source-options.js';
import { ENTITIES } from '../src/entities.js';
import { EndpointAllowlist } from '../src/notifications/endpoint-safety.js';

const USAGE = `Usage:
  npm run clients -- register --id CLIENT_ID --org ODS --scope "system/DocumentReference.rs ..."
                              (--jwks FILE | --jwks-uri URL) [--name NAME]
  npm run clients -- list [--json]
  npm run clients -- disable --id CLIENT_ID
  npm run clients -- enable --id CLIENT_ID

Manages the SMART Backend Services clients of the local token endpoint (BASE_URL/auth/token) in the database
DATABASE_URL names. --jwks is a file holding the client's public JWK Set (or one public JWK); --jwks-uri is where
the client publishes it. Registering an existing client id replaces its keys, organisation and scopes.`;

type Env = Readonly<Record<string, string | undefined>>;

async function jwksFromFile(file: string): Promise<unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new Error(`--jwks ${file}: ${(error as Error).message}`);
  }
  // one bare public key is taken as a set of one
  return typeof parsed === 'object' && parsed !== null && 'kty' in parsed ? { keys: [parsed] } : parsed;
}

function required(value: string | undefined, flag: string): string {
  if (!value?.trim()) {
    throw new Error(`${flag} is required\n\n${USAGE}`);
  }
  return value.trim();
}

/** Runs one admin command; returns what to print. Throws with a usable message on bad input. */
export async function main(argv: readonly string[], env: Env): Promise<string> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      id: { type: 'string' },
      name: { type: 'string' },
      org: { type: 'string' },
      scope: { type: 'string' },
      jwks: { type: 'string' },
      'jwks-uri': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: true,
  });
  const [command, ...extra] = positionals;
  if (values.help || !command) {
    throw new Error(USAGE);
  }
  if (extra.length > 0 || !['register', 'list', 'disable', 'enable'].includes(command)) {
    throw new Error(`unknown command "${positionals.join(' ')}"\n\n${USAGE}`);
  }
  const config = loadConfig(env);
  if (config.auth.jwksUri) {
    throw new Error('AUTH_JWKS_URI is set: your identity provider registers clients, not this command');
  }
  // validated before the database is opened, so a typo costs nothing
  const registration =
    command === 'register'
      ? validateClientRegistration(
          {
            client_id: required(values.id, '--id'),
            client_name: values.name,
            organization: required(values.org, '--org'),
            scope: required(values.scope, '--scope'),
            jwks: values.jwks ? await jwksFromFile(values.jwks) : undefined,
            jwks_uri: values['jwks-uri'],
          },
          new EndpointAllowlist(config.notifications.endpointAllowlist),
        )
      : undefined;
  const clientId = command === 'disable' || command === 'enable' ? required(values.id, '--id') : undefined;

  const dataSource = new DataSource({ ...dataSourceOptions(config), entities: ENTITIES });
  await dataSource.initialize();
  try {
    const clients = new SmartClientRepository(dataSource);
    if (registration) {
      const outcome = await clients.register(registration);
      const stored = await clients.find(registration.clientId);
      const still = stored && stored.disabledMs !== null ? ' (still disabled: run enable to let it in)' : '';
      return `${outcome} client ${registration.clientId} for ${registration.organization}: ${registration.scopes}${still}`;
    }
    if (clientId) {
      if (!(await clients.setDisabled(clientId, command === 'disable'))) {
        throw new Error(`no client ${clientId} is registered`);
      }
      return `${command}d client ${clientId}`;
    }
    const all = await clients.list();
    const rows = all.map((c) => ({
      client_id: c.clientId,
      client_name: c.name,
      organization: c.organization,
      scope: c.scopes,
      keys: c.jwksUri ?? `${(JSON.parse(c.jwks!) as { keys: unknown[] }).keys.length} inline`,
      created: new Date(c.createdMs).toISOString(),
      disabled: c.disabledMs === null ? null : new Date(c.disabledMs).toISOString(),
    }));
    if (values.json) {
      return JSON.stringify(rows, null, 2);
    }
    if (rows.length === 0) {
      return 'no clients registered';
    }
    return rows
      .map(
        (r) =>
          `${r.client_id}\t${r.organization}\t${r.disabled ? `disabled ${r.disabled}` : 'enabled'}\t${r.keys}\t${r.scope}`,
      )
      .join('\n');
  } finally {
    await dataSource.destroy();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2), process.env).then(
    (output) => process.stdout.write(`${output}\n`),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
