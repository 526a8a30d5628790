import { NETWORK_ERROR_CODES } from '../common/network-errors.js';
/**
 * What a database error says about the database rather than the request: down or unreachable, out of room, or
 * too slow. Errors arrive as the driver raised them or wrapped by TypeORM (QueryFailedError.driverError).
 */
export type DatabaseFault = 'unavailable' | 'full' | 'timeout';

/** SQLSTATEs of PostgreSQL going away or refusing connections (class 08: connection exception). */
const PG_UNAVAILABLE = new Set([
  '57P01', // admin_shutdown: the server is stopping
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up or in recovery
  '53300', // too_many_connections
  '25006', // read_only_sql_transaction: a replica after failover
]);
const PG_FULL = new Set(['53100']); // disk_full
const PG_TIMEOUT = new Set(['57014']); // query_canceled at statement_timeout

/** node-postgres and pg-pool say a connection was lost or never made in words, without a code. */
const PG_CONNECTION_MESSAGES = [
  /^Connection terminated/,
  /timeout exceeded when trying to connect/,
  /is not queryable/,
  /^Client has encountered a connection error/,
];

function faultOf(error: { code?: unknown; message?: unknown; syscall?: unknown }): DatabaseFault | undefined {
  const code = typeof error.code === 'string' ? error.code : '';
  if (PG_TIMEOUT.has(code)) {
    return 'timeout';
  }
  if (PG_FULL.has(code) || code === 'SQLITE_FULL') {
    return 'full';
  }
  if (
    PG_UNAVAILABLE.has(code) ||
    code.startsWith('08') ||
    // a socket call failed (a client that hung up mid-request raises ECONNRESET too, but from no syscall)
    (NETWORK_ERROR_CODES.has(code) && typeof error.syscall === 'string') ||
    // another process holds the write lock past busy_timeout, or the file cannot be read or written
    /^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN)/.test(code)
  ) {
    return 'unavailable';
  }
  const message = typeof error.message === 'string' ? error.message : '';
  return PG_CONNECTION_MESSAGES.some((pattern) => pattern.test(message)) ? 'unavailable' : undefined;
}

/** The fault an error reports, looking through TypeORM's wrapper and `cause`; undefined for anything else. */
export function databaseFault(error: unknown): DatabaseFault | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 4; depth++) {
    const fault = faultOf(current);
    if (fault) {
      return fault;
    }
    const { driverError, cause } = current as { driverError?: unknown; cause?: unknown };
    current = driverError ?? cause;
  }
  return undefined;
}
