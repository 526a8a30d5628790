import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createSecretFileOnce, hasErrorCode } from '../common/secret-file.js';
import { calculateJwkThumbprint, type CryptoKey, exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from 'jose';

/** The local issuer's key pair, used when no identity provider (AUTH_JWKS_URI) is configured. */
export interface LocalSigningKey {
  readonly privateKey: CryptoKey;
  /** The public half as a JWK carrying `kid`, `alg: ES256` and `use: sig`. */
  readonly publicJwk: JWK;
  readonly kid: string;
}

export interface LocalTokenRequest {
  issuer: string;
  audience: string;
  subject: string;
  /** ODS code put in the 'organization' claim. */
  organization?: string;
  /** Space-separated SMART scopes. */
  scope: string;
  expiresInSeconds: number;
  clientId?: string;
}

const ALGORITHM = 'ES256';

/** Where the local key lives under DATA_DIR. */
export function localSigningKeyPath(dataDir: string): string {
  return path.join(dataDir, 'auth', 'local-signing-key.json');
}

async function readKey(file: string): Promise<LocalSigningKey> {
  const jwk = JSON.parse(await readFile(file, 'utf8')) as JWK;
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.d || !jwk.x || !jwk.y) {
    throw new Error(`${file} does not hold an ES256 (P-256) private JWK`);
  }
  const publicJwk: JWK = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
  const kid = jwk.kid ?? (await calculateJwkThumbprint(publicJwk));
  const privateKey = await importJWK(jwk, ALGORITHM);
  if (privateKey instanceof Uint8Array) {
    throw new Error(`${file} does not hold an asymmetric key`);
  }
  return {
    privateKey,
    publicJwk: { ...publicJwk, kid, alg: ALGORITHM, use: 'sig' },
    kid,
  };
}

/**
 * Loads the local ES256 signing key from `{dataDir}/auth/local-signing-key.json`, creating it (mode 0600)
 * on first use. Safe when several processes start at once: each writes a private temp file and links it
 * into place without overwriting, so every process ends up using whichever key landed first.
 */
export async function loadOrCreateLocalSigningKey(dataDir: string): Promise<LocalSigningKey> {
  const file = localSigningKeyPath(dataDir);
  try {
    return await readKey(file);
  } catch (error) {
    if (!hasErrorCode(error, 'ENOENT')) {
      throw error;
    }
  }
  const { privateKey } = await generateKeyPair(ALGORITHM, {
    extractable: true,
  });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint({
    kty: jwk.kty,
    crv: jwk.crv,
    x: jwk.x,
    y: jwk.y,
  });
  // a process that lost the race to create the key reads the winner's
  await createSecretFileOnce(file, JSON.stringify({ ...jwk, kid, alg: ALGORITHM, use: 'sig' }, null, 2));
  return readKey(file);
}

/** Signs an access token with the local key (for `npm run token`, development and tests). */
export async function signLocalToken(dataDir: string, request: LocalTokenRequest): Promise<string> {
  return signAccessToken(await loadOrCreateLocalSigningKey(dataDir), request);
}

/** Signs an access token with a loaded local key (the token endpoint keeps the key in memory). */
export async function signAccessToken(
  key: LocalSigningKey,
  request: LocalTokenRequest & { tokenId?: string },
): Promise<string> {
  const claims: Record<string, string> = { scope: request.scope };
  if (request.organization) {
    claims.organization = request.organization;
  }
  if (request.clientId) {
    claims.client_id = request.clientId;
  }
  return new SignJWT(claims)
    .setProtectedHeader({ alg: ALGORITHM, kid: key.kid, typ: 'at+jwt' })
    .setIssuer(request.issuer)
    .setAudience(request.audience)
    .setSubject(request.subject)
    .setIssuedAt()
    .setExpirationTime(`${request.expiresInSeconds}s`)
    .setJti(request.tokenId ?? randomUUID())
    .sign(key.privateKey);
}
