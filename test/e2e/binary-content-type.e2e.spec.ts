import { readdirSync, readlinkSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { connect } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { toFhirXml } from '../fixtures/fhir-xml-writer.js';
import { BACKENDS, startTestApp, type TestApp } from '../utils/test-app.js';

const HELLO = Buffer.from('hello').toString('base64');

const binaryResource = (contentType: unknown) => ({ resourceType: 'Binary', contentType, data: HELLO });

async function expectOutcome(response: Response, status: number): Promise<any> {
  const text = await response.text();
  expect([response.status, text]).toEqual([status, expect.stringContaining('"resourceType":"OperationOutcome"')]);
  expect(text).not.toMatch(/at .*\.(js|ts):\d+/);
  return JSON.parse(text);
}

/** Sends a request over a raw socket, so header bytes reach the server as written (latin1). */
function rawRequest(t: TestApp, head: string, body: Buffer): Promise<{ status: number; text: string }> {
  const { port, hostname } = new URL(t.baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(`${head}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`, 'latin1');
      socket.write(body);
    });
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () =>
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0), text: received }),
    );
  });
}

describe.each(BACKENDS)('Binary contentType on %s with %s blobs', (database, blobStore) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp(database, blobStore);
  });
  afterAll(async () => {
    await t?.close();
  });

  const postResource = (contentType: string, body: string) =>
    t.fetch('/fhir/Binary', { method: 'POST', headers: { 'content-type': contentType }, body });

  it.each([
    ['a CRLF and another header', 'text/plain\r\nX-Evil: 1'],
    ['a bare LF', 'text/plain\nX-Evil: 1'],
    ['a CRLF after parameters', 'text/plain; charset=utf-8\r\n'],
    ['a trailing word', 'text/plain x'],
    ['a leading space', ' text/plain'],
    ['no subtype', 'text/'],
    ['two types', 'text/plain, text/html'],
    ['a parameter without a value', 'text/plain; charset'],
    ['an unterminated quoted parameter', 'text/plain; charset="utf-8'],
    ['a non-ASCII letter', 'text/pl\u00e9in'],
    ['more than 255 characters', `application/${'x'.repeat(300)}`],
  ])('refuses a FHIR Binary resource whose contentType has %s (400)', async (_label, contentType) => {
    const response = await postResource('application/fhir+json', JSON.stringify(binaryResource(contentType)));
    const outcome = await expectOutcome(response, 400);
    expect(outcome.issue[0].expression).toEqual(['Binary.contentType']);
  });

  it('refuses the same hole in the XML form of the Binary resource (400)', async () => {
    const xml = toFhirXml(binaryResource('text/plain\r\nX-Evil: 1')).replace(/\r\n/g, '&#13;&#10;');
    expect(xml).toContain('&#13;&#10;');
    await expectOutcome(await postResource('application/fhir+xml', xml), 400);
  });

  it('keeps media types with parameters, and serves them back', async () => {
    for (const contentType of [
      'application/pdf',
      'text/plain; charset="utf-8"',
      'text/plain;charset=UTF-8',
      'application/vnd.ms-excel',
    ]) {
      const created = await postResource('application/fhir+json', JSON.stringify(binaryResource(contentType)));
      expect([contentType, created.status]).toEqual([contentType, 201]);
      const read = await t.fetch(created.headers.get('location')!);
      expect([contentType, read.status, read.headers.get('content-type')]).toEqual([contentType, 200, contentType]);
      expect(await read.text()).toBe('hello');
    }
  });

  // Fastify's own parser answers 415 for a type/subtype it cannot read; the Binary check answers 400 for the rest.
  it.each([
    ['not a media type', 415],
    ['text/plain, text/html', 415],
    ['text/plain;;x', 400],
    ['text/plain; charset', 400],
    [`application/${'x'.repeat(300)}`, 400],
  ])('refuses a raw upload with Content-Type %s', async (contentType, status) => {
    const response = await t.fetch('/fhir/Binary', {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: Buffer.from('hello'),
    });
    await expectOutcome(response, status);
  });

  it('refuses a raw upload whose Content-Type carries bytes outside ASCII (415)', async () => {
    const token = await t.token();
    const response = await rawRequest(
      t,
      `POST /fhir/Binary HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nContent-Type: text/pl\u00e9in`,
      Buffer.from('hello'),
    );
    expect(response.status).toBe(415);
    expect(response.text).toContain('OperationOutcome');
  });

  it('never lets a CR or LF in a raw Content-Type through: the HTTP parser refuses it (400)', async () => {
    const token = await t.token();
    const response = await rawRequest(
      t,
      `POST /fhir/Binary HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nContent-Type: text/plain\r\n X-Evil: 1`,
      Buffer.from('hello'),
    );
    expect(response.status).toBe(400);
  });
});

describe('Binary reads release their file handles', () => {
  let t: TestApp;
  let blobDir: string;

  beforeAll(async () => {
    t = await startTestApp('sqlite', 'file');
    blobDir = path.join(t.config.dataDir, 'blobs');
  });
  afterAll(async () => {
    await t?.close();
  });

  /** Files under the blob store this process still holds open. */
  function openBlobFiles(): string[] {
    return readdirSync('/proc/self/fd').flatMap((fd) => {
      try {
        const target = readlinkSync(`/proc/self/fd/${fd}`);
        return target.startsWith(blobDir) ? [target] : [];
      } catch {
        return [];
      }
    });
  }

  async function expectNoOpenBlobFiles(): Promise<void> {
    for (let i = 0; i < 40 && openBlobFiles().length > 0; i++) {
      await sleep(50);
    }
    expect(openBlobFiles()).toEqual([]);
  }

  async function upload(bytes: Buffer): Promise<string> {
    const created = await t.fetch('/fhir/Binary', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', prefer: 'return=minimal' },
      body: bytes,
    });
    expect(created.status).toBe(201);
    return created.headers.get('location')!;
  }

  it('serves a Binary stored before the contentType check as application/octet-stream, without leaking', async () => {
    const location = await upload(Buffer.from('hello'));
    const id = location.split('/').pop();
    // A row written by a server without the check, as the review found one.
    await t.app
      .get(DataSource)
      .query('UPDATE "binary" SET content_type = ? WHERE id = ?', ['text/plain\r\nX-Evil: 1', id]);
    const read = await t.fetch(location);
    expect(read.status).toBe(200);
    expect(read.headers.get('content-type')).toBe('application/octet-stream');
    expect(read.headers.get('x-evil')).toBeNull();
    expect(await read.text()).toBe('hello');
    await expectNoOpenBlobFiles();
  });

  it('closes the file when a client abandons a download half way', async () => {
    // Larger than the loopback socket buffers, so the server is still reading the file when the client goes.
    const location = await upload(Buffer.alloc(32 * 1024 * 1024, 7));
    await expectNoOpenBlobFiles();
    const authorization = `Bearer ${await t.token()}`;
    await new Promise<void>((resolve, reject) => {
      const request = httpGet(location, { headers: { authorization } }, (response) => {
        expect(response.statusCode).toBe(200);
        response.once('data', () => {
          request.destroy();
          resolve();
        });
      });
      request.on('error', (error) => (request.destroyed ? resolve() : reject(error)));
    });
    await expectNoOpenBlobFiles();
  });
});
