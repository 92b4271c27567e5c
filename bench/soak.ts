/**
 * `npm run soak -- --minutes N`: Grantry as built, on the bench data set, under mixed read/delete traffic for N
 * minutes; a table per minute, then pass/fail on errors, memory growth and database connections. See bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import type { Client } from 'pg';
import {
  connect,
  type Credentials,
  ensureCredentials,
  ensureSeeded,
  migrate,
  openDatabase,
  ROOT,
  type SeedParameters,
} from './database';
import {
  freePort,
  HarnessError,
  installSignalHandlers,
  isInterrupted,
  memoryOf,
  positive,
  runHarness,
  type Server,
  sleep,
  startServer,
  stopChild,
} from './procs';
import { type Kind, KINDS, type KindData, kindData } from './scenarios';

const HELP = `Usage: npm run soak -- [options]

Runs Grantry (dist/src/main.js, NODE_ENV=production) on the bench data set under mixed traffic (lists of all three
grant types: page 1, a deep page, search, ordering=-expires with page_size=100, a user filter; retrieves; DELETEs of
rows the soak inserts for the purpose) and prints a table per minute. Passes when there was no error at all, RSS grew
less than 10 % over the last 5 minutes, and Grantry's database connections never exceeded DB_POOL_SIZE and were all
gone after it stopped. Exit code 0 pass, 1 fail, 2 harness error.

Options:
  --minutes N       how long (default 10)
  --connections N   concurrent HTTP connections (default 32)
  --pool N          Grantry's DB_POOL_SIZE (default 10, Grantry's default)
  --data-dir DIR    embedded PostgreSQL data (default bench/.data; when that holds no data set, bench/.data-scale-F)
  --scale F         size of the data set to seed when bench/.data is missing (default 0.01)
  --out FILE        also write the report as Markdown to FILE
  --help            show this help

Environment: BENCH_DATABASE_URL uses that PostgreSQL instead of the embedded one.`;

interface Options {
  minutes: number;
  connections: number;
  pool: number;
  dataDir: string;
  scale: number;
  out: string | undefined;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string' },
      connections: { type: 'string' },
      pool: { type: 'string' },
      'data-dir': { type: 'string' },
      scale: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    process.exit(0);
  }
  const scale = positive('scale', values.scale, 0.01, false);
  const full = path.join(ROOT, 'bench', '.data');
  // The seeded bench data set when there is one; otherwise a smaller one of its own, seeded once and reused.
  const dataDir =
    values['data-dir'] ??
    (fs.existsSync(path.join(full, 'postgres', 'PG_VERSION'))
      ? full
      : path.join(ROOT, 'bench', `.data-scale-${scale}`));
  return {
    minutes: positive('minutes', values.minutes, 10, true),
    connections: positive('connections', values.connections, 32, true),
    pool: positive('pool', values.pool, 10, true),
    dataDir: path.resolve(dataDir),
    scale,
    out: values.out === undefined ? undefined : path.resolve(values.out),
  };
}

/** The bench's data set at a scale (the same parameters as `npm run bench -- --scale F`, so either reuses it). */
function seedParameters(scale: number): SeedParameters {
  return {
    k: 1,
    users: Math.max(50, Math.round(100_000 * scale)),
    // Before `providers`: bench_meta keeps this as jsonb, which orders keys by length, and the marker is compared as
    // JSON text, so the keys must already be in that order.
    events: Math.round(1_000_000 * scale),
    providers: Math.max(10, Math.round(100 * scale)),
    access_tokens: Math.round(1_000_000 * scale),
    refresh_tokens: Math.round(1_000_000 * scale),
    authorization_codes: Math.round(200_000 * scale),
  };
}

const log = (message: string): void => {
  process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
};

// ---------------------------------------------------------------------------------------------------------------
// Rows to delete: inserted by the soak (token hash prefix "soak:"), so the data set is not eroded

const HASH_PREFIX = Buffer.from('soak:', 'utf8');
const HASH_PREFIX_END = Buffer.from('soak;', 'utf8');
const HASH_COLUMN: Record<string, string> = {
  oauth2_access_tokens: 'token_hash',
  oauth2_refresh_tokens: 'token_hash',
  oauth2_authorization_codes: 'code_hash',
};
const REQUEST_ID_PREFIX = 'soak-';

class Deletable {
  readonly ids = new Map<string, number[]>();
  inserted = 0;
  starved = 0;
  private filling = false;

  constructor(
    private readonly client: Client,
    private readonly owner: { userId: number; providerId: number },
  ) {
    for (const kind of KINDS) this.ids.set(kind.table, []);
  }

  take(kind: Kind): number | undefined {
    const id = this.ids.get(kind.table)?.pop();
    if (id === undefined) this.starved += 1;
    return id;
  }

  /** Keeps at least `low` ids per table in stock, inserting `batch` rows at a time. */
  async refill(low = 400, batch = 400): Promise<void> {
    if (this.filling) return;
    this.filling = true;
    try {
      for (const kind of KINDS) {
        const stock = this.ids.get(kind.table) ?? [];
        if (stock.length >= low) continue;
        const { rows } = await this.client.query<{ id: number }>(
          `INSERT INTO ${kind.table} (provider_id, user_id, ${HASH_COLUMN[kind.table]}, scope, expires, expiring)
           SELECT $1, $2, convert_to('soak:' || gen_random_uuid()::text, 'UTF8'), 'openid',
                  now() + interval '1 day', true
             FROM generate_series(1, $3) RETURNING id`,
          [this.owner.providerId, this.owner.userId, batch],
        );
        // Deleted newest first (pop): the rows most recently written, as revocations tend to be.
        stock.unshift(...rows.map((row) => row.id).reverse());
        this.inserted += rows.length;
      }
    } finally {
      this.filling = false;
    }
  }

  async remaining(): Promise<number> {
    let total = 0;
    for (const kind of KINDS) {
      const { rows } = await this.client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${kind.table}
          WHERE ${HASH_COLUMN[kind.table]} >= $1 AND ${HASH_COLUMN[kind.table]} < $2`,
        [HASH_PREFIX, HASH_PREFIX_END],
      );
      total += rows[0]?.n ?? 0;
    }
    return total;
  }

  /** Removes every soak row and the audit events of the soak's deletes (also those of an interrupted run). */
  static async purge(client: Client): Promise<number> {
    let removed = 0;
    for (const kind of KINDS) {
      const result = await client.query(
        `DELETE FROM ${kind.table} WHERE ${HASH_COLUMN[kind.table]} >= $1 AND ${HASH_COLUMN[kind.table]} < $2`,
        [HASH_PREFIX, HASH_PREFIX_END],
      );
      removed += result.rowCount ?? 0;
    }
    await client.query(`DELETE FROM audit_events WHERE request_id LIKE $1`, [`${REQUEST_ID_PREFIX}%`]);
    return removed;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Traffic

interface Planned {
  method: 'GET' | 'DELETE';
  path: string;
  headers?: Record<string, string>;
}

const API = '/api/v3/oauth2';

/** One cycle of requests per grant type; `next()` walks the types and the cycle in turn. */
function traffic(data: KindData[], deletable: Deletable): { next(): Planned; names: string[] } {
  let step = 0;
  let deletes = 0;
  const cycle: ((d: KindData) => Planned)[] = [
    (d) => ({ method: 'GET', path: `${API}/${d.kind.path}/` }),
    (d) => ({ method: 'GET', path: `${API}/${d.kind.path}/?page=${d.deepPage}` }),
    (d) => ({ method: 'GET', path: `${API}/${d.kind.path}/?search=${encodeURIComponent(d.search.term)}` }),
    (d) => ({ method: 'GET', path: `${API}/${d.kind.path}/?ordering=-expires&page_size=100` }),
    (d) => ({ method: 'GET', path: `${API}/${d.kind.path}/?user=${d.topUser.id}&page=2` }),
    (d) => ({ method: 'GET', path: `${API}/${d.kind.path}/${d.ids[step % d.ids.length]}/` }),
    (d) => ({ method: 'GET', path: `${API}/${d.kind.path}/${d.ids[(step * 7) % d.ids.length]}/` }),
    (d) => {
      const id = deletable.take(d.kind);
      if (id === undefined) return { method: 'GET', path: `${API}/${d.kind.path}/${d.ids[0]}/` };
      deletes += 1;
      return {
        method: 'DELETE',
        path: `${API}/${d.kind.path}/${id}/`,
        headers: { 'x-request-id': `${REQUEST_ID_PREFIX}${deletes}` },
      };
    },
  ];
  return {
    names: [
      'list page 1',
      'deep page',
      'search',
      'ordering=-expires page_size=100',
      '?user= page 2',
      'retrieve',
      'retrieve',
      'DELETE (own rows)',
    ],
    next(): Planned {
      const d = data[step % data.length] as KindData;
      const make = cycle[Math.floor(step / data.length) % cycle.length] as (d: KindData) => Planned;
      step += 1;
      return make(d);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Measuring

interface Minute {
  index: number;
  requests: number;
  statuses: Map<string, number>;
  latencies: number[];
  rss: number[];
  connections: number[];
  deletes: number;
}

function newMinute(index: number): Minute {
  return { index, requests: 0, statuses: new Map(), latencies: [], rss: [], connections: [], deletes: 0 };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)}`;

function errorsOf(minute: Minute): Map<string, number> {
  const errors = new Map<string, number>();
  for (const [status, n] of minute.statuses) if (!/^2\d\d$/.test(status)) errors.set(status, n);
  return errors;
}

function errorText(errors: Map<string, number>): string {
  return errors.size === 0
    ? '0'
    : [...errors]
        .sort()
        .map(([status, n]) => `${n}x${status}`)
        .join(' ');
}

const HEADER = [
  'min',
  'requests',
  'req/s',
  'errors (by status)',
  'p50 ms',
  'p99 ms',
  'RSS MB',
  'DB conns max',
];

function minuteRow(minute: Minute, seconds: number): string[] {
  const sorted = [...minute.latencies].sort((a, b) => a - b);
  return [
    String(minute.index + 1),
    String(minute.requests),
    (minute.requests / seconds).toFixed(0),
    errorText(errorsOf(minute)),
    percentile(sorted, 50).toFixed(1),
    percentile(sorted, 99).toFixed(1),
    minute.rss.length ? mb(median(minute.rss)) : '-',
    minute.connections.length ? String(Math.max(...minute.connections)) : '-',
  ];
}

function formatRow(cells: string[]): string {
  const widths = [4, 9, 6, 20, 8, 8, 7, 12];
  return cells.map((cell, i) => cell.padStart(widths[i] ?? 8)).join('  ');
}

async function grantryConnections(
  client: Client,
): Promise<{ total: number; busy: number; idleInTransaction: number }> {
  const { rows } = await client.query<{ total: number; busy: number; iit: number }>(
    `SELECT count(*)::int AS total,
            count(*) FILTER (WHERE state = 'active')::int AS busy,
            count(*) FILTER (WHERE state LIKE 'idle in transaction%')::int AS iit
       FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'grantry'`,
  );
  const row = rows[0];
  return { total: row?.total ?? 0, busy: row?.busy ?? 0, idleInTransaction: row?.iit ?? 0 };
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trimEnd();
  } catch {
    return '';
  }
}

interface Criterion {
  name: string;
  value: string;
  pass: boolean;
}

async function main(): Promise<number> {
  installSignalHandlers();
  const options = parseOptions();
  const commit = `${git(['rev-parse', '--short', 'HEAD']) || 'unknown'} (${git(['log', '-1', '--format=%s']).slice(0, 80)})`;
  const dirty = git(['status', '--porcelain'])
    .split('\n')
    .filter(Boolean)
    .map((line) => line.slice(3));
  for (const file of [
    path.join(ROOT, 'dist', 'src', 'main.js'),
    path.join(ROOT, 'dist', 'src', 'cli', 'main.js'),
  ]) {
    if (!fs.existsSync(file)) throw new HarnessError(`${file} is missing: run "npm run build" first`);
  }
  const logDir = path.join(ROOT, 'bench', '.logs');
  fs.mkdirSync(logDir, { recursive: true });
  const loadAtStart = os.loadavg()[0] ?? 0;

  log(
    process.env.BENCH_DATABASE_URL ? 'using BENCH_DATABASE_URL' : `embedded PostgreSQL in ${options.dataDir}`,
  );
  const db = await openDatabase({ dataDir: options.dataDir, log });
  await migrate(db.url);
  const full = options.dataDir === path.resolve(ROOT, 'bench', '.data');
  const seed = await ensureSeeded(db.url, seedParameters(full ? 1 : options.scale), { skip: full, log });
  const monitor = await connect(db.url);
  // Rows an interrupted soak left go first: the retrieve ids sampled below must be rows that stay.
  const purged = await Deletable.purge(monitor);
  if (purged > 0) log(`removed ${purged} rows left by an interrupted soak`);
  const credentials: Credentials = await ensureCredentials(db.url);
  const data: KindData[] = [];
  for (const kind of KINDS) data.push(await kindData(db.url, kind, credentials));
  const rows = Object.entries(seed.rows)
    .map(([table, n]) => `${table} ${n.toLocaleString('en-US')}`)
    .join(', ');
  log(`data set: ${rows}`);

  const before = await grantryConnections(monitor);
  if (before.total > 0) {
    log(
      `WARNING: ${before.total} connections named "grantry" already exist (another Grantry on this database?)`,
    );
  }
  const writer = await connect(db.url);
  const owner = data[0] as KindData;
  const deletable = new Deletable(writer, { userId: owner.topUser.id, providerId: owner.topProvider.id });
  await deletable.refill();

  const port = await freePort();
  const grantry: Server = await startServer({
    name: 'Grantry',
    script: path.join(ROOT, 'dist', 'src', 'main.js'),
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      DATABASE_URL: db.url,
      SECRET_KEY: process.env.SECRET_KEY,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      DB_POOL_SIZE: String(options.pool),
    },
    port,
    logFile: path.join(logDir, 'soak-grantry.log'),
    readyPath: '/-/health/ready/',
  });
  log(
    `Grantry ready in ${grantry.readyMs.toFixed(0)} ms (pid ${grantry.pid}); ${options.minutes} min x ${options.connections} connections`,
  );

  const plan = traffic(data, deletable);
  const minutes: Minute[] = [];
  const started = performance.now();
  const minuteOf = (): Minute => {
    const index = Math.min(options.minutes - 1, Math.floor((performance.now() - started) / 60_000));
    while (minutes.length <= index) minutes.push(newMinute(minutes.length));
    return minutes[index] as Minute;
  };
  const key = credentials.admin.key;
  const authorization = `Bearer ${key}`;

  // Samplers: RSS every 5 s, Grantry's connections every 2 s, the deletable stock every 250 ms.
  let maxConnections = 0;
  let maxBusy = 0;
  const samplers = [
    setInterval(() => {
      const rss = memoryOf(grantry.pid).rss;
      if (rss > 0) minuteOf().rss.push(rss);
    }, 5000),
    setInterval(() => {
      grantryConnections(monitor)
        .then((c) => {
          minuteOf().connections.push(c.total);
          maxConnections = Math.max(maxConnections, c.total);
          maxBusy = Math.max(maxBusy, c.busy);
        })
        .catch((error: unknown) => log(`connection sample failed: ${String(error)}`));
    }, 2000),
    setInterval(() => {
      deletable.refill().catch((error: unknown) => log(`refill failed: ${String(error)}`));
    }, 250),
  ];
  let printed = 0;
  const printer = setInterval(() => {
    const done = Math.floor((performance.now() - started) / 60_000);
    while (printed < Math.min(done, options.minutes)) {
      if (printed === 0) process.stdout.write(`${formatRow(HEADER)}\n`);
      const minute = minutes[printed] ?? newMinute(printed);
      process.stdout.write(`${formatRow(minuteRow(minute, 60))}\n`);
      printed += 1;
    }
  }, 1000);

  let transportErrors = 0;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: grantry.url,
        connections: options.connections,
        duration: options.minutes * 60,
        timeout: 10,
        headers: { authorization },
        requests: [
          {
            method: 'GET',
            setupRequest: (request) => {
              const planned = plan.next();
              if (planned.method === 'DELETE') minuteOf().deletes += 1;
              return {
                ...request,
                method: planned.method,
                path: planned.path,
                headers: { authorization, ...planned.headers },
              };
            },
          },
        ],
      },
      (error: Error | null, outcome) => (error ? reject(error) : resolve(outcome)),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      const minute = minuteOf();
      minute.requests += 1;
      minute.statuses.set(String(statusCode), (minute.statuses.get(String(statusCode)) ?? 0) + 1);
      minute.latencies.push(responseTime);
    });
    instance.on('reqError', (error: Error) => {
      transportErrors += 1;
      const minute = minuteOf();
      const code = (error as NodeJS.ErrnoException).code ?? error.message.slice(0, 30);
      minute.statuses.set(code, (minute.statuses.get(code) ?? 0) + 1);
    });
  });
  for (const timer of samplers) clearInterval(timer);
  clearInterval(printer);
  if (isInterrupted()) throw new HarnessError('interrupted');
  while (printed < minutes.length) {
    if (printed === 0) process.stdout.write(`${formatRow(HEADER)}\n`);
    process.stdout.write(`${formatRow(minuteRow(minutes[printed] as Minute, 60))}\n`);
    printed += 1;
  }

  // Settled: the load is over; abandoned requests finish, then nothing of Grantry's may be busy or mid-transaction.
  await sleep(3000);
  const idle = await grantryConnections(monitor);
  const memoryAtEnd = memoryOf(grantry.pid);
  await stopChild(grantry.child, 30_000);
  const exitCode = grantry.child.exitCode;
  await sleep(1000);
  const after = await grantryConnections(monitor);

  // Every 204 deleted one soak row: what is left is what was inserted and not deleted.
  const deleted = minutes.reduce((n, m) => n + (m.statuses.get('204') ?? 0), 0);
  const issued = minutes.reduce((n, m) => n + m.deletes, 0);
  const remaining = await deletable.remaining();
  const removed = await Deletable.purge(monitor);
  await monitor.end();
  await writer.end();

  const total = minutes.reduce((n, m) => n + m.requests, 0);
  const errors = new Map<string, number>();
  for (const minute of minutes) {
    for (const [status, n] of errorsOf(minute)) errors.set(status, (errors.get(status) ?? 0) + n);
  }
  const errorCount = [...errors.values()].reduce((a, b) => a + b, 0);
  const last = minutes.at(-1);
  const reference = minutes[Math.max(0, minutes.length - 6)];
  const rssEnd = last?.rss.length ? median(last.rss) : 0;
  const rssRef = reference?.rss.length ? median(reference.rss) : 0;
  const growth = rssRef > 0 ? rssEnd / rssRef - 1 : Number.NaN;
  const criteria: Criterion[] = [
    {
      name: 'errors (non-2xx answers, timeouts, connection errors)',
      value: `${errorCount} of ${total} requests${errorCount ? `: ${errorText(errors)}` : ''}`,
      pass: errorCount === 0 && transportErrors === 0 && total > 0,
    },
    {
      name: `RSS growth over the last ${Math.min(5, minutes.length - 1)} minutes (median of minute ${(reference?.index ?? 0) + 1} -> minute ${(last?.index ?? 0) + 1})`,
      value: `${mb(rssRef)} -> ${mb(rssEnd)} MB = ${(growth * 100).toFixed(1)} %`,
      pass: Number.isFinite(growth) && growth < 0.1,
    },
    {
      name: `Grantry's database connections during the run (pg_stat_activity, every 2 s) <= DB_POOL_SIZE ${options.pool}`,
      value: `max ${maxConnections} (max ${maxBusy} active at once)`,
      pass: maxConnections <= options.pool,
    },
    {
      name: 'after the load, Grantry idle: none of its connections active or idle in a transaction',
      value: `${idle.total} open, ${idle.busy} active, ${idle.idleInTransaction} idle in transaction`,
      pass: idle.busy === 0 && idle.idleInTransaction === 0 && idle.total <= options.pool,
    },
    {
      name: 'after Grantry stopped: its connections, compared with before it started (leaks)',
      value: `${before.total} before, ${after.total} after (exit code ${exitCode})`,
      pass: after.total <= before.total && exitCode === 0,
    },
    {
      // A DELETE still in flight when the run ended may have been carried out without its 204 being counted.
      name: 'deletes: soak rows left between inserted - sent DELETEs and inserted - 204s',
      value: `${deletable.inserted} inserted, ${issued} DELETEs sent, ${deleted} answered 204: ${remaining} left, expected ${deletable.inserted - issued}..${deletable.inserted - deleted} (${removed} purged)`,
      pass:
        remaining >= deletable.inserted - issued &&
        remaining <= deletable.inserted - deleted &&
        issued - deleted <= options.connections,
    },
  ];
  const pass = criteria.every((c) => c.pass);

  const lines: string[] = [];
  lines.push('');
  lines.push(
    `${total} requests in ${result.duration.toFixed(0)} s (${(result.requests.average || 0).toFixed(0)} req/s on average, ` +
      `autocannon p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms); ${deleted} deletes of soak rows; ` +
      `peak RSS (VmHWM) ${mb(memoryAtEnd.hwm)} MB; ${deletable.starved} deletes fell back to a retrieve (no row in stock)`,
  );
  for (const c of criteria) lines.push(`${c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.value}`);
  lines.push(pass ? 'SOAK PASSED' : 'SOAK FAILED');
  process.stdout.write(`${lines.join('\n')}\n`);

  if (options.out) {
    const cpus = os.cpus();
    const md = [
      '# Soak',
      '',
      `Date: ${new Date().toISOString()}`,
      `Machine: ${cpus.length} cores (${cpus[0]?.model.trim() ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()}; ` +
        `load average (1 min) ${loadAtStart.toFixed(2)} at the start, ${(os.loadavg()[0] ?? 0).toFixed(2)} at the end`,
      `Node ${process.version}; PostgreSQL ${db.version} (${db.dataDir ? `embedded, ${path.relative(ROOT, db.dataDir)}` : 'BENCH_DATABASE_URL'})`,
      `Commit: ${commit}${dirty.length ? `; working tree differs in ${dirty.length} file(s): ${dirty.slice(0, 10).join(', ')}` : ''}`,
      `Command: npm run soak -- --minutes ${options.minutes} --connections ${options.connections} --pool ${options.pool}`,
      `Data set: ${rows}`,
      `Traffic (cycled over the three grant types): ${plan.names.join(', ')}`,
      '',
      '```',
      formatRow(HEADER),
      ...minutes.map((m) => formatRow(minuteRow(m, 60))),
      ...lines,
      '```',
      '',
    ].join('\n');
    fs.writeFileSync(options.out, md);
    log(`report written to ${path.relative(process.cwd(), options.out)}`);
  }
  return pass ? 0 : 1;
}

runHarness(main, log);
