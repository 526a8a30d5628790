/**
 * The ingest floor: a bare node:http server doing only the essential work of a durable submission, with nothing
 * of the system's framework, validation, audit or indexing: read the body, parse it (JSON.parse, or the project's
 * FHIR XML parser), SHA-256, write the blob (temp file, fdatasync, rename, directory fsync), insert one indexed
 * SQLite row (WAL, synchronous=FULL, better-sqlite3), add one Bull job, answer 201.
 *
 * Env: PORT, FLOOR_DIR (empty directory), REDIS_URL, QUEUE_PREFIX.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import path from 'node:path';
import Database from 'better-sqlite3';
import Bull from 'bull';
import { parseFhirXml } from '../src/format/fhir-xml.js';

const directory = process.env.FLOOR_DIR ?? '';
const blobs = path.join(directory, 'blobs');
mkdirSync(blobs, { recursive: true });

const db = new Database(path.join(directory, 'floor.db'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.exec(`CREATE TABLE IF NOT EXISTS document (
  id TEXT PRIMARY KEY, identifier_system TEXT NOT NULL, identifier_value TEXT NOT NULL, content_type TEXT NOT NULL,
  blob_key TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL, created_at INTEGER NOT NULL)`);
db.exec('CREATE UNIQUE INDEX IF NOT EXISTS uq_document_identifier ON document (identifier_system, identifier_value)');
const insert = db.prepare(
  'INSERT INTO document (id, identifier_system, identifier_value, content_type, blob_key, size, sha256, created_at) ' +
    'VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
);

const queue = new Bull<{ documentId: string }>('floor-notify', process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
  prefix: process.env.QUEUE_PREFIX ?? `bench-floor-${process.pid}`,
});

const shards = new Set<string>();

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** As the filesystem blob store does it: a new file under a two-level shard, durable before its name appears. */
async function writeBlob(bytes: Buffer): Promise<string> {
  const id = randomUUID();
  const shard = path.join(blobs, id.slice(0, 2), id.slice(2, 4));
  if (!shards.has(shard)) {
    mkdirSync(shard, { recursive: true });
    await syncDirectory(path.dirname(shard));
    shards.add(shard);
  }
  const finalPath = path.join(shard, id);
  const tempPath = path.join(shard, `.${id}.tmp`);
  const file = await open(tempPath, 'wx');
  try {
    await file.writeFile(bytes);
    await file.datasync();
  } finally {
    await file.close();
  }
  await rename(tempPath, finalPath);
  await syncDirectory(shard);
  return `${id.slice(0, 2)}/${id.slice(2, 4)}/${id}`;
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

async function submit(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const body = await readBody(request);
  const contentType = request.headers['content-type'] ?? '';
  const bundle = (contentType.includes('xml') ? parseFhirXml(body) : JSON.parse(body.toString('utf8'))) as {
    identifier?: { system?: string; value?: string };
  };
  const sha256 = createHash('sha256').update(body).digest('hex');
  const key = await writeBlob(body);
  const id = randomUUID();
  insert.run(
    id,
    bundle.identifier?.system ?? '',
    bundle.identifier?.value ?? id,
    contentType,
    key,
    body.length,
    sha256,
    Date.now(),
  );
  await queue.add({ documentId: id }, { removeOnComplete: true });
  response.writeHead(201, { location: `/fhir/Bundle/${id}`, etag: `"${sha256}"` }).end();
}

const server = createServer((request, response) => {
  if (request.method === 'GET') {
    response.writeHead(200).end('ready');
    return;
  }
  submit(request, response).catch((error: unknown) => {
    response.writeHead(500).end(String(error));
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT), '127.0.0.1');

process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void queue
    .obliterate({ force: true })
    .then(() => queue.close())
    .finally(() => {
      db.close();
      process.exit(0);
    });
});
