import type { JSONWebKeySet, JWK } from 'jose';
import { checkEndpointUrl, type EndpointAllowlist, UnsafeEndpointError } from '../notifications/endpoint-safety.js';
import { parseScope } from './smart-scopes.js';

/** A SMART Backend Services client as an operator registers it (RFC 7591 names where there is one). */
export interface SmartClientRegistration {
  clientId: string;
  name: string;
  /** ODS code of the organisation the client acts for; every token it gets carries it. */
  organization: string;
  /** Space-separated SMART scopes it may be granted. */
  scopes: string;
  /** Its public keys, inline; exactly one of jwks and jwksUri. */
  jwks?: JSONWebKeySet;
  /** Where it publishes its public keys. */
  jwksUri?: string;
  /** In a clients file: register it disabled (never re-enables a client an operator disabled). */
  disabled?: boolean;
}

export class ClientRegistrationError extends Error {}

const CLIENT_ID = /^[\x21-\x7e]{1,128}$/;
const ODS_CODE = /^[A-Za-z0-9]{3,10}$/;
const MAX_JWKS_BYTES = 64 * 1024;
// members only a private or symmetric key has: a registered key set must hold public keys only
const SECRET_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** Checks a JWKS holds public RSA or P-384 EC keys only: the keys RS384 and ES384 assertions are verified with. */
export function checkPublicJwks(value: unknown, field = 'jwks'): JSONWebKeySet {
  const keys = (value as { keys?: unknown } | null)?.keys;
  if (typeof value !== 'object' || value === null || !Array.isArray(keys) || keys.length === 0) {
    throw new ClientRegistrationError(`${field} must be a JWK Set: {"keys": [ ...public keys ]}`);
  }
  if (JSON.stringify(value).length > MAX_JWKS_BYTES) {
    throw new ClientRegistrationError(`${field} is larger than ${MAX_JWKS_BYTES} bytes`);
  }
  keys.forEach((key: unknown, index) => {
    const jwk = key as JWK;
    const where = `${field}.keys[${index}]`;
    if (typeof key !== 'object' || key === null) {
      throw new ClientRegistrationError(`${where} is not a JWK`);
    }
    const secret = SECRET_MEMBERS.find((member) => member in jwk);
    if (secret) {
      throw new ClientRegistrationError(
        `${where} holds private key material ("${secret}"); register the public key only`,
      );
    }
    const rsa = jwk.kty === 'RSA' && typeof jwk.n === 'string' && typeof jwk.e === 'string';
    const ec = jwk.kty === 'EC' && jwk.crv === 'P-384' && typeof jwk.x === 'string' && typeof jwk.y === 'string';
    if (!rsa && !ec) {
      throw new ClientRegistrationError(`${where} must be an RSA key (for RS384) or an EC P-384 key (for ES384)`);
    }
    if (jwk.alg !== undefined && jwk.alg !== (rsa ? 'RS384' : 'ES384')) {
      throw new ClientRegistrationError(`${where} says alg ${jwk.alg}; only RS384 and ES384 assertions are accepted`);
    }
  });
  return value as JSONWebKeySet;
}

function text(input: Record<string, unknown>, field: string): string | undefined {
  const value = input[field];
  if (value === undefined || value === null) {
    return undefined;
  }
  if (typeof value !== 'string') {
    throw new ClientRegistrationError(`${field} must be a string`);
  }
  return value.trim();
}

/**
 * Validates a client registration (from the admin command or AUTH_CLIENTS_FILE, with RFC 7591 field names:
 * client_id, client_name, jwks or jwks_uri, scope, plus organization); throws ClientRegistrationError naming the field.
 */
export function validateClientRegistration(
  input: Record<string, unknown>,
  allowlist: EndpointAllowlist,
): SmartClientRegistration {
  const clientId = text(input, 'client_id');
  if (!clientId || !CLIENT_ID.test(clientId)) {
    throw new ClientRegistrationError('client_id must be 1 to 128 printable characters without spaces');
  }
  const name = text(input, 'client_name') || clientId;
  if (name.length > 200) {
    throw new ClientRegistrationError('client_name may be at most 200 characters');
  }
  const organization = text(input, 'organization');
  if (!organization || !ODS_CODE.test(organization)) {
    throw new ClientRegistrationError('organization must be an ODS code (3 to 10 letters and digits)');
  }
  const scopes = (text(input, 'scope') ?? '').split(/\s+/).filter(Boolean);
  if (scopes.length === 0) {
    throw new ClientRegistrationError('scope must list the SMART scopes the client may be granted');
  }
  const unknown = scopes.find((scope) => !parseScope(scope));
  if (unknown !== undefined) {
    throw new ClientRegistrationError(`scope "${unknown}" is not a SMART scope this server understands`);
  }
  const jwksUri = text(input, 'jwks_uri');
  const hasJwks = input.jwks !== undefined && input.jwks !== null;
  if (hasJwks === Boolean(jwksUri)) {
    throw new ClientRegistrationError(
      'give exactly one of jwks (the public keys) and jwks_uri (where they are published)',
    );
  }
  if (jwksUri) {
    try {
      checkEndpointUrl(jwksUri, allowlist, 'jwks_uri');
    } catch (error) {
      throw new ClientRegistrationError(error instanceof UnsafeEndpointError ? error.message : String(error));
    }
    if (jwksUri.length > 2048) {
      throw new ClientRegistrationError('jwks_uri may be at most 2048 characters');
    }
  }
  const disabled = input.disabled;
  if (disabled !== undefined && typeof disabled !== 'boolean') {
    throw new ClientRegistrationError('disabled must be true or false');
  }
  return {
    clientId,
    name,
    organization,
    scopes: [...new Set(scopes)].join(' '),
    ...(hasJwks ? { jwks: checkPublicJwks(input.jwks) } : { jwksUri }),
    ...(disabled !== undefined ? { disabled } : {}),
  };
}

/** The clients of an AUTH_CLIENTS_FILE: `{"clients": [...]}` or a bare array, each entry validated. */
export function parseClientsFile(content: string, allowlist: EndpointAllowlist): SmartClientRegistration[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(content);
  } catch (error) {
    throw new ClientRegistrationError(`is not valid JSON: ${(error as Error).message}`);
  }
  const entries = Array.isArray(parsed) ? parsed : (parsed as { clients?: unknown } | null)?.clients;
  if (!Array.isArray(entries)) {
    throw new ClientRegistrationError('must hold {"clients": [ ... ]} or an array of clients');
  }
  const seen = new Set<string>();
  return entries.map((entry: unknown, index) => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new ClientRegistrationError(`clients[${index}] is not an object`);
    }
    let client: SmartClientRegistration;
    try {
      client = validateClientRegistration(entry as Record<string, unknown>, allowlist);
    } catch (error) {
      throw new ClientRegistrationError(`clients[${index}]: ${(error as Error).message}`);
    }
    if (seen.has(client.clientId)) {
      throw new ClientRegistrationError(`clients[${index}]: client_id ${client.clientId} appears twice`);
    }
    seen.add(client.clientId);
    return client;
  });
}
