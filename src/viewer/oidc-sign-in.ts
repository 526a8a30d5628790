import { Injectable, Logger } from '@nestjs/common';
import * as client from 'openid-client';
import { FhirError } from '../common/fhir-error.js';
import { AppConfig } from '../config/app-config.js';
import { nowSeconds, OIDC_TRANSACTION_SECONDS, type OidcTransaction } from './viewer-session.js';

/** Who the OpenID provider says signed in. */
export interface OidcUser {
  sub: string;
  name: string;
  organization: string;
}

const ODS_CODE = /^[A-Za-z0-9]{3,10}$/;

const reason = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * OpenID Connect sign-in for the viewer with openid-client: authorization code flow with PKCE (S256), state and nonce,
 * the ID token checked against the provider's published keys. The provider is discovered on first use.
 */
@Injectable()
export class OidcSignIn {
  private readonly logger = new Logger(OidcSignIn.name);
  private configuration?: Promise<client.Configuration>;

  constructor(private readonly config: AppConfig) {}

  get enabled(): boolean {
    return this.config.viewer.oidc !== undefined;
  }

  /** The provider's authorization URL, and what the callback must find again (kept in a signed cookie). */
  async start(next: string): Promise<{ url: string; transaction: OidcTransaction }> {
    const settings = this.settings();
    const configuration = await this.discover();
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(configuration, {
      redirect_uri: settings.redirectUrl,
      scope: settings.scope,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return {
      url: url.href,
      transaction: { state, nonce, verifier, next, exp: nowSeconds() + OIDC_TRANSACTION_SECONDS },
    };
  }

  /** Redeems the code the provider sent back (its query string) and returns the user its ID token names. */
  async finish(query: string, transaction: OidcTransaction): Promise<OidcUser> {
    const settings = this.settings();
    const configuration = await this.discover();
    const callback = new URL(settings.redirectUrl);
    callback.search = query;
    let claims: client.IDToken | undefined;
    try {
      const tokens = await client.authorizationCodeGrant(configuration, callback, {
        pkceCodeVerifier: transaction.verifier,
        expectedState: transaction.state,
        expectedNonce: transaction.nonce,
        idTokenExpected: true,
      });
      claims = tokens.claims();
    } catch (error) {
      this.logger.warn(`OpenID Connect sign-in failed: ${reason(error)}`);
      throw new FhirError(401, 'login', `Sign-in with your organisation account did not succeed: ${reason(error)}`);
    }
    if (!claims) {
      throw new FhirError(401, 'login', 'The OpenID provider returned no ID token');
    }
    const organization = claims[settings.organizationClaim];
    if (typeof organization !== 'string' || !ODS_CODE.test(organization)) {
      throw new FhirError(
        403,
        'forbidden',
        `Your account does not say which organisation you work for (the ${settings.organizationClaim} claim holds no ODS code), so you cannot see documents here`,
      );
    }
    const given = typeof claims.given_name === 'string' ? claims.given_name : '';
    const family = typeof claims.family_name === 'string' ? claims.family_name : '';
    const name = typeof claims.name === 'string' && claims.name ? claims.name : `${given} ${family}`.trim();
    return { sub: claims.sub, name: name || claims.sub, organization: organization.toUpperCase() };
  }

  private settings(): NonNullable<AppConfig['viewer']['oidc']> {
    const settings = this.config.viewer.oidc;
    if (!settings) {
      throw new FhirError(404, 'not-found', 'Sign-in with an organisation account is not configured (OIDC_ISSUER)');
    }
    return settings;
  }

  /** Discovery once; a failure is not remembered, so the next sign-in tries again. */
  private discover(): Promise<client.Configuration> {
    const settings = this.settings();
    this.configuration ??= client
      .discovery(
        new URL(settings.issuer),
        settings.clientId,
        settings.clientSecret,
        settings.clientSecret ? client.ClientSecretBasic(settings.clientSecret) : client.None(),
        {
          // http is accepted only for a loopback issuer (checked with the configuration): development and tests
          execute: settings.issuer.startsWith('http:') ? [client.allowInsecureRequests] : [],
          timeout: 10,
        },
      )
      .catch((error: unknown) => {
        this.configuration = undefined;
        this.logger.error(`OpenID provider discovery failed: ${reason(error)}`);
        throw new FhirError(503, 'transient', 'The organisation sign-in service cannot be reached; try again shortly');
      });
    return this.configuration;
  }
}
