import type { SmartScope } from './smart-scopes.js';

/** Who is calling, as proven by a verified access token. */
export interface Principal {
  subject: string;
  clientId?: string;
  /** ODS code of the caller's organisation, from the 'organization' claim. */
  organization?: string;
  scopes: SmartScope[];
  tokenId?: string;
}

// keyed on the request object itself so nothing is bolted onto Fastify's request type
const principals = new WeakMap<object, Principal>();

/** Records the verified caller on the request (and on its raw Node request, for hooks that only see that). */
export function setPrincipal(request: object, principal: Principal): void {
  principals.set(request, principal);
  const raw = (request as { raw?: unknown }).raw;
  if (typeof raw === 'object' && raw !== null) {
    principals.set(raw, principal);
  }
}

/** The verified caller of a request, or undefined on public routes and before the guard has run. */
export function principalOf(request: object): Principal | undefined {
  return principals.get(request);
}
