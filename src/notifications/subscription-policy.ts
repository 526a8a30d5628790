import { allows, parseScopes, type SmartScope } from '../auth/smart-scopes.js';
import { parseCriteria, type SearchClause, type SearchPlan } from '../registry/document-reference-search.js';
import { ODS_ORGANIZATION_SYSTEM } from '../registry/nhs-number.js';
import { deliveryStatusViolation, isDeliveryStatusCriteria, parseDeliveryStatusCriteria } from './delivery-status.js';

/** What a subscriber needs to be sent DocumentReferences: what a search of its own would need. */
export const DISCLOSURE_SCOPE = 'system/DocumentReference.rs';

/** Whether the scopes let their holder receive DocumentReferences (read and search). */
export function allowsDisclosure(scopes: readonly SmartScope[]): boolean {
  return allows(scopes, 'DocumentReference', 'r') && allows(scopes, 'DocumentReference', 's');
}

/** Why a subscription's stored grant no longer lets it receive documents, or undefined when it does. */
export function grantRefusal(grantedScopes: string | null): string | undefined {
  if (grantedScopes === null) {
    return `the subscription has no recorded grant of ${DISCLOSURE_SCOPE}: update it with a token that has that scope`;
  }
  if (!allowsDisclosure(parseScopes(grantedScopes))) {
    return `the token that set up the subscription no longer grants ${DISCLOSURE_SCOPE}, so no document is sent`;
  }
  return undefined;
}

/**
 * The rule on `recipient`: a subscriber may only ask for documents addressed to its own organisation.
 * Returns the refusal message, or undefined when the criteria respect it.
 */
export function recipientViolation(plan: SearchPlan, ownerOds: string): string | undefined {
  for (const clause of plan.clauses) {
    if (clause.kind !== 'token' || clause.param !== 'recipient') {
      continue;
    }
    const foreign =
      clause.not ||
      clause.values.some((v) => v.code !== ownerOds || (v.system && v.system !== ODS_ORGANIZATION_SYSTEM));
    if (foreign) {
      return `A recipient criterion may only name the subscriber's own ODS code (${ownerOds})`;
    }
  }
  return undefined;
}

// recipient=X: addressed to X; custodian.identifier=X: held by X
const OWN_CLAUSES = new Set(['recipient', 'custodian.identifier']);

const namesOnly = (clause: SearchClause, ods: string): boolean =>
  clause.kind === 'token' &&
  OWN_CLAUSES.has(clause.param) &&
  !clause.not &&
  clause.values.length > 0 &&
  clause.values.every((v) => v.code === ods && (v.system === undefined || v.system === ODS_ORGANIZATION_SYSTEM));

/**
 * The default reach of a subscription: documents addressed to its organisation or held by it. Criteria with one
 * clause naming only the owner's ODS code stay inside it (clauses are AND-ed); anything else needs `patientWide`.
 */
export function reachViolation(plan: SearchPlan, ownerOds: string, patientWide: boolean): string | undefined {
  if (patientWide || plan.clauses.some((clause) => namesOnly(clause, ownerOds))) {
    return undefined;
  }
  return (
    `An organisation may subscribe only to documents addressed to it (recipient=${ODS_ORGANIZATION_SYSTEM}|${ownerOds}) ` +
    `or held by it (custodian.identifier=${ODS_ORGANIZATION_SYSTEM}|${ownerOds}): add one of these to the criteria. ` +
    `Criteria that reach other organisations' documents (by status or patient alone, say) need the server's ` +
    `operator to allow ${ownerOds} patient-wide subscriptions`
  );
}

/** Criteria for the documents an organisation may receive by default: addressed to it, or held by it. */
export function ownDocumentCriteria(ods: string): string[] {
  const code = encodeURIComponent(`${ODS_ORGANIZATION_SYSTEM}|${ods}`);
  return [`DocumentReference?recipient=${code}`, `DocumentReference?custodian.identifier=${code}`];
}

/**
 * The rule every delivery re-checks on stored criteria: a DocumentReference recipient may only be the subscriber, a
 * delivery-status requester only the subscriber. Returns the refusal, or undefined; throws when they no longer parse.
 */
export function standingViolation(matchQuery: string, ownerOds: string, baseUrl: string): string | undefined {
  if (isDeliveryStatusCriteria(matchQuery)) {
    return deliveryStatusViolation(parseDeliveryStatusCriteria(matchQuery), ownerOds);
  }
  return recipientViolation(parseCriteria(matchQuery, { baseUrl }), ownerOds);
}
