import { signLocalToken } from '../auth/local-issuer.js';
import { loadConfig } from '../config/app-config.js';
import { usageError } from './errors.js';

export const MAX_LOCAL_TTL_SECONDS = 30 * 24 * 3600;

export interface LocalTokenOptions {
  /** ODS code for the `organization` claim. */
  org?: string;
  /** Space-separated SMART scopes. */
  scope: string;
  sub?: string;
  ttlSeconds: number;
  clientId?: string;
}

/**
 * Signs an access token with the server's local key, reading the server's own settings (DATA_DIR, AUTH_ISSUER,
 * AUTH_AUDIENCE, AUTH_JWKS_URI) from `env`. Only works on a machine that shares the server's DATA_DIR; like the
 * server, it creates the key there when there is none yet (the server creates it lazily, on the first request).
 */
export async function issueLocalToken(
  options: LocalTokenOptions,
  env: Readonly<Record<string, string | undefined>>,
): Promise<string> {
  let config;
  try {
    config = loadConfig(env);
  } catch (error) {
    throw usageError(`The server's settings are wrong: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (config.auth.jwksUri) {
    throw usageError(
      'AUTH_JWKS_URI is set: tokens come from your identity provider, not from the local key (use FHIR_TOKEN or --client-id with --key)',
    );
  }
  if (!options.scope.trim()) {
    throw usageError('--scope must name at least one scope');
  }
  if (!Number.isInteger(options.ttlSeconds) || options.ttlSeconds < 1 || options.ttlSeconds > MAX_LOCAL_TTL_SECONDS) {
    throw usageError(`--ttl must be a whole number of seconds between 1 and ${MAX_LOCAL_TTL_SECONDS}`);
  }
  return signLocalToken(config.dataDir, {
    issuer: config.auth.issuer,
    audience: config.auth.audience,
    subject: options.sub ?? (options.org ? `local-${options.org}` : 'local-developer'),
    organization: options.org,
    scope: options.scope.trim(),
    expiresInSeconds: options.ttlSeconds,
    clientId: options.clientId,
  });
}
