import { decodeJwt, decodeProtectedHeader, errors, type JWTVerifyGetKey, jwtVerify } from 'jose';

/** The RFC 6749 §5.2 error codes the token endpoint answers with. */
export type OAuthErrorCode = 'invalid_request' | 'invalid_client' | 'unsupported_grant_type' | 'invalid_scope';

/** A refused token request, answered with the OAuth 2 error JSON rather than an OperationOutcome. */
export class OAuthError extends Error {
  constructor(
    readonly code: OAuthErrorCode,
    readonly description: string,
  ) {
    super(`${code}: ${description}`);
    this.name = 'OAuthError';
  }

  /** RFC 6749 §5.2: 401 for a client that failed to authenticate, 400 for everything else. */
  get status(): 400 | 401 {
    return this.code === 'invalid_client' ? 401 : 400;
  }

  get body(): { error: OAuthErrorCode; error_description: string } {
    return { error: this.code, error_description: this.description };
  }
}

export const FORM_MEDIA_TYPE = 'application/x-www-form-urlencoded';
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** SMART App Launch 2.x Backend Services: the client signs with RS384 or ES384, nothing else. */
export const ASSERTION_ALGORITHMS: readonly string[] = ['ES384', 'RS384'];
/** SMART Backend Services: the assertion's exp is no more than five minutes in the future. */
export const MAX_ASSERTION_LIFETIME_SECONDS = 300;
const MAX_CLIENT_ID = 128;
const MAX_JTI = 255;
const SINGLE_PARAMS = ['grant_type', 'client_assertion_type', 'client_assertion', 'scope', 'client_id'];

/** A token request whose form is well made; the assertion in it is not checked yet. */
export interface TokenRequest {
  assertion: string;
  scope: string;
  /** The client the assertion claims to be (iss = sub), to look its keys up with. */
  clientId: string;
}

/** The client an assertion claims to be (iss, which must equal sub); nothing is verified yet. */
function claimedClientId(assertion: string): string {
  let claims: ReturnType<typeof decodeJwt>;
  try {
    claims = decodeJwt(assertion);
  } catch {
    throw new OAuthError('invalid_client', 'client_assertion is not a well-formed signed JWT');
  }
  if (typeof claims.iss !== 'string' || claims.iss === '') {
    throw new OAuthError('invalid_client', 'client_assertion has no iss; it must be the client_id');
  }
  if (claims.sub !== claims.iss) {
    throw new OAuthError('invalid_client', 'client_assertion sub must equal its iss (the client_id)');
  }
  if (claims.iss.length > MAX_CLIENT_ID) {
    throw new OAuthError('invalid_client', `client_assertion iss is longer than ${MAX_CLIENT_ID} characters`);
  }
  return claims.iss;
}

/**
 * Reads a client_credentials token request (SMART Backend Services, RFC 7523 §2.2) from its form body; throws
 * OAuthError saying what is wrong with it.
 */
export function parseTokenRequest(contentType: string | undefined, body: Buffer | undefined): TokenRequest {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (type !== FORM_MEDIA_TYPE) {
    throw new OAuthError('invalid_request', `The token request body must be ${FORM_MEDIA_TYPE}`);
  }
  const form = new URLSearchParams((body ?? Buffer.alloc(0)).toString('utf8'));
  // RFC 6749 §3.2: request parameters must not be included more than once
  const repeated = SINGLE_PARAMS.find((name) => form.getAll(name).length > 1);
  if (repeated) {
    throw new OAuthError('invalid_request', `${repeated} appears more than once`);
  }
  const grantType = form.get('grant_type');
  if (!grantType) {
    throw new OAuthError('invalid_request', 'grant_type is missing; it must be client_credentials');
  }
  if (grantType !== 'client_credentials') {
    throw new OAuthError('unsupported_grant_type', `grant_type ${grantType} is not supported; use client_credentials`);
  }
  // RFC 6749 §5.2: no client authentication, or an unsupported method, is invalid_client
  const assertionType = form.get('client_assertion_type');
  if (assertionType !== CLIENT_ASSERTION_TYPE) {
    throw new OAuthError(
      'invalid_client',
      assertionType
        ? `client_assertion_type ${assertionType} is not supported; use ${CLIENT_ASSERTION_TYPE}`
        : `The client must authenticate with a signed JWT: client_assertion_type ${CLIENT_ASSERTION_TYPE}`,
    );
  }
  const assertion = form.get('client_assertion');
  if (!assertion) {
    throw new OAuthError('invalid_client', 'client_assertion is missing');
  }
  const clientId = claimedClientId(assertion);
  const named = form.get('client_id');
  if (named !== null && named !== clientId) {
    throw new OAuthError('invalid_client', 'client_id does not match the client_assertion iss');
  }
  // RFC 6749 §3.3: a request without scope is refused (SMART Backend Services requires it)
  const scope = form.get('scope')?.trim();
  if (!scope) {
    throw new OAuthError(
      'invalid_scope',
      'scope is missing; ask for SMART system scopes, e.g. system/DocumentReference.rs',
    );
  }
  return { assertion, scope, clientId };
}

/** The client's keys could not be had (its jwks_url failed): the assertion may be fine. */
export class ClientKeysUnavailableError extends Error {}

export interface AssertionExpectations {
  clientId: string;
  /** The token endpoint URL: the assertion's required aud. */
  tokenUrl: string;
  clockToleranceSeconds: number;
  now?: Date;
}

/** What the endpoint must remember of a verified assertion to refuse it a second time. */
export interface VerifiedAssertion {
  jti: string;
  /** exp, in epoch seconds. */
  expiresAt: number;
}

function reasonFor(error: unknown, expected: AssertionExpectations): string {
  if (error instanceof ClientKeysUnavailableError) {
    return `The client's registered jwks_uri could not be fetched: ${error.message}`;
  }
  if (error instanceof errors.JWTExpired) {
    return 'client_assertion has expired';
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'aud':
        return `client_assertion aud must be the token endpoint URL ${expected.tokenUrl}`;
      case 'exp':
        return 'client_assertion has no valid exp';
      case 'jti':
        return 'client_assertion has no jti';
      case 'nbf':
        return 'client_assertion is not valid yet (nbf)';
      case 'iat':
        return 'client_assertion has an invalid iat';
      default:
        return `client_assertion has an invalid ${error.claim} claim`;
    }
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return 'client_assertion is signed with a key the client has not registered (no key matches its kid and alg)';
  }
  if (error instanceof errors.JWKSMultipleMatchingKeys) {
    return 'client_assertion has no kid and several registered keys could have signed it';
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return 'client_assertion signature does not verify against the registered key';
  }
  return 'client_assertion could not be verified';
}

/**
 * Checks a client assertion (RFC 7523 §3, SMART Backend Services): alg ES384 or RS384, signature against the
 * client's keys, iss = sub = client_id, aud = the token endpoint, exp present and at most five minutes ahead, jti
 * present. Throws OAuthError invalid_client saying why not. Replay (a jti seen before) is the caller's to check.
 */
export async function verifyClientAssertion(
  assertion: string,
  keys: JWTVerifyGetKey,
  expected: AssertionExpectations,
): Promise<VerifiedAssertion> {
  let alg: string | undefined;
  try {
    alg = decodeProtectedHeader(assertion).alg;
  } catch {
    throw new OAuthError('invalid_client', 'client_assertion is not a well-formed signed JWT');
  }
  if (!alg || !ASSERTION_ALGORITHMS.includes(alg)) {
    throw new OAuthError(
      'invalid_client',
      `client_assertion is signed with ${alg ?? 'no algorithm'}; only ${ASSERTION_ALGORITHMS.join(' and ')} are accepted`,
    );
  }
  const now = expected.now ?? new Date();
  let payload: Awaited<ReturnType<typeof jwtVerify>>['payload'];
  try {
    ({ payload } = await jwtVerify(assertion, keys, {
      algorithms: [...ASSERTION_ALGORITHMS],
      issuer: expected.clientId,
      subject: expected.clientId,
      audience: expected.tokenUrl,
      clockTolerance: expected.clockToleranceSeconds,
      requiredClaims: ['exp', 'jti'],
      currentDate: now,
    }));
  } catch (error) {
    throw new OAuthError('invalid_client', reasonFor(error, expected));
  }
  const ahead = payload.exp! - Math.floor(now.getTime() / 1000);
  if (ahead > MAX_ASSERTION_LIFETIME_SECONDS + expected.clockToleranceSeconds) {
    throw new OAuthError(
      'invalid_client',
      `client_assertion exp is ${ahead} seconds ahead; it may be at most ${MAX_ASSERTION_LIFETIME_SECONDS}`,
    );
  }
  const jti = payload.jti!;
  if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI) {
    throw new OAuthError('invalid_client', `client_assertion jti must be a string of 1 to ${MAX_JTI} characters`);
  }
  return { jti, expiresAt: payload.exp! };
}
