/**
 * One blob-memory measurement in a process of its own (`node --expose-gc --no-concurrent-array-buffer-sweeping
 * dist/bench/blob-memory-probe.js`, started by blob-memory.ts): streams BLOB_BYTES through one adapter's `put`, then reads them back through `open`, sampling live
 * memory (heapUsed + arrayBuffers after a forced full GC) all along. Prints one JSON line (ProbeResult).
 * Settings come from the environment: BLOB_STORE_KIND (file | s3), BLOB_BYTES, BLOB_DIR (file), S3_ENDPOINT,
 * S3_BUCKET, S3_PART_SIZE, S3_QUEUE_SIZE, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (s3).
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { BlobStore } from '../src/storage/blob-store.js';
import { FilesystemBlobStore } from '../src/storage/filesystem-blob-store.js';
import { createS3Client, S3BlobStore } from '../src/storage/s3-blob-store.js';

export interface ProbeResult {
  kind: 'file' | 's3';
  bytes: number;
  /** Live heapUsed + arrayBuffers after a full GC, right before the put. */
  baselineBytes: number;
  /** Largest live growth over the baseline while the bytes went through `put` / came back through `open`. */
  putGrowthBytes: number;
  openGrowthBytes: number;
  /** Peak RSS (VmHWM) growth over the RSS before the put, forced GCs and all: context. */
  putPeakRssGrowthBytes: number;
  samples: number;
  putSeconds: number;
  openSeconds: number;
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  throw new Error('run with --expose-gc');
}
const collect = gc;

function setting(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is required`);
  }
  return value;
}

/**
 * Live heapUsed + arrayBuffers after a full GC: V8 lets tens of MiB of dead Buffers pile up before collecting them,
 * and frees their memory on a background thread unless concurrent array buffer sweeping is off.
 */
function live(): number {
  collect();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/**
 * Samples live memory every `intervalMs`, or four times as long as the last sample took, so that forced GCs never
 * take more than a fifth of the time. `stop()` returns the peak over `baseline`.
 */
function sample(baseline: number, intervalMs = 100): { stop(): number; readonly count: number } {
  let peak = baseline;
  let count = 0;
  let timer: NodeJS.Timeout | undefined;
  const schedule = (tookMs: number) => {
    timer = setTimeout(
      () => {
        const started = performance.now();
        peak = Math.max(peak, live());
        count += 1;
        schedule(performance.now() - started);
      },
      Math.max(intervalMs, 4 * tookMs),
    );
  };
  schedule(0);
  return {
    get count() {
      return count;
    },
    stop() {
      clearTimeout(timer);
      return Math.max(peak, live()) - baseline;
    },
  };
}

function residentKiB(field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return match ? Number(match[1]) : NaN;
}

/** `size` bytes made on demand in 64 KiB chunks, never held, hashed as they are handed out. */
function generatedBody(size: number): { stream: Readable; sha256(): string } {
  const hash = createHash('sha256');
  let produced = 0;
  const stream = new Readable({
    read() {
      if (produced >= size) {
        this.push(null);
        return;
      }
      const chunk = Buffer.alloc(Math.min(64 * 1024, size - produced), produced % 251);
      produced += chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, sha256: () => hash.digest('hex') };
}

function openStore(kind: 'file' | 's3'): BlobStore {
  if (kind === 'file') {
    return new FilesystemBlobStore(setting('BLOB_DIR'));
  }
  const client = createS3Client({ endpoint: setting('S3_ENDPOINT'), region: 'us-east-1', forcePathStyle: true });
  return new S3BlobStore({
    client,
    bucket: setting('S3_BUCKET'),
    prefix: 'bench',
    partSize: Number(setting('S3_PART_SIZE')),
    queueSize: Number(setting('S3_QUEUE_SIZE')),
  });
}

async function main(): Promise<void> {
  const kind = setting('BLOB_STORE_KIND') as 'file' | 's3';
  const bytes = Number(setting('BLOB_BYTES'));
  const options = { contentType: 'application/octet-stream', maxBytes: bytes };
  const store = openStore(kind);
  // warm-up: loads the SDK's lazy modules and opens the connections, which are not per-upload memory
  const warm = await store.put(Readable.from([Buffer.alloc(1024)]), options);
  for await (const _ of await store.open(warm)) {
    // drain
  }

  const body = generatedBody(bytes);
  const baselineBytes = live();
  writeFileSync('/proc/self/clear_refs', '5');
  const rssBefore = residentKiB('VmRSS');
  const putting = sample(baselineBytes);
  let started = performance.now();
  const stored = await store.put(body.stream, options);
  const putSeconds = (performance.now() - started) / 1000;
  const putGrowthBytes = putting.stop();
  const putPeakRssGrowthBytes = (residentKiB('VmHWM') - rssBefore) * 1024;
  const expected = body.sha256();
  if (stored.size !== bytes || stored.sha256 !== expected) {
    throw new Error(`put stored ${stored.size} bytes with SHA-256 ${stored.sha256}, expected ${bytes} / ${expected}`);
  }

  const readBaseline = live();
  const reading = sample(readBaseline);
  started = performance.now();
  const readBack = createHash('sha256');
  for await (const chunk of await store.open(stored)) {
    readBack.update(chunk as Buffer);
  }
  const openSeconds = (performance.now() - started) / 1000;
  const openGrowthBytes = reading.stop();
  if (readBack.digest('hex') !== expected) {
    throw new Error('open returned other bytes than were put');
  }
  const result: ProbeResult = {
    kind,
    bytes,
    baselineBytes,
    putGrowthBytes,
    openGrowthBytes,
    putPeakRssGrowthBytes,
    samples: putting.count + reading.count,
    putSeconds,
    openSeconds,
  };
  console.log(JSON.stringify(result));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
