import { QueryFailedError } from 'typeorm';
import { databaseFault } from './database-faults.js';

const withCode = (message: string, code: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(message), { code, ...extra });

describe('databaseFault', () => {
  it.each([
    ['a refused connection', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED', { syscall: 'connect' })],
    ['PostgreSQL shutting down (57P01)', withCode('terminating connection due to administrator command', '57P01')],
    ['PostgreSQL starting up (57P03)', withCode('the database system is starting up', '57P03')],
    ['a connection exception (class 08)', withCode('connection failure', '08006')],
    ['a connection lost mid-query', new Error('Connection terminated unexpectedly')],
    ['a pool that cannot connect in time', new Error('timeout exceeded when trying to connect')],
    ['SQLite locked by another process', withCode('database is locked', 'SQLITE_BUSY')],
    ['a SQLite I/O error', withCode('disk I/O error', 'SQLITE_IOERR_WRITE')],
  ])('reads %s as the database being unavailable', (_what, error) => {
    expect(databaseFault(error)).toBe('unavailable');
  });

  it('looks inside the QueryFailedError TypeORM wraps driver errors in', () => {
    const wrapped = new QueryFailedError('INSERT ...', [], withCode('could not extend file', '53100'));
    expect(databaseFault(wrapped)).toBe('full');
    expect(
      databaseFault(new QueryFailedError('INSERT ...', [], withCode('database or disk is full', 'SQLITE_FULL'))),
    ).toBe('full');
  });

  it('reads a statement cancelled at statement_timeout as a timeout', () => {
    expect(databaseFault(withCode('canceling statement due to statement timeout', '57014'))).toBe('timeout');
  });

  it.each([
    ['a unique violation', new QueryFailedError('INSERT ...', [], withCode('duplicate key', '23505'))],
    ['a syntax error', withCode('syntax error at or near', '42601')],
    ['a client that hung up mid-body (no socket call failed)', withCode('aborted', 'ECONNRESET')],
    ['a plain bug', new TypeError("Cannot read properties of undefined (reading 'id')")],
    ['something not an Error', 'ECONNREFUSED'],
  ])('leaves %s alone', (_what, error) => {
    expect(databaseFault(error)).toBeUndefined();
  });
});
