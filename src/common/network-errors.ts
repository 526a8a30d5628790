/**
 * Node's error codes for a connection that failed or broke: the peer (database, S3) is down or unreachable, not the
 * request at fault. Used by the database and blob-store fault mappings.
 */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
