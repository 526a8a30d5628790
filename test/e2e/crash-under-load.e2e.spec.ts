import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { signLocalToken } from '../../src/auth/local-issuer.js';
import { aDischargeSummaryR4 } from '../fixtures/documents.js';
import { A_PDF, aProvideBundle, PROVIDE_ENTRY } from '../fixtures/mhd.js';
import { aPointer } from '../fixtures/pointer.js';
import { freePort } from '../utils/free-port.js';
import { json } from '../utils/http.js';
import { createTestDatabase } from '../utils/postgres.js';
import { ensureBuilt, startServerProcess, type ServerProcess } from '../utils/server-process.js';
import { makeTempDir } from '../utils/temp-dir.js';
import { startWebhookReceiver, type ReceivedWebhook, type WebhookReceiver } from '../utils/webhook-receiver.js';

/*
 * The crash guarantee, end to end: a compiled server under concurrent write load (document Bundles, ITI-65
 * transactions and pointers from 16 clients) is killed with SIGKILL, then restarted on the same data. Every
 * submission that was answered with a success must be durable (bytes, blob, DocumentReference, outbox event,
 * AuditEvent) and notified; every submission cut off by the kill must be wholly there or wholly absent, and its retry
 * must succeed (a Bundle: 201, or 200 when the cut-off attempt was stored; a pointer or ITI-65 transaction that was
 * stored: 409, never a second copy). The database is read directly: schema only, no server classes.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const AUDIT_VERIFY = path.join(ROOT, 'dist', 'scripts', 'audit-verify.js');
const FHIR_JSON = 'application/fhir+json';
const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';
const UUID_SYSTEM = 'https://tools.ietf.org/html/rfc4122';
const RFC3986 = 'urn:ietf:rfc:3986';
const GP_CRITERIA = `DocumentReference?recipient=${ODS}|Y12345`;
const TRUST_CRITERIA = `DocumentReference?custodian.identifier=${ODS}|RTG`;

const CLIENTS = 16;
/** The kill comes once this many submissions were acknowledged (or at KILL_DEADLINE_MS, whichever is first). */
const ACKNOWLEDGED_BEFORE_KILL = 120;
const KILL_DEADLINE_MS = 25_000;
/**
 * A delivery job that was active in the killed worker is only retried once Bull's stalled-job check finds its lock
 * expired (lockDuration and stalledInterval are Bull's 30 s defaults): 30 to 90 s after the kill.
 */
const NOTIFICATION_TIMEOUT_MS = 120_000;

const run = promisify(execFile);
const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const lastSegment = (url: string) => url.split('/').filter(Boolean).pop()!;

type Kind = 'bundle' | 'provide' | 'pointer';

/** One HTTP attempt: a status (acknowledged) or a socket error before any status (unanswered). */
interface Attempt {
  requestId: string;
  status?: number;
  location?: string;
  body?: Buffer;
  error?: string;
}

/** One client submission, with everything needed to find it again in the HTTP API and in the database. */
interface Submission {
  kind: Kind;
  path: '/fhir/Bundle' | '/fhir' | '/fhir/DocumentReference';
  /** The exact bytes sent (and re-sent on retry). */
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
  first?: Attempt;
  retry?: Attempt;
}

function aBundleSubmission(n: number): Submission {
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
  };
}

function aProvideSubmission(): Submission {
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
  };
}

function aPointerSubmission(): Submission {
  const pointer = aPointer();
  return {
    kind: 'pointer',
    path: '/fhir/DocumentReference',
    bytes: Buffer.from(JSON.stringify(pointer)),
    masterIdentifiers: [(pointer.masterIdentifier as { value: string }).value],
  };
}

/** Mostly document Bundles, with one ITI-65 transaction and one pointer in every eight. */
function aSubmission(n: number): Submission {
  switch (n % 8) {
    case 3:
      return aProvideSubmission();
    case 6:
      return aPointerSubmission();
    default:
      return aBundleSubmission(n);
  }
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) {
    return String(error);
  }
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error
    ? `${error.message}: ${(cause as NodeJS.ErrnoException).code ?? cause.message}`
    : error.message;
}

async function send(baseUrl: string, token: string, submission: Submission): Promise<Attempt> {
  const attempt: Attempt = { requestId: randomUUID() };
  try {
    const response = await fetch(`${baseUrl}${submission.path}`, {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON, authorization: `Bearer ${token}`, 'x-request-id': attempt.requestId },
      body: submission.bytes,
    });
    // The status line arrived: the server answered, even if the kill cuts the body short.
    attempt.status = response.status;
    attempt.location = response.headers.get('location') ?? undefined;
    attempt.body = Buffer.from(await response.arrayBuffer());
  } catch (error) {
    attempt.error = describeError(error);
  }
  return attempt;
}

const SUCCESS: Record<Kind, number> = { bundle: 201, pointer: 201, provide: 200 };

/** Whether an answer is the kind's success: 201 (Bundle, pointer), or 200 for ITI-65 with every entry created. */
function succeeded(submission: Submission, attempt: Attempt | undefined): boolean {
  if (attempt?.status !== SUCCESS[submission.kind]) {
    return false;
  }
  // the status line is the acknowledgement; a body the kill cut short cannot be checked further
  if (submission.kind !== 'provide' || !attempt.body) {
    return true;
  }
  const statuses = (JSON.parse(attempt.body.toString('utf8')).entry as { response: { status: string } }[]).map(
    (e) => e.response.status,
  );
  return statuses.filter((s) => s === '201 Created').length === 5 && statuses.length === 6;
}

// ---------------------------------------------------------------------------------------------------------------
// The database, read directly

interface DocumentReferenceRow {
  id: string;
  versionId: number;
  bundleId: string | null;
  resource: Record<string, any>;
}

interface Snapshot {
  bundles: { id: string; system: string; value: string; blobKey: string; size: number; sha256: string }[];
  binaries: { id: string; blobKey: string; size: number; sha256: string }[];
  references: Map<string, DocumentReferenceRow>;
  versions: Set<string>;
  identifierTokens: Set<string>;
  outbox: Map<string, string[]>;
  submissionSets: { id: string; resource: Record<string, any> }[];
  audits: Map<string, { action: string; outcome: string; entity: string }[]>;
}

type Row = Record<string, unknown>;

interface DatabaseReader {
  /** Runs read-only SELECTs (identifiers double-quoted, valid in both dialects). */
  read(queries: string[]): Promise<Row[][]>;
}

const sqliteReader = (file: string): DatabaseReader => ({
  read: (queries) => {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      // one read transaction: a consistent snapshot even while the server writes
      return Promise.resolve(db.transaction(() => queries.map((sql) => db.prepare(sql).all() as Row[]))());
    } finally {
      db.close();
    }
  },
});

const postgresReader = (url: string): DatabaseReader => ({
  read: async (queries) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const results: Row[][] = [];
      for (const sql of queries) {
        results.push((await client.query(sql)).rows as Row[]);
      }
      await client.query('COMMIT');
      return results;
    } finally {
      await client.end();
    }
  },
});

function group<T>(rows: T[], key: (row: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const row of rows) {
    const k = key(row);
    groups.set(k, [...(groups.get(k) ?? []), row]);
  }
  return groups;
}

async function snapshot(reader: DatabaseReader): Promise<Snapshot> {
  const [bundles, binaries, references, versions, tokens, outbox, submissionSets, audits] = await reader.read([
    'SELECT "id", "identifier_system", "identifier_value", "blob_key", "size", "sha256" FROM "document_bundle"',
    'SELECT "id", "blob_key", "size", "sha256" FROM "binary"',
    'SELECT "id", "version_id", "bundle_id", "resource" FROM "document_reference"',
    'SELECT "document_reference_id", "version_id" FROM "document_reference_version"',
    `SELECT "document_reference_id", "code" FROM "document_reference_token" WHERE "param" = 'identifier'`,
    'SELECT "document_reference_id", "kind" FROM "notification_outbox"',
    'SELECT "id", "resource" FROM "submission_set"',
    'SELECT "request_id", "action", "outcome", "entity" FROM "audit_event"',
  ]);
  return {
    bundles: bundles.map((r) => ({
      id: String(r.id),
      system: String(r.identifier_system),
      value: String(r.identifier_value),
      blobKey: String(r.blob_key),
      size: Number(r.size),
      sha256: String(r.sha256),
    })),
    binaries: binaries.map((r) => ({
      id: String(r.id),
      blobKey: String(r.blob_key),
      size: Number(r.size),
      sha256: String(r.sha256),
    })),
    references: new Map(
      references.map((r) => [
        String(r.id),
        {
          id: String(r.id),
          versionId: Number(r.version_id),
          bundleId: (r.bundle_id as string | null) ?? null,
          resource: JSON.parse(String(r.resource)),
        },
      ]),
    ),
    versions: new Set(versions.map((r) => `${String(r.document_reference_id)}/${Number(r.version_id)}`)),
    identifierTokens: new Set(tokens.map((r) => `${String(r.document_reference_id)}|${String(r.code)}`)),
    outbox: new Map(
      [...group(outbox, (r) => String(r.document_reference_id))].map(([id, rows]) => [
        id,
        rows.map((r) => String(r.kind)),
      ]),
    ),
    submissionSets: submissionSets.map((r) => ({ id: String(r.id), resource: JSON.parse(String(r.resource)) })),
    audits: new Map(
      [...group(audits, (r) => String(r.request_id))].map(([id, rows]) => [
        id,
        rows.map((r) => ({ action: String(r.action), outcome: String(r.outcome), entity: String(r.entity) })),
      ]),
    ),
  };
}

async function blobProblem(blobDir: string, label: string, blob: { blobKey: string; size: number; sha256: string }) {
  let bytes: Buffer;
  try {
    bytes = await readFile(path.join(blobDir, ...blob.blobKey.split('/')));
  } catch (error) {
    return `${label}: blob ${blob.blobKey} is missing (${(error as NodeJS.ErrnoException).code})`;
  }
  if (bytes.length !== blob.size || sha256(bytes) !== blob.sha256) {
    return `${label}: blob ${blob.blobKey} has ${bytes.length} bytes sha256 ${sha256(bytes)}, the row says ${blob.size} bytes sha256 ${blob.sha256}`;
  }
  return undefined;
}

/** Blob files (and leftover temp files) that no row references: invisible litter of writes that never committed. */
async function orphanBlobs(blobDir: string, snap: Snapshot): Promise<number> {
  const keys = new Set([...snap.bundles, ...snap.binaries].map((b) => path.join(...b.blobKey.split('/'))));
  const files = (await readdir(blobDir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
  return files.filter((e) => !keys.has(path.relative(blobDir, path.join(e.parentPath, e.name)))).length;
}

const attachmentUrls = (reference: DocumentReferenceRow): string[] =>
  ((reference.resource.content ?? []) as { attachment?: { url?: string } }[]).map((c) => c.attachment?.url ?? '');

/**
 * Everything half-visible in a snapshot: a Bundle or Binary row without its intact blob or without the
 * DocumentReference that indexes it, a DocumentReference without its Bundle, Binary, version, search token or
 * outbox event, an outbox event or SubmissionSet naming a DocumentReference that is not there.
 */
async function halfVisible(snap: Snapshot, blobDir: string): Promise<string[]> {
  const problems: string[] = [];
  const byBundle = group(
    [...snap.references.values()].filter((r) => r.bundleId !== null),
    (r) => r.bundleId!,
  );
  const bundleIds = new Set(snap.bundles.map((b) => b.id));
  const binaryIds = new Set(snap.binaries.map((b) => b.id));
  const referencedBinaries = new Set(
    [...snap.references.values()].flatMap(attachmentUrls).flatMap((url) => {
      const match = /\/fhir\/Binary\/([\w-]+)$/.exec(url);
      return match ? [match[1]] : [];
    }),
  );
  for (const bundle of snap.bundles) {
    const label = `Bundle/${bundle.id} (${bundle.value})`;
    const indexes = byBundle.get(bundle.id) ?? [];
    if (indexes.length !== 1) {
      problems.push(`${label} is indexed by ${indexes.length} DocumentReferences`);
    }
    const blob = await blobProblem(blobDir, label, bundle);
    if (blob) {
      problems.push(blob);
    }
  }
  for (const binary of snap.binaries) {
    const label = `Binary/${binary.id}`;
    if (!referencedBinaries.has(binary.id)) {
      problems.push(`${label} is stored but no DocumentReference points at it`);
    }
    const blob = await blobProblem(blobDir, label, binary);
    if (blob) {
      problems.push(blob);
    }
  }
  for (const reference of snap.references.values()) {
    const label = `DocumentReference/${reference.id}`;
    if (reference.bundleId !== null) {
      if (!bundleIds.has(reference.bundleId)) {
        problems.push(`${label} points at Bundle/${reference.bundleId}, which has no row`);
      }
      if (!attachmentUrls(reference).some((url) => url.endsWith(`/fhir/Bundle/${reference.bundleId}`))) {
        problems.push(`${label} has bundle_id ${reference.bundleId} but its attachment does not point at it`);
      }
    }
    for (const url of attachmentUrls(reference)) {
      const binary = /\/fhir\/Binary\/([\w-]+)$/.exec(url)?.[1];
      if (binary && !binaryIds.has(binary)) {
        problems.push(`${label} points at Binary/${binary}, which has no row`);
      }
    }
    if (!snap.versions.has(`${reference.id}/${reference.versionId}`)) {
      problems.push(`${label} has no history row for its version ${reference.versionId}`);
    }
    const master = reference.resource.masterIdentifier?.value as string | undefined;
    if (master && !snap.identifierTokens.has(`${reference.id}|${master}`)) {
      problems.push(`${label} has no identifier search token for ${master}`);
    }
    if (!(snap.outbox.get(reference.id) ?? []).includes('created')) {
      problems.push(`${label} has no 'created' outbox event`);
    }
  }
  for (const id of snap.outbox.keys()) {
    if (!snap.references.has(id)) {
      problems.push(`an outbox event names DocumentReference/${id}, which has no row`);
    }
  }
  for (const list of snap.submissionSets) {
    for (const entry of (list.resource.entry ?? []) as { item?: { reference?: string } }[]) {
      const id = /DocumentReference\/([\w-]+)$/.exec(entry.item?.reference ?? '')?.[1];
      if (!id || !snap.references.has(id)) {
        problems.push(`List/${list.id} names ${entry.item?.reference}, which has no row`);
      }
    }
  }
  return problems;
}

const byMaster = (snap: Snapshot, value: string): DocumentReferenceRow | undefined =>
  [...snap.references.values()].find((r) => r.resource.masterIdentifier?.value === value);

/** Which parts of one submission a snapshot holds, by name. */
function parts(submission: Submission, snap: Snapshot): Record<string, boolean> {
  const found: Record<string, boolean> = {};
  if (submission.documentIdentifier) {
    const bundle = snap.bundles.find((b) => b.value === submission.documentIdentifier);
    found.documentBundleRow = bundle !== undefined;
    found.documentReferenceOfBundle =
      bundle !== undefined && [...snap.references.values()].some((r) => r.bundleId === bundle.id);
  }
  submission.masterIdentifiers.forEach((value, i) => {
    found[`documentReference${i}`] = byMaster(snap, value) !== undefined;
  });
  if (submission.kind === 'provide') {
    const pdfReference = byMaster(snap, submission.masterIdentifiers[0]);
    const binary =
      pdfReference && attachmentUrls(pdfReference).map((url) => /\/fhir\/Binary\/([\w-]+)$/.exec(url)?.[1])[0];
    found.binaryRow = binary !== undefined && snap.binaries.some((b) => b.id === binary);
    found.submissionSet = snap.submissionSets.some((l) =>
      ((l.resource.identifier ?? []) as { value?: string }[]).some((i) => i.value === submission.listIdentifier),
    );
  }
  return found;
}

/** 'present', 'absent', or 'partial' with the parts found. */
function presence(submission: Submission, snap: Snapshot): string {
  const found = parts(submission, snap);
  const values = Object.values(found);
  if (values.every(Boolean)) {
    return 'present';
  }
  if (values.every((v) => !v)) {
    return 'absent';
  }
  return `partial ${JSON.stringify(found)}`;
}

/** The AuditEvent a successful write must have left, found by the request id the client sent. */
function auditProblem(submission: Submission, attempt: Attempt, snap: Snapshot): string | undefined {
  const events = snap.audits.get(attempt.requestId) ?? [];
  const created = events.filter((e) => e.action === 'C' && e.outcome === '0');
  if (created.length !== 1) {
    return `${submission.kind} ${submission.masterIdentifiers[0]} (request ${attempt.requestId}) has ${created.length} successful create AuditEvents`;
  }
  if (
    submission.kind === 'bundle' &&
    attempt.location &&
    !created[0].entity.includes(`Bundle/${lastSegment(attempt.location)}`)
  ) {
    return `the AuditEvent of request ${attempt.requestId} does not name ${attempt.location}`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// The HTTP API after the restart

/** Reads one submission back through the API; returns what is wrong, or nothing. */
async function readBack(baseUrl: string, token: string, submission: Submission): Promise<string[]> {
  const problems: string[] = [];
  const get = (url: string) => fetch(`${baseUrl}${url}`, { headers: { authorization: `Bearer ${token}` } });
  const referenceFor = async (system: string, value: string): Promise<Record<string, any> | undefined> => {
    const response = await get(`/fhir/DocumentReference?identifier=${encodeURIComponent(`${system}|${value}`)}`);
    const found = await json(response);
    const entries = (found.entry ?? []) as { resource: Record<string, any> }[];
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

  switch (submission.kind) {
    case 'bundle': {
      const reference = await referenceFor(UUID_SYSTEM, submission.documentIdentifier!);
      if (reference) {
        const bundleUrl = local(reference.content[0].attachment.url);
        const acknowledged = submission.first?.location ?? submission.retry?.location;
        if (acknowledged && local(acknowledged) !== bundleUrl) {
          problems.push(`${submission.documentIdentifier}: answered ${acknowledged}, indexed as ${bundleUrl}`);
        }
        await readBytes(bundleUrl, submission.documentBytes!, 'document');
      }
      break;
    }
    case 'pointer': {
      const reference = await referenceFor(RFC3986, submission.masterIdentifiers[0]);
      const answered = [submission.first, submission.retry].find((a) => a?.status === 201 && a.body?.length);
      if (reference && answered && JSON.parse(answered.body!.toString('utf8')).id !== reference.id) {
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
      const answered = [submission.first, submission.retry].find((a) => a?.status === 200 && a.body?.length);
      if (answered) {
        const locations = (
          JSON.parse(answered.body!.toString('utf8')).entry as { response: { location?: string } }[]
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

/** Runs `work` over `items` with at most `limit` at once. */
async function inParallel<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
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

/** What the database says about the notification of each DocumentReference (for a failure message). */
async function notificationTrail(reader: DatabaseReader, ids: string[]): Promise<string[]> {
  const list = ids.filter((id) => /^[\w-]+$/.test(id)).map((id) => `'${id}'`);
  if (list.length === 0) {
    return [];
  }
  const [outbox, events, attempts] = await reader.read([
    `SELECT "document_reference_id", "id", "created_at", "routed_at" FROM "notification_outbox" WHERE "document_reference_id" IN (${list.join(',')})`,
    `SELECT "document_reference_id", "id", "subscription_id", "event_number", "enqueued_at", "delivered_at" FROM "subscription_event" WHERE "document_reference_id" IN (${list.join(',')})`,
    'SELECT "subscription_id", "webhook_id", "type", "event_number", "attempted_at", "status_code", "error" FROM "delivery_attempt"',
  ]);
  return ids.map((id) => {
    const own = events.filter((e) => e.document_reference_id === id);
    const tried = attempts.filter((a) => own.some((e) => e.id === a.webhook_id));
    return (
      `DocumentReference/${id}: outbox ${JSON.stringify(outbox.filter((o) => o.document_reference_id === id))}, ` +
      `events ${JSON.stringify(own)}, attempts ${JSON.stringify(tried)}`
    );
  });
}

/** DocumentReference ids of event notifications (each a rest-hook PUT of the resource), with their webhook-id. */
function notified(requests: ReceivedWebhook[]): { id: string; webhookId: string }[] {
  return requests
    .filter((r) => r.method === 'PUT')
    .map((r) => ({ id: String(JSON.parse(r.body).id), webhookId: String(r.headers['webhook-id']) }));
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * What one test started. The two dialects run concurrently (most of each is waiting for notifications), so each test
 * releases its own: its server processes are SIGKILLed and its clean-ups run, last first, even when it fails.
 */
class Resources {
  private readonly servers = new Set<ServerProcess>();
  private readonly cleanups: (() => Promise<void>)[] = [];

  async start(env: Record<string, string>): Promise<ServerProcess> {
    const server = await startServerProcess(env);
    this.servers.add(server);
    return server;
  }

  async stop(server: ServerProcess, signal: NodeJS.Signals): Promise<void> {
    await server.kill(signal);
    this.servers.delete(server);
  }

  onRelease(cleanup: () => Promise<void>): void {
    this.cleanups.push(cleanup);
  }

  async release(): Promise<void> {
    await Promise.all([...this.servers].map((server) => server.kill('SIGKILL')));
    this.servers.clear();
    for (const cleanup of this.cleanups.splice(0).reverse()) {
      await cleanup();
    }
  }
}

const unreleased = new Set<Resources>();

async function withResources(body: (resources: Resources) => Promise<void>): Promise<void> {
  const resources = new Resources();
  unreleased.add(resources);
  try {
    await body(resources);
  } finally {
    await resources.release();
    unreleased.delete(resources);
  }
}

/** Deletes the Redis keys of one test's queue prefix. */
async function dropQueue(prefix: string): Promise<void> {
  const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length > 0) {
        await redis.del(...keys);
      }
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

interface Setup {
  dataDir: string;
  blobDir: string;
  env: Record<string, string>;
  reader: DatabaseReader;
  resources: Resources;
}

describe('SIGKILL under concurrent write load (compiled server)', () => {
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    ensureBuilt();
    receiver = await startWebhookReceiver();
  }, 240_000);

  afterAll(async () => {
    // a safety net: each test releases its own (hooks do not run around concurrent tests)
    await Promise.all([...unreleased].map((resources) => resources.release()));
    await receiver?.close();
  }, 60_000);

  const tokenFor = (dataDir: string, org: string) =>
    signLocalToken(dataDir, {
      issuer: 'urn:fhir-document-registry:local',
      audience: 'urn:fhir-document-registry',
      subject: `crash-test-${org}`,
      organization: org,
      scope: 'system/*.cruds',
      expiresInSeconds: 900,
    });

  async function subscribe(server: ServerProcess, token: string, criteria: string, endpoint: string): Promise<void> {
    const response = await fetch(`${server.baseUrl}/fhir/Subscription`, {
      method: 'POST',
      headers: { 'content-type': FHIR_JSON, authorization: `Bearer ${token}` },
      body: JSON.stringify({
        resourceType: 'Subscription',
        status: 'requested',
        reason: 'crash test',
        criteria,
        channel: { type: 'rest-hook', endpoint, payload: FHIR_JSON },
      }),
    });
    const body = await json(response);
    expect([response.status, body.status]).toEqual([201, 'active']); // classic R4: no handshake
    const deadline = Date.now() + 30_000;
    for (;;) {
      const resource = await json(
        await fetch(`${server.baseUrl}/fhir/Subscription/${body.id}`, {
          headers: { authorization: `Bearer ${token}` },
        }),
      );
      if (resource.status === 'active') {
        return;
      }
      if (Date.now() > deadline) {
        throw new Error(`Subscription/${body.id} is ${resource.status}, expected active`);
      }
      await settle(100);
    }
  }

  async function auditVerify(setup: Setup): Promise<string> {
    const { NODE_OPTIONS: _ignored, ...inherited } = process.env;
    try {
      const { stdout } = await run(process.execPath, [AUDIT_VERIFY], {
        cwd: ROOT,
        env: { ...inherited, ...setup.env },
        timeout: 60_000,
      });
      return stdout.trim();
    } catch (error) {
      const failed = error as { code?: number; stdout?: string; stderr?: string };
      throw new Error(`audit:verify failed (exit ${failed.code}): ${failed.stdout ?? ''}${failed.stderr ?? ''}`);
    }
  }

  async function crashUnderLoad(setup: Setup, dialect: string): Promise<void> {
    const started = Date.now();
    const phases: string[] = [];
    let phaseStart = started;
    const phase = (name: string) => {
      phases.push(`${name} ${((Date.now() - phaseStart) / 1000).toFixed(1)} s`);
      phaseStart = Date.now();
    };
    const { env, dataDir, blobDir, reader, resources } = setup;
    const gpHook = `/gp-${randomUUID()}`;
    const trustHook = `/trust-${randomUUID()}`;

    // 1. A full server (api and worker), with the GP subscribed to what is addressed to it (Bundles and ITI-65
    //    documents name GP Y12345) and the trust to what it holds (everything here, pointers included).
    const server = await resources.start(env);
    const gp = await tokenFor(dataDir, 'Y12345');
    const rtg = await tokenFor(dataDir, 'RTG');
    await subscribe(server, gp, GP_CRITERIA, receiver.url(gpHook));
    await subscribe(server, rtg, TRUST_CRITERIA, receiver.url(trustHook));
    phase('start and subscribe');

    // 2. Concurrent clients submit distinct documents until enough were acknowledged, then the SIGKILL.
    const submissions: Submission[] = [];
    let stopping = false;
    let acknowledged = 0;
    const clients = Array.from({ length: CLIENTS }, async () => {
      while (!stopping) {
        const submission = aSubmission(submissions.length);
        submissions.push(submission);
        submission.first = await send(server.baseUrl, rtg, submission);
        if (succeeded(submission, submission.first)) {
          acknowledged += 1;
        }
      }
    });
    const killDeadline = Date.now() + KILL_DEADLINE_MS;
    while (acknowledged < ACKNOWLEDGED_BEFORE_KILL && Date.now() < killDeadline) {
      await settle(10);
    }
    stopping = true; // no client starts another request; the ones in flight stay in flight
    await resources.stop(server, 'SIGKILL');
    await Promise.all(clients);
    phase('load until kill');

    const answered = submissions.filter((s) => s.first!.status !== undefined);
    const unanswered = submissions.filter((s) => s.first!.status === undefined);
    const failures = answered.filter((s) => !succeeded(s, s.first));
    expect(
      failures.map(
        (s) => `${s.kind}: ${s.first!.status} ${s.first!.error ?? ''} ${s.first!.body?.toString('utf8').slice(0, 300)}`,
      ),
    ).toEqual([]);
    // the kill must have hit real load: many acknowledged, some cut off
    expect(answered.length).toBeGreaterThanOrEqual(40);
    expect(unanswered.length).toBeGreaterThan(0);
    // a 201 Bundle's representation is the very bytes sent
    const echoed = answered.filter((s) => s.kind === 'bundle' && s.first!.body && !s.first!.body.equals(s.bytes));
    expect(echoed.map((s) => s.documentIdentifier)).toEqual([]);

    // 3a. The crash state, as the kill left it on disk (before any restart could repair or sweep anything).
    const crashed = await snapshot(reader);
    expect(await halfVisible(crashed, blobDir)).toEqual([]);
    expect(answered.map((s) => presence(s, crashed)).filter((p) => p !== 'present')).toEqual([]);
    expect(answered.map((s) => auditProblem(s, s.first!, crashed)).filter(Boolean)).toEqual([]);
    const atCrash = unanswered.map((s) => presence(s, crashed));
    expect(atCrash.filter((p) => p !== 'present' && p !== 'absent')).toEqual([]);
    const crashVerdict = await auditVerify(setup);
    expect(crashVerdict).toMatch(/^ok: \d+ events/);
    phase('crash-state checks');

    // 3b. Restart on the same data; every unanswered submission is retried with the same bytes.
    const restarted = await resources.start(env);
    phase('restart');
    for (const [i, submission] of unanswered.entries()) {
      submission.retry = await send(restarted.baseUrl, rtg, submission);
      const wasThere = atCrash[i] === 'present';
      const outcome = `${submission.kind} ${submission.masterIdentifiers[0]} (${atCrash[i]} at the crash): ${submission.retry.status ?? submission.retry.error}`;
      if (!wasThere) {
        // nothing was stored, so the retry creates it
        expect([outcome, succeeded(submission, submission.retry)]).toEqual([outcome, true]);
      } else if (submission.kind === 'bundle') {
        // a Bundle retry is safe: same identifier, same bytes, 200 with the stored Bundle's Location
        expect([outcome, submission.retry.status]).toEqual([outcome, 200]);
        expect(submission.retry.location).toMatch(/\/fhir\/Bundle\/[\w-]+$/);
      } else {
        // pointers and ITI-65 are not idempotent: the identifier is taken, so 409, never a second copy
        expect([outcome, submission.retry.status]).toEqual([outcome, 409]);
      }
    }

    phase('retries');

    // 3c. Every submission now reads back through the API, byte for byte, with its DocumentReference.
    const readProblems = (await inParallel(submissions, 8, (s) => readBack(restarted.baseUrl, rtg, s))).flat();
    expect(readProblems).toEqual([]);
    phase('read back');

    // 3d. Every DocumentReference is notified: to the trust all of them, to the GP all but the pointers.
    const settled = await snapshot(reader);
    const allReferences = [...settled.references.values()];
    const forTrust = new Set(allReferences.map((r) => r.id));
    const forGp = new Set(allReferences.filter((r) => !byPointer(r)).map((r) => r.id));
    const acknowledgedIds = new Set(
      answered.flatMap((s) => s.masterIdentifiers.map((value) => byMaster(settled, value)?.id ?? `missing ${value}`)),
    );
    expect([...acknowledgedIds].filter((id) => !forTrust.has(id))).toEqual([]);
    const covers = (expected: Set<string>) => (requests: ReceivedWebhook[]) => {
      const seen = new Set(notified(requests).map((n) => n.id));
      return [...expected].every((id) => seen.has(id));
    };
    const waitForAll = async (hook: string, expected: Set<string>) => {
      try {
        await receiver.waitFor(hook, covers(expected), NOTIFICATION_TIMEOUT_MS);
      } catch {
        const seen = new Set(notified(receiver.at(hook)).map((n) => n.id));
        const missing = [...expected].filter((id) => !seen.has(id));
        throw new Error(
          `${hook}: ${missing.length} of ${expected.size} DocumentReferences never notified:\n` +
            (await notificationTrail(reader, missing)).join('\n'),
        );
      }
    };
    await waitForAll(trustHook, forTrust);
    await waitForAll(gpHook, forGp);
    phase('notifications');
    await settle(1_500); // a duplicate would arrive within this
    for (const [hook, expected] of [
      [trustHook, forTrust],
      [gpHook, forGp],
    ] as const) {
      const events = notified(receiver.at(hook));
      // only what is stored, only what the subscriber may see
      expect(events.filter((e) => !expected.has(e.id)).map((e) => e.id)).toEqual([]);
      // at-least-once: a repeat is the same message (same webhook-id), never a second event
      const repeats = [...group(events, (e) => e.id)].filter(
        ([, copies]) => new Set(copies.map((c) => c.webhookId)).size !== 1,
      );
      expect(repeats.map(([id]) => id)).toEqual([]);
    }

    // 4. After a clean stop the database is whole, and the audit chain verifies.
    await resources.stop(restarted, 'SIGTERM');
    const final = await snapshot(reader);
    expect([...final.references.keys()].sort()).toEqual([...settled.references.keys()].sort());
    expect(await halfVisible(final, blobDir)).toEqual([]);
    expect(submissions.map((s) => presence(s, final)).filter((p) => p !== 'present')).toEqual([]);
    expect(
      unanswered
        .filter((s) => succeeded(s, s.retry))
        .map((s) => auditProblem(s, s.retry!, final))
        .filter(Boolean),
    ).toEqual([]);
    const finalVerdict = await auditVerify(setup);
    expect(finalVerdict).toMatch(/^ok: \d+ events/);
    phase('final checks');

    const count = (kind: Kind, list: Submission[]) => list.filter((s) => s.kind === kind).length;
    const tally = (values: unknown[]) =>
      [...group(values.map(String), (v) => v)].map(([value, all]) => `${value} x${all.length}`).join(', ');
    const storedAnyway = unanswered.filter((_, i) => atCrash[i] === 'present');
    const orphans = await orphanBlobs(blobDir, final);
    console.log(
      `[crash-under-load ${dialect}] ${Math.round((Date.now() - started) / 1000)} s in all (${phases.join(', ')}): ` +
        `${answered.length} acknowledged (${count('bundle', answered)} Bundles, ${count('provide', answered)} ITI-65, ` +
        `${count('pointer', answered)} pointers), ${unanswered.length} unanswered ` +
        `(${tally(unanswered.map((s) => s.kind))}; ${storedAnyway.length} stored anyway [${tally(storedAnyway.map((s) => s.kind))}], ` +
        `${atCrash.filter((p) => p === 'absent').length} absent; retries answered ${tally(unanswered.map((s) => s.retry!.status))}; ` +
        `${orphans} unreferenced blob files; ` +
        `errors: ${[...new Set(unanswered.map((s) => s.first!.error))].join(' / ')}); ` +
        `${forTrust.size} DocumentReferences notified (trust: ${receiver.at(trustHook).length} requests, GP: ${receiver.at(gpHook).length}); ` +
        `audit after crash "${crashVerdict}", after restart "${finalVerdict}"`,
    );
  }

  const byPointer = (reference: DocumentReferenceRow) =>
    reference.bundleId === null && !attachmentUrls(reference).some((url) => url.includes('/fhir/Binary/'));

  const baseEnv = async (dataDir: string) => ({
    PORT: String(await freePort()), // kept across the restart, so stored URLs stay this server's
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    BLOB_STORE: `file:${path.join(dataDir, 'blobs')}`,
    QUEUE_PREFIX: `test-crash-${randomUUID()}`,
    SUBSCRIPTION_ENDPOINT_ALLOWLIST: '127.0.0.1,localhost',
    DELIVERY_BACKOFF_BASE_MS: '50',
    OUTBOX_POLL_MS: '100',
    RATE_LIMIT_PER_MINUTE: '1000000',
    RATE_LIMIT_PER_ADDRESS_PER_MINUTE: '1000000',
    LOG_LEVEL: 'error',
  });

  it.concurrent(
    'SQLite + file blobs: every acknowledged write survives, nothing is half-visible, every retry succeeds',
    () =>
      withResources(async (resources) => {
        const dir = await makeTempDir('registry-crash-load-sqlite');
        resources.onRelease(() => dir.remove());
        const env = { ...(await baseEnv(dir.path)), DATABASE_URL: `sqlite:${path.join(dir.path, 'registry.db')}` };
        resources.onRelease(() => dropQueue(env.QUEUE_PREFIX));
        const reader = sqliteReader(path.join(dir.path, 'registry.db'));
        await crashUnderLoad(
          { dataDir: dir.path, blobDir: path.join(dir.path, 'blobs'), env, reader, resources },
          'sqlite',
        );
      }),
    240_000,
  );

  it.concurrent(
    'PostgreSQL + file blobs: every acknowledged write survives, nothing is half-visible, every retry succeeds',
    () =>
      withResources(async (resources) => {
        const database = await createTestDatabase();
        resources.onRelease(() => database.drop());
        const dir = await makeTempDir('registry-crash-load-pg');
        resources.onRelease(() => dir.remove());
        const env = { ...(await baseEnv(dir.path)), DATABASE_URL: database.url };
        resources.onRelease(() => dropQueue(env.QUEUE_PREFIX));
        const reader = postgresReader(database.url);
        await crashUnderLoad(
          { dataDir: dir.path, blobDir: path.join(dir.path, 'blobs'), env, reader, resources },
          'postgres',
        );
      }),
    240_000,
  );
});
