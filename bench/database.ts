/**
 * The bench database: an embedded PostgreSQL in the bench's data dir (or BENCH_DATABASE_URL), migrated and seeded
 * through Grantry's own CLI, with a marker of what was seeded so a re-run reuses the data.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../src/database/embedded-postgres';
import { resolveSecretKey } from '../src/keys/secret-key';
import { HarnessError, onCleanup, onExitKill, run, sleep } from './procs';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
export const GRANT_TABLES = ['oauth2_access_tokens', 'oauth2_refresh_tokens', 'oauth2_authorization_codes'];

export interface BenchDatabase {
  url: string;
  /** Set when the harness runs the embedded PostgreSQL itself. */
  dataDir: string | undefined;
  embedded: EmbeddedPostgres | undefined;
  version: string;
  settings: Record<string, string>;
  counter: QueryCounter;
  /** Closes the counter and stops the embedded PostgreSQL when the harness started it. */
  stop(): Promise<void>;
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export async function connect(url: string): Promise<Client> {
  const client = new Client({ connectionString: url, application_name: 'grantry-bench-harness' });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

export async function query<T extends object>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = await connect(url);
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

async function startEmbedded(dataDir: string, log: (message: string) => void): Promise<EmbeddedPostgres> {
  let handle = await startEmbeddedPostgres({ dataDir, log });
  if (!handle.owned) {
    log(
      `attached to an embedded PostgreSQL run by another process on ${dataDir}; it is not stopped at the end`,
    );
    return handle;
  }
  // pg_stat_statements counts the statements each request costs, as they finish (pg_stat_database's
  // counters reach the view only up to 10 s late). It has to be preloaded, which takes a restart.
  const [row] = await query<{ shared_preload_libraries: string }>(
    withDatabase(handle.url, 'postgres'),
    'SHOW shared_preload_libraries',
  );
  const loaded = (row?.shared_preload_libraries ?? '').split(',').map((name) => name.trim());
  if (!loaded.includes('pg_stat_statements')) {
    log('enabling pg_stat_statements (restarting the bench PostgreSQL once)');
    const libraries = [...loaded.filter(Boolean), 'pg_stat_statements'].join(',');
    await query(
      withDatabase(handle.url, 'postgres'),
      `ALTER SYSTEM SET shared_preload_libraries = '${libraries}'`,
    );
    await handle.stop();
    handle = await startEmbeddedPostgres({ dataDir, log });
  }
  return handle;
}

export async function openDatabase(options: {
  dataDir: string;
  log: (message: string) => void;
}): Promise<BenchDatabase> {
  const external = process.env.BENCH_DATABASE_URL?.trim();
  let url: string;
  let embedded: EmbeddedPostgres | undefined;
  let stopped = false;
  if (external) {
    url = external;
  } else {
    embedded = await startEmbedded(options.dataDir, options.log);
    const handle = embedded;
    const dataDir = options.dataDir;
    onCleanup(async () => {
      await handle.stop();
      if (handle.owned) stopStrayPostmaster(dataDir);
    });
    onExitKill(() => {
      if (handle.owned && !stopped) process.kill(handle.pid, 'SIGINT');
      if (handle.owned) stopStrayPostmaster(dataDir);
    });
    url = handle.url;
  }
  const [info] = await query<{ server_version: string }>(url, 'SHOW server_version');
  const counter = await openCounter(url, options.log);
  const settings: Record<string, string> = {};
  for (const name of [
    'shared_buffers',
    'max_connections',
    'synchronous_commit',
    'max_parallel_workers_per_gather',
  ]) {
    const [setting] = await query<Record<string, string>>(url, `SHOW ${name}`);
    settings[name] = setting?.[name] ?? '?';
  }
  // Every Grantry process of the harness (the seed, the servers, start-to-ready on the data dir) must use the key
  // the bench database's signing keys are sealed with: SECRET_KEY when given, else the one kept in the data dir
  // (resolved only now, once the embedded cluster has made the data dir with the modes it wants). The CLI inherits
  // it through cliEnv; the servers are given it explicitly.
  process.env.SECRET_KEY ??= resolveSecretKey({ secretKey: undefined, dataDir: options.dataDir }, {
    info: (_fields: object, message: string) => options.log(message),
    warn: () => undefined,
  } as unknown as Parameters<typeof resolveSecretKey>[1]);
  return {
    url,
    dataDir: external ? undefined : options.dataDir,
    embedded,
    version: info?.server_version ?? '?',
    settings,
    counter,
    async stop() {
      await counter.close().catch(() => undefined);
      await embedded?.stop();
      stopped = true;
    },
  };
}

/** Stops a postmaster still running on the data dir (left by a Grantry that was killed), if any. */
export function stopStrayPostmaster(dataDir: string): void {
  try {
    const pid = Number(
      fs.readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0],
    );
    if (
      Number.isInteger(pid) &&
      pid > 0 &&
      fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('postgres')
    ) {
      process.kill(pid, 'SIGINT');
    }
  } catch {
    /* none */
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Counting the SQL statements of requests

export interface QueryCounter {
  /** `statements`: pg_stat_statements calls; `transactions`: pg_stat_database xact_commit + xact_rollback. */
  mode: 'statements' | 'transactions';
  /** Statements the servers run on their own (timers), found by watching an idle window; excluded. */
  background: string;
  snapshot(): Promise<Map<string, number>>;
  /** Statements (or transactions) between two snapshots, background excluded. */
  delta(before: Map<string, number>, after: Map<string, number>, elapsedMs: number): number;
  /** Watches the servers idle for a while to learn what they run on their own. */
  learnBackground(ms: number): Promise<void>;
  /** How long to wait after requests before a snapshot sees them. */
  settleMs: number;
  close(): Promise<void>;
}

async function openCounter(url: string, log: (message: string) => void): Promise<QueryCounter> {
  const database = new URL(url).pathname.replace(/^\//, '');
  // The monitor runs in another database when it can, so its own statements are never counted.
  for (const monitorUrl of [withDatabase(url, 'postgres'), url]) {
    let client: Client | undefined;
    try {
      client = await connect(monitorUrl);
      await client.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
      await client.query('SELECT 1 FROM pg_stat_statements LIMIT 1');
      return statementCounter(client, database);
    } catch {
      await client?.end().catch(() => undefined);
    }
  }
  log('pg_stat_statements is unavailable: counting transactions (xact_commit) instead, 11 s per measurement');
  return transactionCounter(await connect(url), database);
}

function statementCounter(client: Client, database: string): QueryCounter {
  /** queryid -> calls seen while the servers were idle. */
  const background = new Map<string, number>();
  const texts = new Map<string, string>();
  const snapshot = async (): Promise<Map<string, number>> => {
    const { rows } = await client.query<{ queryid: string; calls: string; query: string }>(
      `SELECT s.queryid::text AS queryid, s.calls::text AS calls, s.query
         FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
        WHERE d.datname = $1 AND s.toplevel
          AND s.query NOT LIKE '%pg_stat_statements%' AND s.query NOT LIKE '%pg_stat_activity%'`,
      [database],
    );
    const map = new Map<string, number>();
    for (const row of rows) {
      map.set(row.queryid, (map.get(row.queryid) ?? 0) + Number(row.calls));
      texts.set(row.queryid, row.query);
    }
    return map;
  };
  const diff = (before: Map<string, number>, after: Map<string, number>): Map<string, number> => {
    const changed = new Map<string, number>();
    for (const [id, calls] of after) {
      const delta = calls - (before.get(id) ?? 0);
      if (delta > 0) changed.set(id, delta);
    }
    return changed;
  };
  // Transaction control and locks look the same whoever runs them: a request may use them too. Those of the
  // background are subtracted in proportion to how much of the background's own statements a window saw.
  const generic = (id: string): boolean =>
    /^\s*(START|BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE|SET|RESET|LOCK|SHOW)\b/i.test(
      texts.get(id) ?? '',
    );
  const counter: QueryCounter = {
    mode: 'statements',
    background: 'none seen',
    settleMs: 0,
    snapshot,
    delta(before, after) {
      const changed = diff(before, after);
      let idleSpecific = 0;
      let seenSpecific = 0;
      for (const [id, idle] of background) {
        if (generic(id)) continue;
        idleSpecific += idle;
        seenSpecific += changed.get(id) ?? 0;
      }
      const cycles = idleSpecific > 0 ? seenSpecific / idleSpecific : 0;
      let total = 0;
      for (const [id, calls] of changed) {
        const idle = background.get(id);
        if (idle === undefined) total += calls;
        else if (generic(id)) total += Math.max(0, calls - Math.round(idle * cycles));
      }
      return total;
    },
    async learnBackground(ms) {
      const before = await snapshot();
      await sleep(ms);
      for (const [id, calls] of diff(before, await snapshot())) background.set(id, calls);
      if (background.size > 0) {
        counter.background = [...background.keys()]
          .map((id) => (texts.get(id) ?? id).replace(/\s+/g, ' ').trim().slice(0, 60))
          .join('; ');
      }
    },
    close: () => client.end(),
  };
  return counter;
}

function transactionCounter(client: Client, database: string): QueryCounter {
  let idleRatePerMs = 0;
  const snapshot = async (): Promise<Map<string, number>> => {
    const { rows } = await client.query<{ n: string }>(
      'SELECT (xact_commit + xact_rollback)::text AS n FROM pg_stat_database WHERE datname = $1',
      [database],
    );
    return new Map([['xacts', Number(rows[0]?.n ?? 0)]]);
  };
  // The monitor's own snapshot is one transaction of the same database.
  const raw = (before: Map<string, number>, after: Map<string, number>): number =>
    (after.get('xacts') ?? 0) - (before.get('xacts') ?? 0) - 1;
  return {
    mode: 'transactions',
    background: 'subtracted as a rate',
    settleMs: 11_000,
    snapshot,
    delta: (before, after, elapsedMs) => Math.max(0, raw(before, after) - idleRatePerMs * elapsedMs),
    async learnBackground(ms) {
      await sleep(11_000);
      const before = await snapshot();
      await sleep(Math.max(ms, 11_000));
      const after = await snapshot();
      idleRatePerMs = Math.max(0, raw(before, after)) / Math.max(ms, 11_000);
    },
    close: () => client.end(),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Migrations, seed, marker, credentials

export function cliEnv(url: string): NodeJS.ProcessEnv {
  return { ...process.env, DATABASE_URL: url, NODE_ENV: 'production', LOG_LEVEL: 'warn' };
}

export async function cli<T>(url: string, args: string[]): Promise<T> {
  const stdout = await run(process.execPath, [CLI, ...args, '--json'], cliEnv(url));
  return JSON.parse(stdout) as T;
}

export interface SeedParameters {
  k: number;
  users: number;
  /** audit_events rows (the events API); absent in markers written before it was seeded. */
  events: number;
  providers: number;
  access_tokens: number;
  refresh_tokens: number;
  authorization_codes: number;
}

interface Credential {
  username: string;
  key: string;
}

export interface Credentials {
  admin: Credential;
  owner: Credential & { userId: number };
}

const MARKER_SQL = `CREATE TABLE IF NOT EXISTS bench_meta (
  key text PRIMARY KEY, value jsonb NOT NULL, updated timestamptz NOT NULL DEFAULT now())`;

export async function readMarker<T>(url: string, key: string): Promise<T | undefined> {
  await query(url, MARKER_SQL);
  const [row] = await query<{ value: T }>(url, 'SELECT value FROM bench_meta WHERE key = $1', [key]);
  return row?.value;
}

export async function writeMarker(url: string, key: string, value: unknown): Promise<void> {
  await query(url, MARKER_SQL);
  await query(
    url,
    `INSERT INTO bench_meta (key, value) VALUES ($1, $2)
     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated = now()`,
    [key, JSON.stringify(value)],
  );
}

export interface SeedOutcome {
  seeded: boolean;
  /** Wall time of the seed command plus VACUUM ANALYZE, when seeding happened in this run. */
  seconds: number | undefined;
  /** What the seed command itself reported. */
  cliSeconds: number | undefined;
  /** When the data was reused: how long seeding it took, in the run that did. */
  earlier?: { seconds: number; cliSeconds: number; at: string };
  rows: Record<string, number>;
}

export async function migrate(url: string): Promise<string[]> {
  const result = await cli<{ applied: string[] }>(url, ['migrate']);
  return result.applied;
}

async function tableCounts(url: string): Promise<Record<string, number>> {
  const rows: Record<string, number> = {};
  for (const table of ['users', 'oauth2_providers', ...GRANT_TABLES, 'audit_events']) {
    const [row] = await query<{ n: string }>(url, `SELECT count(*)::text AS n FROM ${table}`);
    rows[table] = Number(row?.n ?? 0);
  }
  return rows;
}

export async function vacuumAnalyze(url: string): Promise<void> {
  for (const table of [...GRANT_TABLES, 'audit_events']) await query(url, `VACUUM ANALYZE ${table}`);
  await query(url, 'ANALYZE');
}

/** Seeds unless the marker says this exact data set is already there; a larger existing one is an error. */
export async function ensureSeeded(
  url: string,
  wanted: SeedParameters,
  options: { skip: boolean; log: (message: string) => void },
): Promise<SeedOutcome> {
  const marker = await readMarker<SeedParameters>(url, 'seed');
  const same = marker !== undefined && JSON.stringify(marker) === JSON.stringify(wanted);
  if (options.skip || same) {
    const rows = await tableCounts(url);
    if (rows.oauth2_access_tokens === 0)
      throw new HarnessError('--skip-seed, but the bench database has no grants');
    options.log(
      same
        ? 'data set already seeded with these parameters: reusing it'
        : '--skip-seed: using the data as it is',
    );
    const earlier = await readMarker<{ seconds: number; cliSeconds: number; at: string }>(url, 'seed_time');
    return {
      seeded: false,
      seconds: undefined,
      cliSeconds: undefined,
      rows,
      earlier: same ? earlier : undefined,
    };
  }
  if (marker) {
    const keys = Object.keys(wanted) as (keyof SeedParameters)[];
    const smaller = keys.filter((key) => key !== 'k' && wanted[key] < marker[key]);
    if (smaller.length > 0 || marker.k !== wanted.k) {
      throw new HarnessError(
        `the bench database holds a different data set (${JSON.stringify(marker)}); use another --data-dir ` +
          '(or delete this one) to seed a smaller one',
      );
    }
  }
  options.log(
    `seeding ${wanted.users} users, ${wanted.providers} providers, ${wanted.access_tokens} access tokens, ` +
      `${wanted.refresh_tokens} refresh tokens, ${wanted.authorization_codes} authorization codes, ` +
      `${wanted.events} events (seed ${wanted.k})...`,
  );
  const started = performance.now();
  const result = await cli<{ seconds: number }>(url, [
    'seed',
    '--seed',
    String(wanted.k),
    '--users',
    String(wanted.users),
    '--providers',
    String(wanted.providers),
    '--access-tokens',
    String(wanted.access_tokens),
    '--refresh-tokens',
    String(wanted.refresh_tokens),
    '--authorization-codes',
    String(wanted.authorization_codes),
    '--events',
    String(wanted.events),
  ]);
  options.log(`seed command done in ${result.seconds} s; VACUUM ANALYZE...`);
  await vacuumAnalyze(url);
  const seconds = (performance.now() - started) / 1000;
  await writeMarker(url, 'seed', wanted);
  await writeMarker(url, 'seed_time', { seconds, cliSeconds: result.seconds, at: new Date().toISOString() });
  return { seeded: true, seconds, cliSeconds: result.seconds, rows: await tableCounts(url) };
}

const VIEW_PERMISSIONS = ['accesstoken', 'refreshtoken', 'authorizationcode'].map(
  (model) => `authentik_providers_oauth2.view_${model}`,
);

/**
 * The seeded user owning the most access tokens who is active, not a superuser, holds no view_* permission (so
 * sees only their own grants) and owns grants of all three types.
 */
async function pickOwner(url: string): Promise<{ id: number; username: string }> {
  const [row] = await query<{ id: number; username: string }>(
    url,
    `WITH candidates AS (
       SELECT user_id, count(*) AS n FROM oauth2_access_tokens GROUP BY user_id ORDER BY n DESC, user_id LIMIT 500)
     SELECT u.id, u.username FROM candidates c JOIN users u ON u.id = c.user_id
      WHERE u.is_active
        AND EXISTS (SELECT 1 FROM oauth2_refresh_tokens r WHERE r.user_id = u.id)
        AND EXISTS (SELECT 1 FROM oauth2_authorization_codes a WHERE a.user_id = u.id)
        AND NOT EXISTS (SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id
                         WHERE ur.user_id = u.id AND r.permissions && $1::text[])
        AND NOT EXISTS (
          WITH RECURSIVE member_of (id) AS (
            SELECT ug.group_id FROM user_groups ug WHERE ug.user_id = u.id
            UNION
            SELECT g.parent_id FROM groups g JOIN member_of m ON g.id = m.id WHERE g.parent_id IS NOT NULL)
          SELECT 1 FROM member_of m JOIN groups g ON g.id = m.id
           WHERE g.is_superuser
              OR EXISTS (SELECT 1 FROM group_roles gr JOIN roles r ON r.id = gr.role_id
                          WHERE gr.group_id = g.id AND r.permissions && $1::text[]))
      ORDER BY c.n DESC, u.id LIMIT 1`,
    [VIEW_PERMISSIONS],
  );
  if (!row)
    throw new HarnessError('no seeded user qualifies as a non-superuser owner of grants of all three types');
  return row;
}

async function keyWorks(url: string, credential: Credential | undefined): Promise<boolean> {
  if (!credential) return false;
  const hash = createHash('sha256').update(credential.key, 'utf8').digest();
  const rows = await query(
    url,
    `SELECT 1 FROM api_tokens t JOIN users u ON u.id = t.user_id
      WHERE t.key_hash = $1 AND u.username = $2 AND u.is_active AND t.intent = 'api'`,
    [hash, credential.username],
  );
  return rows.length === 1;
}

async function createKey(url: string, username: string): Promise<string> {
  const token = await cli<{ key: string }>(url, [
    'token',
    'create',
    '--user',
    username,
    '--description',
    'grantry bench',
  ]);
  return token.key;
}

/** A superuser and a non-superuser owner with API keys, made with the CLI once and kept in the marker. */
export async function ensureCredentials(url: string): Promise<Credentials> {
  const stored = await readMarker<Credentials>(url, 'credentials');
  const owner = await pickOwner(url);
  let admin = stored?.admin;
  if (!(await keyWorks(url, admin))) {
    const username = 'bench-admin';
    const exists = await query(url, 'SELECT 1 FROM users WHERE username = $1', [username]);
    if (exists.length === 0) await cli(url, ['user', 'create', '--username', username, '--superuser']);
    admin = { username, key: await createKey(url, username) };
  }
  let ownerCredential = stored?.owner;
  if (ownerCredential?.username !== owner.username || !(await keyWorks(url, ownerCredential))) {
    ownerCredential = {
      username: owner.username,
      userId: owner.id,
      key: await createKey(url, owner.username),
    };
  }
  const credentials: Credentials = { admin: admin as Credential, owner: ownerCredential };
  await writeMarker(url, 'credentials', credentials);
  return credentials;
}

/** Waits until no client backend of the bench database is running a statement (abandoned requests finish). */
export async function drain(url: string, timeoutMs = 120_000): Promise<void> {
  const database = new URL(url).pathname.replace(/^\//, '');
  const client = await connect(withDatabase(url, 'postgres')).catch(() => connect(url));
  try {
    const deadline = Date.now() + timeoutMs;
    let quiet = 0;
    while (Date.now() < deadline && quiet < 2) {
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = $1 AND state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid()`,
        [database],
      );
      quiet = (rows[0]?.n ?? 0) === 0 ? quiet + 1 : 0;
      if (quiet < 2) await sleep(50);
    }
  } finally {
    await client.end();
  }
}
