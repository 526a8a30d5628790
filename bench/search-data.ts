import Database from 'better-sqlite3';
import pg from 'pg';
import { nhsNumber } from './documents.js';
import type { Store } from './system.js';

/**
 * The search data set, the same for every size: HOT_PATIENTS patients with DOCS_PER_HOT_PATIENT documents each
 * (one a month from January 2020), which the bench queries, then background patients with 5 documents each
 * spread over 2015-2025. The queried patients' documents are identical at every size, so a search returns the
 * same page whatever the table holds.
 */
export const HOT_PATIENTS = 200;
export const DOCS_PER_HOT_PATIENT = 60;
const BACKGROUND_DOCS_PER_PATIENT = 5;
const MONTH_MS = 30.4375 * 86_400_000;
const HOT_START = Date.UTC(2020, 0, 15, 10, 30);
const BACKGROUND_START = Date.UTC(2015, 0, 1);
const BACKGROUND_SPAN = Date.UTC(2025, 11, 31) - BACKGROUND_START;
/** The query's date=ge bound: the hot patients' last 24 months match (a full page of 20 and a next link). */
export const QUERY_DATE = '2023-01-01';
export const HOT_MATCHES = DOCS_PER_HOT_PATIENT - 36;

/** Distinct valid NHS numbers of the queried patients. */
export const HOT_NHS_NUMBERS: readonly string[] = (() => {
  const numbers = new Set<string>();
  for (let seed = 10_000_000; numbers.size < HOT_PATIENTS; seed += 1) {
    numbers.add(nhsNumber(seed));
  }
  return [...numbers];
})();

const uuidOf = (prefix: string, n: number) => `${prefix}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;

// A cheap deterministic scramble, so background dates do not follow insertion order.
const scramble = (n: number) => (Math.imul(n ^ 0x5bd1e995, 0x27d4eb2d) >>> 0) / 2 ** 32;

export interface Row {
  id: string;
  patientNhsNumber: string;
  typeCode: string;
  custodianOds: string;
  dateMs: number;
  lastUpdatedMs: number;
  bundleId: string;
  resource: string;
}

const TYPES = ['373942005', '373942005', '373942005', '823701000000103', '1658481000000103'];
const CUSTODIANS = ['RTG', 'RX4', 'RJ1', 'R0A', 'RRK'];

/**
 * The stored DocumentReference JSON as a template: the real one the system wrote for a submission, with its
 * id, patient, dates and Bundle id cut out so each row gets its own.
 */
export class ResourceTemplate {
  private readonly parts: string[];
  private readonly slots: ('id' | 'nhs' | 'date' | 'updated' | 'bundle')[] = [];

  constructor(resource: Record<string, unknown>, bundleId: string, nhs: string) {
    let text = JSON.stringify(resource);
    const meta = resource.meta as { lastUpdated: string };
    const swaps: [string, 'id' | 'nhs' | 'date' | 'updated' | 'bundle'][] = [
      [String(resource.id), 'id'],
      [nhs, 'nhs'],
      [bundleId, 'bundle'],
      [meta.lastUpdated, 'updated'],
      [String(resource.date), 'date'],
    ];
    for (const [value, slot] of swaps) {
      text = text.split(value).join(`\u0000${slot}\u0000`);
    }
    this.parts = text.split(/\u0000(?:id|nhs|date|updated|bundle)\u0000/);
    for (const match of text.matchAll(/\u0000(id|nhs|date|updated|bundle)\u0000/g)) {
      this.slots.push(match[1] as 'id' | 'nhs' | 'date' | 'updated' | 'bundle');
    }
  }

  fill(row: Omit<Row, 'resource'>): string {
    const values = {
      id: row.id,
      nhs: row.patientNhsNumber,
      date: new Date(row.dateMs).toISOString(),
      updated: new Date(row.lastUpdatedMs).toISOString(),
      bundle: row.bundleId,
    };
    let out = this.parts[0];
    for (let i = 0; i < this.slots.length; i += 1) {
      out += values[this.slots[i]] + this.parts[i + 1];
    }
    return out;
  }
}

export function row(n: number, template: ResourceTemplate): Row {
  const hotDocs = HOT_PATIENTS * DOCS_PER_HOT_PATIENT;
  let patient: string;
  let dateMs: number;
  if (n < hotDocs) {
    patient = HOT_NHS_NUMBERS[n % HOT_PATIENTS];
    dateMs = Math.round(HOT_START + Math.floor(n / HOT_PATIENTS) * MONTH_MS);
  } else {
    patient = nhsNumber(20_000_000 + Math.floor((n - hotDocs) / BACKGROUND_DOCS_PER_PATIENT));
    dateMs = BACKGROUND_START + Math.floor(scramble(n) * BACKGROUND_SPAN);
  }
  const partial = {
    id: uuidOf('d0c00000', n),
    patientNhsNumber: patient,
    typeCode: n < hotDocs ? '373942005' : TYPES[n % TYPES.length],
    custodianOds: CUSTODIANS[n % CUSTODIANS.length],
    dateMs,
    lastUpdatedMs: dateMs + 300_000,
    bundleId: uuidOf('b0000000', n),
  };
  return { ...partial, resource: template.fill(partial) };
}

const COLUMNS =
  'id, version_id, status, patient_nhs_number, type_system, type_code, custodian_ods, date_ms, last_updated_ms, bundle_id, resource';

/**
 * Rows `from`..`to`-1 straight into document_reference (the only table the benchmarked query reads), with the
 * table's secondary indexes dropped during the load and rebuilt after. Returns seconds taken.
 */
export async function loadRows(store: Store, from: number, to: number, template: ResourceTemplate): Promise<number> {
  const started = performance.now();
  if (store.dialect === 'sqlite') {
    loadSqlite(store.location, from, to, template);
  } else {
    await loadPostgres(store.location, from, to, template);
  }
  return (performance.now() - started) / 1000;
}

function loadSqlite(file: string, from: number, to: number, template: ResourceTemplate): void {
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = OFF');
    const indexes = db
      .prepare(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'document_reference' AND sql IS NOT NULL",
      )
      .all() as { name: string; sql: string }[];
    for (const index of indexes) {
      db.exec(`DROP INDEX "${index.name}"`);
    }
    const insert = db.prepare(
      `INSERT INTO document_reference (${COLUMNS}) VALUES (?, 1, 'current', ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const batch = db.transaction((start: number, end: number) => {
      for (let n = start; n < end; n += 1) {
        const r = row(n, template);
        insert.run(
          r.id,
          r.patientNhsNumber,
          'http://snomed.info/sct',
          r.typeCode,
          r.custodianOds,
          r.dateMs,
          r.lastUpdatedMs,
          r.bundleId,
          r.resource,
        );
      }
    });
    for (let start = from; start < to; start += 50_000) {
      batch(start, Math.min(to, start + 50_000));
    }
    for (const index of indexes) {
      db.exec(index.sql);
    }
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

async function loadPostgres(url: string, from: number, to: number, template: ResourceTemplate): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  try {
    const { rows: indexes } = await pool.query<{ indexname: string; indexdef: string }>(
      "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'document_reference' AND indexname NOT LIKE 'PK_%'",
    );
    for (const index of indexes) {
      await pool.query(`DROP INDEX "${index.indexname}"`);
    }
    // multi-row VALUES: pg escapes array parameters in JavaScript, which made unnest() four times slower
    const insertBatch = async (start: number, end: number) => {
      const values: unknown[] = [];
      const tuples: string[] = [];
      for (let n = start; n < end; n += 1) {
        const r = row(n, template);
        const k = values.length;
        tuples.push(
          `($${k + 1}, 1, 'current', $${k + 2}, 'http://snomed.info/sct', $${k + 3}, $${k + 4}, $${k + 5}, $${k + 6}, $${k + 7}, $${k + 8})`,
        );
        values.push(
          r.id,
          r.patientNhsNumber,
          r.typeCode,
          r.custodianOds,
          r.dateMs,
          r.lastUpdatedMs,
          r.bundleId,
          r.resource,
        );
      }
      await pool.query(`INSERT INTO document_reference (${COLUMNS}) VALUES ${tuples.join(',')}`, values);
    };
    // two batches in flight: one generated here while PostgreSQL writes the other
    const inFlight = new Set<Promise<void>>();
    for (let start = from; start < to; start += 1_000) {
      const done: Promise<void> = insertBatch(start, Math.min(to, start + 1_000)).finally(() => inFlight.delete(done));
      inFlight.add(done);
      if (inFlight.size >= 2) {
        await Promise.race(inFlight);
      }
    }
    await Promise.all(inFlight);
    await Promise.all(indexes.map((index) => pool.query(index.indexdef)));
    await pool.query('VACUUM ANALYZE document_reference');
  } finally {
    await pool.end();
  }
}
