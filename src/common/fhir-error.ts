import { type IssueCode, type OutcomeIssue, operationOutcome, type OperationOutcome } from './operation-outcome.js';

/** The one error type of the server: an HTTP status plus the OperationOutcome that explains it. */
export class FhirError extends Error {
  readonly issues: OutcomeIssue[];

  constructor(
    readonly status: number,
    code: IssueCode,
    message: string,
    options: { expression?: string; issues?: OutcomeIssue[]; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'FhirError';
    const first: OutcomeIssue = { severity: 'error', code, diagnostics: message };
    if (options.expression) {
      first.expression = [options.expression];
    }
    this.issues = options.issues && options.issues.length > 0 ? options.issues : [first];
    this.headers = options.headers ?? {};
  }

  readonly headers: Record<string, string>;

  get outcome(): OperationOutcome {
    return operationOutcome(this.issues);
  }
}

export const invalid = (message: string, expression?: string): FhirError =>
  new FhirError(400, 'invalid', message, { expression });
export const structure = (message: string): FhirError => new FhirError(400, 'structure', message);
export const unprocessable = (issues: OutcomeIssue[]): FhirError =>
  new FhirError(422, issues[0]?.code ?? 'processing', issues[0]?.diagnostics ?? 'Unprocessable', { issues });
export const businessRule = (message: string, expression?: string): FhirError =>
  new FhirError(422, 'business-rule', message, { expression });
export const notFound = (message: string): FhirError => new FhirError(404, 'not-found', message);
export const gone = (message: string): FhirError => new FhirError(410, 'deleted', message);
export const conflict = (message: string): FhirError => new FhirError(409, 'conflict', message);
export const duplicate = (message: string): FhirError => new FhirError(409, 'duplicate', message);
export const forbidden = (message: string): FhirError => new FhirError(403, 'forbidden', message);
export const unauthorized = (message: string): FhirError =>
  new FhirError(401, 'login', message, { headers: { 'www-authenticate': 'Bearer error="invalid_token"' } });
export const tooLarge = (message: string): FhirError => new FhirError(413, 'too-long', message);
export const unsupportedMediaType = (message: string): FhirError => new FhirError(415, 'not-supported', message);
export const notAcceptable = (message: string): FhirError => new FhirError(406, 'not-supported', message);
export const methodNotAllowed = (message: string, allow: string): FhirError =>
  new FhirError(405, 'not-supported', message, { headers: { allow } });
export const preconditionFailed = (message: string): FhirError => new FhirError(412, 'conflict', message);
export const rangeNotSatisfiable = (message: string, size: number): FhirError =>
  new FhirError(416, 'value', message, { headers: { 'content-range': `bytes */${size}` } });
