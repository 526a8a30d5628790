import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startS3 } from '../test/utils/start-s3.js';
import type { ProbeResult } from './blob-memory-probe.js';
import type { Knobs } from './knobs.js';
import { DIST } from './processes.js';

const MiB = 1024 * 1024;
const run = promisify(execFile);

export interface BlobMemoryResult extends ProbeResult {
  /** The most `put` may grow live memory by: file 32 MiB; S3 partSize x (queueSize + 1) + 16 MiB. */
  targetBytes: number;
  partSize?: number;
  queueSize?: number;
}

/** Runs the probe in a child of its own, so that neither this process's heap nor s3rver's is in its figures. */
async function probe(env: Record<string, string>): Promise<ProbeResult> {
  const { NODE_OPTIONS: _ignored, ...inherited } = process.env;
  const { stdout } = await run(
    process.execPath,
    // without concurrent sweeping, a full GC has freed dead Buffers by the time it returns (else they still count)
    [
      '--expose-gc',
      '--no-concurrent-array-buffer-sweeping',
      '--enable-source-maps',
      path.join(DIST, 'bench', 'blob-memory-probe.js'),
    ],
    { env: { ...inherited, ...env }, maxBuffer: 1024 * 1024, timeout: 30 * 60_000 },
  );
  return JSON.parse(stdout.trim().split('\n').pop() ?? '') as ProbeResult;
}

/**
 * Memory while a large blob streams through each adapter: the filesystem store, and the S3 store against s3rver
 * (which runs here, in the bench process). See "Blob memory" in bench/README.md.
 */
export async function runBlobMemory(knobs: Knobs, log: (line: string) => void): Promise<BlobMemoryResult[]> {
  const bytes = knobs.blobMemoryMiB * MiB;
  const partSize = knobs.blobMemoryPartMiB * MiB;
  const queueSize = knobs.blobMemoryQueueSize;
  const results: BlobMemoryResult[] = [];

  const directory = await mkdtemp(path.join(tmpdir(), 'registry-bench-blobs-'));
  try {
    log(`blob-memory: ${knobs.blobMemoryMiB} MiB through FilesystemBlobStore`);
    const file = await probe({ BLOB_STORE_KIND: 'file', BLOB_BYTES: String(bytes), BLOB_DIR: directory });
    results.push({ ...file, targetBytes: 32 * MiB });
  } finally {
    await rm(directory, { recursive: true, force: true });
  }

  const s3 = await startS3();
  try {
    log(
      `blob-memory: ${knobs.blobMemoryMiB} MiB through S3BlobStore (s3rver, ${knobs.blobMemoryPartMiB} MiB parts, queue ${queueSize})`,
    );
    const result = await probe({
      BLOB_STORE_KIND: 's3',
      BLOB_BYTES: String(bytes),
      S3_ENDPOINT: s3.endpoint,
      S3_BUCKET: s3.bucket,
      S3_PART_SIZE: String(partSize),
      S3_QUEUE_SIZE: String(queueSize),
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    });
    results.push({ ...result, targetBytes: partSize * (queueSize + 1) + 16 * MiB, partSize, queueSize });
  } finally {
    await s3.stop();
  }
  return results;
}
