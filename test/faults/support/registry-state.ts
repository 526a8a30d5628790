import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import pg from 'pg';
import { type Attempt, group, type Submission } from './submissions.js';

/*
 * The registry as stored, read directly (schema only, no server classes): rows of both dialects and the blob
 * store's objects, and the checks every fault test makes on them.
 */

type Row = Record<string, unknown>;

export interface DatabaseReader {
  /** Runs read-only SELECTs in one snapshot (identifiers double-quoted, valid in both dialects). */
  read(queries: string[]): Promise<Row[][]>;
}

export const sqliteReader = (file: string): DatabaseReader => ({
  read: (queries) => {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      return Promise.resolve(db.transaction(() => queries.map((sql) => db.prepare(sql).all() as Row[]))());
    } finally {
      db.close();
    }
  },
});

export const postgresReader = (url: string): DatabaseReader => ({
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

/** What a blob store holds, as the test sees it from outside the server. */
export interface BlobReader {
  /** Size and SHA-256 of the object, or undefined when it is not there. */
  digest(key: string): Promise<{ size: number; sha256: string } | undefined>;
  /** Every object key (temp files of writes in progress excluded). */
  keys(): Promise<string[]>;
}

async function digestOf(stream: Readable): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { size, sha256: hash.digest('hex') };
}

export const fileBlobs = (directory: string): BlobReader => ({
  digest: async (key) => {
    try {
      return await digestOf(createReadStream(path.join(directory, ...key.split('/'))));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return undefined;
      }
      throw error;
    }
  },
  keys: async () => {
    const entries = await readdir(directory, { recursive: true, withFileTypes: true }).catch(() => []);
    return entries
      .filter((e) => e.isFile() && !e.name.startsWith('.'))
      .map((e) => path.relative(directory, path.join(e.parentPath, e.name)).split(path.sep).join('/'));
  },
});

export interface S3Location {
  endpoint: string;
  bucket: string;
  /** Key prefix, with its trailing slash ("blobs/"). */
  prefix: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export function s3Blobs(location: S3Location): BlobReader {
  const client = new S3Client({
    endpoint: location.endpoint,
    region: location.region,
    forcePathStyle: true,
    credentials: { accessKeyId: location.accessKeyId, secretAccessKey: location.secretAccessKey },
  });
  return {
    digest: async (key) => {
      try {
        const object = await client.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.prefix + key }));
        return await digestOf(object.Body as Readable);
      } catch (error) {
        if ((error as { name?: string }).name === 'NoSuchKey') {
          return undefined;
        }
        throw error;
      }
    },
    keys: async () => {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: location.bucket, Prefix: location.prefix, ContinuationToken: token }),
        );
        keys.push(...(page.Contents ?? []).map((o) => o.Key!.slice(location.prefix.length)));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return keys;
    },
  };
}

export interface DocumentReferenceRow {
  id: string;
  versionId: number;
  bundleId: string | null;
  resource: Record<string, any>;
}

export interface StoredBlobRow {
  id: string;
  blobKey: string;
  size: number;
  sha256: string;
}

export interface Snapshot {
  bundles: (StoredBlobRow & { system: string; value: string })[];
  binaries: StoredBlobRow[];
  references: Map<string, DocumentReferenceRow>;
  versions: Set<string>;
  identifierTokens: Set<string>;
  outbox: Map<string, string[]>;
  submissionSets: { id: string; resource: Record<string, any> }[];
  audits: Map<string, { action: string; outcome: string; entity: string }[]>;
}

export async function snapshot(reader: DatabaseReader): Promise<Snapshot> {
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
  const blob = (r: Row): StoredBlobRow => ({
    id: String(r.id),
    blobKey: String(r.blob_key),
    size: Number(r.size),
    sha256: String(r.sha256),
  });
  return {
    bundles: bundles.map((r) => ({
      ...blob(r),
      system: String(r.identifier_system),
      value: String(r.identifier_value),
    })),
    binaries: binaries.map(blob),
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

async function blobProblem(blobs: BlobReader, label: string, row: StoredBlobRow): Promise<string | undefined> {
  const found = await blobs.digest(row.blobKey);
  if (!found) {
    return `${label}: blob ${row.blobKey} is missing`;
  }
  if (found.size !== row.size || found.sha256 !== row.sha256) {
    return `${label}: blob ${row.blobKey} has ${found.size} bytes sha256 ${found.sha256}, the row says ${row.size} bytes sha256 ${row.sha256}`;
  }
  return undefined;
}

/** Blob objects no row references: invisible litter of writes that never committed (reported, not a failure). */
export async function orphanBlobs(blobs: BlobReader, snap: Snapshot): Promise<number> {
  const keys = new Set([...snap.bundles, ...snap.binaries].map((b) => b.blobKey));
  return (await blobs.keys()).filter((key) => !keys.has(key)).length;
}

export const attachmentUrls = (reference: DocumentReferenceRow): string[] =>
  ((reference.resource.content ?? []) as { attachment?: { url?: string } }[]).map((c) => c.attachment?.url ?? '');

/**
 * Everything half-visible in a snapshot: a Bundle or Binary row without its intact blob or without the
 * DocumentReference that indexes it, a DocumentReference without its Bundle, Binary, version, search token or
 * outbox event, an outbox event or SubmissionSet naming a DocumentReference that is not there.
 */
export async function halfVisible(
  snap: Snapshot,
  blobs: BlobReader,
  options: { standaloneBinaries?: ReadonlySet<string> } = {},
): Promise<string[]> {
  const problems: string[] = [];
  const byBundle = group(
    [...snap.references.values()].filter((r) => r.bundleId !== null),
    (r) => r.bundleId!,
  );
  const bundleIds = new Set(snap.bundles.map((b) => b.id));
  const binaryIds = new Set(snap.binaries.map((b) => b.id));
  const referencedBinaries = new Set(
    [...snap.references.values()].flatMap((r) =>
      attachmentUrls(r).flatMap((url) => /\/fhir\/Binary\/([\w-]+)$/.exec(url)?.[1] ?? []),
    ),
  );
  for (const bundle of snap.bundles) {
    const label = `Bundle/${bundle.id}`;
    const indexes = byBundle.get(bundle.id) ?? [];
    if (indexes.length !== 1) {
      problems.push(`${label} is indexed by ${indexes.length} DocumentReferences`);
    }
    const blob = await blobProblem(blobs, label, bundle);
    if (blob) {
      problems.push(blob);
    }
  }
  for (const binary of snap.binaries) {
    const label = `Binary/${binary.id}`;
    // a raw upload (POST /fhir/Binary) stands alone; an ITI-65 one is reached only through its DocumentReference
    if (!referencedBinaries.has(binary.id) && !options.standaloneBinaries?.has(binary.id)) {
      problems.push(`${label} is stored but no DocumentReference points at it`);
    }
    const blob = await blobProblem(blobs, label, binary);
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

export const byMaster = (snap: Snapshot, value: string): DocumentReferenceRow | undefined =>
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
export function presence(submission: Submission, snap: Snapshot): string {
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
export function auditProblem(submission: Submission, attempt: Attempt, snap: Snapshot): string | undefined {
  const events = snap.audits.get(attempt.requestId) ?? [];
  const created = events.filter((e) => e.action === 'C' && e.outcome === '0');
  if (created.length !== 1) {
    return `${submission.kind} ${submission.masterIdentifiers[0]} (request ${attempt.requestId}) has ${created.length} successful create AuditEvents`;
  }
  const id = attempt.location?.split('/').filter(Boolean).pop();
  if (submission.kind === 'bundle' && id && !created[0].entity.includes(`Bundle/${id}`)) {
    return `the AuditEvent of request ${attempt.requestId} does not name ${attempt.location}`;
  }
  return undefined;
}

/** Notification work not yet done: outbox rows not routed, and routed events not delivered. */
export async function undelivered(reader: DatabaseReader): Promise<{ unrouted: number; undelivered: number }> {
  const [unrouted, pending] = await reader.read([
    'SELECT COUNT(*) AS "n" FROM "notification_outbox" WHERE "routed_at" IS NULL',
    'SELECT COUNT(*) AS "n" FROM "subscription_event" WHERE "delivered_at" IS NULL',
  ]);
  return { unrouted: Number(unrouted[0].n), undelivered: Number(pending[0].n) };
}

/** What the database says about the notification of each DocumentReference (for a failure message). */
export async function notificationTrail(reader: DatabaseReader, ids: string[]): Promise<string[]> {
  const list = ids
    .filter((id) => /^[\w-]+$/.test(id))
    .slice(0, 20)
    .map((id) => `'${id}'`);
  if (list.length === 0) {
    return [];
  }
  const [outbox, events, attempts] = await reader.read([
    `SELECT "document_reference_id", "id", "created_at", "routed_at" FROM "notification_outbox" WHERE "document_reference_id" IN (${list.join(',')})`,
    `SELECT "document_reference_id", "id", "subscription_id", "event_number", "enqueued_at", "delivered_at" FROM "subscription_event" WHERE "document_reference_id" IN (${list.join(',')})`,
    'SELECT "subscription_id", "webhook_id", "type", "event_number", "attempted_at", "status_code", "error" FROM "delivery_attempt"',
  ]);
  return ids.slice(0, 20).map((id) => {
    const own = events.filter((e) => e.document_reference_id === id);
    const tried = attempts.filter((a) => own.some((e) => e.id === a.webhook_id));
    return (
      `DocumentReference/${id}: outbox ${JSON.stringify(outbox.filter((o) => o.document_reference_id === id))}, ` +
      `events ${JSON.stringify(own)}, attempts ${JSON.stringify(tried)}`
    );
  });
}
