import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { startEmbeddedPostgres } from '../src/database/embedded-postgres';
import {
  adminKeyFile,
  alive,
  postmasterPid,
  printedAdminKey,
  scratchDir,
  SERVER_ENTRY,
  startServer,
  waitFor,
} from './support/server-process';
import { expectWithin, slackBound, stopwatch } from './support/timing';

const WHOAMI = '/api/v3/grantry/whoami/';

async function get(url: string, key?: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, {
    headers: key ? { authorization: `Bearer ${key}` } : {},
    signal: AbortSignal.timeout(5000),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined };
}

describe('the server process on the embedded PostgreSQL', () => {
  // The data dir of the restart and recovery tests, started once here: the tests run in any order (--randomize).
  const dataDir = scratchDir('grantry-e2e-server');
  let adminKey: string;
  /** How long the first start took (initdb, migrations, bootstrap): what a restart is measured against. */
  let firstStartMs: number | undefined;

  beforeAll(async () => {
    const elapsed = stopwatch();
    const server = await startServer({ DATA_DIR: dataDir });
    firstStartMs = elapsed();
    adminKey = (adminKeyFile(dataDir) ?? '').trim();
    server.child.kill('SIGTERM');
    expect(await server.exited).toEqual({ code: 0, signal: null });
  }, 120_000);

  afterAll(() => {
    const pid = postmasterPid(dataDir);
    if (pid && alive(pid)) process.kill(pid, 'SIGQUIT');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts on a fresh data dir, creates a superuser and leaves its key in DATA_DIR/initial-admin-key (stdout is no terminal)', async () => {
    // A data dir of its own, fresh whatever ran before. A non-UTF-8 locale in the environment must not leak into
    // the cluster.
    const dataDir = scratchDir('grantry-e2e-first-start');
    const server = await startServer({ DATA_DIR: dataDir, LANG: 'C', LC_ALL: 'POSIX' });
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const file = path.join(dataDir, 'initial-admin-key');
      const content = adminKeyFile(dataDir) ?? '';
      expect(content).toMatch(/^[A-Za-z0-9_-]{64}\n$/);
      expect((fs.lstatSync(file).mode & 0o777).toString(8)).toBe('600');
      const adminKey = content.trim();
      expect(await get(`${server.url}${WHOAMI}`, adminKey)).toEqual({
        status: 200,
        body: expect.objectContaining({ username: 'akadmin', is_superuser: true }),
      });
      // The log says where the key is and never what it is; there is no plain-text notice.
      const output = server.stdout.join('') + server.stderr.join('');
      expect(output).not.toContain(adminKey);
      expect(printedAdminKey(server)).toBeUndefined();
      const notice = server.stdout
        .join('')
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { level: string; msg: string; file?: string })
        .filter((line) => line.file !== undefined);
      expect(notice).toEqual([
        // The generated SECRET_KEY: only where it is, too.
        expect.objectContaining({
          level: 'info',
          file: path.join(dataDir, 'secret-key'),
          msg: expect.stringContaining(
            'SECRET_KEY is not set, so one was generated into this file (mode 0600)',
          ),
        }),
        expect.objectContaining({
          level: 'warn',
          file,
          msg: 'no superuser existed, so "akadmin" was created; its API key is in this file (mode 0600): read it, then delete the file',
        }),
      ]);

      const credentials = JSON.parse(fs.readFileSync(path.join(dataDir, 'embedded.json'), 'utf8')) as {
        password: string;
      };
      expect((fs.statSync(path.join(dataDir, 'embedded.json')).mode & 0o777).toString(8)).toBe('600');
      const port = Number(
        fs.readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[3],
      );
      const client = new Client({
        host: '127.0.0.1',
        port,
        user: 'postgres',
        password: credentials.password,
        database: 'grantry',
      });
      await client.connect();
      const settings = await client.query<{ encoding: string; listen: string; sockets: string }>(
        `SELECT current_setting('server_encoding') AS encoding, current_setting('listen_addresses') AS listen,
                current_setting('unix_socket_directories') AS sockets`,
      );
      await client.end();
      expect(settings.rows[0]).toEqual({ encoding: 'UTF8', listen: '127.0.0.1', sockets: '' });
    } finally {
      server.child.kill('SIGTERM');
      expect(await server.exited).toEqual({ code: 0, signal: null });
    }
    // Stopping the service stopped its PostgreSQL.
    expect(fs.existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('restarts on the existing data: same superuser and key, no new key printed or written', async () => {
    fs.rmSync(path.join(dataDir, 'initial-admin-key'));
    const elapsed = stopwatch();
    const server = await startServer({ DATA_DIR: dataDir });
    try {
      // No initdb this time: not slower than the first start (no timeout is involved, so the first start, measured on
      // this machine under this load, is the yardstick), with slack.
      if (firstStartMs === undefined) throw new Error('the first start (beforeAll) did not run');
      expectWithin(elapsed(), slackBound(firstStartMs), 'the restart on existing data');
      expect(printedAdminKey(server)).toBeUndefined();
      expect(adminKeyFile(dataDir)).toBeUndefined();
      expect((await get(`${server.url}${WHOAMI}`, adminKey)).status).toBe(200);
    } finally {
      server.child.kill('SIGTERM');
      expect((await server.exited).code).toBe(0);
    }
  });

  it('recovers when the service was killed and its PostgreSQL left running', async () => {
    const first = await startServer({ DATA_DIR: dataDir });
    const pgPid = postmasterPid(dataDir);
    first.child.kill('SIGKILL');
    await first.exited;
    expect(pgPid && alive(pgPid)).toBe(true);

    const second = await startServer({ DATA_DIR: dataDir });
    expect(postmasterPid(dataDir)).toBe(pgPid);
    expect((await get(`${second.url}${WHOAMI}`, adminKey)).status).toBe(200);
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    // The adopted cluster is stopped with the service that adopted it.
    expect(await waitFor(() => !alive(pgPid ?? 0), 10_000)).toBe(true);
  });

  it('recovers when both the service and PostgreSQL were killed (stale postmaster.pid)', async () => {
    const first = await startServer({ DATA_DIR: dataDir });
    const pgPid = postmasterPid(dataDir) ?? 0;
    first.child.kill('SIGKILL');
    process.kill(pgPid, 'SIGKILL');
    await first.exited;
    expect(await waitFor(() => !alive(pgPid), 10_000)).toBe(true);
    expect(fs.existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(true);

    const second = await startServer({ DATA_DIR: dataDir });
    try {
      expect((await get(`${second.url}${WHOAMI}`, adminKey)).status).toBe(200);
    } finally {
      second.child.kill('SIGTERM');
      expect((await second.exited).code).toBe(0);
    }
  });

  it('with BOOTSTRAP_TOKEN, makes that key a superuser key, idempotently across restarts', async () => {
    const token = 'bootstrap-token-for-e2e-0123456789';
    for (let round = 0; round < 2; round += 1) {
      const server = await startServer({ DATA_DIR: dataDir, BOOTSTRAP_TOKEN: token });
      try {
        expect(printedAdminKey(server)).toBeUndefined();
        expect(await get(`${server.url}${WHOAMI}`, token)).toEqual({
          status: 200,
          body: expect.objectContaining({
            username: 'akadmin',
            is_superuser: true,
            authenticated_via: 'api_token',
          }),
        });
        expect(server.stdout.join('')).not.toContain(token);
      } finally {
        server.child.kill('SIGTERM');
        expect((await server.exited).code).toBe(0);
      }
    }
  });

  it('in a terminal, prints the first-start key once in a notice, in no log line, and writes no file', async () => {
    const freshDir = scratchDir('grantry-e2e-terminal');
    const server = await startServer({ DATA_DIR: freshDir }, 60_000, { terminal: true });
    try {
      expect(await waitFor(() => printedAdminKey(server) !== undefined, 10_000)).toBe(true);
      const key = printedAdminKey(server) ?? '';
      expect(key).toMatch(/^[A-Za-z0-9_-]{64}$/);
      expect((await get(`${server.url}${WHOAMI}`, key)).status).toBe(200);
      const text = server.stdout.join('');
      expect(text.split(key).length - 1).toBe(1);
      const logLines = text.split('\n').filter((line) => line.startsWith('{'));
      expect(logLines.join('\n')).not.toContain(key);
      expect(adminKeyFile(freshDir)).toBeUndefined();
    } finally {
      process.kill(server.pid, 'SIGTERM');
      expect((await server.exited).code).toBe(0);
      fs.rmSync(freshDir, { recursive: true, force: true });
    }
  });

  it('refuses an invalid configuration with a message naming the variable', () => {
    const result = spawnSync(process.execPath, [SERVER_ENTRY], {
      env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, PORT: 'eighty' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toBe('Invalid configuration: PORT must be a whole number, got "eighty"\n');
  });
});

describe('readiness when the database goes away and comes back', () => {
  const dbDir = scratchDir('grantry-e2e-external-db');
  afterAll(() => fs.rmSync(dbDir, { recursive: true, force: true }));

  it('ready answers 503 while the database is down, live stays 200, and the service recovers without a restart', async () => {
    let database = await startEmbeddedPostgres({ dataDir: dbDir });
    const port = database.port;
    const CONNECT_MS = 1000;
    const PROBE_MS = 500;
    const server = await startServer({
      DATABASE_URL: database.url,
      HOST: '127.0.0.1',
      DB_CONNECT_TIMEOUT_MS: String(CONNECT_MS),
      DB_PROBE_INTERVAL_MS: String(PROBE_MS),
    });
    try {
      expect((await get(`${server.url}/-/health/ready/`)).status).toBe(200);
      await database.stop();

      const down = stopwatch();
      expect(await get(`${server.url}/-/health/ready/`)).toEqual({
        status: 503,
        body: { status: 'unavailable', database: 'unavailable', migrations: 'unknown' },
      });
      expectWithin(down(), slackBound(CONNECT_MS), 'ready while the database is down');
      expect(await get(`${server.url}/-/health/live/`)).toEqual({ status: 200, body: { status: 'ok' } });
      const whoami = await get(`${server.url}${WHOAMI}`, 'some-key');
      expect(whoami).toEqual({ status: 503, body: { detail: 'Service unavailable' } });

      database = await startEmbeddedPostgres({ dataDir: dbDir, port });
      // Ready again within a probe interval and a probe's connection, with slack.
      const recoveryBound = slackBound(PROBE_MS + CONNECT_MS);
      const back = stopwatch();
      expect(
        await waitFor(async () => (await get(`${server.url}/-/health/ready/`)).status === 200, recoveryBound),
      ).toBe(true);
      expectWithin(back(), recoveryBound, 'ready again after the database came back');
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
      await database.stop();
    }
  });
});
