import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '../src/database/embedded-postgres';
import {
  alive,
  scratchDir,
  SERVER_ENTRY,
  type ServerProcess,
  startServer,
  waitFor,
} from './support/server-process';

/**
 * The embedded cluster as root (issues 10 and 11): a private checkout, links Grantry did not make, several
 * processes on one data directory. Each case reproduces a reported failure and asserts the fixed behaviour.
 */

const ROOT = path.resolve(__dirname, '..');
const CLI_ENTRY = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const SHARED_ROOT = '/var/lib/grantry-postgres';
const READY = { status: 200, body: { status: 'ok', database: 'ok', migrations: 'ok' } };
const isRoot = process.getuid?.() === 0;
// eslint-disable-next-line no-restricted-properties -- root-only cases; CI runs as root, so CI runs them
const asRoot = isRoot ? it : it.skip;
/** A second PID namespace needs CAP_SYS_ADMIN; a container without it cannot stage the second container. */
const canUnshare =
  spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { stdio: 'ignore' }).status === 0;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment a person would have: no DATABASE_URL (Jest's setup sets one), nothing of the test run. */
function cleanEnv(extra: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...extra };
}

function run(command: string, args: string[], env: Record<string, string>, cwd = ROOT): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function cli(args: string[], dataDir: string): Promise<Run> {
  return run(process.execPath, [CLI_ENTRY, ...args], { DATA_DIR: dataDir });
}

async function health(url: string): Promise<{ status: number; body: unknown }> {
  try {
    const response = await fetch(`${url}/-/health/ready/`, { signal: AbortSignal.timeout(5000) });
    return { status: response.status, body: await response.json() };
  } catch (error) {
    return { status: 0, body: String(error) };
  }
}

async function stop(server: ServerProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGTERM');
  return server.exited;
}

/** Pids of the postmasters (not their backends) running on `pgData`, whichever path they were given. */
function postmasters(pgData: string): number[] {
  const real = fs.realpathSync(pgData);
  return fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => {
      try {
        const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        const dataArg = argv[argv.indexOf('-D') + 1];
        return (
          path.basename(argv[0] ?? '') === 'postgres' &&
          dataArg !== undefined &&
          fs.realpathSync(dataArg) === real
        );
      } catch {
        return false;
      }
    });
}

function postmasterPidFile(pgData: string): string | undefined {
  try {
    return fs.readFileSync(path.join(pgData, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
}

/** Stops whatever postmaster a failed test may have left on `pgData`, then deletes `dirs`. */
function cleanUp(pgData: string | undefined, ...dirs: string[]): void {
  if (pgData !== undefined && fs.existsSync(pgData)) {
    for (const pid of postmasters(pgData)) process.kill(pid, 'SIGQUIT');
  }
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
}

/** The relocated cluster's home for a DATA_DIR (same rule as the code: a hash of its real path). */
function relocatedHome(dataDir: string): string {
  return path.join(SHARED_ROOT, createHash('sha256').update(dataDir).digest('hex').slice(0, 16));
}

/** A directory only its owner (root) may enter, as `mktemp -d` makes. */
function privateDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
  expect((fs.statSync(dir).mode & 0o777).toString(8)).toBe('700');
  return dir;
}

describe('issue 10: the quick start as root from a private checkout', () => {
  asRoot(
    'a clone in a mktemp -d folder starts with `npm start`, answers ready, and stops on SIGTERM with exit 0',
    async () => {
      const tmp = privateDir('grantry-clone');
      const clone = path.join(tmp, 'g');
      const dataDir = path.join(clone, 'data');
      let npm: ChildProcess | undefined;
      try {
        execFileSync('git', ['clone', '--quiet', ROOT, clone], { stdio: 'pipe' });
        execFileSync('cp', ['-al', path.join(ROOT, 'node_modules'), path.join(clone, 'node_modules')]);
        const child = spawn('npm', ['start'], {
          cwd: clone,
          env: cleanEnv({ PORT: '0', LOG_LEVEL: 'info', npm_config_update_notifier: 'false' }),
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        npm = child;
        let output = '';
        child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
        const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
        // npm start builds first (tsc), then starts: allow for a slow, shared machine.
        const ready = await waitFor(
          () => /"msg":"ready"/.test(output) || child.exitCode !== null,
          240_000,
          200,
        );
        expect({ ready, exitCode: child.exitCode }).toEqual({ ready: true, exitCode: null });
        expect(output).not.toMatch(/EACCES|\n\s+at /);
        const url = /"url":"(http:\/\/127\.0\.0\.1:\d+)"[^\n]*"msg":"ready"/.exec(output)?.[1] ?? '';
        expect(await health(url)).toEqual(READY);

        // The cluster and the binaries were moved where the postgres user can reach them, not the checkout.
        const link = path.join(dataDir, 'postgres');
        expect(fs.readlinkSync(link)).toBe(path.join(relocatedHome(fs.realpathSync(dataDir)), 'postgres'));
        const [postmaster, ...others] = postmasters(link);
        expect(others).toEqual([]);
        expect(fs.readlinkSync(`/proc/${postmaster}/exe`)).toMatch(
          new RegExp(`^${SHARED_ROOT}/runtime/[^/]+/bin/postgres$`),
        );
        expect((fs.statSync(tmp).mode & 0o777).toString(8)).toBe('700');

        // SIGTERM to the service (npm and its shell pass on its exit status).
        const server = fs
          .readdirSync('/proc')
          .filter((entry) => /^\d+$/.test(entry))
          .find((pid) => {
            try {
              return (
                fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8') === `node\0dist/src/main.js\0` &&
                fs.realpathSync(`/proc/${pid}/cwd`) === fs.realpathSync(clone)
              );
            } catch {
              return false;
            }
          });
        expect(server).toBeDefined();
        process.kill(Number(server), 'SIGTERM');
        expect(await exited).toBe(0);
        expect(output).toContain('"msg":"stopped"');
        expect(await waitFor(() => !alive(postmaster ?? 0), 10_000)).toBe(true);
      } finally {
        if (npm?.exitCode === null) npm.kill('SIGKILL');
        const dataReal = fs.existsSync(dataDir) ? fs.realpathSync(dataDir) : undefined;
        cleanUp(
          dataReal && path.join(relocatedHome(dataReal), 'postgres'),
          tmp,
          ...(dataReal ? [relocatedHome(dataReal)] : []),
        );
      }
    },
    300_000,
  );
});

describe('issue 11, finding 1: links in the data directory are never followed', () => {
  it('refuses a DATA_DIR/postgres link Grantry did not make, leaving its target untouched', async () => {
    const base = scratchDir('grantry-link-target');
    const dataDir = path.join(base, 'data');
    const target = path.join(base, 'precious');
    try {
      fs.mkdirSync(dataDir, { mode: 0o755 });
      fs.mkdirSync(target);
      fs.writeFileSync(path.join(target, 'keep.txt'), 'keep me\n');
      fs.symlinkSync(target, path.join(dataDir, 'postgres'));

      const result = await run(process.execPath, [SERVER_ENTRY], { DATA_DIR: dataDir, PORT: '0' });
      expect({ code: result.code, stderr: result.stderr }).toEqual({
        code: 2,
        stderr:
          `Cannot start the embedded PostgreSQL: ${path.join(dataDir, 'postgres')} is a symbolic link to ${target}, ` +
          'which Grantry did not make, and Grantry does not follow it; put the cluster in ' +
          `${path.join(dataDir, 'postgres')} itself (or set DATA_DIR to the directory that holds it)\n`,
      });
      expect(fs.readdirSync(target)).toEqual(['keep.txt']);
      expect(fs.readFileSync(path.join(target, 'keep.txt'), 'utf8')).toBe('keep me\n');
      expect(fs.lstatSync(path.join(dataDir, 'postgres')).isSymbolicLink()).toBe(true);
    } finally {
      cleanUp(undefined, base);
    }
  });

  it('refuses a directory that holds files but no cluster instead of emptying it', async () => {
    const dataDir = scratchDir('grantry-not-a-cluster');
    const pgData = path.join(dataDir, 'postgres');
    try {
      fs.mkdirSync(pgData);
      fs.writeFileSync(path.join(pgData, 'keep.txt'), 'keep me\n');
      const result = await cli(['migrate'], dataDir);
      expect({ code: result.code, stderr: result.stderr }).toEqual({
        code: 2,
        stderr:
          `error: ${pgData} holds files but no PostgreSQL cluster (no PG_VERSION), and Grantry deletes nothing it ` +
          'did not make; move it away and start again\n',
      });
      expect(fs.readdirSync(pgData)).toEqual(['keep.txt']);
    } finally {
      cleanUp(undefined, dataDir);
    }
  });

  asRoot(
    'refuses, in one line saying what to do, a cluster directory the postgres user cannot reach',
    async () => {
      const hidden = privateDir('grantry-unreachable');
      const dataDir = path.join(hidden, 'data');
      try {
        fs.mkdirSync(path.join(dataDir, 'postgres'), { recursive: true, mode: 0o755 });
        const result = await run(process.execPath, [SERVER_ENTRY], { DATA_DIR: dataDir, PORT: '0' });
        expect({ code: result.code, stderr: result.stderr }).toEqual({
          code: 2,
          stderr:
            `Cannot start the embedded PostgreSQL: the OS user "postgres", which runs PostgreSQL for root, ` +
            `cannot enter ${hidden}; move ${path.join(dataDir, 'postgres')} to a place it can reach and set DATA_DIR ` +
            `there, or allow it in with "chmod o+x ${hidden}"\n`,
        });
      } finally {
        cleanUp(undefined, hidden);
      }
    },
  );

  it('refuses a DATA_DIR that others may write to, where links could be planted', async () => {
    const dataDir = scratchDir('grantry-open-dir');
    try {
      fs.chmodSync(dataDir, 0o777);
      const result = await cli(['migrate'], dataDir);
      expect({ code: result.code, stderr: result.stderr, entries: fs.readdirSync(dataDir) }).toEqual({
        code: 2,
        stderr:
          `error: DATA_DIR ${dataDir} is writable by others (mode 0777), who could plant links there; run ` +
          `"chmod go-w ${dataDir}"\n`,
        entries: [],
      });
    } finally {
      cleanUp(undefined, dataDir);
    }
  });

  asRoot(
    're-owning a cluster of another user changes no link target, and refuses a hard-linked file',
    async () => {
      const dataDir = scratchDir('grantry-chown');
      const outside = scratchDir('grantry-chown-outside');
      const pgData = path.join(dataDir, 'postgres');
      try {
        const first = await startEmbeddedPostgres({ dataDir });
        await first.stop();
        const secretFile = path.join(outside, 'root-file');
        const secretDir = path.join(outside, 'root-dir');
        fs.writeFileSync(secretFile, 'root only\n', { mode: 0o600 });
        fs.mkdirSync(secretDir, { mode: 0o700 });
        fs.writeFileSync(path.join(secretDir, 'inner'), 'x');
        // The cluster now belongs to another user (it ran Grantry unprivileged), who planted links to root's files.
        execFileSync('chown', ['-R', '12345:12345', pgData]);
        fs.symlinkSync(secretFile, path.join(pgData, 'planted-file'));
        fs.symlinkSync(secretDir, path.join(pgData, 'base', 'planted-dir'));
        fs.linkSync(secretFile, path.join(pgData, 'global', 'hard-linked'));
        const owners = (): number[][] =>
          [secretFile, secretDir, path.join(secretDir, 'inner')].map((file) => {
            const stat = fs.statSync(file);
            return [stat.uid, stat.gid];
          });

        await expect(startEmbeddedPostgres({ dataDir })).rejects.toThrow(
          `${path.join(pgData, 'global', 'hard-linked')} has 2 hard links, so Grantry will not change its owner; ` +
            `remove it, or re-own ${pgData} to uid `,
        );
        expect(owners()).toEqual([
          [0, 0],
          [0, 0],
          [0, 0],
        ]);

        fs.rmSync(path.join(pgData, 'global', 'hard-linked'));
        const second = await startEmbeddedPostgres({ dataDir });
        try {
          expect(owners()).toEqual([
            [0, 0],
            [0, 0],
            [0, 0],
          ]);
          const postgresUid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
          expect(fs.statSync(pgData).uid).toBe(postgresUid);
          expect(fs.lstatSync(path.join(pgData, 'planted-file')).uid).toBe(postgresUid);
          expect(fs.statSync(path.join(pgData, 'PG_VERSION')).uid).toBe(postgresUid);
        } finally {
          await second.stop();
        }
      } finally {
        cleanUp(pgData, dataDir, outside);
      }
    },
    120_000,
  );
});

describe('issue 11, finding 2: a live cluster is recognised by real path and across PID namespaces', () => {
  let base = '';
  let real = '';
  let server: ServerProcess | undefined;
  let pgPid = 0;
  let pidFile: string | undefined;

  beforeAll(async () => {
    base = scratchDir('grantry-paths');
    real = path.join(base, 'real');
    const link = path.join(base, 'link');
    fs.mkdirSync(real, { mode: 0o755 });
    fs.symlinkSync(real, link);
    server = await startServer({ DATA_DIR: link });
    pidFile = postmasterPidFile(path.join(real, 'postgres'));
    pgPid = Number(pidFile?.split('\n')[0]);
  }, 120_000);

  afterAll(async () => {
    if (server) await stop(server);
    if (base) cleanUp(path.join(real, 'postgres'), base);
  }, 60_000);

  async function stillServing(): Promise<void> {
    expect(await health(server?.url ?? '')).toEqual(READY);
    expect(postmasterPidFile(path.join(real, 'postgres'))).toBe(pidFile);
    expect(postmasters(path.join(real, 'postgres'))).toEqual([pgPid]);
  }

  it('a CLI on the real path of a server on a symlinked DATA_DIR attaches and leaves the cluster alone', async () => {
    const result = await cli(['user', 'create', '--username', 'via-real-path', '--json'], real);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    await stillServing();
  }, 60_000);

  // eslint-disable-next-line no-restricted-properties -- needs unshare(1) with user namespaces, as CI's machine has
  (canUnshare ? it : it.skip)(
    'a CLI in another PID namespace (a second container on the volume) attaches, no second postmaster',
    async () => {
      const result = await run(
        'unshare',
        [
          '--pid',
          '--fork',
          '--mount-proc',
          process.execPath,
          CLI_ENTRY,
          'user',
          'create',
          '--username',
          'from-other-pidns',
          '--json',
        ],
        {
          DATA_DIR: real,
        },
      );
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
      await stillServing();
      const log = fs.readFileSync(path.join(real, 'postgres.log'), 'utf8');
      expect(log).not.toMatch(/was interrupted|automatic recovery|lock file "postmaster.pid" already exists/);
    },
    60_000,
  );
});

describe('issue 11, finding 2: postmaster.pid is deleted only when its postmaster is proven gone', () => {
  /**
   * A killed cluster whose postmaster.pid names a pid now used by another process of the postgres user (pid reuse,
   * as after a container restart): PostgreSQL alone would refuse to start, taking the pid for a live postmaster.
   */
  async function killedClusterWithReusedPid(
    dataDir: string,
  ): Promise<{ pgData: string; reused: ChildProcess }> {
    const pgData = path.join(dataDir, 'postgres');
    const first = await startEmbeddedPostgres({ dataDir });
    process.kill(first.pid, 'SIGKILL');
    expect(await waitFor(() => postmasters(pgData).length === 0 && !alive(first.pid), 10_000)).toBe(true);
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
    const reused = spawn('sleep', ['120'], isRoot ? { uid, gid, stdio: 'ignore' } : { stdio: 'ignore' });
    const pidFile = path.join(pgData, 'postmaster.pid');
    const lines = fs.readFileSync(pidFile, 'utf8').split('\n');
    lines[0] = String(reused.pid);
    fs.writeFileSync(pidFile, lines.join('\n'));
    return { pgData, reused };
  }

  it('removes it when postmaster.lock, recorded for that pid, is free', async () => {
    const dataDir = scratchDir('grantry-pid-reuse');
    const { pgData, reused } = await killedClusterWithReusedPid(dataDir);
    try {
      fs.writeFileSync(path.join(dataDir, 'postmaster.lock'), `${reused.pid}\n`);
      const second = await startEmbeddedPostgres({ dataDir });
      try {
        expect(second.pid).not.toBe(reused.pid);
        expect(postmasters(pgData)).toEqual([second.pid]);
        expect(alive(reused.pid ?? 0)).toBe(true);
      } finally {
        await second.stop();
      }
    } finally {
      reused.kill('SIGKILL');
      cleanUp(pgData, dataDir);
    }
  }, 60_000);

  it('leaves it to PostgreSQL when nothing proves its process gone, and says why in one line', async () => {
    const dataDir = scratchDir('grantry-pid-unproven');
    const { pgData, reused } = await killedClusterWithReusedPid(dataDir);
    try {
      fs.writeFileSync(path.join(dataDir, 'postmaster.lock'), '');
      const before = fs.readFileSync(path.join(pgData, 'postmaster.pid'), 'utf8');
      const error = await startEmbeddedPostgres({ dataDir }).then(
        () => new Error('started'),
        (failure: Error) => failure,
      );
      expect(error.message).toMatch(
        new RegExp(
          `^PostgreSQL exited with code 1: .*FATAL: +lock file "postmaster.pid" already exists \\(log: ${dataDir}/postgres.log\\)$`,
        ),
      );
      expect(fs.readFileSync(path.join(pgData, 'postmaster.pid'), 'utf8')).toBe(before);
    } finally {
      reused.kill('SIGKILL');
      cleanUp(pgData, dataDir);
    }
  }, 60_000);
});

describe('issue 11, finding 3: a process attached to a cluster keeps it after its starter exits', () => {
  it('a server attached to the cluster of a running `cli seed` still answers after the seed ends', async () => {
    const dataDir = scratchDir('grantry-seed-attach');
    const pgData = path.join(dataDir, 'postgres');
    let server: ServerProcess | undefined;
    try {
      const seed = cli(['seed', '--users', '200', '--access-tokens', '150000', '--json'], dataDir);
      let seedDone = false;
      void seed.then(() => (seedDone = true));
      // The CLI started the cluster once postmaster.pid names a postmaster that answers.
      expect(await waitFor(() => postmasterPidFile(pgData) !== undefined, 60_000)).toBe(true);
      server = await startServer({ DATA_DIR: dataDir });
      const cliPostmaster = postmasters(pgData);
      expect({ seedStillRunning: !seedDone, postmasters: cliPostmaster.length }).toEqual({
        seedStillRunning: true,
        postmasters: 1,
      });
      const seeded = await seed;
      expect({ code: seeded.code, stderr: seeded.stderr }).toEqual({ code: 0, stderr: '' });
      expect(await health(server.url)).toEqual(READY);
      expect(postmasters(pgData)).toEqual(cliPostmaster);
      expect(await stop(server)).toEqual({ code: 0, signal: null });
      // The last process to leave stopped it.
      expect(await waitFor(() => postmasters(pgData).length === 0, 10_000)).toBe(true);
    } finally {
      if (server) await stop(server);
      cleanUp(pgData, dataDir);
    }
  }, 180_000);
});

describe('issue 11, finding 6: symlinked DATA_DIR into a private directory; simultaneous first starts', () => {
  asRoot(
    'a DATA_DIR link into a private directory works as root',
    async () => {
      const hidden = privateDir('grantry-private');
      const base = scratchDir('grantry-private-link');
      const link = path.join(base, 'data');
      const realData = path.join(hidden, 'data');
      let server: ServerProcess | undefined;
      try {
        fs.mkdirSync(realData, { mode: 0o755 });
        fs.symlinkSync(realData, link);
        server = await startServer({ DATA_DIR: link });
        expect(await health(server.url)).toEqual(READY);
        expect(fs.readlinkSync(path.join(realData, 'postgres'))).toBe(
          path.join(relocatedHome(realData), 'postgres'),
        );
        expect(await stop(server)).toEqual({ code: 0, signal: null });
      } finally {
        if (server) await stop(server);
        cleanUp(path.join(relocatedHome(realData), 'postgres'), base, hidden, relocatedHome(realData));
      }
    },
    120_000,
  );

  it('two servers started together on a fresh DATA_DIR share one healthy cluster', async () => {
    const dataDir = scratchDir('grantry-race');
    const pgData = path.join(dataDir, 'postgres');
    const servers: ServerProcess[] = [];
    try {
      const started = await Promise.allSettled([
        startServer({ DATA_DIR: dataDir }, 120_000),
        startServer({ DATA_DIR: dataDir }, 120_000),
      ]);
      for (const result of started) if (result.status === 'fulfilled') servers.push(result.value);
      expect(
        started.map((result) => (result.status === 'rejected' ? String(result.reason) : 'ready')),
      ).toEqual(['ready', 'ready']);
      const [first, second] = servers as [ServerProcess, ServerProcess];
      expect(await health(first.url)).toEqual(READY);
      expect(await health(second.url)).toEqual(READY);
      const [postmaster, ...others] = postmasters(pgData);
      expect(others).toEqual([]);
      // Either may leave first: the other keeps the cluster, and the last one stops it.
      expect(await stop(first)).toEqual({ code: 0, signal: null });
      expect(await health(second.url)).toEqual(READY);
      expect(await stop(second)).toEqual({ code: 0, signal: null });
      expect(await waitFor(() => !alive(postmaster ?? 0), 10_000)).toBe(true);
    } finally {
      for (const server of servers) await stop(server);
      cleanUp(pgData, dataDir);
    }
  }, 180_000);
});
