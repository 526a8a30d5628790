import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { FoundFile } from './files.js';
import { sniffFhir } from './files.js';
import { type FhirClient, header } from './http.js';
import type { BinaryLedger } from './ledger.js';
import { outcomeWarnings, refusalReason } from './outcome.js';

export type SubmitOutcome = 'stored' | 'already stored' | 'refused';

export interface SubmitResult {
  file: string;
  outcome: SubmitOutcome;
  /** What was stored (Bundle/..., DocumentReference/..., Binary/...) or why it was refused. */
  detail: string;
  warnings: string[];
  bytes: number;
}

export interface SubmitContext {
  client: FhirClient;
  ledger: BinaryLedger;
}

const lastSegment = (url: string | undefined) =>
  url
    ?.replace(/\/_history\/.*$/, '')
    .split('/')
    .pop();

/** The DocumentReference a `Link: <...>; rel="related"` names. */
function relatedId(link: string | undefined): string | undefined {
  const match = /<([^>]+)>\s*;\s*rel="?related"?/.exec(link ?? '');
  return match ? lastSegment(match[1]) : undefined;
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** A strong ETag's value ("<sha256>"), or undefined. */
const etagValue = (etag: string | undefined) => /^"([0-9a-f]{64})"$/.exec(etag?.trim() ?? '')?.[1];

async function submitBundle(context: SubmitContext, file: FoundFile, format: 'json' | 'xml'): Promise<SubmitResult> {
  const bytes = await readFile(file.path);
  const base = { file: file.path, warnings: [] as string[], bytes: bytes.length };
  const sniffed = sniffFhir(bytes, format);
  if (!sniffed.ok) {
    return { ...base, outcome: 'refused', detail: `not sent: ${sniffed.reason}` };
  }
  if (sniffed.resourceType !== 'Bundle') {
    return {
      ...base,
      outcome: 'refused',
      detail: `not sent: a ${sniffed.resourceType}, not a document Bundle (send attachments as .pdf, .png and the like)`,
    };
  }
  const response = await context.client.sendText('POST', 'Bundle', {
    headers: {
      'content-type': `application/fhir+${format}`,
      accept: 'application/fhir+json',
      prefer: 'return=OperationOutcome',
    },
    body: () => bytes,
    // the server answers a repeat of identical content with 200, so a retry cannot store it twice
    idempotent: true,
  });
  if (response.status !== 200 && response.status !== 201) {
    return { ...base, outcome: 'refused', detail: refusalReason(response.status, response.text) };
  }
  const bundleId = lastSegment(header(response, 'location'));
  const documentReferenceId = relatedId(header(response, 'link'));
  return {
    ...base,
    outcome: response.status === 201 ? 'stored' : 'already stored',
    detail: [`Bundle/${bundleId ?? '?'}`, documentReferenceId ? `DocumentReference/${documentReferenceId}` : '']
      .filter(Boolean)
      .join(' '),
    warnings: outcomeWarnings(response.text),
  };
}

async function submitBinary(context: SubmitContext, file: FoundFile, contentType: string): Promise<SubmitResult> {
  const { client, ledger } = context;
  const base = { file: file.path, warnings: [] as string[], bytes: file.size };
  const sha256 = await sha256Of(file.path);
  const known = ledger.find(client.base, sha256, contentType);
  if (known) {
    // still there with the same bytes? (a strong ETag is the SHA-256 of the content)
    const check = await client.sendText('GET', `Binary/${encodeURIComponent(known)}`, {
      headers: { 'if-none-match': `"${sha256}"`, accept: contentType },
      idempotent: true,
    });
    if (check.status === 304) {
      return { ...base, outcome: 'already stored', detail: `Binary/${known}` };
    }
    if (check.status !== 404 && check.status !== 200) {
      return { ...base, outcome: 'refused', detail: refusalReason(check.status, check.text) };
    }
    ledger.forget(client.base, sha256, contentType);
  }
  const response = await client.sendText('POST', 'Binary', {
    headers: {
      'content-type': contentType,
      'content-length': String(file.size),
      accept: 'application/fhir+json',
      prefer: 'return=minimal',
    },
    body: () => createReadStream(file.path),
  });
  if (response.status !== 201) {
    return { ...base, outcome: 'refused', detail: refusalReason(response.status, response.text) };
  }
  const id = lastSegment(header(response, 'location')) ?? '?';
  try {
    // the server's hash, in case the file changed since it was read
    await ledger.record(client.base, etagValue(header(response, 'etag')) ?? sha256, contentType, id);
  } catch (error) {
    base.warnings.push(
      `the ledger ${ledger.file} could not be written (${(error as Error).message}): a re-run sends this file again`,
    );
  }
  return { ...base, outcome: 'stored', detail: `Binary/${id}` };
}

/** Sends one file as a document Bundle or a Binary; never throws (a failure is a refusal with its reason). */
export async function submitFile(context: SubmitContext, file: FoundFile): Promise<SubmitResult> {
  try {
    if (!file.kind) {
      return {
        file: file.path,
        outcome: 'refused',
        detail: `not sent: unknown file type "${path.extname(file.path) || '(none)'}" (FHIR .json/.xml, or .pdf, .png, .jpg, .txt...)`,
        warnings: [],
        bytes: file.size,
      };
    }
    return file.kind.kind === 'fhir'
      ? await submitBundle(context, file, file.kind.format)
      : await submitBinary(context, file, file.kind.contentType);
  } catch (error) {
    return {
      file: file.path,
      outcome: 'refused',
      detail: error instanceof Error ? error.message : String(error),
      warnings: [],
      bytes: file.size,
    };
  }
}

/** Runs `worker` over `items` with at most `concurrency` at a time; results keep the items' order. */
export async function mapConcurrently<T, R>(
  items: readonly T[],
  concurrency: number,
  worker: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await worker(items[index]);
    }
  });
  await Promise.all(lanes);
  return results;
}
