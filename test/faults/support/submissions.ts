import { randomUUID } from 'node:crypto';
import { aDischargeSummaryR4 } from '../../fixtures/documents.js';
import { A_PDF, aProvideBundle, PROVIDE_ENTRY } from '../../fixtures/mhd.js';
import { aPointer } from '../../fixtures/pointer.js';

export const FHIR_JSON = 'application/fhir+json';
export const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';
export const UUID_SYSTEM = 'https://tools.ietf.org/html/rfc4122';
export const RFC3986 = 'urn:ietf:rfc:3986';

export type Kind = 'bundle' | 'provide' | 'pointer';

/** One HTTP attempt: a status (answered) or a socket error before any status (unanswered). */
export interface Attempt {
  requestId: string;
  startedAt: number;
  endedAt?: number;
  status?: number;
  location?: string;
  retryAfter?: string;
  contentType?: string;
  body?: Buffer;
  error?: string;
}

/** One client submission, with everything needed to find it again in the HTTP API and in the database. */
export interface Submission {
  kind: Kind;
  path: '/fhir/Bundle' | '/fhir' | '/fhir/DocumentReference';
  /** The exact bytes sent (and re-sent on every retry). */
  bytes: Buffer;
  /** The document Bundle's identifier value (bundle: system UUID_SYSTEM; provide: system RFC3986). */
  documentIdentifier?: string;
  /** The bytes GET /fhir/Bundle/{id} must return. */
  documentBytes?: Buffer;
  /** masterIdentifier values of the DocumentReferences this submission creates. */
  masterIdentifiers: string[];
  /** ITI-65: the PDF's bytes and the SubmissionSet List's identifier value. */
  pdf?: Buffer;
  listIdentifier?: string;
  /** Every attempt in order: the first, then the client's retries. */
  attempts: Attempt[];
}

export function aBundleSubmission(n: number): Submission {
  const value = randomUUID();
  const document = aDischargeSummaryR4({ identifier: { system: UUID_SYSTEM, value } });
  // a third are pretty-printed with a trailing newline: byte-identical means not re-serialised
  const bytes = Buffer.from(n % 3 === 0 ? `${JSON.stringify(document, null, 2)}\n` : JSON.stringify(document));
  return {
    kind: 'bundle',
    path: '/fhir/Bundle',
    bytes,
    documentIdentifier: value,
    documentBytes: bytes,
    masterIdentifiers: [value],
    attempts: [],
  };
}

export function aProvideSubmission(): Submission {
  const documentIdentifier = `urn:uuid:${randomUUID()}`;
  // a distinct PDF per transaction (a trailing PDF comment), so every blob is its own
  const pdf = Buffer.concat([A_PDF, Buffer.from(`%${randomUUID()}\n`)]);
  const transaction = aProvideBundle({ documentIdentifier, pdfData: pdf.toString('base64') });
  const entries = transaction.entry as { resource: Record<string, any> }[];
  return {
    kind: 'provide',
    path: '/fhir',
    bytes: Buffer.from(JSON.stringify(transaction)),
    documentIdentifier,
    // the transaction carries the document as JSON, stored as its serialisation
    documentBytes: Buffer.from(JSON.stringify(entries[PROVIDE_ENTRY.document].resource)),
    masterIdentifiers: [
      entries[PROVIDE_ENTRY.pdfReference].resource.masterIdentifier.value,
      entries[PROVIDE_ENTRY.documentReference].resource.masterIdentifier.value,
    ],
    pdf,
    listIdentifier: entries[PROVIDE_ENTRY.submissionSet].resource.identifier[0].value,
    attempts: [],
  };
}

export function aPointerSubmission(): Submission {
  const pointer = aPointer();
  return {
    kind: 'pointer',
    path: '/fhir/DocumentReference',
    bytes: Buffer.from(JSON.stringify(pointer)),
    masterIdentifiers: [(pointer.masterIdentifier as { value: string }).value],
    attempts: [],
  };
}

/** Mostly document Bundles, with one ITI-65 transaction and one pointer in every eight. */
export function aSubmission(n: number): Submission {
  switch (n % 8) {
    case 3:
      return aProvideSubmission();
    case 6:
      return aPointerSubmission();
    default:
      return aBundleSubmission(n);
  }
}

export function describeError(error: unknown): string {
  // by shape, not instanceof: fetch's errors come from another realm under jest's VM modules
  if (typeof error !== 'object' || error === null || typeof (error as Error).message !== 'string') {
    return String(error);
  }
  const cause = (error as { cause?: unknown }).cause as { code?: string; message?: string } | undefined;
  return cause && typeof cause === 'object'
    ? `${(error as Error).message}: ${cause.code ?? cause.message}`
    : (error as Error).message;
}

/** Sends one attempt of a submission (the same bytes every time) and records it on the submission. */
export async function send(
  baseUrl: string,
  token: string,
  submission: Submission,
  timeoutMs = 60_000,
): Promise<Attempt> {
  const attempt: Attempt = { requestId: randomUUID(), startedAt: Date.now() };
  submission.attempts.push(attempt);
  try {
    const response = await fetch(`${baseUrl}${submission.path}`, {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON, authorization: `Bearer ${token}`, 'x-request-id': attempt.requestId },
      body: submission.bytes,
      signal: AbortSignal.timeout(timeoutMs),
    });
    // The status line arrived: the server answered, even if a kill cuts the body short.
    attempt.status = response.status;
    attempt.location = response.headers.get('location') ?? undefined;
    attempt.retryAfter = response.headers.get('retry-after') ?? undefined;
    attempt.contentType = response.headers.get('content-type') ?? undefined;
    attempt.body = Buffer.from(await response.arrayBuffer());
  } catch (error) {
    attempt.error = describeError(error);
  }
  attempt.endedAt = Date.now();
  return attempt;
}

const SUCCESS: Record<Kind, number> = { bundle: 201, pointer: 201, provide: 200 };

/** Whether an answer is the kind's success: 201 (Bundle, pointer), or 200 for ITI-65 with every entry created. */
export function succeeded(submission: Submission, attempt: Attempt | undefined): boolean {
  if (attempt?.status !== SUCCESS[submission.kind]) {
    return false;
  }
  // the status line is the acknowledgement; a body a kill cut short cannot be checked further
  if (submission.kind !== 'provide' || !attempt.body?.length) {
    return true;
  }
  let statuses: string[];
  try {
    statuses = (JSON.parse(attempt.body.toString('utf8')).entry as { response: { status: string } }[]).map(
      (e) => e.response.status,
    );
  } catch {
    return true; // cut short mid-body
  }
  return statuses.filter((s) => s === '201 Created').length === 5 && statuses.length === 6;
}

/** Whether an answer says "already stored": a Bundle retry answered 200, or 409 for a taken pointer/ITI-65 identifier. */
export function answeredAsRetry(submission: Submission, attempt: Attempt | undefined): boolean {
  return submission.kind === 'bundle' ? attempt?.status === 200 : attempt?.status === 409;
}

/** The first attempt the server acknowledged as stored, if any. */
export const acknowledgement = (submission: Submission): Attempt | undefined =>
  submission.attempts.find((a) => succeeded(submission, a));

export const isAcknowledged = (submission: Submission): boolean => acknowledgement(submission) !== undefined;

/** Counts of values, "value xN, ..." for log lines. */
export function tally(values: unknown[]): string {
  const counts = new Map<string, number>();
  for (const value of values.map(String)) {
    counts.set(value, (counts.get(value) ?? 0) + 1);
  }
  return [...counts].map(([value, n]) => `${value} x${n}`).join(', ');
}

export function group<T>(rows: T[], key: (row: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const row of rows) {
    const k = key(row);
    groups.set(k, [...(groups.get(k) ?? []), row]);
  }
  return groups;
}

export const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Stored as far as the client knows: acknowledged, or a retry answered as one (the earlier attempt had stored it). */
export const isStored = (submission: Submission): boolean =>
  submission.attempts.some((a) => succeeded(submission, a) || answeredAsRetry(submission, a));

/** How long each phase of a test took, for its log line. */
export class Phases {
  private readonly done: string[] = [];
  private last = Date.now();
  private readonly first = this.last;

  /** Ends the phase running since the previous mark. */
  mark(name: string): void {
    const now = Date.now();
    this.done.push(`${name} ${((now - this.last) / 1000).toFixed(1)} s`);
    this.last = now;
  }

  toString(): string {
    return `${Math.round((Date.now() - this.first) / 1000)} s (${this.done.join(', ')})`;
  }
}
