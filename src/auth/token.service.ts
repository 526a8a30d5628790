import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import type { Actor } from '../audit/actor.js';
import type { AuditInput } from '../audit/audit-event-resource.js';
import { AuditService } from '../audit/audit.service.js';
import { RefusalTallyService } from '../audit/refusal-tally.service.js';
import { AppConfig } from '../config/app-config.js';
import { OAuthError, parseTokenRequest, verifyClientAssertion } from './client-assertion.js';
import { ClientKeySets } from './client-key-sets.js';
import { type LocalSigningKey, loadOrCreateLocalSigningKey, signAccessToken } from './local-issuer.js';
import { SmartClientRepository } from './smart-client.repository.js';
import { grantScopes } from './smart-scopes.js';

/** SMART Backend Services recommends five-minute access tokens; a client asks again when one runs out. */
export const ACCESS_TOKEN_LIFETIME_SECONDS = 300;
/** Expired jtis are deleted at most this often (by whichever request comes along). */
const PURGE_EVERY_MS = 60_000;

export interface TokenResponse {
  access_token: string;
  token_type: 'bearer';
  expires_in: number;
  scope: string;
}

/** The token request as it arrived: its media type and raw body. */
export interface TokenHttpRequest {
  contentType: string | undefined;
  body: Buffer | undefined;
}

/**
 * The local issuer's token endpoint (SMART App Launch 2.x Backend Services): a registered client proves itself with a
 * signed assertion and gets a short access token for the scopes it asked for and is allowed, carrying its registered
 * organisation. Every token issued or refused is audited.
 */
@Injectable()
export class TokenService {
  private readonly logger = new Logger(TokenService.name);
  private key?: Promise<LocalSigningKey>;
  private nextPurgeMs = 0;

  constructor(
    private readonly config: AppConfig,
    private readonly clients: SmartClientRepository,
    private readonly keySets: ClientKeySets,
    private readonly audit: AuditService,
    private readonly tally: RefusalTallyService,
  ) {}

  /** Issues a token, or throws OAuthError saying why not (after auditing either). */
  async issueToken(http: TokenHttpRequest, actor: Actor): Promise<TokenResponse> {
    let verified: { clientId: string; organization: string } | undefined;
    let claimed: string | undefined;
    try {
      const request = parseTokenRequest(http.contentType, http.body);
      claimed = request.clientId;
      const client = await this.clients.find(request.clientId);
      // one message for unknown and disabled: a caller learns nothing about which client ids exist
      if (!client || client.disabledMs !== null) {
        throw new OAuthError('invalid_client', `client ${request.clientId} is not registered or is disabled`);
      }
      const { jti, expiresAt } = await verifyClientAssertion(request.assertion, this.keySets.keysOf(client), {
        clientId: client.clientId,
        tokenUrl: this.config.auth.tokenUrl!,
        clockToleranceSeconds: this.config.auth.clockToleranceSeconds,
      });
      await this.purgeExpiredJtis();
      // kept while the assertion could still pass the exp check, clock tolerance included
      const keepUntilMs = (expiresAt + this.config.auth.clockToleranceSeconds) * 1000;
      if (!(await this.clients.claimJti(client.clientId, jti, keepUntilMs))) {
        throw new OAuthError('invalid_client', 'client_assertion jti has been used before; sign a new assertion');
      }
      verified = { clientId: client.clientId, organization: client.organization };
      const granted = grantScopes(request.scope, client.scopes);
      if (granted.length === 0) {
        throw new OAuthError(
          'invalid_scope',
          `None of the requested scopes is allowed for this client; it may ask for: ${client.scopes}`,
        );
      }
      const scope = granted.join(' ');
      const tokenId = randomUUID();
      const accessToken = await signAccessToken(await this.signingKey(), {
        issuer: this.config.auth.issuer,
        audience: this.config.auth.audience,
        subject: client.clientId,
        clientId: client.clientId,
        organization: client.organization,
        scope,
        expiresInSeconds: ACCESS_TOKEN_LIFETIME_SECONDS,
        tokenId,
      });
      // a token is handed out only once its issue is on the audit trail
      await this.audit.record({
        actor: {
          ...actor,
          subject: client.clientId,
          clientId: client.clientId,
          organization: client.organization,
          tokenId,
        },
        action: 'E',
        subtype: 'login',
        outcome: '0',
        outcomeDescription: `access token issued for ${scope}`,
        entities: [],
      });
      return { access_token: accessToken, token_type: 'bearer', expires_in: ACCESS_TOKEN_LIFETIME_SECONDS, scope };
    } catch (error) {
      if (error instanceof OAuthError) {
        await this.recordRefusal(error, actor, verified, claimed);
      }
      throw error;
    }
  }

  /**
   * A refusal of an authenticated client is audited at once under its name; one of an unauthenticated caller is
   * counted per address and window (RefusalTallyService), as refused bearer tokens are, naming the claimed client.
   */
  private async recordRefusal(
    error: OAuthError,
    actor: Actor,
    verified: { clientId: string; organization: string } | undefined,
    claimed: string | undefined,
  ): Promise<void> {
    const input: AuditInput = {
      actor: verified ? { ...actor, subject: verified.clientId, ...verified } : actor,
      action: 'E',
      subtype: 'login-failure',
      outcome: '4',
      outcomeDescription: `${claimed && !verified ? `client ${claimed}: ` : ''}${error.message}`,
      entities: [],
    };
    try {
      if (!this.tally.absorb(error.status, input)) {
        await this.audit.record(input);
      }
    } catch (recordError) {
      // the refusal stands even when auditing it fails
      this.logger.error(`Could not record a refused token request: ${String(recordError)}`);
    }
  }

  private signingKey(): Promise<LocalSigningKey> {
    this.key ??= loadOrCreateLocalSigningKey(this.config.dataDir);
    // a failed load is tried again on the next request instead of being kept
    this.key.catch(() => (this.key = undefined));
    return this.key;
  }

  private async purgeExpiredJtis(): Promise<void> {
    const now = Date.now();
    if (now >= this.nextPurgeMs) {
      this.nextPurgeMs = now + PURGE_EVERY_MS;
      await this.clients.purgeExpiredJtis(now);
    }
  }
}
