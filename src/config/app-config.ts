import { isIP } from 'node:net';
import path from 'node:path';

/** Where blobs live: a directory on local disk, or a bucket (and optional key prefix) on S3. */
export type BlobStoreLocation = { kind: 'file'; directory: string } | { kind: 's3'; bucket: string; prefix: string };

export type DatabaseLocation = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

export type AppRole = 'api' | 'worker';

/** The validated configuration: the only view of the environment the rest of the code has. */
export abstract class AppConfig {
  abstract readonly nodeEnv: string;
  abstract readonly port: number;
  abstract readonly host: string;
  abstract readonly baseUrl: string;
  abstract readonly dataDir: string;
  abstract readonly database: DatabaseLocation;
  abstract readonly sqliteSynchronous: 'FULL' | 'NORMAL';
  abstract readonly blobStore: BlobStoreLocation;
  abstract readonly s3: {
    readonly endpoint?: string;
    readonly region: string;
    readonly forcePathStyle: boolean;
    readonly partSizeBytes: number;
    readonly queueSize: number;
  };
  abstract readonly redisUrl: string;
  abstract readonly queuePrefix: string;
  abstract readonly maxResourceBytes: number;
  abstract readonly maxBinaryBytes: number;
  abstract readonly appRoles: readonly AppRole[];
  abstract readonly auth: {
    readonly jwksUri?: string;
    readonly issuer: string;
    readonly audience: string;
    readonly allowLocalIssuer: boolean;
    readonly clockToleranceSeconds: number;
    /** The token endpoint advertised in discovery: the identity provider's, or this server's own (local issuer). */
    readonly tokenUrl?: string;
    /** JSON file of SMART Backend Services clients registered with the local token endpoint at boot. */
    readonly clientsFile?: string;
  };
  abstract readonly metricsToken?: string;
  abstract readonly corsOrigins: readonly string[];
  /** Fastify's trustProxy: whom to believe about X-Forwarded-For/-Proto (no one, everyone, or these addresses). */
  abstract readonly trustProxy: boolean | readonly string[];
  abstract readonly rateLimitPerMinute: number;
  abstract readonly rateLimitPerAddressPerMinute: number;
  /** Where the per-client counts live: Redis (shared by every replica, per process while it is unreachable) or memory. */
  abstract readonly rateLimitStore: 'redis' | 'memory';
  /** How long a SIGTERM may take to drain requests and deliveries before the process exits anyway (code 1). */
  abstract readonly shutdownTimeoutMs: number;
  abstract readonly auditRefusalWindowMs: number;
  abstract readonly requestTimeoutMs: number;
  abstract readonly socketIdleTimeoutMs: number;
  abstract readonly logLevel: 'debug' | 'info' | 'warn' | 'error';
  abstract readonly audit: {
    /** The HMAC key of the audit chain, kept outside the database. */
    readonly hmacKeyFile: string;
    /** True when hmacKeyFile is the default under DATA_DIR, created on first start. */
    readonly generateHmacKey: boolean;
    readonly checkpointEvents: number;
    readonly checkpointSeconds: number;
  };
  abstract readonly notifications: {
    /** Hosts and CIDRs exempt from the https and public-address rules of subscription endpoints. */
    readonly endpointAllowlist: readonly string[];
    /** ODS codes of organisations allowed criteria beyond documents addressed to or held by them. */
    readonly patientWideOrgs: readonly string[];
    readonly deliveryTimeoutMs: number;
    readonly retryHours: number;
    readonly backoffBaseMs: number;
    readonly failuresBeforeError: number;
    readonly deliveryConcurrency: number;
    readonly endpointConcurrency: number;
    readonly connectTimeoutMs: number;
    readonly relayPollMs: number;
    readonly reofferMs: number;
    /** How long a running delivery job stays locked to its worker (Bull lockDuration and stalled-job check). */
    readonly lockMs: number;
    readonly heartbeatCheckSeconds: number;
    readonly outboxLagThresholdSeconds: number;
    /** A delivery Task nobody retrieved this long after the document was stored becomes overdue. */
    readonly overdueAfterMs: number;
    /** Standard Webhooks secret (`whsec_...`) that signs outbound ITK3 acknowledgements; absent = unsigned. */
    readonly messageSigningSecret?: string;
  };
  abstract readonly viewer: {
    /** A viewer session ends this long after its last page (sliding). */
    readonly sessionIdleMinutes: number;
    /** The key that signs viewer session cookies and CSRF tokens. */
    readonly sessionKeyFile: string;
    /** True when sessionKeyFile is the default under DATA_DIR, created on first start. */
    readonly generateSessionKey: boolean;
    /** The local issuer's sign-in form (a chosen practitioner and organisation, no password) is offered. */
    readonly localSignIn: boolean;
    /** OpenID Connect sign-in (authorization code + PKCE); absent when OIDC_ISSUER is not set. */
    readonly oidc?: {
      readonly issuer: string;
      readonly clientId: string;
      readonly clientSecret?: string;
      readonly redirectUrl: string;
      readonly scope: string;
      /** The ID token claim holding the user's ODS organisation code. */
      readonly organizationClaim: string;
    };
  };
}

/** Where the local issuer's SMART Backend Services token endpoint is served (under BASE_URL). */
export const LOCAL_TOKEN_PATH = '/auth/token';

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`Invalid configuration: ${variable} ${problem}`);
  }
}

type Env = Readonly<Record<string, string | undefined>>;

export interface VariableSpec {
  readonly name: string;
  readonly default: string;
  readonly doc: string;
}

/** Every variable the server reads, with its default and a one-line description (mirrored in .env.example and README). */
export const ENVIRONMENT_VARIABLES: readonly VariableSpec[] = [
  {
    name: 'NODE_ENV',
    default: 'development',
    doc: 'production refuses the local token issuer unless AUTH_ALLOW_LOCAL_ISSUER=true, and needs AUDIT_HMAC_KEY_FILE',
  },
  { name: 'PORT', default: '8080', doc: 'TCP port the API listens on' },
  { name: 'HOST', default: '127.0.0.1', doc: 'interface the API binds to (0.0.0.0 in containers)' },
  { name: 'BASE_URL', default: 'http://HOST:PORT', doc: 'public base URL used in Location headers and fullUrls' },
  { name: 'DATA_DIR', default: './data', doc: 'folder for the embedded database, blobs and the local signing key' },
  {
    name: 'DATABASE_URL',
    default: 'sqlite:./data/registry.db',
    doc: 'sqlite:PATH or postgres://user:pass@host:port/db',
  },
  {
    name: 'SQLITE_SYNCHRONOUS',
    default: 'FULL',
    doc: 'FULL (durable, default) or NORMAL (faster, may lose the last commits on power loss)',
  },
  { name: 'BLOB_STORE', default: 'file:./data/blobs', doc: 'file:DIRECTORY or s3://BUCKET[/prefix]' },
  { name: 'S3_ENDPOINT', default: '', doc: 'S3-compatible endpoint (MinIO, s3rver); empty for AWS' },
  { name: 'S3_REGION', default: 'eu-west-2', doc: 'S3 region' },
  { name: 'S3_FORCE_PATH_STYLE', default: 'false', doc: 'true for MinIO and most S3-compatible servers' },
  {
    name: 'S3_PART_SIZE_MB',
    default: '8',
    doc: 'multipart upload part size; memory per upload is about part size x (queue size + 1)',
  },
  { name: 'S3_QUEUE_SIZE', default: '2', doc: 'parts uploaded concurrently per upload' },
  { name: 'AWS_ACCESS_KEY_ID', default: '', doc: 'S3 credentials (standard AWS variable, read by the SDK)' },
  { name: 'AWS_SECRET_ACCESS_KEY', default: '', doc: 'S3 credentials (standard AWS variable, read by the SDK)' },
  {
    name: 'REDIS_URL',
    default: 'redis://127.0.0.1:6379',
    doc: 'Redis for the notification queue and the shared per-client rate limit',
  },
  { name: 'QUEUE_PREFIX', default: 'fhir-registry', doc: 'prefix of every Redis key the queue uses' },
  { name: 'APP_ROLES', default: 'api,worker', doc: 'api, worker or both (comma-separated)' },
  { name: 'MAX_RESOURCE_BYTES', default: '10485760', doc: 'largest JSON/XML body accepted (10 MiB)' },
  { name: 'MAX_BINARY_BYTES', default: '2147483648', doc: 'largest Binary upload accepted (2 GiB)' },
  {
    name: 'AUTH_JWKS_URI',
    default: '',
    doc: 'JWKS of the identity provider; empty = local signing key under DATA_DIR',
  },
  { name: 'AUTH_ISSUER', default: 'urn:fhir-document-registry:local', doc: 'required iss of access tokens' },
  { name: 'AUTH_AUDIENCE', default: 'urn:fhir-document-registry', doc: 'required aud of access tokens' },
  { name: 'AUTH_ALLOW_LOCAL_ISSUER', default: 'false', doc: 'allow the local issuer when NODE_ENV=production' },
  { name: 'AUTH_CLOCK_TOLERANCE_SECONDS', default: '30', doc: 'clock skew allowed on exp and nbf' },
  {
    name: 'AUTH_TOKEN_URL',
    default: '',
    doc: 'token endpoint of the identity provider (only with AUTH_JWKS_URI; the local issuer serves BASE_URL/auth/token)',
  },
  {
    name: 'AUTH_CLIENTS_FILE',
    default: '',
    doc: 'JSON file of SMART Backend Services clients registered at boot with the local token endpoint (not with AUTH_JWKS_URI)',
  },
  {
    name: 'AUDIT_HMAC_KEY_FILE',
    default: '',
    doc: 'file holding the audit chain HMAC key (32+ bytes); empty = generated under DATA_DIR/auth (not in production)',
  },
  {
    name: 'AUDIT_CHECKPOINT_EVENTS',
    default: '1000',
    doc: 'audit events a process writes before it seals the chain with a signed checkpoint',
  },
  {
    name: 'AUDIT_CHECKPOINT_SECONDS',
    default: '60',
    doc: 'how often new audit events are sealed with a signed checkpoint (also at shutdown)',
  },
  { name: 'METRICS_TOKEN', default: '', doc: 'static bearer token for /metrics; empty = open' },
  { name: 'CORS_ORIGINS', default: '', doc: 'comma-separated allowed origins; empty = CORS closed' },
  {
    name: 'TRUST_PROXY',
    default: 'false',
    doc: 'proxies whose X-Forwarded-For/-Proto are believed (client address, https for HSTS): false, true (any peer), or comma-separated addresses/CIDRs',
  },
  {
    name: 'RATE_LIMIT_PER_MINUTE',
    default: '600',
    doc: 'requests per minute per verified client (token client_id, sub and organization) before 429',
  },
  {
    name: 'RATE_LIMIT_STORE',
    default: 'redis',
    doc: 'where RATE_LIMIT_PER_MINUTE is counted: redis (REDIS_URL, one count across all replicas; each process counts alone while Redis is unreachable) or memory (per process)',
  },
  {
    name: 'RATE_LIMIT_PER_ADDRESS_PER_MINUTE',
    default: '3000',
    doc: 'requests per minute per source address, checked before the token is, before 429',
  },
  {
    name: 'AUDIT_REFUSAL_WINDOW_MS',
    default: '60000',
    doc: 'refused requests without a verified caller (401, 429 ...) are audited as one AuditEvent per address per window',
  },
  {
    name: 'REQUEST_TIMEOUT_MS',
    default: '120000',
    doc: 'time a request may take before it is cut off; also the PostgreSQL statement_timeout (503 + Retry-After)',
  },
  {
    name: 'SOCKET_IDLE_TIMEOUT_MS',
    default: '60000',
    doc: 'a connection on which nothing moves this long is closed (a client that stops reading its answer lets go of the file it was sent)',
  },
  {
    name: 'SHUTDOWN_TIMEOUT_MS',
    default: '25000',
    doc: 'on SIGTERM/SIGINT, time to finish requests and deliveries in flight before the process exits anyway with code 1 (keep it below the orchestrator grace period, 30 s in Kubernetes)',
  },
  { name: 'LOG_LEVEL', default: 'info', doc: 'debug, info, warn or error' },
  {
    name: 'SUBSCRIPTION_ENDPOINT_ALLOWLIST',
    default: '',
    doc: 'comma-separated hosts or CIDRs a subscription endpoint may use despite the https and public-address rules',
  },
  {
    name: 'MESSAGE_SIGNING_SECRET',
    default: '',
    doc: 'whsec_ secret (base64 of 24-64 bytes) signing ITK3 business acknowledgements sent to message senders (Standard Webhooks headers); empty = sent unsigned',
  },
  {
    name: 'SUBSCRIPTION_PATIENT_WIDE_ORGS',
    default: '',
    doc: 'comma-separated ODS codes whose subscriptions may match documents not addressed to or held by them',
  },
  { name: 'DELIVERY_TIMEOUT_MS', default: '10000', doc: 'time one webhook delivery attempt may take' },
  {
    name: 'DELIVERY_RETRY_HOURS',
    default: '24',
    doc: 'how long a failing notification is retried before it is given up',
  },
  {
    name: 'DELIVERY_BACKOFF_BASE_MS',
    default: '10000',
    doc: 'first retry delay; doubles per attempt (with jitter), capped at one hour',
  },
  {
    name: 'DELIVERY_FAILURES_BEFORE_ERROR',
    default: '3',
    doc: 'consecutive failed attempts that put a Subscription into status error',
  },
  {
    name: 'DELIVERY_CONCURRENCY',
    default: '64',
    doc: 'webhook deliveries a worker process runs at once (they wait on the network, so many fit)',
  },
  {
    name: 'DELIVERY_ENDPOINT_CONCURRENCY',
    default: '8',
    doc: 'deliveries one endpoint may have in flight from a worker process; more wait, without holding a slot',
  },
  {
    name: 'DELIVERY_CONNECT_TIMEOUT_MS',
    default: '3000',
    doc: 'time to open a connection to a webhook endpoint (within DELIVERY_TIMEOUT_MS)',
  },
  { name: 'OUTBOX_POLL_MS', default: '200', doc: 'how often the worker looks for new notification events' },
  {
    name: 'DELIVERY_REOFFER_MS',
    default: '600000',
    doc: 'a notification queued this long ago and still undelivered is queued again under the same job id (its job may have died with a worker killed twice mid-delivery); a job still queued is not doubled',
  },
  {
    name: 'OUTBOX_LAG_THRESHOLD_SECONDS',
    default: '60',
    doc: 'an unrouted notification event older than this shows the outbox as degraded in /health/ready (still 200)',
  },
  {
    name: 'DELIVERY_LOCK_MS',
    default: '30000',
    doc: 'a delivery job stays locked to the worker running it this long (renewed while it runs); the jobs of a worker that died are taken over within one to two of these',
  },
  {
    name: 'DELIVERY_OVERDUE_AFTER',
    default: '3d',
    doc: 'a document no recipient has retrieved this long after it was stored makes its delivery Task overdue (and tells the sender); a number with ms, s, m, h or d',
  },
  {
    name: 'HEARTBEAT_CHECK_SECONDS',
    default: '30',
    doc: 'how often the worker looks for subscriptions due a heartbeat',
  },
  {
    name: 'VIEWER_SESSION_MINUTES',
    default: '60',
    doc: 'a clinician viewer session (/app) ends this many minutes after its last page, and at most 12 hours after sign-in',
  },
  {
    name: 'VIEWER_SESSION_KEY_FILE',
    default: '',
    doc: 'file holding the key (32+ bytes) that signs viewer session cookies and CSRF tokens; empty = generated under DATA_DIR/auth (share one file between API hosts)',
  },
  {
    name: 'VIEWER_LOCAL_SIGN_IN',
    default: '',
    doc: 'true offers the viewer sign-in form of the local issuer (any practitioner and organisation, no password); empty = on unless NODE_ENV=production; never with AUTH_JWKS_URI',
  },
  {
    name: 'OIDC_ISSUER',
    default: '',
    doc: 'OpenID Connect issuer for viewer sign-in (authorization code + PKCE); empty = no OIDC sign-in',
  },
  {
    name: 'OIDC_CLIENT_ID',
    default: '',
    doc: 'client id of the viewer at the OpenID provider (required with OIDC_ISSUER)',
  },
  {
    name: 'OIDC_CLIENT_SECRET',
    default: '',
    doc: 'client secret of the viewer (client_secret_basic); empty = a public client, PKCE only',
  },
  {
    name: 'OIDC_REDIRECT_URL',
    default: 'BASE_URL/app/auth/callback',
    doc: 'where the OpenID provider sends the browser back; register it with the provider',
  },
  { name: 'OIDC_SCOPE', default: 'openid profile', doc: 'scopes the viewer asks the OpenID provider for' },
  {
    name: 'OIDC_ORGANIZATION_CLAIM',
    default: 'organization',
    doc: "ID token claim holding the user's ODS organisation code; a sign-in without it is refused",
  },
];

function read(env: Env, name: string): string {
  const spec = ENVIRONMENT_VARIABLES.find((v) => v.name === name);
  if (!spec) {
    throw new Error(`${name} is not declared in ENVIRONMENT_VARIABLES`);
  }
  const value = env[name];
  return value === undefined || value.trim() === '' ? spec.default : value.trim();
}

function integer(env: Env, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = read(env, name);
  if (!/^\d+$/.test(raw)) {
    throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  }
  const value = Number(raw);
  if (value < min || value > max) {
    throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration written as a whole number and a unit (`500ms`, `30s`, `15m`, `12h`, `3d`), in milliseconds. */
function duration(env: Env, name: string, min: number, max: number): number {
  const raw = read(env, name);
  const match = /^(\d+)\s*(ms|s|m|h|d)$/.exec(raw.trim());
  if (!match) {
    throw new ConfigError(name, `must be a whole number with a unit (ms, s, m, h or d), e.g. 3d; got "${raw}"`);
  }
  const value = Number(match[1]) * DURATION_UNITS[match[2]];
  if (value < min || value > max) {
    throw new ConfigError(name, `must be between ${min} ms and ${max} ms, got ${value} ms`);
  }
  return value;
}

function boolean(env: Env, name: string): boolean {
  const raw = read(env, name).toLowerCase();
  if (raw === 'true' || raw === '1') {
    return true;
  }
  if (raw === 'false' || raw === '0') {
    return false;
  }
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[]): T {
  const raw = read(env, name);
  const found = allowed.find((a) => a.toLowerCase() === raw.toLowerCase());
  if (!found) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${raw}"`);
  }
  return found;
}

function httpUrl(name: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, `must be an absolute http(s) URL, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(name, `must be an http(s) URL, got "${raw}"`);
  }
  return raw.replace(/\/+$/, '');
}

function parseDatabase(env: Env): DatabaseLocation {
  const raw = read(env, 'DATABASE_URL');
  if (raw.startsWith('sqlite:')) {
    const file = raw.slice('sqlite:'.length).replace(/^\/\//, '');
    if (!file) {
      throw new ConfigError('DATABASE_URL', 'sqlite: needs a file path, e.g. sqlite:./data/registry.db');
    }
    return { kind: 'sqlite', file: file === ':memory:' ? file : path.resolve(file) };
  }
  if (raw.startsWith('postgres://') || raw.startsWith('postgresql://')) {
    try {
      new URL(raw);
    } catch {
      throw new ConfigError('DATABASE_URL', 'is not a valid postgres:// URL');
    }
    return { kind: 'postgres', url: raw };
  }
  throw new ConfigError('DATABASE_URL', `must start with sqlite: or postgres://, got "${raw.split(':')[0]}:..."`);
}

function parseBlobStore(env: Env): BlobStoreLocation {
  const raw = read(env, 'BLOB_STORE');
  if (raw.startsWith('file:')) {
    const directory = raw.slice('file:'.length).replace(/^\/\//, '');
    if (!directory) {
      throw new ConfigError('BLOB_STORE', 'file: needs a directory, e.g. file:./data/blobs');
    }
    return { kind: 'file', directory: path.resolve(directory) };
  }
  const s3 = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(raw);
  if (s3) {
    const prefix = (s3[2] ?? '').replace(/^\/+|\/+$/g, '');
    return { kind: 's3', bucket: s3[1], prefix: prefix ? `${prefix}/` : '' };
  }
  throw new ConfigError('BLOB_STORE', `must be file:DIRECTORY or s3://BUCKET[/prefix], got "${raw}"`);
}

function parseRoles(env: Env): AppRole[] {
  const roles = read(env, 'APP_ROLES')
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  for (const role of roles) {
    if (role !== 'api' && role !== 'worker') {
      throw new ConfigError('APP_ROLES', `may list only api and worker, got "${role}"`);
    }
  }
  if (roles.length === 0) {
    throw new ConfigError('APP_ROLES', 'must name at least one role');
  }
  return [...new Set(roles)] as AppRole[];
}

function list(env: Env, name: string): string[] {
  return read(env, name)
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
}

function trustProxy(env: Env): boolean | string[] {
  const raw = read(env, 'TRUST_PROXY');
  if (raw === 'false' || raw === 'true') {
    return raw === 'true';
  }
  if (/^\d+$/.test(raw)) {
    // Fastify cannot check the nearest peer against a bare hop count, so it trusts no one: say so at boot
    throw new ConfigError('TRUST_PROXY', `a hop count ("${raw}") is not supported: list the proxies' addresses/CIDRs`);
  }
  const addresses = list(env, 'TRUST_PROXY');
  for (const entry of addresses) {
    const [address, bits, extra] = entry.split('/');
    const family = isIP(address);
    const maxBits = family === 6 ? 128 : 32;
    if (
      family === 0 ||
      extra !== undefined ||
      (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= maxBits))
    ) {
      throw new ConfigError('TRUST_PROXY', `must be true, false or comma-separated IP addresses/CIDRs, got "${entry}"`);
    }
  }
  return addresses;
}

function odsCodes(env: Env, name: string): string[] {
  const codes = list(env, name);
  const bad = codes.find((code) => !/^[A-Za-z0-9]{3,10}$/.test(code));
  if (bad !== undefined) {
    throw new ConfigError(name, `must list ODS codes (3 to 10 letters and digits), got "${bad}"`);
  }
  return codes;
}

/** A Standard Webhooks secret: `whsec_` and base64 of 24 to 64 bytes; empty means none. */
function signingSecret(env: Env, name: string): string | undefined {
  const value = read(env, name);
  if (!value) {
    return undefined;
  }
  const encoded = value.startsWith('whsec_') ? value.slice(6) : '';
  const length = /^[A-Za-z0-9+/]+={0,2}$/.test(encoded) ? Buffer.from(encoded, 'base64').length : 0;
  if (length < 24 || length > 64) {
    throw new ConfigError(name, 'must be whsec_ followed by base64 of 24 to 64 random bytes');
  }
  return value;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** OpenID Connect settings: https only, except on a loopback host (development and tests). */
function parseOidc(env: Env, baseUrl: string): AppConfig['viewer']['oidc'] {
  const issuerRaw = read(env, 'OIDC_ISSUER');
  if (!issuerRaw) {
    return undefined;
  }
  const issuer = httpUrl('OIDC_ISSUER', issuerRaw);
  const { protocol, hostname } = new URL(issuer);
  if (protocol !== 'https:' && !LOOPBACK_HOSTS.has(hostname)) {
    throw new ConfigError('OIDC_ISSUER', `must be an https URL (http only on localhost), got "${issuerRaw}"`);
  }
  const clientId = read(env, 'OIDC_CLIENT_ID');
  if (!clientId) {
    throw new ConfigError('OIDC_CLIENT_ID', 'must be set when OIDC_ISSUER is set');
  }
  const claim = read(env, 'OIDC_ORGANIZATION_CLAIM');
  if (!/^[A-Za-z0-9_.:-]{1,100}$/.test(claim)) {
    throw new ConfigError('OIDC_ORGANIZATION_CLAIM', `must be a claim name, got "${claim}"`);
  }
  const scope = read(env, 'OIDC_SCOPE');
  if (!scope.split(/\s+/).includes('openid')) {
    throw new ConfigError('OIDC_SCOPE', `must include openid, got "${scope}"`);
  }
  const redirect = env.OIDC_REDIRECT_URL?.trim();
  return {
    issuer,
    clientId,
    clientSecret: read(env, 'OIDC_CLIENT_SECRET') || undefined,
    redirectUrl: redirect ? httpUrl('OIDC_REDIRECT_URL', redirect) : `${baseUrl}/app/auth/callback`,
    scope,
    organizationClaim: claim,
  };
}

/**
 * Whether the viewer offers the local issuer's sign-in form. Anyone who reaches it can act as anyone, so in production
 * it must be asked for, even where AUTH_ALLOW_LOCAL_ISSUER accepts the local issuer's tokens.
 */
function localSignIn(env: Env, nodeEnv: string, jwksUri: string): boolean {
  const asked = read(env, 'VIEWER_LOCAL_SIGN_IN') === '' ? undefined : boolean(env, 'VIEWER_LOCAL_SIGN_IN');
  if (asked && jwksUri) {
    throw new ConfigError(
      'VIEWER_LOCAL_SIGN_IN',
      'cannot be true with AUTH_JWKS_URI: the form belongs to the local issuer',
    );
  }
  return !jwksUri && (asked ?? nodeEnv !== 'production');
}

/** Reads and validates the environment; throws ConfigError naming the first bad variable. */
export function loadConfig(env: Env): AppConfig {
  const port = integer(env, 'PORT', 0, 65535);
  const host = read(env, 'HOST');
  if (isIP(host) === 0 && !/^[a-z0-9.-]+$/i.test(host)) {
    throw new ConfigError('HOST', `must be an IP address or host name, got "${host}"`);
  }
  const hostForUrl = isIP(host) === 6 ? `[${host}]` : host;
  const baseUrlRaw = env.BASE_URL?.trim() ? env.BASE_URL.trim() : `http://${hostForUrl}:${port}`;
  const nodeEnv = read(env, 'NODE_ENV');
  const jwksUri = read(env, 'AUTH_JWKS_URI');
  const allowLocalIssuer = boolean(env, 'AUTH_ALLOW_LOCAL_ISSUER');
  if (!jwksUri && nodeEnv === 'production' && !allowLocalIssuer) {
    throw new ConfigError(
      'AUTH_JWKS_URI',
      'must be set when NODE_ENV=production (or set AUTH_ALLOW_LOCAL_ISSUER=true to accept the local issuer)',
    );
  }
  const tokenUrl = read(env, 'AUTH_TOKEN_URL');
  if (tokenUrl && !jwksUri) {
    throw new ConfigError(
      'AUTH_TOKEN_URL',
      'names an identity provider token endpoint, so it needs AUTH_JWKS_URI; the local issuer serves BASE_URL/auth/token',
    );
  }
  const clientsFile = read(env, 'AUTH_CLIENTS_FILE');
  if (clientsFile && jwksUri) {
    throw new ConfigError(
      'AUTH_CLIENTS_FILE',
      'registers clients of the local token endpoint; with AUTH_JWKS_URI your identity provider registers them',
    );
  }
  const auditKeyFile = read(env, 'AUDIT_HMAC_KEY_FILE');
  if (!auditKeyFile && nodeEnv === 'production') {
    // a key generated next to the database guards nothing against whoever can read the database files
    throw new ConfigError(
      'AUDIT_HMAC_KEY_FILE',
      'must be set when NODE_ENV=production (a key kept apart from the database)',
    );
  }
  const s3Endpoint = read(env, 'S3_ENDPOINT');
  const baseUrl = httpUrl('BASE_URL', baseUrlRaw);
  const dataDir = path.resolve(read(env, 'DATA_DIR'));
  const viewerKeyFile = read(env, 'VIEWER_SESSION_KEY_FILE');
  return {
    nodeEnv,
    port,
    host,
    baseUrl,
    dataDir,
    database: parseDatabase(env),
    sqliteSynchronous: oneOf(env, 'SQLITE_SYNCHRONOUS', ['FULL', 'NORMAL'] as const),
    blobStore: parseBlobStore(env),
    s3: {
      endpoint: s3Endpoint ? httpUrl('S3_ENDPOINT', s3Endpoint) : undefined,
      region: read(env, 'S3_REGION'),
      forcePathStyle: boolean(env, 'S3_FORCE_PATH_STYLE'),
      partSizeBytes: integer(env, 'S3_PART_SIZE_MB', 5, 512) * 1024 * 1024,
      queueSize: integer(env, 'S3_QUEUE_SIZE', 1, 16),
    },
    redisUrl: read(env, 'REDIS_URL'),
    queuePrefix: read(env, 'QUEUE_PREFIX'),
    maxResourceBytes: integer(env, 'MAX_RESOURCE_BYTES', 1024),
    maxBinaryBytes: integer(env, 'MAX_BINARY_BYTES', 1),
    appRoles: parseRoles(env),
    auth: {
      jwksUri: jwksUri ? httpUrl('AUTH_JWKS_URI', jwksUri) : undefined,
      issuer: read(env, 'AUTH_ISSUER'),
      audience: read(env, 'AUTH_AUDIENCE'),
      allowLocalIssuer,
      clockToleranceSeconds: integer(env, 'AUTH_CLOCK_TOLERANCE_SECONDS', 0, 600),
      tokenUrl: jwksUri
        ? tokenUrl
          ? httpUrl('AUTH_TOKEN_URL', tokenUrl)
          : undefined
        : `${baseUrl}${LOCAL_TOKEN_PATH}`,
      clientsFile: clientsFile ? path.resolve(clientsFile) : undefined,
    },
    metricsToken: read(env, 'METRICS_TOKEN') || undefined,
    corsOrigins: list(env, 'CORS_ORIGINS'),
    trustProxy: trustProxy(env),
    rateLimitPerMinute: integer(env, 'RATE_LIMIT_PER_MINUTE', 1),
    rateLimitPerAddressPerMinute: integer(env, 'RATE_LIMIT_PER_ADDRESS_PER_MINUTE', 1),
    rateLimitStore: oneOf(env, 'RATE_LIMIT_STORE', ['redis', 'memory'] as const),
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 1000, 3_600_000),
    auditRefusalWindowMs: integer(env, 'AUDIT_REFUSAL_WINDOW_MS', 100, 3_600_000),
    requestTimeoutMs: integer(env, 'REQUEST_TIMEOUT_MS', 1000),
    socketIdleTimeoutMs: integer(env, 'SOCKET_IDLE_TIMEOUT_MS', 1000),
    logLevel: oneOf(env, 'LOG_LEVEL', ['debug', 'info', 'warn', 'error'] as const),
    audit: {
      hmacKeyFile: auditKeyFile ? path.resolve(auditKeyFile) : path.join(dataDir, 'auth', 'audit-hmac-key'),
      generateHmacKey: !auditKeyFile,
      checkpointEvents: integer(env, 'AUDIT_CHECKPOINT_EVENTS', 1, 1_000_000),
      checkpointSeconds: integer(env, 'AUDIT_CHECKPOINT_SECONDS', 1, 86_400),
    },
    notifications: {
      endpointAllowlist: list(env, 'SUBSCRIPTION_ENDPOINT_ALLOWLIST'),
      patientWideOrgs: odsCodes(env, 'SUBSCRIPTION_PATIENT_WIDE_ORGS'),
      deliveryTimeoutMs: integer(env, 'DELIVERY_TIMEOUT_MS', 100, 600_000),
      retryHours: integer(env, 'DELIVERY_RETRY_HOURS', 0, 24 * 30),
      backoffBaseMs: integer(env, 'DELIVERY_BACKOFF_BASE_MS', 1, 3_600_000),
      failuresBeforeError: integer(env, 'DELIVERY_FAILURES_BEFORE_ERROR', 1, 1000),
      deliveryConcurrency: integer(env, 'DELIVERY_CONCURRENCY', 1, 1000),
      endpointConcurrency: integer(env, 'DELIVERY_ENDPOINT_CONCURRENCY', 1, 100),
      connectTimeoutMs: integer(env, 'DELIVERY_CONNECT_TIMEOUT_MS', 100, 600_000),
      relayPollMs: integer(env, 'OUTBOX_POLL_MS', 10, 600_000),
      reofferMs: integer(env, 'DELIVERY_REOFFER_MS', 100, 86_400_000),
      lockMs: integer(env, 'DELIVERY_LOCK_MS', 1000, 3_600_000),
      heartbeatCheckSeconds: integer(env, 'HEARTBEAT_CHECK_SECONDS', 1, 86_400),
      outboxLagThresholdSeconds: integer(env, 'OUTBOX_LAG_THRESHOLD_SECONDS', 1, 604_800),
      overdueAfterMs: duration(env, 'DELIVERY_OVERDUE_AFTER', 1000, 366 * 86_400_000),
      messageSigningSecret: signingSecret(env, 'MESSAGE_SIGNING_SECRET'),
    },
    viewer: {
      sessionIdleMinutes: integer(env, 'VIEWER_SESSION_MINUTES', 1, 720),
      sessionKeyFile: viewerKeyFile ? path.resolve(viewerKeyFile) : path.join(dataDir, 'auth', 'viewer-session-key'),
      generateSessionKey: !viewerKeyFile,
      localSignIn: localSignIn(env, nodeEnv, jwksUri),
      oidc: parseOidc(env, baseUrl),
    },
  };
}

/** The configuration of this process, from its environment. */
export function loadConfigFromProcess(): AppConfig {
  return loadConfig(process.env);
}
