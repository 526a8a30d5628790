/** FHIR R4 issue severities and the issue-type codes this server uses (http://hl7.org/fhir/issue-type). */
export type IssueSeverity = 'fatal' | 'error' | 'warning' | 'information';
export type IssueCode =
  | 'invalid'
  | 'structure'
  | 'required'
  | 'value'
  | 'invariant'
  | 'security'
  | 'login'
  | 'forbidden'
  | 'processing'
  | 'not-supported'
  | 'duplicate'
  | 'conflict'
  | 'not-found'
  | 'too-long'
  | 'too-costly'
  | 'throttled'
  | 'exception'
  | 'timeout'
  | 'transient'
  | 'no-store'
  | 'informational'
  | 'incomplete'
  | 'business-rule'
  | 'deleted';

export interface OutcomeIssue {
  severity: IssueSeverity;
  code: IssueCode;
  diagnostics: string;
  /** FHIRPath of the element concerned, e.g. Bundle.entry[0].resource. */
  expression?: string[];
}

export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  id?: string;
  issue: OutcomeIssue[];
}

export function operationOutcome(issues: OutcomeIssue[]): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: issues };
}

export function informational(diagnostics: string): OperationOutcome {
  return operationOutcome([{ severity: 'information', code: 'informational', diagnostics }]);
}
