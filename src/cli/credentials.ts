import { usageError } from './errors.js';
import type { TokenSource } from './http.js';
import { issueLocalToken } from './local-token.js';
import { loadClientKey, requestSmartToken } from './smart-token.js';

export interface CredentialOptions {
  /** Issue a local token for this ODS code (on the server's machine). */
  org?: string;
  /** SMART Backend Services client id and private key file. */
  clientId?: string;
  key?: string;
  /** Overrides the command's own scopes. */
  scope?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

const LOCAL_TTL_SECONDS = 3600;

/** A token source that gets its token once and again only when asked to refresh. */
function cached(get: () => Promise<string>): TokenSource {
  let current: Promise<string> | undefined;
  return {
    token: () => (current ??= get()),
    refresh: () => (current = get()),
  };
}

/**
 * Where the command's bearer token comes from, first match wins: `--client-id` with `--key` (SMART Backend
 * Services against the token endpoint the server advertises), `--org` (the server's local issuer, needs its
 * DATA_DIR), then FHIR_TOKEN. Tokens asked for carry `scope` (the command's least privilege) unless `--scope`.
 */
export function tokenSource(options: CredentialOptions, scope: string, fhirBase: string, env: Env): TokenSource {
  const scopes = options.scope?.trim() || scope;
  const clientId = options.clientId ?? env.FHIR_CLIENT_ID;
  const keyFile = options.key ?? env.FHIR_CLIENT_KEY;
  if (options.clientId || options.key) {
    if (!clientId || !keyFile) {
      throw usageError('--client-id and --key go together (SMART Backend Services: the client and its private key)');
    }
    return cached(async () => {
      const key = await loadClientKey(keyFile);
      return (await requestSmartToken({ fhirBase, clientId, key, scope: scopes })).accessToken;
    });
  }
  if (options.org) {
    const org = options.org;
    return cached(() => issueLocalToken({ org, scope: scopes, ttlSeconds: LOCAL_TTL_SECONDS }, env));
  }
  const fixed = env.FHIR_TOKEN?.trim();
  if (fixed) {
    return { token: () => Promise.resolve(fixed) };
  }
  if (clientId && keyFile) {
    return tokenSource({ clientId, key: keyFile, scope: options.scope }, scope, fhirBase, env);
  }
  throw usageError(
    "No credentials: set FHIR_TOKEN, or give --org ODS (a token from the server's local key, on its machine), " +
      'or --client-id and --key (SMART Backend Services)',
  );
}

/** The `organization` claim of a JWT, read without verifying it (only to default an option). */
export function organizationOf(token: string): string | undefined {
  const payload = token.split('.')[1];
  if (!payload) {
    return undefined;
  }
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { organization?: unknown };
    return typeof claims.organization === 'string' ? claims.organization : undefined;
  } catch {
    return undefined;
  }
}
