import { printable } from './text.js';

interface Issue {
  severity?: unknown;
  code?: unknown;
  diagnostics?: unknown;
  details?: { text?: unknown };
  expression?: unknown;
}

const SERIOUS = new Set(['fatal', 'error']);
const str = (value: unknown): string => (typeof value === 'string' ? value : '');

function issueText(issue: Issue): string {
  const text = printable(str(issue.diagnostics) || str(issue.details?.text)).trim();
  const expressions = Array.isArray(issue.expression) ? issue.expression.filter((e) => typeof e === 'string') : [];
  const where = expressions.length > 0 ? ` (at ${printable(expressions.join(', '))})` : '';
  return `${printable(str(issue.code) || 'error')}: ${text || 'no details'}${where}`;
}

/** The issues of an OperationOutcome in `body`, errors first; empty when the body is not one. */
export function outcomeIssues(body: string): { severity: string; text: string }[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return [];
  }
  const outcome = parsed as { resourceType?: unknown; issue?: unknown };
  if (outcome?.resourceType !== 'OperationOutcome' || !Array.isArray(outcome.issue)) {
    return [];
  }
  return (outcome.issue as Issue[])
    .filter((issue) => typeof issue === 'object' && issue !== null)
    .map((issue) => ({
      severity: typeof issue.severity === 'string' ? issue.severity : 'error',
      text: issueText(issue),
    }))
    .sort((a, b) => Number(SERIOUS.has(b.severity)) - Number(SERIOUS.has(a.severity)));
}

/**
 * Why the server refused a request, in one line: the error issues of its OperationOutcome, or the status and the
 * start of whatever else it sent.
 */
export function refusalReason(status: number, body: string): string {
  const issues = outcomeIssues(body);
  const serious = issues.filter((issue) => SERIOUS.has(issue.severity));
  const chosen = serious.length > 0 ? serious : issues;
  if (chosen.length > 0) {
    return `${status} ${chosen.map((issue) => issue.text).join('; ')}`;
  }
  const text = printable(body).trim();
  return text ? `${status} ${text.length > 200 ? `${text.slice(0, 200)}...` : text}` : `${status} (no explanation)`;
}

/** The warning issues of an OperationOutcome (a submission accepted with remarks). */
export function outcomeWarnings(body: string): string[] {
  return outcomeIssues(body)
    .filter((issue) => issue.severity === 'warning')
    .map((issue) => issue.text);
}
