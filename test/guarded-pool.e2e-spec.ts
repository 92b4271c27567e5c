import net from 'node:net';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { QUERY_TIMEOUT_MARGIN_MS, SWEEP_INTERVAL_MS } from '../src/database/bounded-client';
import type { BreakerLog } from '../src/database/circuit-breaker';
import { dataSourceOptions } from '../src/database/data-source-options';
import { circuitBreakerOf, GuardedPool } from '../src/database/guarded-pool';
import { foldGrantCounts } from '../src/oauth2/grants/grant-counts';
import { testDatabaseUrl } from './support/app';
import { waitFor } from './support/server-process';
import { expectWithin, slackBound, stopwatch } from './support/timing';

/**
 * The database circuit breaker (GuardedPool, BoundedClient's failure reports, CircuitBreaker) on the real test
 * database, reached through a TCP proxy of the test's own that can freeze (forward nothing, accept connections but
 * never answer, as a SIGSTOPped PostgreSQL does), cut every connection and refuse new ones, or pass traffic.
 * The other suites' connections never go through it.
 */
class FaultProxy {
  private server: net.Server | undefined;
  private readonly pairs = new Set<{
    client: net.Socket;
    upstream: net.Socket;
    held: [Buffer[], Buffer[]];
  }>();
  private frozen = false;
  /** Connections accepted so far; of those accepted since mark(), how many are open and the most open at once. */
  accepted = 0;
  private marked = 0;
  openSinceMark = 0;
  maxOpenSinceMark = 0;
  port = 0;

  mark(): void {
    this.marked = this.accepted;
    this.openSinceMark = 0;
    this.maxOpenSinceMark = 0;
  }

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async listen(port = 0): Promise<void> {
    this.server = net.createServer((client) => this.accept(client));
    const server = this.server;
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.port = (server.address() as net.AddressInfo).port;
  }

  private accept(client: net.Socket): void {
    this.accepted += 1;
    const seq = this.accepted;
    if (seq > this.marked) {
      this.openSinceMark += 1;
      this.maxOpenSinceMark = Math.max(this.maxOpenSinceMark, this.openSinceMark);
    }
    const upstream = net.connect(this.targetPort, this.targetHost);
    const pair = { client, upstream, held: [[], []] as [Buffer[], Buffer[]] };
    this.pairs.add(pair);
    const forward = (from: net.Socket, to: net.Socket, held: Buffer[]): void => {
      from.on('data', (chunk: Buffer) => (this.frozen ? held.push(chunk) : to.write(chunk)));
    };
    forward(client, upstream, pair.held[0]);
    forward(upstream, client, pair.held[1]);
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      if (seq > this.marked) this.openSinceMark -= 1;
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on('error', close);
      socket.on('close', close);
    }
  }

  /** Forwards nothing more, either way, until thawed; new connections are accepted and held the same way. */
  freeze(): void {
    this.frozen = true;
  }

  thaw(): void {
    this.frozen = false;
    for (const { client, upstream, held } of this.pairs) {
      for (const chunk of held[0].splice(0)) upstream.write(chunk);
      for (const chunk of held[1].splice(0)) client.write(chunk);
    }
  }

  /** Resets every connection and refuses new ones (nothing listens on the port) until listen() again. */
  async refuse(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const { client } of this.pairs) client.resetAndDestroy();
    await closed;
  }

  async close(): Promise<void> {
    this.thaw();
    await this.refuse();
  }
}

class RecordingLog implements BreakerLog {
  readonly lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  warn(fields: object, message: string): void {
    this.lines.push({ level: 'warn', fields: fields as Record<string, unknown>, message });
  }
  info(fields: object, message: string): void {
    this.lines.push({ level: 'info', fields: fields as Record<string, unknown>, message });
  }
  get transitions(): string[] {
    return this.lines.map((line) => `${line.level}: ${String(line.fields.cause)}`);
  }
}

const STATEMENT_MS = 500;
const CONNECT_MS = 500;
const PROBE_INTERVAL_MS = 100;
const READ_TIMEOUT_MS = STATEMENT_MS + QUERY_TIMEOUT_MARGIN_MS;
/**
 * The first failure: the read timeout, enforced by a sweep that may be late by its interval, with slack. A probe that
 * closes the circuit: an interval, then its connection, with slack.
 */
const FAILURE_BOUND_MS = slackBound(READ_TIMEOUT_MS + SWEEP_INTERVAL_MS);
const PROBE_BOUND_MS = slackBound(PROBE_INTERVAL_MS + CONNECT_MS);

/** Waits for `check` up to `boundMs` and fails unless it held within it, naming `what` and the time taken. */
async function expectSoon(
  check: () => Promise<boolean> | boolean,
  boundMs: number,
  what: string,
): Promise<void> {
  const elapsed = stopwatch();
  const held = await waitFor(check, boundMs, 5);
  expectWithin(held ? elapsed() : Infinity, boundMs, what);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** How long `work` takes, and how it ends. */
async function timed(work: () => Promise<unknown>): Promise<{ ms: number; error?: Error }> {
  const started = performance.now();
  try {
    await work();
    return { ms: performance.now() - started };
  } catch (error) {
    return { ms: performance.now() - started, error: error as Error };
  }
}

describe('GuardedPool: the database circuit breaker', () => {
  const target = new URL(testDatabaseUrl());
  let proxy: FaultProxy;
  let dataSource: DataSource;
  let log: RecordingLog;

  const proxiedUrl = (): string => {
    const url = new URL(target);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    return url.toString();
  };

  async function open(
    applicationName = 'grantry-breaker-test',
    connectTimeoutMs = CONNECT_MS,
  ): Promise<DataSource> {
    log = new RecordingLog();
    dataSource = new DataSource(
      dataSourceOptions({
        url: proxiedUrl(),
        poolSize: 3,
        statementTimeoutMs: STATEMENT_MS,
        connectTimeoutMs,
        applicationName,
        breaker: { probeIntervalMs: PROBE_INTERVAL_MS, log },
      }),
    );
    return dataSource.initialize();
  }

  const breaker = () => {
    const found = circuitBreakerOf(dataSource);
    if (!found) throw new Error('the data source has no circuit breaker');
    return found;
  };

  beforeEach(async () => {
    proxy = new FaultProxy(target.hostname, Number(target.port || 5432));
    await proxy.listen();
  });

  afterEach(async () => {
    proxy.thaw();
    await dataSource?.destroy().catch(() => undefined);
    await proxy.close();
  });

  it("is never opened by errors that are the request's own, nor by a session the server ends for its own reason", async () => {
    await open();
    const statements: [string, () => Promise<unknown>][] = [
      ['42601', () => dataSource.query('SELEC 1')], // syntax_error
      ['22012', () => dataSource.query('SELECT 1/0')], // division_by_zero
      ['42P01', () => dataSource.query('SELECT * FROM no_such_table')], // undefined_table
      ['57014', () => dataSource.query('SELECT pg_sleep(5)')], // query_canceled by statement_timeout
      [
        '23505', // unique_violation
        () =>
          dataSource.transaction(async (manager) => {
            await manager.query('CREATE TEMP TABLE t (id int PRIMARY KEY)');
            await manager.query('INSERT INTO t VALUES (1), (1)');
          }),
      ],
      [
        '42501', // insufficient_privilege: a role that may not read the table
        () =>
          dataSource.transaction(async (manager) => {
            await manager.query('SET LOCAL ROLE pg_read_all_stats');
            await manager.query('SELECT * FROM users');
          }),
      ],
    ];
    const codes: [string, string | undefined][] = [];
    for (const [code, statement] of statements) {
      const { error } = await timed(statement);
      codes.push([code, (error as { driverError?: { code?: string } } | undefined)?.driverError?.code]);
    }
    expect(codes).toEqual(statements.map(([code]) => [code, code]));

    // A lock wait cancelled by lock_timeout (55P03), on a row another session holds.
    const holder = new Client({ connectionString: testDatabaseUrl() });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock(8675309)');
      const lockWait = await timed(() =>
        dataSource.transaction(async (manager) => {
          await manager.query("SET LOCAL lock_timeout = '100ms'");
          await manager.query('SELECT pg_advisory_xact_lock(8675309)');
        }),
      );
      expect((lockWait.error as { driverError?: { code?: string } }).driverError?.code).toBe('55P03');
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }

    // The server ends one session (FATAL idle_in_transaction_session_timeout, 25P03) and says why.
    const runner = dataSource.createQueryRunner();
    try {
      await runner.query("SET idle_in_transaction_session_timeout = '100ms'");
      await runner.query('BEGIN');
      await sleep(400);
      await expect(runner.query('SELECT 1')).rejects.toThrow();
    } finally {
      await runner.release().catch(() => undefined);
    }

    expect(breaker().isOpen).toBe(false);
    expect(log.lines).toEqual([]);
    await expect(dataSource.query('SELECT 1 AS one')).resolves.toEqual([{ one: 1 }]);
  });

  it('frozen database: opens at the read timeout, fails fast without touching it, one probe at a time, closes when it answers', async () => {
    await open();
    // Warm: the pool holds connections, as a running server's does.
    await Promise.all([1, 2, 3].map(() => dataSource.query('SELECT pg_sleep(0.05)')));

    proxy.freeze();
    const first = await timed(() => dataSource.query('SELECT 1'));
    expect(first.error?.message).toMatch(/Connection terminated/);
    expectWithin(first.ms, FAILURE_BOUND_MS, 'the first query to the frozen database');
    expect(breaker().isOpen).toBe(true);
    expect(log.lines).toEqual([
      {
        level: 'warn',
        fields: {
          cause: `no answer within ${READ_TIMEOUT_MS} ms (client-side read timeout)`,
          probeIntervalMs: PROBE_INTERVAL_MS,
        },
        message: 'database circuit opened: requests answer 503 until a probe succeeds',
      },
    ]);

    // While open: every caller fails at once, through every way the code reaches the pool (a query, a transaction,
    // the pool's own query as prepared statements run, the background grant-count fold), with no new connection
    // beyond the probes'.
    proxy.mark();
    const acceptedBefore = proxy.accepted;
    const fast = [];
    for (let i = 0; i < 20; i += 1) {
      fast.push(await timed(() => dataSource.query('SELECT 1')));
      fast.push(await timed(() => dataSource.transaction((manager) => manager.query('SELECT 1'))));
      fast.push(
        await timed(() => (dataSource.driver as unknown as { master: GuardedPool }).master.query('SELECT 1')),
      );
      fast.push(await timed(() => foldGrantCounts(dataSource)));
    }
    const slowest = Math.max(...fast.map((f) => f.ms));
    process.stdout.write(
      `guarded-pool/frozen: first failure ${first.ms.toFixed(0)} ms (read timeout ${READ_TIMEOUT_MS} ms); ` +
        `${fast.length} calls while open, slowest ${slowest.toFixed(1)} ms\n`,
    );
    expect(fast.map((f) => f.error?.name)).toEqual(fast.map(() => 'CircuitOpenError'));
    expectWithin(slowest, STATEMENT_MS / 2, 'the slowest call while open');

    // Probes: each waits CONNECT_MS for the frozen database, then the next starts PROBE_INTERVAL_MS later; never two
    // at once. The only connections made while open are theirs.
    await sleep(3 * (CONNECT_MS + PROBE_INTERVAL_MS));
    const probes = proxy.accepted - acceptedBefore;
    expect({ probes: probes >= 2, atOnce: proxy.maxOpenSinceMark }).toEqual({ probes: true, atOnce: 1 });
    expect(breaker().isOpen).toBe(true);

    const thawed = performance.now();
    proxy.thaw();
    await expectSoon(() => !breaker().isOpen, PROBE_BOUND_MS, 'the circuit closing after the thaw');
    const closedMs = performance.now() - thawed;
    process.stdout.write(
      `guarded-pool/frozen: ${probes} probes while frozen; closed ${closedMs.toFixed(0)} ms after the thaw\n`,
    );
    await expect(dataSource.query('SELECT 2 AS two')).resolves.toEqual([{ two: 2 }]);
    expect(log.transitions).toEqual([
      `warn: no answer within ${READ_TIMEOUT_MS} ms (client-side read timeout)`,
      `info: no answer within ${READ_TIMEOUT_MS} ms (client-side read timeout)`,
    ]);
  });

  it('frozen database with every connection busy: callers queued for one are answered when it opens, not at the connect timeout', async () => {
    // A connect timeout well past the read timeout, so that only the circuit can end the queued callers' wait early.
    const connectMs = READ_TIMEOUT_MS + 3000;
    await open('grantry-breaker-test', connectMs);
    await Promise.all([1, 2, 3].map(() => dataSource.query('SELECT pg_sleep(0.05)')));
    proxy.freeze();
    const started = performance.now();
    const busy = [1, 2, 3].map(() => timed(() => dataSource.query('SELECT 1')));
    await sleep(50);
    const queued = [1, 2].map(() => timed(() => dataSource.query('SELECT 1')));
    const outcomes = await Promise.all([...busy, ...queued]);
    const openedMs = Math.min(...outcomes.slice(0, 3).map((o) => o.ms));
    process.stdout.write(
      `guarded-pool/queued: busy ${outcomes
        .slice(0, 3)
        .map((o) => o.ms.toFixed(0))
        .join('/')} ms, queued ${outcomes
        .slice(3)
        .map((o) => `${o.error?.name} after ${o.ms.toFixed(0)}`)
        .join('/')} ms (connect timeout ${connectMs} ms)\n`,
    );
    expect(outcomes.slice(0, 3).map((o) => o.error?.message)).toEqual(
      [1, 2, 3].map(() => expect.stringMatching(/Connection terminated/) as string),
    );
    expect(outcomes.slice(3).map((o) => o.error?.name)).toEqual(['CircuitOpenError', 'CircuitOpenError']);
    // Answered when the first busy caller failed (and opened the circuit), well before their connect timeout.
    for (const o of outcomes.slice(3)) {
      expectWithin(
        o.ms,
        openedMs + slackBound(SWEEP_INTERVAL_MS),
        'a queued caller, after the circuit opened',
      );
    }
    expectWithin(performance.now() - started, connectMs, 'all five callers');
    expect(breaker().isOpen).toBe(true);
  });

  it('connections cut and refused: idle ones dying open nothing, the next connection refused does; probes every interval, closes when the database is back', async () => {
    await open();
    await Promise.all([1, 2].map(() => dataSource.query('SELECT pg_sleep(0.05)')));
    const port = proxy.port;
    await proxy.refuse();
    // The pool's idle connections were reset: they leave the pool, and that alone opens nothing.
    await sleep(4 * PROBE_INTERVAL_MS);
    expect({ open: breaker().isOpen, log: log.lines }).toEqual({ open: false, log: [] });
    // The next statement needs a new connection, which is refused: that opens it.
    const refused = await timed(() => dataSource.query('SELECT 1'));
    expect(refused.error?.message).toMatch(/ECONNREFUSED/);
    expect(breaker().isOpen).toBe(true);
    expect(log.lines[0]?.fields.cause).toBe('could not connect: ECONNREFUSED');
    const failure = await timed(() => dataSource.query('SELECT 1'));
    expect(failure.error?.name).toBe('CircuitOpenError');
    expectWithin(failure.ms, STATEMENT_MS / 2, 'a query while open');

    await sleep(4 * PROBE_INTERVAL_MS);
    expect(breaker().isOpen).toBe(true);
    const back = performance.now();
    await proxy.listen(port);
    await expectSoon(
      () => !breaker().isOpen,
      PROBE_BOUND_MS,
      'the circuit closing once the port listened again',
    );
    process.stdout.write(
      `guarded-pool/refused: closed ${(performance.now() - back).toFixed(0)} ms after the port listened again\n`,
    );
    await expect(dataSource.query('SELECT 3 AS three')).resolves.toEqual([{ three: 3 }]);
    expect(log.lines.map((line) => line.level)).toEqual(['warn', 'info']);
    expect(Number(log.lines[1]?.fields.failedProbes)).toBeGreaterThanOrEqual(2);
    expect(String(log.lines[1]?.fields.lastProbeError)).toMatch(/ECONNREFUSED/);
  });

  it('backends terminated by an administrator: idle ones open nothing; a running one opens it (as a shutdown does), and the first probe closes it', async () => {
    const APP = 'grantry-breaker-terminate';
    const terminate = async (): Promise<void> => {
      const admin = new Client({ connectionString: testDatabaseUrl() });
      await admin.connect();
      try {
        await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`,
          [APP],
        );
      } finally {
        await admin.end();
      }
    };
    const activeBackends = async (): Promise<number> => {
      const admin = new Client({ connectionString: testDatabaseUrl() });
      await admin.connect();
      try {
        const { rows } = await admin.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'`,
          [APP],
        );
        return rows[0]?.n ?? 0;
      } finally {
        await admin.end();
      }
    };
    await open(APP);
    await dataSource.query('SELECT 1');
    await terminate();
    await sleep(4 * PROBE_INTERVAL_MS);
    expect({ open: breaker().isOpen, log: log.lines }).toEqual({ open: false, log: [] });
    await expect(dataSource.query('SELECT 4 AS four')).resolves.toEqual([{ four: 4 }]);

    const running = timed(() => dataSource.query('SELECT pg_sleep(5)'));
    expect(await waitFor(async () => (await activeBackends()) === 1, 2000, 10)).toBe(true);
    await terminate();
    expect((await running).error?.message).toMatch(/terminating connection due to administrator command/);
    await expectSoon(() => log.lines.length === 2, PROBE_BOUND_MS, 'the first probe closing the circuit');
    expect(log.transitions).toEqual([
      'warn: server closed the connection: 57P01 terminating connection due to administrator command',
      'info: server closed the connection: 57P01 terminating connection due to administrator command',
    ]);
    expect(breaker().isOpen).toBe(false);
    await expect(dataSource.query('SELECT 5 AS five')).resolves.toEqual([{ five: 5 }]);
  });

  it('a pool that never reached its database never probes, and an ended pool stops probing', async () => {
    // Accepts, then closes at once: every connection attempt fails.
    let attempts = 0;
    const closer = net.createServer((socket) => {
      attempts += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => closer.listen(0, '127.0.0.1', resolve));
    const url = new URL(target);
    url.hostname = '127.0.0.1';
    url.port = String((closer.address() as net.AddressInfo).port);
    const pool = new GuardedPool({
      connectionString: url.toString(),
      connectionTimeoutMillis: CONNECT_MS,
      breaker: { probeIntervalMs: PROBE_INTERVAL_MS, probeTimeoutMs: CONNECT_MS },
    });
    try {
      await expect(pool.query('SELECT 1')).rejects.toThrow(/Connection terminated/);
      await sleep(4 * PROBE_INTERVAL_MS);
      expect({ attempts, open: pool.breaker.isOpen }).toEqual({ attempts: 1, open: false });
    } finally {
      await pool.end();
      await new Promise<void>((resolve) => closer.close(() => resolve()));
    }

    await open();
    await dataSource.query('SELECT 1');
    await proxy.refuse();
    // Refused, or reset if it raced onto the idle connection before the pool saw that one die: either opens it.
    await expect(dataSource.query('SELECT 1')).rejects.toThrow(
      /ECONNREFUSED|ECONNRESET|Connection terminated/,
    );
    expect(breaker().isOpen).toBe(true);
    const port = proxy.port;
    await dataSource.destroy();
    await proxy.listen(port);
    const accepted = proxy.accepted;
    await sleep(4 * PROBE_INTERVAL_MS);
    expect(proxy.accepted).toBe(accepted);
  });
});
