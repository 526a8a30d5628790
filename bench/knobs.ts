import type { Dialect } from './system.js';

export type Section = 'ingest' | 'search' | 'notify' | 'profile' | 'blob-memory';

/** Every size knob of the bench, from the environment; BENCH_QUICK=1 picks small defaults for a smoke run. */
export interface Knobs {
  quick: boolean;
  sections: Set<Section>;
  /** Measured rounds per server (after one warm-up round); ratios are medians over these. */
  rounds: number;
  concurrency: number;
  dialects: Dialect[];
  ingestKinds: string[];
  /** Documents per round for 40 KB and for 200 KB bodies. */
  ingestDocsSmall: number;
  ingestDocsLarge: number;
  medplum: boolean;
  searchSizes: Record<Dialect, number[]>;
  searchRequests: number;
  notifyRate: number;
  notifySeconds: number;
  notifySubscriptions: number;
  profileDocs: number;
  profileSearchSize: number;
  profileSearches: number;
  /** MiB streamed through each blob store, the S3 part size in MiB and the parts in flight (blob-memory). */
  blobMemoryMiB: number;
  blobMemoryPartMiB: number;
  blobMemoryQueueSize: number;
  /** Extra environment for every system server (BENCH_SYSTEM_ENV="SQLITE_SYNCHRONOUS=NORMAL,OUTBOX_POLL_MS=20"). */
  systemEnv: Record<string, string>;
  out?: string;
}

function text(name: string, fallback: string): string {
  const value = process.env[name];
  return value === undefined || value.trim() === '' ? fallback : value.trim();
}

function int(name: string, fallback: number): number {
  const raw = text(name, String(fallback));
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`${name} must be a whole number, got "${raw}"`);
  }
  return value;
}

function ints(name: string, fallback: number[]): number[] {
  return text(name, fallback.join(','))
    .split(',')
    .filter(Boolean)
    .map((v) => {
      const value = Number(v);
      if (!Number.isInteger(value) || value <= 0) {
        throw new Error(`${name} must list whole numbers, got "${v}"`);
      }
      return value;
    });
}

export function systemEnv(): Record<string, string> {
  const pairs = text('BENCH_SYSTEM_ENV', '')
    .split(',')
    .filter(Boolean)
    .map((pair) => {
      const at = pair.indexOf('=');
      if (at <= 0) {
        throw new Error(`BENCH_SYSTEM_ENV must list NAME=VALUE pairs, got "${pair}"`);
      }
      return [pair.slice(0, at).trim(), pair.slice(at + 1).trim()];
    });
  return Object.fromEntries(pairs) as Record<string, string>;
}

export function readKnobs(): Knobs {
  const quick = text('BENCH_QUICK', '0') === '1';
  const sections = text('BENCH_SECTIONS', 'ingest,search,notify,profile,blob-memory').split(',') as Section[];
  const searchSizes = quick ? [15_000, 60_000] : [100_000, 1_000_000];
  return {
    quick,
    sections: new Set(sections),
    rounds: int('BENCH_ROUNDS', quick ? 3 : 7),
    concurrency: int('BENCH_CONCURRENCY', 16),
    dialects: text('BENCH_DIALECTS', 'sqlite,postgres').split(',') as Dialect[],
    ingestKinds: text(
      'BENCH_INGEST_KINDS',
      quick ? 'r4-json-40k,stu3-xml-40k' : 'r4-json-40k,r4-json-200k,stu3-xml-40k,stu3-xml-200k',
    ).split(','),
    ingestDocsSmall: int('BENCH_INGEST_DOCS', quick ? 64 : 400),
    ingestDocsLarge: int('BENCH_INGEST_DOCS_LARGE', quick ? 32 : 160),
    medplum: text('BENCH_MEDPLUM', '1') === '1',
    searchSizes: {
      sqlite: ints('BENCH_SEARCH_SIZES_SQLITE', searchSizes),
      postgres: ints('BENCH_SEARCH_SIZES_POSTGRES', searchSizes),
    },
    searchRequests: int('BENCH_SEARCH_REQUESTS', quick ? 200 : 2000),
    notifyRate: int('BENCH_NOTIFY_RATE', 50),
    notifySeconds: int('BENCH_NOTIFY_SECONDS', quick ? 6 : 30),
    notifySubscriptions: int('BENCH_NOTIFY_SUBSCRIPTIONS', 10),
    profileDocs: int('BENCH_PROFILE_DOCS', quick ? 100 : 800),
    profileSearchSize: int('BENCH_PROFILE_SEARCH_SIZE', quick ? 15_000 : 100_000),
    profileSearches: int('BENCH_PROFILE_SEARCHES', quick ? 300 : 4000),
    blobMemoryMiB: int('BENCH_BLOB_MIB', quick ? 64 : 256),
    blobMemoryPartMiB: int('BENCH_BLOB_PART_MIB', 8),
    blobMemoryQueueSize: int('BENCH_BLOB_QUEUE', 2),
    systemEnv: systemEnv(),
    out: process.env.BENCH_OUT,
  };
}
