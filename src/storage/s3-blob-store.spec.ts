import { Readable } from 'node:stream';
import { jest } from '@jest/globals';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  S3ServiceException,
  type S3Client,
} from '@aws-sdk/client-s3';
import { BlobNotFoundError, BlobStoreUnavailableError } from './blob-store.js';
import { S3BlobStore, storeError } from './s3-blob-store.js';

const KEY_A = '3f/a1/3fa1c2d4-1111-4222-8333-444455556666';
const KEY_B = '9b/07/9b07aa00-1111-4222-8333-444455556666';
const metadata = { $metadata: {} };

/** A store over a fake client whose `send` answers (or throws) with `respond`, asynchronously like the SDK. */
function storeWith(respond: (command: unknown) => unknown): { store: S3BlobStore; send: jest.Mock } {
  const mock = jest.fn((command: unknown) => Promise.resolve().then(() => respond(command)));
  const client = { send: mock } as unknown as S3Client;
  return {
    store: new S3BlobStore({ client, bucket: 'docs', prefix: '/blobs/', partSize: 5 * 1024 * 1024, queueSize: 2 }),
    send: mock,
  };
}

describe('S3BlobStore', () => {
  it('lists our keys older than the cut-off across pages, without the prefix, skipping foreign objects', async () => {
    const old = new Date('2024-01-01T00:00:00Z');
    const recent = new Date('2024-06-01T00:00:00Z');
    const pages = [
      {
        Contents: [
          { Key: `blobs/${KEY_A}`, LastModified: old, Size: 12 },
          { Key: 'blobs/someone-elses/file.pdf', LastModified: old },
        ],
        IsTruncated: true,
        NextContinuationToken: 'page-2',
      },
      {
        Contents: [
          { Key: `blobs/${KEY_B}`, LastModified: old, Size: 0 },
          { Key: `blobs/${KEY_A}x`, LastModified: old },
          { Key: `blobs/${KEY_A.replace('3fa1c2d4', '3fa1c2d5')}`, LastModified: recent },
        ],
        IsTruncated: false,
      },
    ];
    const { store, send } = storeWith((command) => {
      const input = (command as ListObjectsV2Command).input;
      return input.ContinuationToken === 'page-2' ? pages[1] : pages[0];
    });

    const listed = [];
    for await (const blob of store.list(new Date('2024-03-01T00:00:00Z'))) {
      listed.push(blob);
    }

    expect(listed).toEqual([
      { key: KEY_A, size: 12, lastModified: old },
      { key: KEY_B, size: 0, lastModified: old },
    ]);
    expect(send).toHaveBeenCalledTimes(2);
    const inputs = send.mock.calls.map(([command]) => (command as ListObjectsV2Command).input);
    expect(inputs).toEqual([
      { Bucket: 'docs', Prefix: 'blobs/', ContinuationToken: undefined },
      { Bucket: 'docs', Prefix: 'blobs/', ContinuationToken: 'page-2' },
    ]);
  });

  it('asks for an inclusive byte range under the prefix', async () => {
    const { store, send } = storeWith(() => ({
      Body: Readable.from([Buffer.from('xyz')]),
      ContentRange: 'bytes 10-12/100',
    }));

    await store.open({ key: KEY_A }, { start: 10, end: 12 });

    const input = (send.mock.calls[0][0] as GetObjectCommand).input;
    expect(input).toEqual({ Bucket: 'docs', Key: `blobs/${KEY_A}`, Range: 'bytes=10-12' });
  });

  it('accepts a range clipped at the end of the object, as S3 serves it', async () => {
    const { store } = storeWith(() => ({
      Body: Readable.from([Buffer.from('z')]),
      ContentRange: 'bytes 99-99/100',
    }));

    await expect(store.open({ key: KEY_A }, { start: 99, end: 500 })).resolves.toBeInstanceOf(Readable);
  });

  it('fails rather than serve bytes other than the range asked for', async () => {
    const body = Readable.from([Buffer.from('whole object')]);
    const { store } = storeWith(() => ({ Body: body, ContentRange: 'bytes 0-11/12' }));

    await expect(store.open({ key: KEY_A }, { start: 0, end: 0 })).rejects.toThrow(/answered range 0-0/);
    expect(body.destroyed).toBe(true);
  });

  it('turns NoSuchKey into BlobNotFoundError', async () => {
    const { store } = storeWith(() => {
      throw new NoSuchKey({ message: 'The specified key does not exist.', ...metadata });
    });

    await expect(store.open({ key: KEY_A })).rejects.toEqual(new BlobNotFoundError(KEY_A));
  });

  it('does not hide other S3 failures behind BlobNotFoundError', async () => {
    const denied = new S3ServiceException({
      name: 'AccessDenied',
      $fault: 'client',
      $metadata: { httpStatusCode: 403 },
    });
    const { store } = storeWith(() => {
      throw denied;
    });

    await expect(store.open({ key: KEY_A })).rejects.toBe(denied);
    await expect(store.exists({ key: KEY_A })).rejects.toBe(denied);
  });

  it('reports an S3 outage as BlobStoreUnavailableError (503 with Retry-After), never as not found', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4568'), {
      code: 'ECONNREFUSED',
      syscall: 'connect',
    });
    const slowDown = new S3ServiceException({ name: 'SlowDown', $fault: 'server', $metadata: { httpStatusCode: 503 } });
    for (const failure of [refused, slowDown]) {
      const { store } = storeWith(() => {
        throw failure;
      });
      const error: unknown = await store.open({ key: KEY_A }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BlobStoreUnavailableError);
      expect((error as BlobStoreUnavailableError).status).toBe(503);
      expect((error as BlobStoreUnavailableError).headers['retry-after']).toBe('5');
      await expect(store.exists({ key: KEY_A })).rejects.toBeInstanceOf(BlobStoreUnavailableError);
      await expect(store.probe()).rejects.toBeInstanceOf(BlobStoreUnavailableError);
    }
  });

  it('maps failures by kind: outages to BlobStoreUnavailableError, anything else as it was', () => {
    const timeout = Object.assign(new Error('Connection timed out after 5000 ms'), { name: 'TimeoutError' });
    expect(storeError(timeout)).toBeInstanceOf(BlobStoreUnavailableError);
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    expect(storeError(reset)).toBeInstanceOf(BlobStoreUnavailableError);
    const badRequest = new S3ServiceException({
      name: 'InvalidRequest',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
    });
    expect(storeError(badRequest)).toBe(badRequest);
  });

  it('reports a missing object as not existing, from HeadObject', async () => {
    const { store, send } = storeWith(() => {
      throw new NotFound({ message: 'Not Found', ...metadata });
    });

    expect(await store.exists({ key: KEY_A })).toBe(false);
    expect(send.mock.calls[0][0]).toBeInstanceOf(HeadObjectCommand);
  });

  it('never sends a malformed key to S3', async () => {
    const { store, send } = storeWith(() => ({}));

    await expect(store.open({ key: '../other-bucket/x' })).rejects.toBeInstanceOf(BlobNotFoundError);
    expect(await store.exists({ key: '../x' })).toBe(false);
    await store.purge({ key: '../x' });
    expect(send).not.toHaveBeenCalled();
  });
});
