/**
 * `grantry grants revoke` and `grants export` at their edges (issue 14): every option is checked before a database
 * connection is even tried; a reader closing the pipe (`grants export | head -1`) ends the export quietly with 0;
 * SIGINT/SIGTERM during `--output FILE` remove the temporary file, leave FILE as it was and exit 130/143; a database
 * lost midway removes it too. The built CLI is spawned as a user would run it.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { DataSource } from 'typeorm';
import { openTestDataSource, testDatabaseUrl } from './support/app';
import { GrantFactories, unique } from './support/factories';
import { type Run, runProcess } from './support/process';
import { expectWithin, slackBound, stopwatch } from './support/timing';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');
/** The CLI's SHUTDOWN_TIMEOUT_MS here: how long it may take to wind down once told to stop. */
const SHUTDOWN_MS = 2000;
const ENV = { DATABASE_URL: testDatabaseUrl(), SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_MS) };
/** Enough rows that an export is far from done when the test acts (40 batches of 2,000; about 16 MB of NDJSON). */
const ROWS = 80_000;
const DATETIME_FORMAT =
  'Datetime has wrong format. Use one of these formats instead: YYYY-MM-DD, YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].';

let dataSource: DataSource;
let f: GrantFactories;
/** A provider with ROWS access tokens of one user. */
let big: { provider: number; firstPk: number };

beforeAll(async () => {
  dataSource = await openTestDataSource('grant-cli-signals');
  f = new GrantFactories(dataSource);
  const provider = await f.provider();
  const user = await f.user();
  await dataSource.query(
    `INSERT INTO oauth2_access_tokens (provider_id, user_id, token_hash, scope, expires, expiring, revoked, id_token)
     SELECT $1, $2, sha256(convert_to($3 || i::text, 'UTF8')), 'openid email profile',
            now() + interval '1 hour', true, false, '{}'
       FROM generate_series(1, ${ROWS}) i`,
    [provider.id, user.id, unique('token')],
  );
  const [first] = await dataSource.query<{ id: number }[]>(
    'SELECT min(id) AS id FROM oauth2_access_tokens WHERE provider_id = $1',
    [provider.id],
  );
  big = { provider: provider.id, firstPk: first?.id ?? 0 };
}, 600_000);

afterAll(async () => {
  await dataSource?.destroy();
});

function cli(args: string[], env: Record<string, string> = ENV): Promise<Run> {
  return runProcess(process.execPath, [CLI, 'grants', ...args], { cwd: ROOT, env });
}

type Child = ChildProcessByStdio<Writable, Readable, Readable>;

/** The CLI started, its stdout and stderr piped to this process; stderr is collected. */
function start(args: string[]): {
  child: Child;
  stderr: () => string;
  exit: Promise<[number | null, string | null]>;
} {
  const child = spawn(process.execPath, [CLI, 'grants', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...ENV },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end();
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exit = new Promise<[number | null, string | null]>((resolve) =>
    child.on('close', (code, signal) => resolve([code, signal])),
  );
  return { child, stderr: () => stderr, exit };
}

/** Waits until `directory` holds a temporary `.NAME.*.partial` file (the export is writing), or the process ended. */
async function partialAppears(directory: string, exit: Promise<unknown>): Promise<string> {
  const found = (): string | undefined => fs.readdirSync(directory).find((name) => name.endsWith('.partial'));
  let ended = false;
  void exit.then(() => (ended = true));
  const watcher = fs.watch(directory);
  try {
    for (;;) {
      const name = found();
      if (name !== undefined) return name;
      if (ended) throw new Error(`the CLI ended before writing a partial file in ${directory}`);
      await new Promise((resolve) => {
        watcher.once('change', resolve);
        void exit.then(resolve);
      });
    }
  } finally {
    watcher.close();
  }
}

describe('options are checked before any database connection', () => {
  /** A TCP server standing for the database: it counts the connections made to it and closes them at once. */
  async function countingServer(): Promise<{ url: string; connections: () => number; close: () => void }> {
    let count = 0;
    const server = net.createServer((socket) => {
      count += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    return {
      url: `postgres://grantry:s3cret-pw@127.0.0.1:${port}/grantry`,
      connections: () => count,
      close: () => server.close(),
    };
  }

  it('a bad filter value fails with its message and exit 1, never trying DATABASE_URL', async () => {
    const server = await countingServer();
    try {
      const cases: [string[], string][] = [
        [
          ['revoke', '--type', 'access', '--expires-lt', 'nonsense'],
          `option --expires-lt "nonsense": ${DATETIME_FORMAT}`,
        ],
        [
          ['revoke', '--type', 'refresh', '--valid-at', 'soon', '--scope', ' , ', '--dry-run'],
          `option --valid-at "soon": ${DATETIME_FORMAT}; option --scope " , ": This field may not be blank.`,
        ],
        [
          ['revoke', '--type', 'code', '--expires-gte', '2024-13-01', '--username', 'x'.repeat(151)],
          `option --expires-gte "2024-13-01": ${DATETIME_FORMAT}; option --username "${'x'.repeat(151)}": Ensure ` +
            'this field has no more than 150 characters.',
        ],
        [
          ['export', '--type', 'access', '--expires-lt', 'nonsense'],
          'option --expires-lt "nonsense": Enter a valid date/time.',
        ],
      ];
      for (const [args, message] of cases) {
        const run = await cli(args, { DATABASE_URL: server.url });
        expect([args, run]).toEqual([args, { code: 1, stdout: '', stderr: `error: ${message}\n` }]);
      }
      expect(server.connections()).toBe(0);

      // The brief's unreachable server, with --json.
      const unreachable = await cli(['revoke', '--type', 'access', '--expires-lt', 'nonsense', '--json'], {
        DATABASE_URL: 'postgres://u:p@127.0.0.1:1/x',
      });
      expect(unreachable).toEqual({
        code: 1,
        stdout: '',
        stderr: `${JSON.stringify({ error: `option --expires-lt "nonsense": ${DATETIME_FORMAT}` })}\n`,
      });

      // The control: good options do reach the server (so the count above could have been more than 0), and its
      // failure is the database's, exit 2, without the password.
      const good = await cli(['revoke', '--type', 'access', '--expires-lt', '2030-01-01T00:00:00Z'], {
        DATABASE_URL: server.url,
      });
      expect(server.connections()).toBeGreaterThan(0);
      expect({ code: good.code, stdout: good.stdout }).toEqual({ code: 2, stdout: '' });
      expect(good.stderr).toMatch(/^error: the database is unavailable: /);
      expect(good.stderr).not.toContain('s3cret-pw');
    } finally {
      server.close();
    }
  });
});

describe('grants export | head -1', () => {
  it('stops quietly when the reader closes the pipe: exit 0, nothing on stderr, within the shutdown timeout', async () => {
    const { child, stderr, exit } = start(['export', '--type', 'access', '--provider', String(big.provider)]);
    const firstLine = await new Promise<string>((resolve, reject) => {
      let text = '';
      const onData = (chunk: Buffer): void => {
        text += chunk.toString('utf8');
        const end = text.indexOf('\n');
        if (end === -1) return;
        child.stdout.off('data', onData);
        resolve(text.slice(0, end));
      };
      child.stdout.on('data', onData);
      void exit.then(([code]) => reject(new Error(`the CLI ended (${code}) before a line: ${stderr()}`)));
    });
    // What `head -1` does once it has its line: close its end of the pipe.
    child.stdout.destroy();
    const elapsed = stopwatch();
    const [code, signal] = await exit;
    const ms = elapsed();
    expect({ code, signal, stderr: stderr() }).toEqual({ code: 0, signal: null, stderr: '' });
    expect(JSON.parse(firstLine)).toMatchObject({ pk: big.firstPk, type: 'access_token' });
    expectWithin(ms, slackBound(SHUTDOWN_MS), 'the exit after the reader closed stdout');
  });
});

describe('grants export --output, stopped midway', () => {
  let directory: string;
  let file: string;
  const previous = Buffer.from('{"pk":1,"an":"earlier export"}\n\u00e9\u0000', 'utf8');
  beforeEach(() => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'grantry-signals-'));
    file = path.join(directory, 'export.ndjson');
    fs.writeFileSync(file, previous, { mode: 0o640 });
  });
  afterEach(() => fs.rmSync(directory, { recursive: true, force: true }));

  const args = (): string[] => [
    'export',
    '--type',
    'access',
    '--provider',
    String(big.provider),
    '--output',
    file,
  ];

  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    it(`${signal}: removes the partial file, leaves FILE as it was, exits ${code} with one line`, async () => {
      const { child, stderr, exit } = start(args());
      await partialAppears(directory, exit);
      child.kill(signal);
      const elapsed = stopwatch();
      const [exitCode, exitSignal] = await exit;
      const ms = elapsed();
      expect({ code: exitCode, signal: exitSignal, stderr: stderr() }).toEqual({
        code,
        signal: null,
        stderr: `error: interrupted (${signal}): the export stopped; "${file}" was not written\n`,
      });
      expect(fs.readdirSync(directory)).toEqual(['export.ndjson']);
      expect(fs.readFileSync(file).equals(previous)).toBe(true);
      expect(fs.statSync(file).mode & 0o777).toBe(0o640);
      expectWithin(ms, slackBound(SHUTDOWN_MS), `the exit after ${signal}`);
    });
  }

  it('a statement stuck on a lock does not hold up the stop: the connection is closed under it', async () => {
    const { child, stderr, exit } = start(args());
    await partialAppears(directory, exit);
    // The export's next batch reads users: it waits behind this lock until the test lets go, long after the CLI.
    const locker = dataSource.createQueryRunner();
    await locker.connect();
    try {
      await locker.startTransaction();
      await locker.query('LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
      let ended = false;
      void exit.then(() => (ended = true));
      for (;;) {
        const [waiting] = await dataSource.query<{ n: number }[]>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE application_name = 'grantry-cli' AND datname = current_database() AND wait_event_type = 'Lock'`,
        );
        if ((waiting?.n ?? 0) > 0) break;
        if (ended) throw new Error(`the CLI ended before waiting on the lock: ${stderr()}`);
      }
      child.kill('SIGTERM');
      const elapsed = stopwatch();
      const [code, signal] = await exit;
      const ms = elapsed();
      // The clean stop's line, not the one of the forced exit at SHUTDOWN_TIMEOUT_MS.
      expect({ code, signal, stderr: stderr() }).toEqual({
        code: 143,
        signal: null,
        stderr: `error: interrupted (SIGTERM): the export stopped; "${file}" was not written\n`,
      });
      expectWithin(ms, slackBound(SHUTDOWN_MS), 'the exit after SIGTERM with a statement stuck');
      expect(fs.readdirSync(directory)).toEqual(['export.ndjson']);
      expect(fs.readFileSync(file).equals(previous)).toBe(true);
    } finally {
      await locker.rollbackTransaction().catch(() => undefined);
      await locker.release();
    }
  });

  it('the database lost midway: partial file removed, FILE as it was, exit 2 with a message without secrets', async () => {
    const { child, stderr, exit } = start(args());
    await partialAppears(directory, exit);
    let ended = false;
    void exit.then(() => (ended = true));
    // Terminate the CLI's connections until one dies under a statement (an idle one is simply replaced by the pool).
    let terminated = 0;
    while (!ended) {
      const rows = await dataSource.query<{ pid: number }[]>(
        // Materialized first: in one WHERE the planner may call pg_terminate_backend before the other tests.
        `WITH cli AS MATERIALIZED (
           SELECT pid FROM pg_stat_activity WHERE application_name = 'grantry-cli' AND datname = current_database())
         SELECT pid FROM cli WHERE pg_terminate_backend(pid)`,
      );
      terminated += rows.length;
    }
    const [code, signal] = await exit;
    expect(terminated).toBeGreaterThan(0);
    const message = stderr();
    expect({ code, signal, message }).toEqual({
      code: 2,
      signal: null,
      message: expect.stringMatching(
        new RegExp(
          `^error: the database is unavailable: the export stopped after \\d+ rows; ` +
            `"${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}" was not written: ` +
            '(terminating connection due to administrator command|Connection terminated unexpectedly)\n$',
        ),
      ) as unknown,
    });
    const url = new URL(testDatabaseUrl());
    if (url.password !== '') expect(message).not.toContain(url.password);
    expect(fs.readdirSync(directory)).toEqual(['export.ndjson']);
    expect(fs.readFileSync(file).equals(previous)).toBe(true);
    expect(child.exitCode).toBe(2);
  });
});
