/** One SMART interaction: create, read, update, delete, search (SMART App Launch v2 "cruds"). */
export type Interaction = 'c' | 'r' | 'u' | 'd' | 's';

export type ScopeContext = 'system' | 'user' | 'patient';

/** A scope this server understands; anything else in the token (openid, fhirUser, launch, ...) is dropped. */
export type SmartScope =
  | {
      readonly kind: 'resource';
      readonly raw: string;
      readonly context: ScopeContext;
      /** A FHIR resource type, or '*' for all of them. */
      readonly resourceType: string;
      readonly interactions: readonly Interaction[];
      /** The v2 search-parameter restriction after '?', e.g. 'category=...'; undefined when unrestricted. */
      readonly constraint?: string;
    }
  | { readonly kind: 'admin'; readonly raw: 'admin' };

const ORDER: readonly Interaction[] = ['c', 'r', 'u', 'd', 's'];

// v1 spellings mapped onto v2 permissions (SMART App Launch v2 §scopes-for-requesting-fhir-resources, "v1 compatibility").
const V1_PERMISSIONS: Readonly<Record<string, readonly Interaction[]>> = {
  read: ['r', 's'],
  write: ['c', 'u', 'd'],
  '*': ['c', 'r', 'u', 'd', 's'],
};

const RESOURCE_SCOPE = /^(system|user|patient)\/(\*|[A-Z][A-Za-z]{1,63})\.([A-Za-z*]+)(?:\?(.+))?$/;

/** v2 permissions must be a non-empty subsequence of "cruds", in that order, without repeats. */
function v2Permissions(text: string): Interaction[] | undefined {
  let position = 0;
  const interactions: Interaction[] = [];
  for (const letter of text) {
    const index = ORDER.indexOf(letter as Interaction, position);
    if (index < 0) {
      return undefined;
    }
    interactions.push(ORDER[index]);
    position = index + 1;
  }
  return interactions.length > 0 ? interactions : undefined;
}

/** Parses one scope token; undefined for anything that is not a well-formed admin or resource scope. */
export function parseScope(token: string): SmartScope | undefined {
  if (token === 'admin') {
    return { kind: 'admin', raw: 'admin' };
  }
  const match = RESOURCE_SCOPE.exec(token);
  if (!match) {
    return undefined;
  }
  const [, context, resourceType, permissions, constraint] = match;
  const interactions = V1_PERMISSIONS[permissions] ?? v2Permissions(permissions);
  // v1 spellings never carried a '?' restriction, so 'system/X.read?a=b' is malformed
  if (!interactions || (constraint !== undefined && permissions in V1_PERMISSIONS)) {
    return undefined;
  }
  return {
    kind: 'resource',
    raw: token,
    context: context as ScopeContext,
    resourceType,
    interactions: [...interactions],
    ...(constraint !== undefined ? { constraint } : {}),
  };
}

/** Parses a space-separated OAuth scope string (SMART v1 or v2 spellings); unknown or malformed scopes are dropped. */
export function parseScopes(scope: string | undefined): SmartScope[] {
  if (!scope) {
    return [];
  }
  const scopes: SmartScope[] = [];
  for (const token of scope.split(/\s+/)) {
    const parsed = token ? parseScope(token) : undefined;
    if (parsed) {
      scopes.push(parsed);
    }
  }
  return scopes;
}

/**
 * Whether the scopes grant `interaction` on `resourceType`.
 * Only unrestricted `system/` and `user/` scopes grant anything: `patient/` scopes need a launch
 * context this server does not have, and search-parameter-restricted scopes (`...rs?category=x`) would
 * need the restriction enforced on every result, which this server does not do, so both grant nothing.
 */
export function allows(scopes: readonly SmartScope[], resourceType: string, interaction: Interaction): boolean {
  return scopes.some(
    (scope) =>
      scope.kind === 'resource' &&
      scope.context !== 'patient' &&
      scope.constraint === undefined &&
      (scope.resourceType === '*' || scope.resourceType === resourceType) &&
      scope.interactions.includes(interaction),
  );
}

/** Whether the scopes include the operator scope `admin`. */
export function hasAdminScope(scopes: readonly SmartScope[]): boolean {
  return scopes.some((scope) => scope.kind === 'admin');
}

/** The v2 scope to name in a 403, e.g. `system/DocumentReference.s`. */
export function scopeNeeded(resourceType: string, interaction: Interaction): string {
  return `system/${resourceType}.${interaction}`;
}

/** The v2 spelling of a resource scope with the given permissions. */
function v2Scope(
  context: ScopeContext,
  resourceType: string,
  interactions: readonly Interaction[],
  constraint?: string,
) {
  const letters = ORDER.filter((i) => interactions.includes(i)).join('');
  return `${context}/${resourceType}.${letters}${constraint !== undefined ? `?${constraint}` : ''}`;
}

/** What one requested scope keeps of one allowed scope: itself when wholly covered, a narrower v2 scope, or nothing. */
function intersect(requested: SmartScope, allowed: SmartScope): string | undefined {
  if (requested.kind === 'admin' || allowed.kind === 'admin') {
    return requested.kind === allowed.kind ? 'admin' : undefined;
  }
  if (requested.context !== allowed.context) {
    return undefined;
  }
  if (
    allowed.resourceType !== '*' &&
    requested.resourceType !== '*' &&
    allowed.resourceType !== requested.resourceType
  ) {
    return undefined;
  }
  if (
    allowed.constraint !== undefined &&
    requested.constraint !== undefined &&
    allowed.constraint !== requested.constraint
  ) {
    return undefined;
  }
  const interactions = requested.interactions.filter((i) => allowed.interactions.includes(i));
  if (interactions.length === 0) {
    return undefined;
  }
  const resourceType = requested.resourceType === '*' ? allowed.resourceType : requested.resourceType;
  const constraint = requested.constraint ?? allowed.constraint;
  const whole =
    interactions.length === requested.interactions.length &&
    resourceType === requested.resourceType &&
    constraint === requested.constraint;
  return whole ? requested.raw : v2Scope(requested.context, resourceType, interactions, constraint);
}

/**
 * The scopes to grant a client: each requested scope narrowed to what its allowed scopes cover (SMART App Launch v2
 * lets a server grant less than asked). Unknown or malformed requested scopes are dropped; the result has no repeats.
 */
export function grantScopes(requested: string, allowed: string): string[] {
  const permitted = parseScopes(allowed);
  const granted = new Set<string>();
  for (const scope of parseScopes(requested)) {
    const kept = permitted.flatMap((allowedScope) => intersect(scope, allowedScope) ?? []);
    // wholly covered by one allowed scope: the narrower pieces other allowed scopes give would only repeat it
    for (const one of kept.includes(scope.raw) ? [scope.raw] : kept) {
      granted.add(one);
    }
  }
  return [...granted];
}
