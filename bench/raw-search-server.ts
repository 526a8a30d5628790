/**
 * The search floor: the system's ITI-67 query (patient.identifier + date=ge, _sort=-date, _count, with the total)
 * as hand-written SQL with prepared statements behind a bare node:http handler, answering a searchset Bundle built
 * by splicing the stored JSON. No auth, no audit, no query builder.
 *
 * Env: PORT, DIALECT (sqlite | postgres), DATABASES (comma-separated SQLite files or PostgreSQL URLs);
 * database i answers under /i/DocumentReference.
 */
import { createServer, type ServerResponse } from 'node:http';
import Database from 'better-sqlite3';
import pg from 'pg';

// the system's PERIOD_OPEN_START: documents without a date sort as the oldest
const OPEN_START = -8_640_000_000_000_000;
const WHERE = 'd.patient_nhs_number IN ($1) AND (d.date_ms >= $2)';
const COUNT = `SELECT COUNT(DISTINCT(d.id)) AS cnt FROM document_reference d WHERE ${WHERE}`;
const PAGE =
  'SELECT d.id, d.version_id, d.status, d.patient_nhs_number, d.type_system, d.type_code, d.custodian_ods, d.date_ms, ' +
  `d.last_updated_ms, d.bundle_id, d.resource FROM document_reference d WHERE ${WHERE} ` +
  `ORDER BY COALESCE(d.date_ms, ${OPEN_START}) DESC, d.id DESC LIMIT $3`;

interface PageRow {
  id: string;
  date_ms: number | string | null;
  resource: string;
}

type Search = (nhs: string, fromMs: number, limit: number) => Promise<{ total: number; rows: PageRow[] }>;

function sqliteSearch(file: string): Search {
  const db = new Database(file, { readonly: true });
  const count = db.prepare(COUNT.replace(/\$\d/g, '?'));
  const page = db.prepare(PAGE.replace(/\$\d/g, '?'));
  return (nhs, fromMs, limit) =>
    Promise.resolve({
      total: (count.get(nhs, fromMs) as { cnt: number }).cnt,
      rows: page.all(nhs, fromMs, limit) as PageRow[],
    });
}

function postgresSearch(url: string, index: number): Search {
  const pool = new pg.Pool({ connectionString: url, max: 20 });
  return async (nhs, fromMs, limit) => {
    const total = await pool.query<{ cnt: string }>({ name: `count${index}`, text: COUNT, values: [nhs, fromMs] });
    const page = await pool.query<PageRow>({ name: `page${index}`, text: PAGE, values: [nhs, fromMs, limit] });
    return { total: Number(total.rows[0].cnt), rows: page.rows };
  };
}

const dialect = process.env.DIALECT;
const searches: Search[] = (process.env.DATABASES ?? '')
  .split(',')
  .filter(Boolean)
  .map((location, i) => (dialect === 'postgres' ? postgresSearch(location, i) : sqliteSearch(location)));

async function search(url: URL, database: number, response: ServerResponse): Promise<void> {
  const patient = url.searchParams.get('patient.identifier') ?? '';
  const date = url.searchParams.get('date') ?? 'ge1900-01-01';
  const count = Number(url.searchParams.get('_count') ?? 20);
  const nhs = patient.slice(patient.indexOf('|') + 1);
  const fromMs = Date.parse(date.slice(2));
  const { total, rows } = await searches[database](nhs, fromMs, count + 1);
  const base = `http://${url.host}/fhir/DocumentReference`;
  const self = `${base}?${url.searchParams.toString()}`;
  const links = [`{"relation":"self","url":${JSON.stringify(self)}}`];
  if (rows.length > count) {
    const last = rows[count - 1];
    const cursor = Buffer.from(JSON.stringify({ k: Number(last.date_ms), id: last.id })).toString('base64url');
    links.push(`{"relation":"next","url":${JSON.stringify(`${self}&_cursor=${cursor}`)}}`);
  }
  const entries = rows
    .slice(0, count)
    .map((row) => `{"fullUrl":"${base}/${row.id}","resource":${row.resource},"search":{"mode":"match"}}`);
  const body =
    `{"resourceType":"Bundle","type":"searchset","total":${total},"link":[${links.join(',')}]` +
    `${entries.length > 0 ? `,"entry":[${entries.join(',')}]` : ''}}`;
  response.writeHead(200, { 'content-type': 'application/fhir+json' }).end(body);
}

const server = createServer((request, response) => {
  const url = new URL(request.url ?? '/', `http://${request.headers.host ?? 'localhost'}`);
  const match = /^\/(\d+)\/DocumentReference$/.exec(url.pathname);
  if (!match) {
    response.writeHead(url.pathname === '/ready' ? 200 : 404).end();
    return;
  }
  search(url, Number(match[1]), response).catch((error: unknown) => {
    response.writeHead(500).end(String(error));
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT), '127.0.0.1');
process.once('SIGTERM', () => process.exit(0));
