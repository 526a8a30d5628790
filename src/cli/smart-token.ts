import { createPrivateKey, createPublicKey, type JsonWebKey, type KeyObject, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { calculateJwkThumbprint, type JWK, SignJWT } from 'jose';
import { failure, usageError } from './errors.js';
import { networkReason } from './http.js';
import { printable } from './text.js';

/** A client's private key for signing its assertions, with the algorithm and key id the assertion names. */
export interface ClientKey {
  key: KeyObject;
  alg: 'RS384' | 'ES384' | 'ES256' | 'RS256';
  kid: string;
  /** The JWK named its algorithm: keep it. */
  fixedAlg?: boolean;
}

const ALGORITHMS = new Set(['RS384', 'ES384', 'ES256', 'RS256']);
const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const LOOPBACK = /^(127(?:\.\d{1,3}){3}|localhost|\[::1\])$/i;

/** The algorithm a key signs with: the JWK's own `alg`, else ES384/ES256 by curve, RS384 for RSA (SMART's picks). */
function algorithmFor(key: KeyObject, declared: unknown): ClientKey['alg'] {
  if (typeof declared === 'string') {
    if (!ALGORITHMS.has(declared)) {
      throw usageError(`The key's alg ${declared} is not one SMART Backend Services uses (RS384, ES384)`);
    }
    return declared as ClientKey['alg'];
  }
  if (key.asymmetricKeyType === 'rsa') {
    return 'RS384';
  }
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType === 'ec' && (curve === 'secp384r1' || curve === 'P-384')) {
    return 'ES384';
  }
  if (key.asymmetricKeyType === 'ec' && (curve === 'prime256v1' || curve === 'P-256')) {
    return 'ES256';
  }
  throw usageError('The client key must be an RSA or an EC P-384 (or P-256) private key');
}

/**
 * Reads a client's private key: a private JWK (JSON; its `kid` and `alg` are used) or a PKCS#8/SEC1/PKCS#1 PEM (key id
 * = the RFC 7638 thumbprint of its public key, as many JWKS publishers use).
 */
export async function loadClientKey(file: string): Promise<ClientKey> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw usageError(`Cannot read the client key ${file}: ${(error as Error).message}`);
  }
  let key: KeyObject;
  let jwk: JWK | undefined;
  try {
    if (text.trimStart().startsWith('{')) {
      jwk = JSON.parse(text) as JWK;
      if (!jwk.d) {
        throw new Error('the JWK has no private part (d)');
      }
      key = createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' });
    } else {
      key = createPrivateKey(text);
    }
  } catch (error) {
    throw usageError(`${file} is not a private key (JWK or PEM): ${(error as Error).message}`);
  }
  const alg = algorithmFor(key, jwk?.alg);
  const kid =
    typeof jwk?.kid === 'string'
      ? jwk.kid
      : await calculateJwkThumbprint(createPublicKey(key).export({ format: 'jwk' }));
  return { key, alg, kid, fixedAlg: typeof jwk?.alg === 'string' };
}

/** A signed client assertion (SMART Backend Services, RFC 7523): iss = sub = client id, aud = token endpoint, 5 minutes. */
export function clientAssertion(
  clientId: string,
  tokenEndpoint: string,
  key: ClientKey,
  now = new Date(),
): Promise<string> {
  const issuedAt = Math.floor(now.getTime() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(tokenEndpoint)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + 300)
    .setJti(randomUUID())
    .sign(key.key);
}

function requireSafeUrl(raw: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw failure(`${what} is not a URL: ${raw}`);
  }
  // a client assertion is a credential: plain http only to this machine
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.test(url.hostname))) {
    throw failure(`${what} ${raw} must be https (plain http is allowed only on loopback)`);
  }
  return url;
}

async function getJson(url: string, init: RequestInit, what: string): Promise<{ status: number; body: unknown }> {
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    throw failure(networkReason(error, url));
  }
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) };
  } catch {
    throw failure(`${what} answered ${response.status} with something that is not JSON`);
  }
}

/** What a FHIR server advertises in `{base}/.well-known/smart-configuration`: its token endpoint and signing algorithms. */
export async function discoverTokenEndpoint(
  fhirBase: string,
): Promise<{ tokenEndpoint: string; algorithms: string[] }> {
  const url = `${fhirBase.replace(/\/+$/, '')}/.well-known/smart-configuration`;
  const { status, body } = await getJson(url, { headers: { accept: 'application/json' } }, url);
  const configuration = (body ?? {}) as {
    token_endpoint?: unknown;
    token_endpoint_auth_signing_alg_values_supported?: unknown;
  };
  const endpoint = configuration.token_endpoint;
  if (status !== 200 || typeof endpoint !== 'string') {
    throw failure(`${url} names no token_endpoint (answered ${status}): the server takes no client credentials`);
  }
  const algorithms = configuration.token_endpoint_auth_signing_alg_values_supported;
  return {
    tokenEndpoint: requireSafeUrl(endpoint, 'The token endpoint').href,
    algorithms: Array.isArray(algorithms) ? algorithms.filter((a): a is string => typeof a === 'string') : [],
  };
}

/**
 * An RSA key signs RS256 as well as RS384: when the server lists only the other one, use that. (An EC key's curve
 * fixes its algorithm, and a JWK's own `alg` is kept.)
 */
export function negotiateAlgorithm(key: ClientKey, supported: readonly string[]): ClientKey {
  if (supported.length === 0 || supported.includes(key.alg) || key.key.asymmetricKeyType !== 'rsa' || key.fixedAlg) {
    return key;
  }
  const other = key.alg === 'RS384' ? 'RS256' : 'RS384';
  return supported.includes(other) ? { ...key, alg: other } : key;
}

export interface SmartTokenRequest {
  fhirBase: string;
  clientId: string;
  key: ClientKey;
  scope: string;
  /** Skips discovery. */
  tokenEndpoint?: string;
}

/** An access token by the client_credentials grant with a private_key_jwt assertion. */
export async function requestSmartToken(
  request: SmartTokenRequest,
): Promise<{ accessToken: string; expiresIn?: number }> {
  let endpoint = request.tokenEndpoint;
  let key = request.key;
  if (!endpoint) {
    const discovered = await discoverTokenEndpoint(request.fhirBase);
    endpoint = discovered.tokenEndpoint;
    key = negotiateAlgorithm(key, discovered.algorithms);
  }
  const form = new URLSearchParams({
    grant_type: 'client_credentials',
    scope: request.scope,
    client_assertion_type: CLIENT_ASSERTION_TYPE,
    client_assertion: await clientAssertion(request.clientId, endpoint, key),
  });
  const { status, body } = await getJson(
    endpoint,
    {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
    },
    endpoint,
  );
  const answer = (body ?? {}) as {
    access_token?: unknown;
    expires_in?: unknown;
    error?: unknown;
    error_description?: unknown;
  };
  if (status !== 200 || typeof answer.access_token !== 'string') {
    const why = [answer.error, answer.error_description].filter((part) => typeof part === 'string').join(': ');
    throw failure(`The token endpoint ${endpoint} refused the client (${status}${why ? ` ${printable(why)}` : ''})`);
  }
  return {
    accessToken: answer.access_token,
    expiresIn: typeof answer.expires_in === 'number' ? answer.expires_in : undefined,
  };
}
