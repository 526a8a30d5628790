import { readdirSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { jest } from '@jest/globals';
import { AuditService } from '../../src/audit/audit.service.js';
import { BlobStore } from '../../src/storage/blob-store.js';
import { startTestApp, type TestApp } from '../utils/test-app.js';

const openFds = (): number => readdirSync('/proc/self/fd').length;

// File handles are what leak, so this runs on the filesystem blob store only.
describe('Binary reads whose audit fails (sqlite, file blobs)', () => {
  let t: TestApp;
  let location: string;

  beforeAll(async () => {
    t = await startTestApp('sqlite', 'file');
    const created = await t.fetch('/fhir/Binary', {
      method: 'POST',
      headers: { 'content-type': 'application/pdf', prefer: 'return=minimal' },
      body: Buffer.alloc(256 * 1024, 'x'),
    });
    expect(created.status).toBe(201);
    location = created.headers.get('location')!;
  });

  afterAll(async () => {
    await t.close();
  });

  it.each([
    ['the whole object', {}],
    ['a byte range', { range: 'bytes=10-99' }],
    ['HEAD', { method: 'HEAD' }],
  ])(
    'closes the blob file of every failed read of %s',
    async (_label, options: { range?: string; method?: string }) => {
      const audit = t.app.get(AuditService);
      const record = audit.record.bind(audit);
      const auditSpy = jest.spyOn(audit, 'record').mockImplementation(async (input, manager) => {
        if (input.action === 'R') {
          throw new Error('audit database unavailable');
        }
        return record(input, manager);
      });
      const blobs = t.app.get(BlobStore);
      const open = blobs.open.bind(blobs);
      const opened: Readable[] = [];
      const openSpy = jest.spyOn(blobs, 'open').mockImplementation(async (ref, range) => {
        const stream = await open(ref, range);
        opened.push(stream);
        return stream;
      });
      const read = async () => {
        const response = await t.fetch(location, {
          method: options.method,
          headers: options.range ? { range: options.range } : {},
        });
        await response.arrayBuffer();
        return response.status;
      };
      try {
        await read(); // lazily opened sockets and files join the baseline
        const before = openFds();
        for (let i = 0; i < 20; i += 1) {
          expect(await read()).toBe(500);
        }
        // closing is asynchronous: a moment, never the garbage collector
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(opened).toHaveLength(21);
        const stillOpen = opened.filter((stream) => !stream.destroyed).map((stream) => (stream as { fd?: number }).fd);
        expect(stillOpen).toEqual([]);
        expect(openFds() - before).toBeLessThanOrEqual(2);
      } finally {
        auditSpy.mockRestore();
        openSpy.mockRestore();
      }
    },
  );
});
