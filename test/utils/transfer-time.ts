/**
 * The rate every large-transfer deadline assumes. Loopback with SHA-256 at both ends moves several times this on a
 * 2-core machine with other work running; a fixed deadline is either too long or, under load, too short.
 */
export const PESSIMISTIC_BYTES_PER_SECOND = 8 * 1024 * 1024;
/** Around the transfer: tokens, connections, the store's final flush or multipart completion. */
const SETUP_MS = 30_000;

/** A deadline (ms) for a test or request that moves `bytes` in total. */
export function transferTimeout(bytes: number): number {
  return SETUP_MS + Math.ceil((bytes / PESSIMISTIC_BYTES_PER_SECOND) * 1000);
}
