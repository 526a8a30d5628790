import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PROVIDE_ENTRY } from '../../fixtures/mhd.js';
import type { ReceivedWebhook, WebhookReceiver } from '../../utils/webhook-receiver.js';
import {
  type BlobReader,
  type DatabaseReader,
  type DocumentReferenceRow,
  halfVisible,
  notificationTrail,
  presence,
  type Snapshot,
  snapshot,
  undelivered,
} from './registry-state.js';
import { acknowledgement, group, RFC3986, settle, type Submission, succeeded, UUID_SYSTEM } from './submissions.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const AUDIT_VERIFY = path.join(ROOT, 'dist', 'scripts', 'audit-verify.js');
const run = promisify(execFile);

/** Runs `work` over `items` with at most `limit` at once. */
export async function inParallel<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await work(items[i]);
      }
    }),
  );
  return results;
}

/** Reads one stored submission back through the API: its DocumentReference(s) and byte-identical content. */
export async function readBack(baseUrl: string, token: string, submission: Submission): Promise<string[]> {
  const problems: string[] = [];
  const get = (url: string) => fetch(`${baseUrl}${url}`, { headers: { authorization: `Bearer ${token}` } });
  const referenceFor = async (system: string, value: string): Promise<Record<string, any> | undefined> => {
    const response = await get(`/fhir/DocumentReference?identifier=${encodeURIComponent(`${system}|${value}`)}`);
    const found = (await response.json()) as { entry?: { resource: Record<string, any> }[] };
    const entries = found.entry ?? [];
    if (response.status !== 200 || entries.length !== 1) {
      problems.push(`DocumentReference?identifier=${system}|${value}: ${response.status}, ${entries.length} matches`);
      return undefined;
    }
    const read = await get(`/fhir/DocumentReference/${entries[0].resource.id}`);
    await read.arrayBuffer();
    if (read.status !== 200) {
      problems.push(`DocumentReference/${entries[0].resource.id}: ${read.status}`);
    }
    return entries[0].resource;
  };
  const readBytes = async (url: string, expected: Buffer, what: string) => {
    const response = await get(url);
    const bytes = Buffer.from(await response.arrayBuffer());
    if (response.status !== 200 || !bytes.equals(expected)) {
      problems.push(
        `${what} ${url}: ${response.status}, ${bytes.length} bytes, expected ${expected.length} identical bytes`,
      );
    }
  };
  const local = (url: string) => new URL(url, baseUrl).pathname;
  const acknowledged = acknowledgement(submission);

  switch (submission.kind) {
    case 'bundle': {
      const reference = await referenceFor(UUID_SYSTEM, submission.documentIdentifier!);
      if (reference) {
        const bundleUrl = local(reference.content[0].attachment.url);
        if (acknowledged?.location && local(acknowledged.location) !== bundleUrl) {
          problems.push(`${submission.documentIdentifier}: answered ${acknowledged.location}, indexed as ${bundleUrl}`);
        }
        await readBytes(bundleUrl, submission.documentBytes!, 'document');
      }
      break;
    }
    case 'pointer': {
      const reference = await referenceFor(RFC3986, submission.masterIdentifiers[0]);
      if (
        reference &&
        acknowledged?.body?.length &&
        JSON.parse(acknowledged.body.toString('utf8')).id !== reference.id
      ) {
        problems.push(`pointer ${submission.masterIdentifiers[0]}: answered another id than the one stored`);
      }
      break;
    }
    case 'provide': {
      const pdfReference = await referenceFor(RFC3986, submission.masterIdentifiers[0]);
      const documentReference = await referenceFor(RFC3986, submission.masterIdentifiers[1]);
      if (pdfReference) {
        await readBytes(local(pdfReference.content[0].attachment.url), submission.pdf!, 'PDF');
      }
      if (documentReference) {
        await readBytes(local(documentReference.content[0].attachment.url), submission.documentBytes!, 'document');
      }
      if (acknowledged?.body?.length) {
        const locations = (
          JSON.parse(acknowledged.body.toString('utf8')).entry as { response: { location?: string } }[]
        ).map((e) => e.response.location);
        const list = await get(`/fhir/${locations[PROVIDE_ENTRY.submissionSet]}`);
        await list.arrayBuffer();
        if (list.status !== 200) {
          problems.push(`${locations[PROVIDE_ENTRY.submissionSet]}: ${list.status}`);
        }
        for (const [at, reference] of [
          [PROVIDE_ENTRY.pdfReference, pdfReference],
          [PROVIDE_ENTRY.documentReference, documentReference],
        ] as const) {
          if (reference && locations[at] !== `DocumentReference/${reference.id}/_history/1`) {
            problems.push(`transaction answered ${locations[at]}, stored DocumentReference/${reference.id}`);
          }
        }
      }
      break;
    }
  }
  return problems;
}

/** Every submission reads back through the API, byte for byte, with its DocumentReference(s). */
export async function readBackAll(baseUrl: string, token: string, submissions: Submission[]): Promise<string[]> {
  return (await inParallel(submissions, 8, (s) => readBack(baseUrl, token, s))).flat();
}

/** DocumentReference ids of event notifications (each a rest-hook PUT of the resource), with their webhook-id. */
export function notified(requests: ReceivedWebhook[]): { id: string; webhookId: string }[] {
  return requests
    .filter((r) => r.method === 'PUT' && r.status < 300)
    .map((r) => ({ id: String(JSON.parse(r.body).id), webhookId: String(r.headers['webhook-id']) }));
}

/** A subscription the test made, and which stored DocumentReferences it must be told about. */
export interface Subscriber {
  hook: string;
  /** Whether this subscriber is to be told about a stored DocumentReference. */
  expects(reference: DocumentReferenceRow): boolean;
}

/**
 * Waits until every subscriber was told of every DocumentReference it should be (by event: each webhook-id names
 * one subscription event), then checks nothing else arrived and a repeat is only the same message again.
 */
export async function checkNotifications(options: {
  receiver: WebhookReceiver;
  reader: DatabaseReader;
  snap: Snapshot;
  subscribers: Subscriber[];
  timeoutMs: number;
}): Promise<{ expected: number; requests: number; repeats: number }> {
  const { receiver, reader, snap, subscribers } = options;
  let expected = 0;
  let repeats = 0;
  for (const subscriber of subscribers) {
    const wanted = new Set([...snap.references.values()].filter((r) => subscriber.expects(r)).map((r) => r.id));
    expected += wanted.size;
    const covers = (requests: ReceivedWebhook[]) => {
      const seen = new Set(notified(requests).map((n) => n.id));
      return [...wanted].every((id) => seen.has(id));
    };
    try {
      await receiver.waitFor(subscriber.hook, covers, options.timeoutMs);
    } catch {
      const seen = new Set(notified(receiver.at(subscriber.hook)).map((n) => n.id));
      const missing = [...wanted].filter((id) => !seen.has(id));
      throw new Error(
        `${subscriber.hook}: ${missing.length} of ${wanted.size} DocumentReferences never notified:\n` +
          (await notificationTrail(reader, missing)).join('\n'),
      );
    }
  }
  await settle(1_500); // a duplicate would arrive within this
  // by event: each subscription event in the database arrived as its webhook-id, at one endpoint only
  const [events] = await reader.read(['SELECT "id" FROM "subscription_event"']);
  const eventIds = new Set(events.map((e) => String(e.id)));
  const arrivals = subscribers.flatMap((s) => [...new Set(notified(receiver.at(s.hook)).map((n) => n.webhookId))]);
  expect([...eventIds].filter((id) => !arrivals.includes(id))).toEqual([]);
  expect(arrivals.filter((id) => !eventIds.has(id))).toEqual([]);
  expect(arrivals.length).toBe(eventIds.size);
  let requests = 0;
  for (const subscriber of subscribers) {
    const events = notified(receiver.at(subscriber.hook));
    requests += events.length;
    const wanted = new Set([...snap.references.values()].filter((r) => subscriber.expects(r)).map((r) => r.id));
    // only what is stored, only what the subscriber may see
    expect(events.filter((e) => !wanted.has(e.id)).map((e) => `${subscriber.hook}: ${e.id}`)).toEqual([]);
    // at-least-once: a repeat is the same message (same webhook-id, the event id), never a second event
    const byDocument = [...group(events, (e) => e.id)];
    expect(
      byDocument
        .filter(([, copies]) => new Set(copies.map((c) => c.webhookId)).size !== 1)
        .map(([id]) => `${subscriber.hook}: ${id}`),
    ).toEqual([]);
    repeats += events.length - byDocument.length;
  }
  return { expected, requests, repeats };
}

/** Waits until the outbox is drained: every row routed, every routed event delivered. */
export async function waitForDrainedOutbox(reader: DatabaseReader, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = await undelivered(reader);
    if (left.unrouted === 0 && left.undelivered === 0) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `The outbox did not drain: ${left.unrouted} rows unrouted, ${left.undelivered} events undelivered`,
      );
    }
    await settle(200);
  }
}

/** `npm run audit:verify` against the server's database and key; its verdict line ("ok: N events ..."). */
export async function auditVerify(env: Record<string, string>): Promise<string> {
  const { NODE_OPTIONS: _ignored, ...inherited } = process.env;
  try {
    const { stdout } = await run(process.execPath, [AUDIT_VERIFY], {
      cwd: ROOT,
      env: { ...inherited, ...env },
      timeout: 60_000,
    });
    return stdout.trim();
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    throw new Error(`audit:verify failed (exit ${failed.code}): ${failed.stdout ?? ''}${failed.stderr ?? ''}`);
  }
}

/** Polls GET /health/ready until it answers 200; the milliseconds that took. */
export async function waitUntilReady(baseUrl: string, timeoutMs: number): Promise<number> {
  const started = Date.now();
  let last = '';
  for (;;) {
    try {
      const response = await fetch(`${baseUrl}/health/ready`, { signal: AbortSignal.timeout(5_000) });
      last = `${response.status} ${await response.text()}`;
      if (response.status === 200) {
        return Date.now() - started;
      }
    } catch (error) {
      last = (error as Error).message;
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(`${baseUrl}/health/ready did not answer 200 within ${timeoutMs} ms; last: ${last}`);
    }
    await settle(100);
  }
}

/** What verifyRegistry found, for the test's log line. */
export interface Verified {
  documents: number;
  notifications: { expected: number; requests: number; repeats: number };
  audit: string;
}

/**
 * The invariants every fault test ends with, once the fault is over and its retries are done: every submission
 * reads back byte-identical with its DocumentReference(s); nothing is half-visible (a DocumentReference without
 * its blob, a Bundle without its DocumentReference...); every stored DocumentReference reached each subscriber
 * that should hear of it, each event once (repeats only as the same webhook-id); the outbox drains to zero; the
 * audit chain verifies.
 */
export async function verifyRegistry(options: {
  baseUrl: string;
  token: string;
  submissions: Submission[];
  reader: DatabaseReader;
  blobs: BlobReader;
  receiver: WebhookReceiver;
  subscribers: Subscriber[];
  env: Record<string, string>;
  standaloneBinaries?: ReadonlySet<string>;
  notificationTimeoutMs?: number;
}): Promise<Verified> {
  expect(await readBackAll(options.baseUrl, options.token, options.submissions)).toEqual([]);
  const snap = await snapshot(options.reader);
  expect(await halfVisible(snap, options.blobs, { standaloneBinaries: options.standaloneBinaries })).toEqual([]);
  expect(options.submissions.map((s) => presence(s, snap)).filter((p) => p !== 'present')).toEqual([]);
  const notifications = await checkNotifications({
    receiver: options.receiver,
    reader: options.reader,
    snap,
    subscribers: options.subscribers,
    timeoutMs: options.notificationTimeoutMs ?? 60_000,
  });
  await waitForDrainedOutbox(options.reader, 30_000);
  const audit = await auditVerify(options.env);
  expect(audit).toMatch(/^ok: \d+ events/);
  return { documents: snap.references.size, notifications, audit: audit.replace(/ hash [0-9a-f]+/, '') };
}

/**
 * Answers that do not tell the truth about a fault: anything but the kind's success, a retry's answer, or one of
 * `allowed` (each with Retry-After and an OperationOutcome); no answer at all counts too unless `unanswered` is
 * allowed (a fault that kills the server).
 */
export function untruthfulAnswers(
  submissions: Submission[],
  allowed: number[],
  options: { unanswered?: boolean } = {},
): string[] {
  const problems: string[] = [];
  for (const submission of submissions) {
    for (const attempt of submission.attempts) {
      const label = `${submission.kind} ${submission.masterIdentifiers[0]}`;
      if (attempt.status === undefined) {
        if (!options.unanswered) {
          problems.push(`${label}: no answer (${attempt.error})`);
        }
        continue;
      }
      if (succeeded(submission, attempt) || (submission.kind === 'bundle' && attempt.status === 200)) {
        continue;
      }
      const body = attempt.body?.toString('utf8') ?? '';
      if (!allowed.includes(attempt.status)) {
        problems.push(`${label}: ${attempt.status} ${body.slice(0, 200)}`);
      } else if (
        !attempt.retryAfter ||
        !/fhir\+json/.test(attempt.contentType ?? '') ||
        !body.includes('OperationOutcome')
      ) {
        problems.push(`${label}: ${attempt.status} without Retry-After or an OperationOutcome: ${body.slice(0, 200)}`);
      }
    }
  }
  return problems;
}

/** Attempts answered `status` (for log lines and to prove the fault was felt). */
export const answeredWith = (submissions: Submission[], status: number): number =>
  submissions.flatMap((s) => s.attempts).filter((a) => a.status === status).length;
