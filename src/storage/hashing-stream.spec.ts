import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BlobTooLargeError } from './blob-store.js';
import { HashingStream } from './hashing-stream.js';

async function run(chunks: string[], maxBytes: number): Promise<{ hasher: HashingStream; passed: string }> {
  const hasher = new HashingStream(maxBytes);
  let passed = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      passed += chunk.toString();
      callback();
    },
  });
  await pipeline(Readable.from(chunks.map((c) => Buffer.from(c))), hasher, sink);
  return { hasher, passed };
}

describe('HashingStream', () => {
  it('measures SHA-256 in hex and SHA-1 in base64 across chunk boundaries', async () => {
    const { hasher, passed } = await run(['a', 'bc'], 3);

    expect(passed).toBe('abc');
    expect(hasher.digest()).toEqual({
      size: 3,
      sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      sha1: 'qZk+NkcGgWq6PiVxeFDCbJzQ2J0=',
    });
  });

  it('measures an empty stream', async () => {
    const { hasher } = await run([], 0);

    expect(hasher.digest()).toEqual({
      size: 0,
      sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      sha1: '2jmj7l5rSw0yVb/vlWAYkK/YBwk=',
    });
  });

  it('fails with BlobTooLargeError on the chunk that crosses maxBytes, without passing it on', async () => {
    const hasher = new HashingStream(4);
    const received: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        received.push(chunk.toString());
        callback();
      },
    });

    const result = pipeline(Readable.from([Buffer.from('abc'), Buffer.from('de'), Buffer.from('f')]), hasher, sink);

    await expect(result).rejects.toEqual(new BlobTooLargeError(4));
    expect(received).toEqual(['abc']);
  });

  it('refuses to report a digest before the stream has ended', () => {
    expect(() => new HashingStream(10).digest()).toThrow(/before the stream ended/);
  });

  it('refuses a negative or fractional limit', () => {
    expect(() => new HashingStream(-1)).toThrow(RangeError);
    expect(() => new HashingStream(1.5)).toThrow(RangeError);
  });

  it('exposes no size or length property that an uploader could mistake for the body length', () => {
    const hasher = new HashingStream(10) as unknown as Record<string, unknown>;

    expect(hasher['size']).toBeUndefined();
    expect(hasher['length']).toBeUndefined();
  });
});
