import { clientErrorResponse } from './client-error.js';

/** Splits a raw HTTP/1.1 response into its status, headers and parsed body. */
function parse(raw: string): { status: number; headers: Record<string, string>; body: any } {
  const [head, body] = raw.split('\r\n\r\n');
  const [statusLine, ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(
    lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
  );
  expect(Number(headers['content-length'])).toBe(Buffer.byteLength(body));
  return { status: Number(statusLine.split(' ')[1]), headers, body: JSON.parse(body) };
}

describe('clientErrorResponse', () => {
  it('answers a request not received within REQUEST_TIMEOUT_MS with 408, not as broken HTTP', () => {
    const response = parse(clientErrorResponse('ERR_HTTP_REQUEST_TIMEOUT'));

    expect(response.status).toBe(408);
    expect(response.body.resourceType).toBe('OperationOutcome');
    expect(response.body.issue[0].code).toBe('timeout');
    expect(response.body.issue[0].diagnostics).toContain('REQUEST_TIMEOUT_MS');
  });

  it('answers oversized headers with 431 too-long', () => {
    const response = parse(clientErrorResponse('HPE_HEADER_OVERFLOW'));

    expect([response.status, response.body.issue[0].code]).toEqual([431, 'too-long']);
  });

  it('answers anything else the HTTP parser refuses with 400 structure, closing the connection', () => {
    for (const code of ['HPE_INVALID_METHOD', undefined]) {
      const response = parse(clientErrorResponse(code));

      expect([response.status, response.body.issue[0].code]).toEqual([400, 'structure']);
      expect(response.headers['content-type']).toBe('application/fhir+json');
      expect(response.headers.connection).toBe('close');
    }
  });
});
