import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { Draining } from '../../src/health/draining.js';
import { json } from '../utils/http.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';

interface Answer {
  status?: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Starts a Binary upload and sends the first half of its body; `finish` sends the rest and returns the answer. */
function halfSentUpload(url: string, token: string, bytes: Buffer): { finish: () => Promise<Answer> } {
  const req = request(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/octet-stream',
      'content-length': String(bytes.length),
      authorization: `Bearer ${token}`,
    },
  });
  const answer = new Promise<Answer>((resolve, reject) => {
    req.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on('error', reject);
  });
  req.write(bytes.subarray(0, bytes.length / 2));
  return {
    finish: () => {
      req.end(bytes.subarray(bytes.length / 2));
      return answer;
    },
  };
}

describe('draining after SIGTERM (what the signal handler switches on before the listener closes)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('sqlite', 'file');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('takes readiness down, refuses new requests with 503 and an OperationOutcome, and finishes one in flight', async () => {
    expect((await fetch(`${t.baseUrl}/health/ready`)).status).toBe(200);
    const token = await t.token();
    const bytes = randomBytes(256 * 1024);
    const upload = halfSentUpload(`${t.fhirUrl}/Binary`, token, bytes);
    // the upload's headers have reached the server (it is in flight) well before this
    await new Promise((resolve) => setTimeout(resolve, 1000));

    t.app.get(Draining).begin();

    const ready = await fetch(`${t.baseUrl}/health/ready`);
    expect(ready.status).toBe(503);
    expect(await json(ready)).toMatchObject({ status: 'error', error: { shutdown: { status: 'down' } } });
    const live = await fetch(`${t.baseUrl}/health/live`);
    expect(live.status).toBe(200);
    expect(live.headers.get('connection')).toBe('close');

    const refused = await t.fetch('/fhir/metadata');
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(refused.headers.get('connection')).toBe('close');
    expect(refused.headers.get('content-type')).toMatch(/fhir\+json/);
    expect(await json(refused)).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'transient' }] });

    // the request that was in flight when the drain began is carried out
    const stored = await upload.finish();
    expect([stored.status, stored.body.slice(0, 200)]).toEqual([201, expect.anything()]);
    const location = String(stored.headers.location);
    expect(location).toMatch(/\/fhir\/Binary\/[\w-]+/);
  });
});
