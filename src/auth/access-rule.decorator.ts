import { applyDecorators, createParamDecorator, type ExecutionContext, SetMetadata } from '@nestjs/common';
import { ApiSecurity } from '@nestjs/swagger';
import { ApiErrors, BEARER_SCHEME } from '../common/api-docs.js';
import { type Principal, principalOf } from './principal.js';
import { type Interaction, scopeNeeded } from './smart-scopes.js';

/** What a route demands of its caller; a route without one is refused (see BearerAuthGuard). */
export type AccessRule =
  | { readonly kind: 'public' }
  | { readonly kind: 'scope'; readonly resourceType: string; readonly interaction: Interaction }
  | { readonly kind: 'admin' };

export const ACCESS_RULE = 'auth:access-rule';

/** The route needs no token (CapabilityStatement, health checks). */
export const Public = (): MethodDecorator & ClassDecorator =>
  SetMetadata(ACCESS_RULE, { kind: 'public' } satisfies AccessRule);

/**
 * The route needs a valid token whose SMART scopes grant `interaction` on `resourceType`. The OpenAPI document says
 * so from here, so that what it states is what the guard enforces.
 */
export const RequireScope = (resourceType: string, interaction: Interaction): MethodDecorator & ClassDecorator =>
  applyDecorators(
    SetMetadata(ACCESS_RULE, { kind: 'scope', resourceType, interaction } satisfies AccessRule),
    ApiSecurity(BEARER_SCHEME, [scopeNeeded(resourceType, interaction)]),
    ApiErrors(401, [403, `The token does not grant ${scopeNeeded(resourceType, interaction)}`]),
  );

/** The route is an operator page: it needs a valid token carrying the `admin` scope. */
export const RequireAdmin = (): MethodDecorator & ClassDecorator =>
  applyDecorators(
    SetMetadata(ACCESS_RULE, { kind: 'admin' } satisfies AccessRule),
    ApiSecurity(BEARER_SCHEME, ['admin']),
    ApiErrors(401, [403, 'The token does not carry the admin scope']),
  );

/** Injects the verified caller into a handler parameter; undefined on public routes. */
export const CurrentPrincipal = createParamDecorator(
  (_data: unknown, context: ExecutionContext): Principal | undefined =>
    principalOf(context.switchToHttp().getRequest<object>()),
);
