import http from 'node:http';
import path from 'node:path';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { runMigrations } from '../src/database/migrations';
import { TEST_SECRET_KEY } from './support/app';
import { openDataSource } from './support/database';
import { Factories } from './support/factories';
import { runProcess } from './support/process';
import { ScratchDatabases } from './support/scratch-database';
import { SERVER_ENTRY, type ServerProcess, startServer, waitFor } from './support/server-process';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');
const TOKEN = 'c1a7e0f4b9d2386a5e71f0c4d8b2a9e63f57d1c0b8a4e2f9';
const ACCESS_TOKENS = 130;

interface Reply {
  status: number;
  body: unknown;
}

async function get(server: ServerProcess, route: string, key: string | undefined = TOKEN): Promise<Reply> {
  const response = await fetch(`${server.url}${route}`, {
    headers: key ? { authorization: `Bearer ${key}` } : {},
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined };
}

/** The server's JSON log lines. */
function logLines(server: ServerProcess): Record<string, unknown>[] {
  return server.stdout
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function stop(server: ServerProcess): Promise<void> {
  server.child.kill('SIGTERM');
  expect(await server.exited).toEqual({ code: 0, signal: null });
}

/** Starting the server with `env`: its exit code and output (a bad setting: exit 2, one line on stderr). */
async function startupError(
  env: Record<string, string>,
): Promise<{ status: number | null; stderr: string; stdout: string }> {
  const run = await runProcess(process.execPath, [SERVER_ENTRY], { cwd: ROOT, env });
  return { status: run.code, stderr: run.stderr, stdout: run.stdout };
}

/** Each case's start-up against its one line (one at a time: the machine may have two cores for everything). */
async function expectStartupErrors(cases: [Record<string, string>, string][]): Promise<void> {
  const results = [];
  for (const [given] of cases) results.push({ given, result: await startupError(env(given)) });
  expect(results).toEqual(
    cases.map(([given, message]) => ({
      given,
      result: { status: 2, stderr: `Invalid configuration: ${message}\n`, stdout: '' },
    })),
  );
}

const scratch = new ScratchDatabases('grantry_settings');
let url: string;
let dataSource: DataSource;
const ids: Record<string, number> = {};

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: url,
    HOST: '127.0.0.1',
    BOOTSTRAP_TOKEN: TOKEN,
    SECRET_KEY: TEST_SECRET_KEY,
    GRANT_CLEANUP_INTERVAL_SECONDS: '0',
    ...extra,
  };
}

beforeAll(async () => {
  url = await scratch.create();
  dataSource = await openDataSource(url, 'settings');
  await runMigrations(dataSource);
  const factories = new Factories(dataSource);
  const ada = await factories.user({
    username: 'ada',
    name: 'Ada Lovelace',
    email: ' Ada.Lovelace@Example.com',
    attributes: {},
  });
  const grace = await factories.user({
    username: 'grace',
    name: 'Grace Hopper',
    email: 'grace@example.org',
    attributes: { avatar: 'https://img.example.com/grace.png', upn: 'grace.hopper@corp.example' },
  });
  const nobody = await factories.user({ username: 'nobody', name: '', email: '', attributes: {} });
  Object.assign(ids, { ada: ada.id, grace: grace.id, nobody: nobody.id });
  const provider = await factories.provider('settings-provider');
  await dataSource.query(
    `INSERT INTO oauth2_access_tokens (provider_id, user_id, token_hash, scope, expires, expiring, revoked, id_token)
     SELECT $1, $2, sha256(convert_to('settings-' || i, 'UTF8')), 'openid', now() + interval '1 day', true, false,
            '{}'::jsonb
       FROM generate_series(1, $3::int) AS i`,
    [provider.id, ada.id, ACCESS_TOKENS],
  );
}, 60_000);

afterAll(async () => {
  await dataSource?.destroy();
  await scratch.dropAll();
});

const pages = (pagination: Record<string, number>): Record<string, unknown> => ({
  pagination,
  results: expect.any(Array),
  autocomplete: {},
});

describe('PAGE_SIZE_DEFAULT and PAGE_SIZE_MAX', () => {
  it('without them, lists pages of 20 and at most 100', async () => {
    const server = await startServer(env());
    try {
      const list = '/api/v3/oauth2/access_tokens/';
      const first = await get(server, list);
      expect(first).toEqual({
        status: 200,
        body: pages({
          next: 2,
          previous: 0,
          count: 130,
          current: 1,
          total_pages: 7,
          start_index: 1,
          end_index: 20,
        }),
      });
      expect((first.body as { results: unknown[] }).results).toHaveLength(20);
      const capped = await get(server, `${list}?page_size=1000&page=2`);
      expect(capped).toEqual({
        status: 200,
        body: pages({
          next: 0,
          previous: 1,
          count: 130,
          current: 2,
          total_pages: 2,
          start_index: 101,
          end_index: 130,
        }),
      });
      expect((capped.body as { results: unknown[] }).results).toHaveLength(30);
    } finally {
      await stop(server);
    }
  });

  it('set to 3 and 5: the default page has 3 rows, page_size up to 5 is honoured, larger is cut to 5, bad values fall back to 3', async () => {
    const server = await startServer(env({ PAGE_SIZE_DEFAULT: '3', PAGE_SIZE_MAX: '5' }));
    try {
      const list = '/api/v3/oauth2/access_tokens/';
      const cases: [string, Record<string, number>][] = [
        ['', { next: 2, previous: 0, count: 130, current: 1, total_pages: 44, start_index: 1, end_index: 3 }],
        [
          '?page=last',
          {
            next: 0,
            previous: 43,
            count: 130,
            current: 44,
            total_pages: 44,
            start_index: 130,
            end_index: 130,
          },
        ],
        [
          '?page_size=4',
          { next: 2, previous: 0, count: 130, current: 1, total_pages: 33, start_index: 1, end_index: 4 },
        ],
        [
          '?page_size=5&page=2',
          { next: 3, previous: 1, count: 130, current: 2, total_pages: 26, start_index: 6, end_index: 10 },
        ],
        [
          '?page_size=6&page=2',
          { next: 3, previous: 1, count: 130, current: 2, total_pages: 26, start_index: 6, end_index: 10 },
        ],
        [
          '?page_size=100000',
          { next: 2, previous: 0, count: 130, current: 1, total_pages: 26, start_index: 1, end_index: 5 },
        ],
        [
          '?page_size=0',
          { next: 2, previous: 0, count: 130, current: 1, total_pages: 44, start_index: 1, end_index: 3 },
        ],
        [
          '?page_size=abc',
          { next: 2, previous: 0, count: 130, current: 1, total_pages: 44, start_index: 1, end_index: 3 },
        ],
      ];
      for (const [query, pagination] of cases) {
        const reply = await get(server, `${list}${query}`);
        expect({ query, reply }).toEqual({ query, reply: { status: 200, body: pages(pagination) } });
        const rows = (pagination.end_index ?? 0) - (pagination.start_index ?? 0) + 1;
        expect({ query, rows: (reply.body as { results: unknown[] }).results.length }).toEqual({
          query,
          rows,
        });
      }
      expect(await get(server, `${list}?page=45`)).toEqual({
        status: 404,
        body: { detail: 'Invalid page.' },
      });
      // The management lists read the same settings: 4 users (akadmin and the three above).
      expect(await get(server, '/api/v3/core/users/')).toEqual({
        status: 200,
        body: pages({
          next: 2,
          previous: 0,
          count: 4,
          current: 1,
          total_pages: 2,
          start_index: 1,
          end_index: 3,
        }),
      });
      expect(await get(server, '/api/v3/core/users/?page_size=50')).toEqual({
        status: 200,
        body: pages({
          next: 0,
          previous: 0,
          count: 4,
          current: 1,
          total_pages: 1,
          start_index: 1,
          end_index: 4,
        }),
      });
    } finally {
      await stop(server);
    }
  });

  it('refuses bad values at start-up with one line naming the variable, exit 2', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ PAGE_SIZE_DEFAULT: '0' }, 'PAGE_SIZE_DEFAULT must be between 1 and 10000, got 0'],
      [{ PAGE_SIZE_DEFAULT: 'ten' }, 'PAGE_SIZE_DEFAULT must be a whole number, got "ten"'],
      [{ PAGE_SIZE_MAX: '10001' }, 'PAGE_SIZE_MAX must be between 1 and 10000, got 10001'],
      [{ PAGE_SIZE_MAX: '-5' }, 'PAGE_SIZE_MAX must be a whole number, got "-5"'],
      [
        { PAGE_SIZE_DEFAULT: '50', PAGE_SIZE_MAX: '10' },
        'PAGE_SIZE_DEFAULT must not exceed PAGE_SIZE_MAX (10)',
      ],
      // The default of 20 against a smaller maximum: the default must be lowered with it.
      [{ PAGE_SIZE_MAX: '10' }, 'PAGE_SIZE_DEFAULT must not exceed PAGE_SIZE_MAX (10)'],
    ];
    await expectStartupErrors(cases);
  });
});

/** The SVG inside a data:image/svg+xml;base64 URI. */
function svgOf(avatar: unknown): string {
  const text = String(avatar);
  const prefix = 'data:image/svg+xml;base64,';
  if (!text.startsWith(prefix)) return `not an SVG data URI: ${text}`;
  return Buffer.from(text.slice(prefix.length), 'base64').toString('utf8');
}

/**
 * The initials avatar, written out: a 64x64 circle in the palette colour that the first byte of sha256(display name,
 * or username) picks (byte mod 10), and up to two initials.
 */
function initialsSvg(fill: string, text: string): string {
  return (
    '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">' +
    `<circle cx="32" cy="32" r="32" fill="${fill}"/>` +
    '<text x="50%" y="50%" dy=".35em" fill="#ffffff" font-family="sans-serif" font-size="28" ' +
    `text-anchor="middle">${text}</text></svg>`
  );
}

// sha256("Ada Lovelace") starts with 0x76 (118, mod 10 = 8); sha256("nobody") with 0x63 (99, mod 10 = 9).
const ADA_INITIALS = initialsSvg('#0891b2', 'AL');
const NOBODY_INITIALS = initialsSvg('#65a30d', 'NO');
// md5("ada.lovelace@example.com"): the address trimmed and lower-cased.
const ADA_MAIL_HASH = '2b9150605ac374d671a306b5fcee60a0';

describe('AVATARS', () => {
  async function avatars(server: ServerProcess): Promise<Record<string, unknown>> {
    const result: Record<string, unknown> = {};
    for (const [username, id] of Object.entries(ids)) {
      const reply = await get(server, `/api/v3/core/users/${id}/`);
      expect({ username, status: reply.status }).toEqual({ username, status: 200 });
      result[username] = (reply.body as { avatar: unknown }).avatar;
    }
    return result;
  }

  it('by default (initials): an SVG with the initials of the name, or of the username', async () => {
    const server = await startServer(env());
    try {
      const shown = await avatars(server);
      expect({ ada: svgOf(shown.ada), nobody: svgOf(shown.nobody) }).toEqual({
        ada: ADA_INITIALS,
        nobody: NOBODY_INITIALS,
      });
      // The grant lists show the same avatar for their users.
      const grants = await get(server, '/api/v3/oauth2/access_tokens/?page_size=1');
      expect((grants.body as { results: { user: { avatar: string } }[] }).results[0]?.user.avatar).toBe(
        shown.ada,
      );
    } finally {
      await stop(server);
    }
  });

  it("none: authentik's default picture for everyone", async () => {
    const server = await startServer(env({ AVATARS: 'none' }));
    try {
      expect(await avatars(server)).toEqual({
        ada: '/static/dist/assets/images/user_default.png',
        grace: '/static/dist/assets/images/user_default.png',
        nobody: '/static/dist/assets/images/user_default.png',
      });
    } finally {
      await stop(server);
    }
  });

  it('a chain: an attribute, else gravatar (needs an e-mail address), else initials', async () => {
    const server = await startServer(env({ AVATARS: 'attributes.avatar,gravatar,initials' }));
    try {
      const shown = await avatars(server);
      expect({ ...shown, nobody: svgOf(shown.nobody) }).toEqual({
        ada: `https://www.gravatar.com/avatar/${ADA_MAIL_HASH}?size=158&rating=g&default=404`,
        grace: 'https://img.example.com/grace.png',
        nobody: NOBODY_INITIALS,
      });
    } finally {
      await stop(server);
    }
  });

  it('a URL template with %(username)s, %(mail_hash)s and %(upn)s', async () => {
    const template = 'https://avatars.example.com/%(username)s.png?h=%(mail_hash)s&upn=%(upn)s';
    const server = await startServer(env({ AVATARS: template }));
    try {
      expect(await avatars(server)).toEqual({
        ada: `https://avatars.example.com/ada.png?h=${ADA_MAIL_HASH}&upn=`,
        grace:
          'https://avatars.example.com/grace.png?h=85cd7606472c479b1aa5ede6343dc5e8&upn=grace.hopper%40corp.example',
        // md5 of the empty address
        nobody: 'https://avatars.example.com/nobody.png?h=d41d8cd98f00b204e9800998ecf8427e&upn=',
      });
    } finally {
      await stop(server);
    }
  });

  it('refuses an unknown mode at start-up, exit 2', async () => {
    const unknown = (mode: string): string =>
      `AVATARS has an unknown mode "${mode}" (use none, initials, gravatar, attributes.<path> or an http(s) URL template)`;
    await expectStartupErrors([
      [{ AVATARS: 'initials,robohash' }, unknown('robohash')],
      [{ AVATARS: 'attributes.' }, unknown('attributes.')],
      [
        { AVATARS: 'ftp://avatars.example.com/%(username)s' },
        unknown('ftp://avatars.example.com/%(username)s'),
      ],
    ]);
  });
});

type Exit = { code: number | null; signal: NodeJS.Signals | null };

/** The server's exit if it comes within `ms`, else 'still running' (the server is left as it is). */
async function exitWithin(server: ServerProcess, ms: number): Promise<Exit | 'still running'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'still running'>((resolve) => {
    timer = setTimeout(() => resolve('still running'), ms);
  });
  const result = await Promise.race([server.exited, late]);
  clearTimeout(timer);
  return result;
}

/**
 * A transaction holding an exclusive lock on `users`, so that any request that authenticates waits in PostgreSQL: an
 * in-flight request as slow as the test wants, until `release`.
 */
async function lockUsers(): Promise<{ release: () => Promise<void>; waiting: () => Promise<number> }> {
  const client = new Client({ connectionString: url });
  await client.connect();
  await client.query('BEGIN');
  await client.query('LOCK TABLE users IN ACCESS EXCLUSIVE MODE');
  let released = false;
  return {
    waiting: async () => {
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
      );
      return rows[0]?.n ?? 0;
    },
    release: async () => {
      if (released) return;
      released = true;
      await client.query('COMMIT');
      await client.end();
    },
  };
}

/** A request that has reached the server and waits on the lock; resolves with its reply, or its error. */
async function slowRequest(
  server: ServerProcess,
  lock: { waiting: () => Promise<number> },
): Promise<{ reply: Promise<Reply | Error> }> {
  const reply = get(server, '/api/v3/core/users/?page_size=1').then(
    (result): Reply | Error => result,
    (error: unknown): Reply | Error => (error instanceof Error ? error : new Error(String(error))),
  );
  expect(await waitFor(async () => (await lock.waiting()) > 0, 10_000)).toBe(true);
  // Wrapped: an async function's returned promise would be awaited with it.
  return { reply };
}

/** A GET on a connection of its own (no keep-alive pool): its status, or the error code of the connection. */
function onNewConnection(server: ServerProcess, route: string): Promise<number | string> {
  return new Promise((resolve) => {
    const request = http.get(`${server.url}${route}`, { agent: false, timeout: 10_000 }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

describe('SHUTDOWN_TIMEOUT_MS, SIGTERM and SIGINT', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    'on %s, stops taking connections, waits for the in-flight request, answers it, and exits 0',
    async (signal) => {
      const timeoutMs = 20_000;
      const server = await startServer(
        env({ SHUTDOWN_TIMEOUT_MS: String(timeoutMs), DB_STATEMENT_TIMEOUT_MS: '0' }),
      );
      const lock = await lockUsers();
      try {
        const { reply } = await slowRequest(server, lock);
        const signalled = Date.now();
        server.child.kill(signal);
        // A tenth of the timeout later it still waits for the request, and takes no new connection.
        expect(await exitWithin(server, timeoutMs / 10)).toBe('still running');
        expect(await onNewConnection(server, '/-/health/live/')).toBe('ECONNREFUSED');
        await lock.release();
        expect(await reply).toEqual({
          status: 200,
          body: expect.objectContaining({ results: expect.any(Array) }),
        });
        const exit = await exitWithin(server, timeoutMs);
        const elapsed = Date.now() - signalled;
        expect({ exit, elapsed }).toEqual({ exit: { code: 0, signal: null }, elapsed: expect.any(Number) });
        expect(
          elapsed < timeoutMs
            ? 'before the timeout'
            : `${elapsed} ms, not before the ${timeoutMs} ms timeout`,
        ).toBe('before the timeout');
        const messages = logLines(server).map((line) => [line.msg, line.signal]);
        expect(messages).toEqual(
          expect.arrayContaining([
            ['shutting down', signal],
            ['stopped', undefined],
          ]),
        );
        expect(messages.map(([msg]) => msg)).not.toContain('shutdown timed out; exiting');
      } finally {
        await lock.release();
        if ((await exitWithin(server, 0)) === 'still running') server.child.kill('SIGKILL');
      }
    },
  );

  it.each(['SIGTERM', 'SIGINT'] as const)(
    'on %s with a request slower than SHUTDOWN_TIMEOUT_MS, exits 1 once the timeout has passed',
    async (signal) => {
      const timeoutMs = 2_000;
      // Generous: a loaded two-core machine may be slow to schedule the timer and the exit.
      const slackMs = 10_000;
      const server = await startServer(
        env({ SHUTDOWN_TIMEOUT_MS: String(timeoutMs), DB_STATEMENT_TIMEOUT_MS: '0' }),
      );
      const lock = await lockUsers();
      try {
        const { reply } = await slowRequest(server, lock);
        const signalled = Date.now();
        server.child.kill(signal);
        const exit = await exitWithin(server, timeoutMs + slackMs);
        const elapsed = Date.now() - signalled;
        expect({ exit, elapsed }).toEqual({ exit: { code: 1, signal: null }, elapsed: expect.any(Number) });
        expect(
          elapsed >= timeoutMs * 0.95
            ? 'after the timeout'
            : `${elapsed} ms, before the ${timeoutMs} ms timeout`,
        ).toBe('after the timeout');
        // The request never got an answer: its connection went with the process.
        expect(await reply).toBeInstanceOf(Error);
        expect(logLines(server)).toEqual(
          expect.arrayContaining([
            expect.objectContaining({ msg: 'shutting down', signal }),
            expect.objectContaining({ level: 'error', msg: 'shutdown timed out; exiting', timeoutMs }),
          ]),
        );
      } finally {
        await lock.release();
        if ((await exitWithin(server, 0)) === 'still running') server.child.kill('SIGKILL');
      }
    },
  );

  it('refuses bad values at start-up, exit 2', async () => {
    await expectStartupErrors([
      [{ SHUTDOWN_TIMEOUT_MS: '-1' }, 'SHUTDOWN_TIMEOUT_MS must be a whole number, got "-1"'],
      [{ SHUTDOWN_TIMEOUT_MS: '1.5' }, 'SHUTDOWN_TIMEOUT_MS must be a whole number, got "1.5"'],
      [{ SHUTDOWN_TIMEOUT_MS: '600001' }, 'SHUTDOWN_TIMEOUT_MS must be between 0 and 600000, got 600001'],
    ]);
  });
});

describe('RUN_MIGRATIONS=false', () => {
  it('on an empty database: listens unready (migrations pending) and migrates nothing; once "grantry migrate" has run, bootstraps and turns ready without a restart', async () => {
    const emptyUrl = await scratch.create();
    const server = await startServer({ ...env({ RUN_MIGRATIONS: 'false' }), DATABASE_URL: emptyUrl });
    const database = new Client({ connectionString: emptyUrl });
    await database.connect();
    try {
      expect(await get(server, '/-/health/ready/', undefined)).toEqual({
        status: 503,
        body: { status: 'unavailable', database: 'ok', migrations: 'pending' },
      });
      expect(await get(server, '/-/health/live/', undefined)).toEqual({
        status: 200,
        body: { status: 'ok' },
      });
      expect(logLines(server)).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            level: 'warn',
            msg: 'migrations are pending and RUN_MIGRATIONS=false: readiness answers 503 until "grantry migrate" has run',
          }),
        ]),
      );
      // The API answers as while the database is unavailable (not a 500 from a missing table).
      for (const route of ['/api/v3/grantry/whoami/', '/api/v3/oauth2/access_tokens/']) {
        const response = await fetch(`${server.url}${route}`, {
          headers: { authorization: `Bearer ${TOKEN}` },
        });
        expect({
          route,
          status: response.status,
          retryAfter: response.headers.get('retry-after'),
          body: await response.json(),
        }).toEqual({ route, status: 503, retryAfter: '5', body: { detail: 'Service unavailable' } });
      }
      // Several of the server's migration polls later (one a second), still no table: it only waits.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      const { rows } = await database.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`,
      );
      expect(rows[0]?.n).toBe(0);

      const migrate = await runProcess(process.execPath, [CLI, 'migrate', '--json'], {
        cwd: ROOT,
        env: { DATABASE_URL: emptyUrl, SECRET_KEY: TEST_SECRET_KEY },
      });
      expect({ code: migrate.code, stderr: migrate.stderr }).toEqual({ code: 0, stderr: '' });
      expect(
        await waitFor(async () => (await get(server, '/-/health/ready/', undefined)).status === 200, 15_000),
      ).toBe(true);
      expect(await get(server, '/-/health/ready/', undefined)).toEqual({
        status: 200,
        body: { status: 'ok', database: 'ok', migrations: 'ok' },
      });
      expect(await get(server, '/api/v3/grantry/whoami/')).toEqual({
        status: 200,
        body: expect.objectContaining({ username: 'akadmin', is_superuser: true }),
      });
      expect(logLines(server)).toEqual(
        expect.arrayContaining([expect.objectContaining({ msg: 'migrations applied; bootstrapped' })]),
      );
    } finally {
      await database.end();
      await stop(server);
    }
  });

  it('on a migrated database: ready at once', async () => {
    const server = await startServer(env({ RUN_MIGRATIONS: 'false' }));
    try {
      expect(await get(server, '/-/health/ready/', undefined)).toEqual({
        status: 200,
        body: { status: 'ok', database: 'ok', migrations: 'ok' },
      });
      expect(logLines(server).map((line) => line.msg)).not.toContain(
        'migrations are pending and RUN_MIGRATIONS=false: readiness answers 503 until "grantry migrate" has run',
      );
    } finally {
      await stop(server);
    }
  });

  it('refuses a value that is not a boolean, exit 2', async () => {
    await expectStartupErrors([
      [{ RUN_MIGRATIONS: 'maybe' }, 'RUN_MIGRATIONS must be true or false, got "maybe"'],
    ]);
  });
});
