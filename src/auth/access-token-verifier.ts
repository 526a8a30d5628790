import { Inject, Injectable, Optional } from '@nestjs/common';
import {
  createRemoteJWKSet,
  type CryptoKey,
  errors,
  importJWK,
  type JWTHeaderParameters,
  type JWTPayload,
  jwtVerify,
  type FlattenedJWSInput,
} from 'jose';
import { AppConfig } from '../config/app-config.js';
import { FhirError, unauthorized } from '../common/fhir-error.js';
import { loadOrCreateLocalSigningKey } from './local-issuer.js';
import type { Principal } from './principal.js';
import { parseScopes } from './smart-scopes.js';

/** Tuning of the remote key set; the defaults suit production, tests shorten the cooldown. */
export interface AccessTokenVerifierOptions {
  /** How long a JWKS fetch may take. */
  jwksTimeoutMs?: number;
  /** Minimum time between fetches triggered by an unknown `kid` (stops tokens with random kids hammering the IdP). */
  jwksCooldownMs?: number;
  /** How long fetched keys are trusted before they are fetched again. */
  jwksCacheMaxAgeMs?: number;
}

export const ACCESS_TOKEN_VERIFIER_OPTIONS = Symbol('ACCESS_TOKEN_VERIFIER_OPTIONS');

// asymmetric only: HS* would let anyone holding the public key mint tokens, and 'none' is no signature at all
const ALGORITHMS = ['RS256', 'ES256'];

type KeyResolver = (header: JWTHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey | Uint8Array>;

/** The identity provider's keys could not be fetched: the token may be fine, so this is not a 401. */
class KeySetUnavailableError extends Error {}

/** The local key could not be read or created: a server fault (500), not the caller's. */
class LocalKeyError extends Error {}

/** Why jose refused a token, in words a client developer can act on. */
function reasonFor(error: unknown, issuer: string, audience: string): string {
  if (error instanceof errors.JWTExpired) {
    const exp = typeof error.payload.exp === 'number' ? ` at ${new Date(error.payload.exp * 1000).toISOString()}` : '';
    return `The access token expired${exp}`;
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    const claims = error.payload;
    switch (error.claim) {
      case 'iss':
        return error.reason === 'missing'
          ? `The access token has no issuer (iss); expected "${issuer}"`
          : `The access token was issued by "${String(claims.iss)}", but this server only accepts "${issuer}"`;
      case 'aud':
        return error.reason === 'missing'
          ? `The access token has no audience (aud); expected "${audience}"`
          : `The access token is meant for audience ${JSON.stringify(claims.aud)}, not "${audience}"`;
      case 'nbf':
        return typeof claims.nbf === 'number'
          ? `The access token is not valid before ${new Date(claims.nbf * 1000).toISOString()}`
          : 'The access token has a malformed not-before (nbf) claim';
      case 'exp':
        return error.reason === 'missing'
          ? 'The access token has no expiry (exp); tokens without one are refused'
          : 'The access token has a malformed expiry (exp) claim';
      default:
        return `The access token has an invalid "${error.claim}" claim`;
    }
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return `The access token is signed with an algorithm this server does not accept; only ${ALGORITHMS.join(' and ')} are allowed`;
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return 'The access token was signed with a key the identity provider does not publish (unknown kid)';
  }
  if (error instanceof errors.JWKSMultipleMatchingKeys) {
    return 'The access token does not say which of the identity provider keys signed it (no kid)';
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return 'The access token signature does not verify';
  }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) {
    return 'The access token is not a well-formed signed JWT';
  }
  return 'The access token could not be verified';
}

/** Verifies Bearer access tokens against the identity provider's JWKS, or the local key when none is configured. */
/** Verified tokens remembered at most (about 1 KB each). */
const MAX_VERIFIED_TOKENS = 1000;

@Injectable()
export class AccessTokenVerifier {
  private readonly issuer: string;
  private readonly audience: string;
  private readonly clockTolerance: number;
  private readonly resolveKey: KeyResolver;

  private readonly verified = new Map<string, { principal: Principal; notBeforeMs: number; expiresMs: number }>();

  constructor(
    @Inject(AppConfig) config: AppConfig,
    @Optional()
    @Inject(ACCESS_TOKEN_VERIFIER_OPTIONS)
    options: AccessTokenVerifierOptions = {},
  ) {
    this.issuer = config.auth.issuer;
    this.audience = config.auth.audience;
    this.clockTolerance = config.auth.clockToleranceSeconds;
    if (config.auth.jwksUri) {
      const remote = createRemoteJWKSet(new URL(config.auth.jwksUri), {
        timeoutDuration: options.jwksTimeoutMs ?? 5_000,
        cooldownDuration: options.jwksCooldownMs ?? 30_000,
        cacheMaxAge: options.jwksCacheMaxAgeMs ?? 10 * 60_000,
      });
      this.resolveKey = async (header, token) => {
        try {
          return await remote(header, token);
        } catch (error) {
          if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
            throw error;
          }
          throw new KeySetUnavailableError(error instanceof Error ? error.message : String(error), { cause: error });
        }
      };
    } else {
      const dataDir = config.dataDir;
      let key: Promise<CryptoKey | Uint8Array> | undefined;
      this.resolveKey = () => {
        key ??= loadOrCreateLocalSigningKey(dataDir).then(
          ({ publicJwk }) => importJWK(publicJwk, 'ES256'),
          (error: unknown) => {
            throw new LocalKeyError('The local signing key could not be loaded', { cause: error });
          },
        );
        // a failed load (e.g. unreadable DATA_DIR) is retried on the next request instead of being cached
        key.catch(() => (key = undefined));
        return key;
      };
    }
  }

  /**
   * Checks signature, issuer, audience and lifetime, then maps the claims to a Principal; throws a 401 FhirError saying
   * why not. A token already verified is answered from memory while its lifetime lasts: an ES256 signature check
   * costs about a third of a millisecond of CPU, more than the rest of a search.
   */
  async verify(token: string): Promise<Principal> {
    const known = this.verified.get(token);
    if (known) {
      const now = Date.now();
      if (now >= known.notBeforeMs && now < known.expiresMs) {
        return known.principal;
      }
      this.verified.delete(token); // expired: verified again below, which says so
    }
    return this.verifyOnce(token);
  }

  private async verifyOnce(token: string): Promise<Principal> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.resolveKey, {
        algorithms: ALGORITHMS,
        issuer: this.issuer,
        audience: this.audience,
        clockTolerance: this.clockTolerance,
        requiredClaims: ['exp'],
      }));
    } catch (error) {
      if (error instanceof KeySetUnavailableError) {
        throw new FhirError(
          503,
          'transient',
          `The identity provider's signing keys could not be fetched: ${error.message}`,
        );
      }
      throw unauthorized(reasonFor(error, this.issuer, this.audience));
    }
    const principal = this.principal(payload);
    this.remember(token, principal, payload);
    return principal;
  }

  /** Keeps a verified token's principal until its exp (plus the clock tolerance jose allowed), oldest out first. */
  private remember(token: string, principal: Principal, payload: JWTPayload): void {
    const tolerance = this.clockTolerance * 1000;
    if (this.verified.size >= MAX_VERIFIED_TOKENS) {
      this.verified.delete(this.verified.keys().next().value!);
    }
    this.verified.set(token, {
      principal: Object.freeze({ ...principal, scopes: Object.freeze([...principal.scopes]) }) as Principal,
      notBeforeMs: payload.nbf === undefined ? 0 : payload.nbf * 1000 - tolerance,
      expiresMs: payload.exp! * 1000 + tolerance,
    });
  }

  private principal(payload: JWTPayload): Principal {
    if (typeof payload.sub !== 'string' || payload.sub === '') {
      throw unauthorized('The access token has no subject (sub)');
    }
    const clientId = payload.client_id ?? payload.azp;
    if (clientId !== undefined && typeof clientId !== 'string') {
      throw unauthorized('The access token client_id must be a string');
    }
    const organization = payload.organization;
    if (organization !== undefined && typeof organization !== 'string') {
      throw unauthorized('The access token organization claim must be a string (an ODS code)');
    }
    const scope = payload.scope;
    if (scope !== undefined && typeof scope !== 'string') {
      throw unauthorized('The access token scope claim must be a space-separated string');
    }
    return {
      subject: payload.sub,
      ...(clientId ? { clientId } : {}),
      ...(organization ? { organization } : {}),
      scopes: parseScopes(scope),
      ...(typeof payload.jti === 'string' ? { tokenId: payload.jti } : {}),
    };
  }
}
