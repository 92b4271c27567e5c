import fs from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { avatarSettingError } from '../common/serializers/avatar';
import { parseTimedelta } from '../providers/timedelta';

/**
 * Every setting Grantry reads. This module is the only reader of process.env: the rest of the code receives an
 * AppConfig, so a test or the CLI can build one from any environment it likes.
 */
export interface AppConfig {
  nodeEnv: 'production' | 'development' | 'test';
  port: number;
  /** Undefined means: loopback with the embedded database, all interfaces with DATABASE_URL. */
  host: string | undefined;
  databaseUrl: string | undefined;
  dataDir: string;
  runMigrations: boolean;
  bootstrapToken: string | undefined;
  /**
   * The key that seals private material at rest (signing keys, later API keys). Undefined: generated into (and read
   * back from) DATA_DIR/secret-key; see src/keys/secret-key.ts.
   */
  secretKey: string | undefined;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  dbPoolSize: number;
  dbStatementTimeoutMs: number;
  dbConnectTimeoutMs: number;
  /** While the database circuit is open (see GuardedPool), the pause between one failed probe and the next. */
  dbProbeIntervalMs: number;
  shutdownTimeoutMs: number;
  pageSizeDefault: number;
  pageSizeMax: number;
  avatars: string;
  /** How often the grant count deltas are folded (0 = never; another instance or a later start does it). */
  grantCountsFoldMs: number;
  /**
   * How long after its expiry an expiring grant (access token, refresh token, authorization code) is kept before the
   * cleanup job deletes it, in milliseconds (GRANT_RETENTION, authentik's duration syntax; 0 = as soon as expired).
   */
  grantRetentionMs: number;
  /** How often each instance tries the grant cleanup (one instance at a time runs it); 0 = never on this instance. */
  grantCleanupIntervalSeconds: number;
  /**
   * Failed authentications one client may make per window before its further failures get 429 (0 = no throttle).
   * Valid keys are always served. Counted in the database, so shared by all instances.
   */
  authFailureLimit: number;
  authFailureWindowSeconds: number;
  /** How many clients the throttle's table keeps after each sweep (the oldest windows are forgotten first). */
  authFailureMaxAddresses: number;
  /** A browser session's lifetime from sign-in, and how long it may go unused before it ends. */
  sessionMaxAgeSeconds: number;
  sessionIdleSeconds: number;
  /**
   * Failed sign-ins per account, and per client address, within LOGIN_FAILURE_WINDOW_SECONDS before the login page
   * answers 429 (0 = no throttle). Counted in the database, so shared by all instances.
   */
  loginFailureLimit: number;
  loginFailureWindowSeconds: number;
  /**
   * Device authorization requests (POST /application/o/device/) per client address per hour before 429 `slow_down`
   * (authentik's `throttle.providers.oauth2.device`, 20/hour; 0 = no throttle). Counted in the database.
   */
  deviceRequestLimit: number;
  /**
   * Direct peers whose `X-Forwarded-For` is believed: IP addresses, CIDR ranges, or `loopback`, `linklocal`,
   * `uniquelocal`. Empty: the client address is always the TCP peer.
   */
  trustedProxies: string[];
  /** Origins (scheme://host[:port]) that may call the API from a browser. Empty: CORS is off. */
  corsOrigins: string[];
  /**
   * The public base URL of this server (scheme, host, optional port and path prefix; no trailing slash): the base of
   * every issuer and endpoint an OAuth2 client is told. Unset: built from each request's Host (and, from a trusted
   * proxy, X-Forwarded-Proto/-Host), as authentik does; recommended in production, as a forged Host would otherwise
   * change the issuer a client is told.
   */
  publicUrl: string | undefined;
  /** Largest request head (request line and headers) Node's parser accepts; beyond it, 431. */
  maxHeaderBytes: number;
  /** Largest request body accepted, on any method; beyond it, 413. */
  maxBodyBytes: number;
  /**
   * How far (percent) the V8 heap may grow past what survived the last full garbage collection before the next one
   * (V8's --heap-growing-percent; see src/runtime/heap.ts). 0 leaves V8's own heuristic.
   */
  heapGrowingPercent: number;
  /**
   * The bearer key GET /-/metrics requires (compared in constant time). Undefined: the metrics endpoint and the
   * per-request metrics hook are off (see src/metrics/metrics.module.ts for why off, not open, is the default).
   */
  metricsToken: string | undefined;
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`Invalid configuration: ${variable} ${message}`);
  }
}

type Env = Record<string, string | undefined>;

/**
 * Settings that hold secrets. Each may instead be given as `<NAME>_FILE`, the path of a file holding the value, as
 * Docker and Kubernetes mount secrets; a trailing newline in the file is ignored. Setting both is an error.
 */
export const SECRET_SETTINGS = ['DATABASE_URL', 'BOOTSTRAP_TOKEN', 'SECRET_KEY', 'METRICS_TOKEN'] as const;

/** Every environment variable Grantry reads (config.spec.ts checks this against what loadConfig reads). */
export const CONFIG_VARIABLES: readonly string[] = [
  'NODE_ENV',
  'PORT',
  'HOST',
  'DATABASE_URL',
  'DATA_DIR',
  'RUN_MIGRATIONS',
  'BOOTSTRAP_TOKEN',
  'SECRET_KEY',
  'LOG_LEVEL',
  'DB_POOL_SIZE',
  'DB_STATEMENT_TIMEOUT_MS',
  'DB_CONNECT_TIMEOUT_MS',
  'DB_PROBE_INTERVAL_MS',
  'SHUTDOWN_TIMEOUT_MS',
  'PAGE_SIZE_DEFAULT',
  'PAGE_SIZE_MAX',
  'AVATARS',
  'GRANT_COUNTS_FOLD_MS',
  'GRANT_RETENTION',
  'GRANT_CLEANUP_INTERVAL_SECONDS',
  'AUTH_FAILURE_LIMIT',
  'AUTH_FAILURE_WINDOW_SECONDS',
  'AUTH_FAILURE_MAX_ADDRESSES',
  'SESSION_MAX_AGE_SECONDS',
  'SESSION_IDLE_SECONDS',
  'LOGIN_FAILURE_LIMIT',
  'LOGIN_FAILURE_WINDOW_SECONDS',
  'DEVICE_REQUEST_LIMIT',
  'TRUSTED_PROXIES',
  'CORS_ORIGINS',
  'PUBLIC_URL',
  'MAX_HEADER_BYTES',
  'MAX_BODY_BYTES',
  'HEAP_GROWING_PERCENT',
  'METRICS_TOKEN',
  ...SECRET_SETTINGS.map((name) => `${name}_FILE`),
];

/** The largest secret file read; a secret is a line, so anything bigger is a wrong path (a log, a database). */
const MAX_SECRET_FILE_BYTES = 65_536;

/** `env` with each `<NAME>_FILE` of SECRET_SETTINGS replaced by the file's content as `<NAME>`. */
function withSecretFiles(env: Env): Env {
  const resolved: Env = {};
  for (const name of SECRET_SETTINGS) {
    const fileVariable = `${name}_FILE`;
    const file = value(env, fileVariable);
    if (file === undefined) continue;
    if (value(env, name) !== undefined) {
      throw new ConfigError(fileVariable, `and ${name} are both set; set only one`);
    }
    let content: Buffer;
    try {
      const fd = fs.openSync(file, 'r');
      try {
        const size = fs.fstatSync(fd).size;
        if (size > MAX_SECRET_FILE_BYTES) {
          throw new ConfigError(fileVariable, `names a file of ${size} bytes; a secret file holds one line`);
        }
        content = fs.readFileSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      throw new ConfigError(fileVariable, `names a file that cannot be read (${code}): ${file}`);
    }
    const text = content.toString('utf8').replace(/\r?\n$/, '');
    if (text.trim() === '') throw new ConfigError(fileVariable, `names an empty file: ${file}`);
    resolved[name] = text;
  }
  return Object.keys(resolved).length === 0 ? env : { ...env, ...resolved };
}

/**
 * At least 128 bits: 32 printable ASCII characters, not a short unit repeated, and not dominated by a few characters
 * (the entropy of its own letter frequencies; 32 random hex digits measure at least ~91 bits, "abab...ab" + a tail
 * of distinct letters about 80).
 */
export function secretError(secret: string): string | undefined {
  // Headers are Latin-1 on the wire and the stored hash is of UTF-8: anything but printable ASCII could never match.
  if (!/^[\x21-\x7e]+$/.test(secret)) {
    return 'must be printable ASCII without spaces (e.g. the output of "openssl rand -hex 32")';
  }
  if (secret.length < 32) {
    return `must be at least 32 characters long (128 bits or more; e.g. "openssl rand -hex 32"), got ${secret.length}`;
  }
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(secret)) {
    // 122 random bits at most; and request ids are UUIDs, which the logs keep (see couldBeKey).
    return 'must not be a UUID (at most 122 random bits); use "openssl rand -hex 32"';
  }
  if (smallestPeriod(secret) <= secret.length / 4 || letterEntropyBits(secret) < 84) {
    return 'is too repetitive to be a secret; use a random value (e.g. "openssl rand -hex 32")';
  }
  return undefined;
}

/** BOOTSTRAP_TOKEN, SECRET_KEY or METRICS_TOKEN: unset, or a secret of 128 bits or more (secretError). */
function secretSetting(
  env: Env,
  name: 'BOOTSTRAP_TOKEN' | 'SECRET_KEY' | 'METRICS_TOKEN',
): string | undefined {
  const secret = value(env, name);
  if (secret === undefined) return undefined;
  const error = secretError(secret);
  if (error !== undefined) throw new ConfigError(name, error);
  return secret;
}

/** Bits of `text` if its letters were drawn independently with their own frequencies in it. */
export function letterEntropyBits(text: string): number {
  const counts = new Map<string, number>();
  for (const letter of text) counts.set(letter, (counts.get(letter) ?? 0) + 1);
  let bits = 0;
  for (const count of counts.values()) bits -= count * Math.log2(count / text.length);
  return bits;
}

/** The length of the shortest unit that `text` repeats (its length when it repeats nothing). */
export function smallestPeriod(text: string): number {
  // Knuth-Morris-Pratt failure function: the longest proper prefix that is also a suffix.
  const border = new Array<number>(text.length).fill(0);
  for (let i = 1, k = 0; i < text.length; i += 1) {
    while (k > 0 && text[i] !== text[k]) k = border[k - 1] ?? 0;
    if (text[i] === text[k]) k += 1;
    border[i] = k;
  }
  return text.length - (border[text.length - 1] ?? 0);
}

function value(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw.trim() === '' ? undefined : raw.trim();
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = value(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`);
  const parsed = Number(raw);
  if (parsed < min || parsed > max)
    throw new ConfigError(name, `must be between ${min} and ${max}, got ${raw}`);
  return parsed;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = value(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = value(env, name);
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got "${raw}"`);
  }
  return raw as T;
}

/** GRANT_RETENTION: an authentik duration (`days=7;hours=12`), in milliseconds. */
function grantRetention(env: Env): number {
  const raw = value(env, 'GRANT_RETENTION');
  if (raw === undefined) return 7 * 24 * 3_600_000;
  try {
    return parseTimedelta(raw, 'value');
  } catch (error) {
    throw new ConfigError('GRANT_RETENTION', error instanceof Error ? error.message : String(error));
  }
}

function databaseUrl(env: Env): string | undefined {
  const raw = value(env, 'DATABASE_URL');
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(
      'DATABASE_URL',
      'is not a valid URL (expected postgres://user:password@host:port/database)',
    );
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError('DATABASE_URL', `must use the postgres:// scheme, got "${url.protocol}"`);
  }
  if (url.pathname.replace(/^\//, '') === '') throw new ConfigError('DATABASE_URL', 'must name a database');
  return raw;
}

function list(env: Env, name: string): string[] {
  const raw = value(env, name);
  if (raw === undefined) return [];
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/** proxy-addr's named ranges, which Fastify's trustProxy understands. */
const NAMED_RANGES = ['loopback', 'linklocal', 'uniquelocal'];

function trustedProxies(env: Env): string[] {
  const entries = list(env, 'TRUSTED_PROXIES');
  for (const entry of entries) {
    if (NAMED_RANGES.includes(entry)) continue;
    const slash = entry.indexOf('/');
    const address = slash < 0 ? entry : entry.slice(0, slash);
    const family = isIP(address);
    const prefix = slash < 0 ? undefined : entry.slice(slash + 1);
    const validPrefix =
      prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 6 ? 128 : 32));
    if (family === 0 || !validPrefix) {
      throw new ConfigError(
        'TRUSTED_PROXIES',
        `must be a comma-separated list of IP addresses, CIDR ranges (10.0.0.0/8, fd00::/8), loopback, ` +
          `linklocal or uniquelocal, got "${entry}"`,
      );
    }
  }
  return entries;
}

function publicUrl(env: Env): string | undefined {
  const raw = env.PUBLIC_URL;
  if (raw === undefined || raw === '') return undefined;
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (
    url === undefined ||
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.search !== '' ||
    url.hash !== '' ||
    url.username !== '' ||
    url.password !== ''
  ) {
    throw new ConfigError(
      'PUBLIC_URL',
      `must be an absolute http(s) URL with no query, fragment or credentials, such as https://id.example.com, ` +
        `got "${raw}"`,
    );
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

function corsOrigins(env: Env): string[] {
  const entries = list(env, 'CORS_ORIGINS');
  for (const entry of entries) {
    let origin: string | undefined;
    try {
      const url = new URL(entry);
      if (url.protocol === 'http:' || url.protocol === 'https:') origin = url.origin;
    } catch {
      origin = undefined;
    }
    // Browsers send the Origin header exactly so (lower-case host, no default port, no path); an entry written
    // any other way could never match, and a wildcard would hand every site the API.
    if (origin !== entry || entry.includes('*')) {
      throw new ConfigError(
        'CORS_ORIGINS',
        `must be a comma-separated list of exact origins such as https://admin.example.com (scheme, lower-case ` +
          `host and optional port; no path, no wildcard), got "${entry}"`,
      );
    }
  }
  return [...new Set(entries)];
}

export function loadConfig(given: Env = process.env, cwd: string = process.cwd()): AppConfig {
  const env = withSecretFiles(given);
  const pageSizeMax = integer(env, 'PAGE_SIZE_MAX', 100, 1, 10_000);
  const pageSizeDefault = integer(env, 'PAGE_SIZE_DEFAULT', 20, 1, 10_000);
  if (pageSizeDefault > pageSizeMax) {
    throw new ConfigError('PAGE_SIZE_DEFAULT', `must not exceed PAGE_SIZE_MAX (${pageSizeMax})`);
  }
  const bootstrapToken = secretSetting(env, 'BOOTSTRAP_TOKEN');
  const secretKey = secretSetting(env, 'SECRET_KEY');
  const avatars = value(env, 'AVATARS') ?? 'initials';
  const avatarError = avatarSettingError(avatars);
  if (avatarError) throw new ConfigError('AVATARS', avatarError);
  return {
    nodeEnv: oneOf(env, 'NODE_ENV', ['production', 'development', 'test'] as const, 'production'),
    port: integer(env, 'PORT', 9000, 0, 65535),
    host: value(env, 'HOST'),
    databaseUrl: databaseUrl(env),
    dataDir: path.resolve(cwd, value(env, 'DATA_DIR') ?? 'data'),
    runMigrations: boolean(env, 'RUN_MIGRATIONS', true),
    bootstrapToken,
    secretKey,
    logLevel: oneOf(
      env,
      'LOG_LEVEL',
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const,
      'info',
    ),
    dbPoolSize: integer(env, 'DB_POOL_SIZE', 10, 1, 1000),
    dbStatementTimeoutMs: integer(env, 'DB_STATEMENT_TIMEOUT_MS', 5000, 0, 3_600_000),
    dbConnectTimeoutMs: integer(env, 'DB_CONNECT_TIMEOUT_MS', 2000, 100, 600_000),
    dbProbeIntervalMs: integer(env, 'DB_PROBE_INTERVAL_MS', 500, 50, 60_000),
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
    pageSizeDefault,
    pageSizeMax,
    avatars,
    grantCountsFoldMs: integer(env, 'GRANT_COUNTS_FOLD_MS', 5000, 0, 3_600_000),
    grantRetentionMs: grantRetention(env),
    grantCleanupIntervalSeconds: integer(env, 'GRANT_CLEANUP_INTERVAL_SECONDS', 3600, 0, 604_800),
    authFailureLimit: integer(env, 'AUTH_FAILURE_LIMIT', 20, 0, 1_000_000),
    authFailureWindowSeconds: integer(env, 'AUTH_FAILURE_WINDOW_SECONDS', 60, 1, 86_400),
    authFailureMaxAddresses: integer(env, 'AUTH_FAILURE_MAX_ADDRESSES', 10_000, 1, 10_000_000),
    sessionMaxAgeSeconds: integer(env, 'SESSION_MAX_AGE_SECONDS', 86_400, 60, 31_536_000),
    sessionIdleSeconds: integer(env, 'SESSION_IDLE_SECONDS', 7200, 60, 31_536_000),
    loginFailureLimit: integer(env, 'LOGIN_FAILURE_LIMIT', 10, 0, 1_000_000),
    loginFailureWindowSeconds: integer(env, 'LOGIN_FAILURE_WINDOW_SECONDS', 300, 1, 86_400),
    deviceRequestLimit: integer(env, 'DEVICE_REQUEST_LIMIT', 20, 0, 1_000_000),
    trustedProxies: trustedProxies(env),
    corsOrigins: corsOrigins(env),
    publicUrl: publicUrl(env),
    maxHeaderBytes: integer(env, 'MAX_HEADER_BYTES', 16_384, 1024, 1_048_576),
    maxBodyBytes: integer(env, 'MAX_BODY_BYTES', 65_536, 1024, 16_777_216),
    heapGrowingPercent: integer(env, 'HEAP_GROWING_PERCENT', 50, 0, 1000),
    metricsToken: secretSetting(env, 'METRICS_TOKEN'),
  };
}

export const APP_CONFIG = Symbol('APP_CONFIG');
