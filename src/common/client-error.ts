import type { IssueCode, OperationOutcome } from './operation-outcome.js';

/**
 * The raw HTTP/1.1 answer to an error Node's HTTP server raises outside any route, as an OperationOutcome: a request
 * not received in full within REQUEST_TIMEOUT_MS (Node's ERR_HTTP_REQUEST_TIMEOUT, e.g. a large upload on a slow
 * link), headers too large, or bytes that are not HTTP. The connection is closed after it.
 */
export function clientErrorResponse(code: string | undefined): string {
  const [status, reason, issue, diagnostics]: [number, string, IssueCode, string] =
    code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [
          408,
          'Request Timeout',
          'timeout',
          'The request was not received in full within the time the server allows (REQUEST_TIMEOUT_MS)',
        ]
      : code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'too-long', 'The request headers are larger than the server accepts']
        : [400, 'Bad Request', 'structure', 'The request is not valid HTTP'];
  const outcome: OperationOutcome = {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: issue, diagnostics }],
  };
  const body = JSON.stringify(outcome);
  return (
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/fhir+json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}
