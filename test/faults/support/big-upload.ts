import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { Readable } from 'node:stream';

const CHUNK = 1024 * 1024;

/** A large body made on the fly (never held in memory): `size` bytes, the same for every stream of one upload. */
export class BigBody {
  private readonly block = randomBytes(CHUNK);
  readonly sha256: string;

  constructor(readonly size: number) {
    const hash = createHash('sha256');
    for (let at = 0; at < size; at += CHUNK) {
      hash.update(this.chunk(at));
    }
    this.sha256 = hash.digest('hex');
  }

  /** The chunk starting at byte `at`: the random block, stamped with its offset so no two chunks are alike. */
  private chunk(at: number): Buffer {
    const bytes = Buffer.from(this.block.subarray(0, Math.min(CHUNK, this.size - at)));
    bytes.writeUIntBE(at, 0, 6);
    return bytes;
  }

  /** A stream of the body; with `pauseAt`, it stops there until `resume` is called (`paused` resolves then). */
  stream(pauseAt?: number): { body: Readable; paused: Promise<void>; resume: () => void; sent: () => number } {
    let at = 0;
    let resume = () => {};
    let reached = () => {};
    const paused = new Promise<void>((resolve) => (reached = resolve));
    const hold = new Promise<void>((resolve) => (resume = resolve));
    const body = Readable.from(
      async function* (this: BigBody) {
        while (at < this.size) {
          if (pauseAt !== undefined && at >= pauseAt) {
            reached();
            await hold;
          }
          const chunk = this.chunk(at);
          at += chunk.length;
          yield chunk;
        }
      }.call(this),
    );
    return { body, paused, resume, sent: () => at };
  }
}

/** POSTs a streamed body; the status and body of the answer, or the socket error that cut it off. */
export function upload(
  url: string,
  token: string,
  body: Readable,
  size: number,
): Promise<{ status?: number; location?: string; body?: string; error?: string }> {
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(size),
          authorization: `Bearer ${token}`,
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode,
            location: response.headers.location,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        response.on('error', (error) => resolve({ status: response.statusCode, error: error.message }));
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    body.on('error', (error) => req.destroy(error));
    body.pipe(req);
  });
}

/** GETs a URL and hashes what comes back, without holding it. */
export async function digestOf(url: string, token: string): Promise<{ status: number; size: number; sha256: string }> {
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of response.body ?? []) {
    hash.update(chunk as Uint8Array);
    size += (chunk as Uint8Array).length;
  }
  return { status: response.status, size, sha256: hash.digest('hex') };
}
