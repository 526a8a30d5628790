import { connect } from 'node:net';
import { startTestApp, type TestApp } from '../utils/test-app.js';

interface RawResponse {
  status: number;
  headers: string;
  body: string;
}

/** Sends bytes as they are (fetch would refuse or repair a broken request) and reads the answer. */
async function rawRequest(port: number, request: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head, ...rest] = text.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), headers: head, body: rest.join('\r\n\r\n') });
    });
    // Connection: close ends the exchange; ending our side first would drop a slow answer.
    socket.write(request);
  });
}

const LONG_ID = 'a'.repeat(300);

/** Requests Fastify or Node answer before any controller runs, with the status each must get. */
const CASES: [string, string, number][] = [
  ['a path id over 200 characters', `GET /fhir/DocumentReference/${LONG_ID} HTTP/1.1`, 414],
  ['a path id over 200 characters on another route', `GET /fhir/Binary/${LONG_ID}x HTTP/1.1`, 414],
  ['bad percent-encoding in the path', 'GET /fhir/DocumentReference/%zz%E0%A4%A HTTP/1.1', 400],
  ['an unknown path', `GET /no/such/route/${'b'.repeat(50)} HTTP/1.1`, 404],
  ['a method no route answers', 'PROPFIND /fhir/DocumentReference HTTP/1.1', 405],
  ['an unsupported method on a known route', 'DELETE /fhir/Bundle HTTP/1.1', 405],
];

describe('errors raised by the HTTP framework itself', () => {
  let t: TestApp;
  let port: number;

  beforeAll(async () => {
    t = await startTestApp('sqlite', 'file');
    port = t.config.port;
  });
  afterAll(async () => {
    await t?.close();
  });

  async function send(requestLine: string, extra = '', body = ''): Promise<RawResponse> {
    const authorization = `Bearer ${await t.token()}`;
    return rawRequest(
      port,
      `${requestLine}\r\nHost: 127.0.0.1\r\nAuthorization: ${authorization}\r\nConnection: close\r\n${extra}\r\n${body}`,
    );
  }

  function expectOutcome(response: RawResponse, status: number, secret?: string): any {
    expect(response.status).toBe(status);
    expect(response.headers.toLowerCase()).toContain('content-type: application/fhir+json');
    const outcome = JSON.parse(response.body);
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0].severity).toBe('error');
    expect(outcome.issue[0].diagnostics).toEqual(expect.any(String));
    expect(response.body).not.toMatch(/FST_|statusCode|at .*\.js/);
    if (secret) {
      expect(response.body).not.toContain(secret);
    }
    return outcome;
  }

  it.each(CASES)('answers %s with an OperationOutcome that does not echo the URL', async (_label, line, status) => {
    const path = line.split(' ')[1];
    const response = await send(line);
    expectOutcome(response, status, path.slice(path.lastIndexOf('/') + 1));
  });

  it('names the allowed methods in Allow on a 405', async () => {
    const response = await send('DELETE /fhir/Bundle HTTP/1.1');
    expect(response.headers.toLowerCase()).toContain('\r\nallow: post\r\n');
    const history = await send(`POST /fhir/DocumentReference/${'d'.repeat(36)}/_history HTTP/1.1`);
    expectOutcome(history, 405);
    expect(history.headers.toLowerCase()).toContain('\r\nallow: get\r\n');
  });

  it('answers a body on GET like the same GET without one', async () => {
    const response = await send(
      'GET /fhir/DocumentReference?_count=1&patient.identifier=9434765919 HTTP/1.1',
      'Content-Type: application/fhir+json\r\nContent-Length: 2\r\n',
      '{}',
    );
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body).resourceType).toBe('Bundle');
  });

  it.each([
    ['a Content-Length that is not a number', 'Content-Length: abc\r\n'],
    ['two different Content-Lengths', 'Content-Length: 2\r\nContent-Length: 3\r\n'],
    ['both Content-Length and chunked Transfer-Encoding', 'Content-Length: 2\r\nTransfer-Encoding: chunked\r\n'],
  ])('answers %s with 400 and an OperationOutcome', async (_label, headers) => {
    expectOutcome(
      await send('POST /fhir/Bundle HTTP/1.1', `Content-Type: application/fhir+json\r\n${headers}`, '{}'),
      400,
    );
  });

  it('answers a URL longer than the header limit with an OperationOutcome', async () => {
    const response = await send(`GET /fhir/DocumentReference?type=${'c'.repeat(20_000)} HTTP/1.1`);
    expect([414, 431]).toContain(response.status);
    expectOutcome(response, response.status, 'cccccccccc');
  });

  it('keeps request ids and security headers on framework errors', async () => {
    const response = await send(`GET /fhir/DocumentReference/${LONG_ID} HTTP/1.1`, 'X-Request-ID: probe-414\r\n');
    const headers = response.headers.toLowerCase();
    expect(headers).toContain('x-request-id: probe-414');
    expect(headers).toContain('x-content-type-options: nosniff');
  });
});
