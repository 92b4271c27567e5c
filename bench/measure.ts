/** The measurements: JSON comparison, SQL statements per request, load, and the write scenario. */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Client } from 'pg';
import { connect, drain, query, type QueryCounter } from './database';
import type { LoadRequest, LoadResult } from './load';
import { forkOnce, memoryOf, type Server, sleep } from './procs';

export interface Fetched {
  status: number;
  body: string;
}

export async function fetchOnce(server: Server, pathAndQuery: string, key: string): Promise<Fetched> {
  const response = await fetch(`${server.url}${pathAndQuery}`, {
    headers: { authorization: `Bearer ${key}` },
    signal: AbortSignal.timeout(120_000),
  });
  return { status: response.status, body: await response.text() };
}

/** The first place two JSON values differ, as `path: a != b`, or undefined when equal. */
function firstDifference(a: unknown, b: unknown, at = '$'): string | undefined {
  if (typeof a !== typeof b || Array.isArray(a) !== Array.isArray(b) || (a === null) !== (b === null)) {
    return `${at}: ${short(a)} != ${short(b)}`;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i += 1) {
      if (i >= a.length || i >= b.length) return `${at}: length ${a.length} != ${b.length}`;
      const difference = firstDifference(a[i], b[i], `${at}[${i}]`);
      if (difference) return difference;
    }
    return undefined;
  }
  if (a !== null && typeof a === 'object' && b !== null && typeof b === 'object') {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    for (const key of new Set([...ka, ...kb])) {
      const difference = firstDifference(
        (a as Record<string, unknown>)[key],
        (b as Record<string, unknown>)[key],
        `${at}.${key}`,
      );
      if (difference) return difference;
    }
    if (ka.join(',') !== kb.join(',')) return `${at}: key order ${ka.join(',')} != ${kb.join(',')}`;
    return undefined;
  }
  return a === b ? undefined : `${at}: ${short(a)} != ${short(b)}`;
}

function short(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export interface Comparison {
  match: boolean;
  grantryStatus: number;
  baselineStatus: number;
  /** pagination.count of a list answer. */
  count: number | undefined;
  difference?: string;
}

export function compare(grantry: Fetched, baseline: Fetched): Comparison {
  let count: number | undefined;
  let difference: string | undefined;
  try {
    const parsed = JSON.parse(grantry.body) as { pagination?: { count?: number } };
    count = parsed.pagination?.count;
  } catch {
    /* not JSON */
  }
  if (grantry.status !== baseline.status) {
    difference = `status ${grantry.status} != ${baseline.status}`;
  } else if (grantry.body !== baseline.body) {
    try {
      difference =
        firstDifference(JSON.parse(grantry.body), JSON.parse(baseline.body)) ?? 'same JSON, different bytes';
    } catch {
      difference = `bodies differ: ${short(grantry.body)} != ${short(baseline.body)}`;
    }
  }
  return {
    match: difference === undefined,
    grantryStatus: grantry.status,
    baselineStatus: baseline.status,
    count,
    difference,
  };
}

/**
 * SQL statements per request (and the mean latency of a request alone): sequential requests between two snapshots
 * of the statement counter. At most
 * `maxRequests`, fewer when they are slow (at least `minRequests`, and about `budgetMs` in all).
 */
export async function statementsPerRequest(
  server: Server,
  counter: QueryCounter,
  paths: string[],
  key: string,
  options: { maxRequests: number; minRequests: number; budgetMs: number },
): Promise<{ perRequest: number; meanMs: number }> {
  await fetchOnce(server, paths[0] ?? '/', key); // the pool's connections are open before counting
  return statementsPerCall(
    counter,
    async (i) => {
      await fetchOnce(server, paths[i % paths.length] ?? '/', key);
    },
    options,
  );
}

/** The same for any request: `call(i)` makes the i-th sequential request. */
export async function statementsPerCall(
  counter: QueryCounter,
  call: (i: number) => Promise<void>,
  options: { maxRequests: number; minRequests: number; budgetMs: number },
): Promise<{ perRequest: number; meanMs: number }> {
  const before = await counter.snapshot();
  const started = performance.now();
  let done = 0;
  while (
    done < options.maxRequests &&
    (done < options.minRequests || performance.now() - started < options.budgetMs)
  ) {
    await call(done);
    done += 1;
  }
  const elapsed = performance.now() - started;
  if (counter.settleMs > 0) await sleep(counter.settleMs);
  const after = await counter.snapshot();
  return { perRequest: counter.delta(before, after, elapsed) / done, meanMs: elapsed / done };
}

export interface LoadOptions {
  connections: number;
  duration: number;
  warmup: number;
  databaseUrl: string;
}

const LOAD_SCRIPT = path.join(__dirname, 'load.js');

/** Warm-up (discarded), then the measured run; each in a fresh autocannon child, the database drained between. */
export async function loadRun(
  server: Server,
  paths: string[],
  key: string,
  options: LoadOptions,
  onSample?: () => void,
): Promise<LoadResult> {
  const request = (duration: number): LoadRequest => ({
    url: server.url,
    paths,
    headers: { authorization: `Bearer ${key}` },
    connections: options.connections,
    duration,
    timeout: 60,
  });
  const sampler = onSample ? setInterval(onSample, 200) : undefined;
  try {
    if (options.warmup > 0) {
      await forkOnce<LoadRequest, LoadResult>(
        LOAD_SCRIPT,
        request(options.warmup),
        options.warmup * 1000 + 90_000,
      );
      await drain(options.databaseUrl);
    }
    const result = await forkOnce<LoadRequest, LoadResult>(
      LOAD_SCRIPT,
      request(options.duration),
      options.duration * 1000 + 90_000,
    );
    await drain(options.databaseUrl);
    return result;
  } finally {
    if (sampler) clearInterval(sampler);
  }
}

/** Tracks the peak memory of a server process while it is under load. */
export class MemoryWatch {
  peakRss = 0;
  hwm = 0;
  constructor(private readonly pid: number) {}
  sample = (): void => {
    const { rss, hwm } = memoryOf(this.pid);
    this.peakRss = Math.max(this.peakRss, rss);
    this.hwm = Math.max(this.hwm, hwm);
  };
  get peak(): number {
    return Math.max(this.peakRss, this.hwm);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Writes

export interface WriteRate {
  inserts: number;
  seconds: number;
  rate: number;
}

export interface WriteResult {
  /** oauth2_access_tokens as migrated. */
  grantry: WriteRate;
  /** The same table as the initial schema defines it, without what issue 4 added: the target's yardstick. */
  plain: WriteRate;
  /** Primary key and unique token_hash only: no foreign keys, no read indexes (information). */
  bare: WriteRate;
  ratio: number;
  bareRatio: number;
  cleanedUp: number;
  /** Inserted rows still in oauth2_access_tokens after the clean-up (should be 0). */
  leftOver: number;
}

const HASH_PREFIX = Buffer.from('bench:', 'utf8');
const HASH_PREFIX_END = Buffer.from('bench;', 'utf8');
const PLAIN = 'bench_plain_access_tokens';
const BARE = 'bench_bare_access_tokens';
const COLUMNS = `provider_id, user_id, expires, expiring, revoked, scope, auth_time, session_id, created, token_hash,
                 id_token`;

async function insertFor(
  url: string,
  table: string,
  clients: number,
  warmupMs: number,
  durationMs: number,
  users: number[],
  providers: number[],
): Promise<{ inserts: number; seconds: number; rate: number }> {
  const sql = `INSERT INTO ${table} (${COLUMNS})
               VALUES ($1, $2, now() + interval '1 hour', true, false, 'openid profile email', now(), $3, now(), $4, $5)`;
  const connections: Client[] = [];
  for (let i = 0; i < clients; i += 1) connections.push(await connect(url));
  const start = performance.now();
  const measureFrom = start + warmupMs;
  const end = measureFrom + durationMs;
  let measured = 0;
  let lastDone = measureFrom;
  try {
    await Promise.all(
      connections.map(async (client, c) => {
        let n = 0;
        while (performance.now() < end) {
          const userId = users[(c * 7919 + n) % users.length] ?? 1;
          const providerId = providers[(c * 104729 + n) % providers.length] ?? 1;
          const idToken = {
            iss: `https://auth.example.com/application/o/app-${providerId}/`,
            sub: randomBytes(32).toString('hex'),
            aud: 'bench',
            exp: Math.floor(Date.now() / 1000) + 3600,
            iat: Math.floor(Date.now() / 1000),
            auth_time: Math.floor(Date.now() / 1000) - 60,
            acr: 'goauthentik.io/providers/oauth2/default',
            amr: ['pwd'],
            nonce: randomBytes(12).toString('base64url'),
            sid: randomBytes(16).toString('hex'),
            email: `bench${userId}@example.com`,
            email_verified: true,
          };
          await client.query({
            name: `bench_insert_${table}`,
            text: sql,
            values: [
              providerId,
              userId,
              randomBytes(16).toString('hex'),
              Buffer.concat([HASH_PREFIX, randomBytes(26)]),
              JSON.stringify(idToken),
            ],
          });
          n += 1;
          const now = performance.now();
          if (now >= measureFrom && now <= end) {
            measured += 1;
            lastDone = now;
          }
        }
      }),
    );
  } finally {
    await Promise.all(connections.map((client) => client.end().catch(() => undefined)));
  }
  const seconds = Math.max(0.001, (lastDone - measureFrom) / 1000);
  return { inserts: measured, seconds, rate: measured / seconds };
}

async function removeInserted(url: string): Promise<number> {
  const client = await connect(url);
  try {
    const result = await client.query(
      'DELETE FROM oauth2_access_tokens WHERE token_hash >= $1 AND token_hash < $2',
      [HASH_PREFIX, HASH_PREFIX_END],
    );
    await client.query(`DROP TABLE IF EXISTS ${PLAIN}`);
    await client.query(`DROP TABLE IF EXISTS ${BARE}`);
    await client.query('VACUUM ANALYZE oauth2_access_tokens');
    return result.rowCount ?? 0;
  } finally {
    await client.end();
  }
}

/** Rates of several runs of one table, combined (inserts and seconds summed). */
function combined(runs: WriteRate[]): WriteRate {
  const inserts = runs.reduce((sum, run) => sum + run.inserts, 0);
  const seconds = runs.reduce((sum, run) => sum + run.seconds, 0);
  return { inserts, seconds, rate: inserts / Math.max(seconds, 0.001) };
}

/**
 * One INSERT per transaction from `clients` connections for a fixed time, into:
 * - oauth2_access_tokens as Grantry's migrations made it;
 * - `PLAIN`, a copy of the table (the same rows) as the initial schema defines it (primary key, unique token_hash, the foreign keys to
 *   users and providers and their indexes, the expiry index) without what the performance work added: the count
 *   triggers and the pk in the expiry and user indexes. This is the "table without the indexes, triggers or
 *   counters you add", and the ratio against it is the target;
 * - `BARE`, a copy with only the primary key and token_hash (information: what the schema itself costs).
 * Grantry and PLAIN run four times each in the order A B B A A B B A, half the duration each, so a drift of the
 * machine's speed during the scenario weighs on both alike (single runs of a few seconds varied by +-25 %). The inserted rows are deleted afterwards (and any left by an
 * interrupted run, before).
 */
export async function writeScenario(
  url: string,
  options: { clients: number; warmupMs: number; durationMs: number },
): Promise<WriteResult> {
  await removeInserted(url);
  const client = await connect(url);
  let users: number[];
  let providers: number[];
  try {
    // The copies are built fresh, so their indexes are packed; the real table's carry the bloat of every earlier
    // scenario's inserts and deletes (on the bench data set after a full run: primary key 45 MB against 21 MB
    // rebuilt, token_hash 205 MB against 56 MB, 3-4x each), which no longer fit in shared_buffers and cost the
    // inserts: 0.69x churned, 0.78x rebuilt, the same schema a minute apart (bench/RESULTS.md). The ratio is the
    // schema's cost, so the real table is rebuilt first too (about 12 s; the server's fold waits or skips a tick).
    await client.query('VACUUM FULL oauth2_access_tokens');
    // Both copies hold the same rows as the real table: inserting into an empty table is cheaper (shallow
    // indexes) but has to extend its files all the time, so only a copy of the same size is a fair yardstick.
    await client.query(`CREATE TABLE ${PLAIN} (LIKE oauth2_access_tokens INCLUDING DEFAULTS)`);
    await client.query(`INSERT INTO ${PLAIN} SELECT * FROM oauth2_access_tokens`);
    await client.query(`ALTER TABLE ${PLAIN} ADD PRIMARY KEY (id)`);
    await client.query(`CREATE UNIQUE INDEX ${PLAIN}_token_hash_key ON ${PLAIN} (token_hash)`);
    await client.query(`CREATE INDEX ${PLAIN}_expires_idx ON ${PLAIN} (expires)`);
    await client.query(`CREATE INDEX ${PLAIN}_user_id_idx ON ${PLAIN} (user_id)`);
    await client.query(
      `CREATE INDEX ${PLAIN}_provider_expires_id_idx ON ${PLAIN} (provider_id, expires, id)`,
    );
    await client.query(
      `ALTER TABLE ${PLAIN} ADD FOREIGN KEY (provider_id) REFERENCES oauth2_providers(id) ON DELETE CASCADE`,
    );
    await client.query(
      `ALTER TABLE ${PLAIN} ADD FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE`,
    );
    await client.query(`CREATE TABLE ${BARE} (LIKE oauth2_access_tokens INCLUDING DEFAULTS)`);
    await client.query(`INSERT INTO ${BARE} SELECT * FROM oauth2_access_tokens`);
    await client.query(`ALTER TABLE ${BARE} ADD PRIMARY KEY (id)`);
    await client.query(`CREATE UNIQUE INDEX ${BARE}_token_hash_key ON ${BARE} (token_hash)`);
    // The three tables start alike: rebuilt or built fresh, vacuumed and analyzed, and the gigabytes of writes
    // checkpointed first, so that a checkpoint does not land in whichever segment happens to run next.
    await client.query(`VACUUM ANALYZE oauth2_access_tokens, ${PLAIN}, ${BARE}`);
    await client.query('CHECKPOINT').catch(() => undefined); // needs superuser (or pg_checkpoint); best effort
    users = (await client.query<{ id: number }>('SELECT id FROM users ORDER BY id LIMIT 10000')).rows.map(
      (row) => row.id,
    );
    providers = (await client.query<{ id: number }>('SELECT id FROM oauth2_providers ORDER BY id')).rows.map(
      (row) => row.id,
    );
  } finally {
    await client.end();
  }
  const run = (table: string, durationMs: number): ReturnType<typeof insertFor> =>
    insertFor(url, table, options.clients, options.warmupMs, durationMs, users, providers);
  const half = options.durationMs / 2;
  let grantry: WriteRate;
  let plain: WriteRate;
  let bare: WriteRate;
  let cleanedUp = 0;
  try {
    const runs: Record<'grantry' | 'plain', WriteRate[]> = { grantry: [], plain: [] };
    for (const which of [
      'grantry',
      'plain',
      'plain',
      'grantry',
      'grantry',
      'plain',
      'plain',
      'grantry',
    ] as const) {
      runs[which].push(await run(which === 'grantry' ? 'oauth2_access_tokens' : PLAIN, half));
    }
    grantry = combined(runs.grantry);
    plain = combined(runs.plain);
    bare = await run(BARE, options.durationMs);
  } finally {
    cleanedUp = await removeInserted(url);
  }
  const [left] = await query<{ n: number }>(
    url,
    'SELECT count(*)::int AS n FROM oauth2_access_tokens WHERE token_hash >= $1 AND token_hash < $2',
    [HASH_PREFIX, HASH_PREFIX_END],
  );
  return {
    grantry,
    plain,
    bare,
    ratio: grantry.rate / Math.max(plain.rate, 1e-9),
    bareRatio: grantry.rate / Math.max(bare.rate, 1e-9),
    cleanedUp,
    leftOver: left?.n ?? 0,
  };
}
