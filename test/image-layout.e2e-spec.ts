import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ScratchDatabases } from './support/scratch-database';
import { type Run, runProcess } from './support/process';
import { startServer, waitFor } from './support/server-process';
import { expectWithin, slackBound, stopwatch } from './support/timing';

/** How often the server looks for the migrations when RUN_MIGRATIONS=false (MIGRATION_POLL_MS in src/main.ts). */
const MIGRATION_POLL_MS = 1000;
const CONNECT_MS = 2000;

/**
 * The production image, without a Docker engine: the final stage of the Dockerfile is read (its COPY and `ln -s`
 * lines) and laid out in a temporary directory exactly so, from this checkout's build with the dev dependencies
 * pruned as the build stage prunes them. Every CLI command and the server then run from that layout, so a command
 * that needs the sources, the compiler or any dev dependency fails here instead of in a deploy.
 */

const ROOT = path.resolve(__dirname, '..');
const KEY = 'image-layout-bootstrap-key-5f0c2a9d7e3b1';

interface Copy {
  fromBuild: boolean;
  sources: string[];
  destination: string;
}

interface FinalStage {
  copies: Copy[];
  links: { target: string; link: string }[];
  workdir: string;
  user: string | undefined;
  cmd: string[];
}

/** The final stage of the Dockerfile: its WORKDIR, COPY lines, `ln -s` links, USER and CMD. */
function finalStage(dockerfile: string): FinalStage {
  // Continuation lines are joined first; the final stage is everything after the last FROM.
  const lines = dockerfile.replace(/\\\n/g, ' ').split('\n');
  const from = lines.map((line) => /^FROM\s/i.test(line)).lastIndexOf(true);
  const stage: FinalStage = { copies: [], links: [], workdir: '/', user: undefined, cmd: [] };
  for (const line of lines.slice(from + 1)) {
    const [instruction = '', ...rest] = line.trim().split(/\s+/);
    const words = rest.filter((word) => !word.startsWith('--chown') && !word.startsWith('--chmod'));
    switch (instruction.toUpperCase()) {
      case 'WORKDIR':
        stage.workdir = words[0] ?? '/';
        break;
      case 'COPY': {
        const fromBuild = words[0]?.startsWith('--from=') ?? false;
        const paths = fromBuild ? words.slice(1) : words;
        stage.copies.push({ fromBuild, sources: paths.slice(0, -1), destination: paths.at(-1) ?? '' });
        break;
      }
      case 'RUN':
        for (const match of rest.join(' ').matchAll(/ln -s (\S+) (\S+)/g)) {
          stage.links.push({ target: match[1] ?? '', link: match[2] ?? '' });
        }
        break;
      case 'USER':
        stage.user = words[0];
        break;
      case 'CMD':
        stage.cmd = JSON.parse(rest.join(' ')) as string[];
        break;
      default:
    }
  }
  return stage;
}

function run(command: string, args: string[], cwd: string, env: Record<string, string>): Promise<Run> {
  return runProcess(command, args, { cwd, env: { NODE_ENV: 'production', ...env } });
}

describe('the production image layout (Dockerfile final stage, dev dependencies pruned)', () => {
  const stage = finalStage(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'grantry-image-'));
  const build = path.join(scratch, 'build');
  const image = path.join(scratch, 'image');
  /** A path of the image (`/app/bin/grantry.js`) in the temporary layout. */
  const inImage = (file: string): string =>
    path.join(image, path.posix.resolve(stage.workdir, file).replace(/^\//, ''));
  const workdir = inImage('.');
  const databases = new ScratchDatabases('image_layout');
  let grantry: string;

  beforeAll(() => {
    // The build stage: this checkout's build and dependencies, pruned of dev dependencies by npm as the
    // Dockerfile does (a real copy, not hard links: npm rewrites files in node_modules as it prunes).
    fs.mkdirSync(build);
    for (const file of ['package.json', 'package-lock.json', 'dist', 'node_modules']) {
      execFileSync('cp', ['-a', path.join(ROOT, file), build]);
    }
    execFileSync('npm', ['prune', '--omit=dev', '--offline', '--no-audit', '--no-fund'], {
      cwd: build,
      stdio: 'pipe',
      env: { ...process.env, NODE_ENV: 'production' },
    });
    for (const copy of stage.copies) {
      for (const source of copy.sources) {
        const from = copy.fromBuild
          ? path.join(build, path.posix.relative('/app', source))
          : path.join(ROOT, source);
        const to = copy.destination.endsWith('/')
          ? path.join(inImage(copy.destination), path.basename(source))
          : inImage(copy.destination);
        fs.mkdirSync(path.dirname(to), { recursive: true });
        // The build stage is thrown away after this, as Docker's is: its files move rather than copy.
        if (copy.fromBuild) fs.renameSync(from, to);
        else execFileSync('cp', ['-a', from, to]);
      }
    }
    for (const { target, link } of stage.links) {
      fs.mkdirSync(path.dirname(inImage(link)), { recursive: true });
      fs.symlinkSync(inImage(target), inImage(link));
    }
    grantry = inImage('/usr/local/bin/grantry');
  }, 180_000);

  afterAll(async () => {
    await databases.dropAll();
    // A copy of node_modules: tens of thousands of files, slow to delete on a busy machine.
    await fs.promises.rm(scratch, { recursive: true, force: true });
  }, 180_000);

  it('holds the build and the production dependencies, and nothing of the toolchain or the sources', () => {
    expect(stage.user).toBe('node');
    expect(stage.cmd).toEqual(['node', 'dist/src/main.js']);
    expect(fs.existsSync(path.join(workdir, 'dist', 'src', 'main.js'))).toBe(true);
    expect(fs.existsSync(path.join(workdir, 'node_modules', 'pg'))).toBe(true);
    // (typescript stays: @nestjs/swagger declares it an optional peer, so npm keeps it; nothing runs it.)
    const absentPaths = [
      'src',
      'tsconfig.build.json',
      'node_modules/jest',
      'node_modules/eslint',
      'node_modules/@nestjs/testing',
    ];
    for (const absent of absentPaths) {
      expect([absent, fs.existsSync(path.join(workdir, absent))]).toEqual([absent, false]);
    }
    // `grantry` on PATH is the launcher, through the Dockerfile's symlink.
    expect(fs.realpathSync(grantry)).toBe(fs.realpathSync(path.join(workdir, 'bin', 'grantry.js')));
  });

  it('starts the server (CMD) before the migration step, unready until "grantry migrate" has run, then serving', async () => {
    // A first install as the Kubernetes manifests do it: servers with RUN_MIGRATIONS=false and the migrations Job
    // start together on an empty database (its own: the tests of this file run in any order).
    const databaseUrl = await databases.create();
    const server = await startServer(
      {
        DATABASE_URL: databaseUrl,
        RUN_MIGRATIONS: 'false',
        HOST: '127.0.0.1',
        BOOTSTRAP_TOKEN: KEY,
        NODE_ENV: 'production',
        DB_CONNECT_TIMEOUT_MS: String(CONNECT_MS),
      },
      60_000,
      { cwd: workdir },
    );
    try {
      const ready = async (): Promise<{ status: number; body: unknown }> => {
        const response = await fetch(`${server.url}/-/health/ready/`);
        return { status: response.status, body: await response.json() };
      };
      expect(await ready()).toEqual({
        status: 503,
        body: { status: 'unavailable', database: 'ok', migrations: 'pending' },
      });
      expect(server.stdout.join('')).toContain(
        'migrations are pending and RUN_MIGRATIONS=false: readiness answers 503 until \\"grantry migrate\\" has run',
      );

      // The deploy step: only the result on stdout, and idempotent.
      const migrated = await run(grantry, ['migrate', '--json'], workdir, { DATABASE_URL: databaseUrl });
      expect({ code: migrated.code, stderr: migrated.stderr }).toEqual({ code: 0, stderr: '' });
      expect((JSON.parse(migrated.stdout) as { applied: string[] }).applied.length).toBeGreaterThan(0);
      const again = await run(grantry, ['migrate', '--json'], workdir, { DATABASE_URL: databaseUrl });
      expect({ code: again.code, stdout: again.stdout, stderr: again.stderr }).toEqual({
        code: 0,
        stdout: `${JSON.stringify({ applied: [] })}\n`,
        stderr: '',
      });

      // The server notices without a restart (a poll, then its connection), bootstraps, and serves.
      const bound = slackBound(MIGRATION_POLL_MS + CONNECT_MS);
      const since = stopwatch();
      const readyAgain = await waitFor(async () => (await ready()).status === 200, bound);
      const whoami = await fetch(`${server.url}/api/v3/grantry/whoami/`, {
        headers: { authorization: `Bearer ${KEY}` },
      });
      expect({ readyAgain, whoami: whoami.status }).toEqual({ readyAgain: true, whoami: 200 });
      expectWithin(since(), bound, 'ready and serving after "grantry migrate"');
    } finally {
      server.child.kill('SIGTERM');
      expect((await server.exited).code).toBe(0);
    }
  });

  it('runs every CLI command, each printing exactly one JSON object', async () => {
    const databaseUrl = await databases.create();
    const migrated = await run(grantry, ['migrate', '--json'], workdir, { DATABASE_URL: databaseUrl });
    expect({ code: migrated.code, stderr: migrated.stderr }).toEqual({ code: 0, stderr: '' });
    const commands: string[][] = [
      ['user', 'create', '--username', 'dave', '--email', 'dave@example.com'],
      ['group', 'create', '--name', 'ops'],
      ['group', 'add-user', '--group', 'ops', '--user', 'dave'],
      ['role', 'create', '--name', 'auditors', '--permission', 'authentik_providers_oauth2.view_accesstoken'],
      ['role', 'assign', '--role', 'auditors', '--group', 'ops'],
      ['token', 'create', '--user', 'dave'],
      ['provider', 'create', '--name', 'grafana'],
    ];
    const outputs: Record<string, unknown>[] = [];
    const cli = async (command: string[]): Promise<Record<string, unknown>> => {
      const result = await run(grantry, [...command, '--json'], workdir, { DATABASE_URL: databaseUrl });
      expect({ command, code: result.code, stderr: result.stderr }).toEqual({ command, code: 0, stderr: '' });
      expect(result.stdout.trimEnd().split('\n')).toHaveLength(1);
      return JSON.parse(result.stdout) as Record<string, unknown>;
    };
    for (const command of commands) outputs.push(await cli(command));
    const provider = String(outputs.at(-1)?.pk);
    await cli(['app', 'create', '--slug', 'grafana', '--name', 'Grafana', '--provider', provider]);
    await cli(['grant', 'create', '--type', 'access', '--user', 'dave', '--provider', provider]);
    await cli(['seed', '--users', '3', '--providers', '1', '--access-tokens', '5']);
  }, 120_000);

  it('says in one line what is wrong when the build is missing', async () => {
    const broken = path.join(scratch, 'broken');
    fs.mkdirSync(path.join(broken, 'bin'), { recursive: true });
    fs.copyFileSync(path.join(workdir, 'bin', 'grantry.js'), path.join(broken, 'bin', 'grantry.js'));
    const result = await run(
      process.execPath,
      [path.join(broken, 'bin', 'grantry.js'), 'migrate'],
      broken,
      {},
    );
    expect(result).toEqual({
      code: 2,
      stdout: '',
      stderr: `grantry: ${path.join(broken, 'dist', 'src', 'cli', 'main.js')} is missing; this installation is incomplete\n`,
    });
  });
});
