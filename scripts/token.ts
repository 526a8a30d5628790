import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { issueLocalToken, MAX_LOCAL_TTL_SECONDS } from '../src/cli/local-token.js';

const USAGE = `Usage: npm run token -- --scope "system/*.cruds" [--org ODS] [--sub NAME] [--ttl SECONDS] [--client ID]

Prints an access token signed with the local key under DATA_DIR (only when AUTH_JWKS_URI is not set).`;

/** Signs a local access token from command-line options; returns the token. Throws with a usable message on bad input. */
export async function main(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Promise<string> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      org: { type: 'string' },
      scope: { type: 'string' },
      sub: { type: 'string' },
      ttl: { type: 'string', default: '3600' },
      client: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) {
    throw new Error(USAGE);
  }
  if (!values.scope?.trim()) {
    throw new Error(`--scope is required\n\n${USAGE}`);
  }
  if (!/^\d+$/.test(values.ttl) || Number(values.ttl) < 1 || Number(values.ttl) > MAX_LOCAL_TTL_SECONDS) {
    throw new Error(
      `--ttl must be a whole number of seconds between 1 and ${MAX_LOCAL_TTL_SECONDS}, got "${values.ttl}"`,
    );
  }
  return issueLocalToken(
    { org: values.org, scope: values.scope, sub: values.sub, ttlSeconds: Number(values.ttl), clientId: values.client },
    env,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2), process.env).then(
    (token) => process.stdout.write(`${token}\n`),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
