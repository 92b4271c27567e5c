/**
 * `npm run fuzz`: the property-based fuzzing of test/support/fuzz.ts (issue 5), 20,000 cases by default, against the
 * built server (dist/src/main.js) listening on a real socket, on a real PostgreSQL. Prints how many answers of each
 * status every route gave, and exits non-zero on any violated invariant with the shrunk counterexample.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { Client } from 'pg';
import { startEmbeddedPostgres } from '../src/database/embedded-postgres';
import { runMigrations } from '../src/database/migrations';
import {
  failureReport,
  fuzzCase,
  FuzzRun,
  knownIssuesReport,
  MemoryTrack,
  mib,
  seedWorld,
  statusTable,
  type Transport,
  type WireRequest,
  type WireResponse,
} from '../test/support/fuzz';
import { openDataSource } from '../test/support/database';
import {
  cleanup,
  freePort,
  HarnessError,
  installSignalHandlers,
  memoryOf,
  onCleanup,
  startServer,
} from './procs';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const SERVER = path.join(ROOT, 'dist', 'src', 'main.js');

const HELP = `Usage: npm run fuzz -- [options]

Seeds users, keys, providers and grants, starts the built server on a free port, and sends it property-based
random and hostile requests over HTTP, checking every answer (see test/support/fuzz.ts).

Options:
  --runs N         cases (default 20000, or FUZZ_RUNS)
  --seed N         fast-check seed (default random, or FUZZ_SEED); printed, so a run can be replayed
  --path P         replay one shrink path of a failed run (printed with the failure; needs the same --seed)
  --allow-known    exit 0 even when known issues (defects in code outside the fuzzer's reach) were seen
  --help           show this help

Environment: DATABASE_URL uses that PostgreSQL (its database name must contain "fuzz" or "test": rows are
added and deleted); otherwise an embedded PostgreSQL runs in a temporary directory, removed at the end.`;

interface Options {
  runs: number;
  seed: number;
  path: string | undefined;
  allowKnown: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string' },
      seed: { type: 'string' },
      path: { type: 'string' },
      'allow-known': { type: 'boolean' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    process.exit(0);
  }
  const integer = (name: string, raw: string | undefined, fallback: number): number => {
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isSafeInteger(value) || value < 0)
      throw new HarnessError(`--${name} must be an integer, got "${raw}"`);
    return value;
  };
  return {
    runs: integer('runs', values.runs ?? process.env.FUZZ_RUNS, 20_000),
    seed: integer('seed', values.seed ?? process.env.FUZZ_SEED, Math.floor(Math.random() * 2 ** 31)),
    path: values.path,
    allowKnown: values['allow-known'] ?? false,
  };
}

const log = (message: string): void => {
  process.stderr.write(`[fuzz ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
};

/** A private directory the `postgres` OS user can reach when running as root (see the embedded PostgreSQL). */
function scratchDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grantry-fuzz-'));
  fs.chmodSync(dir, 0o755);
  return dir;
}

async function openDatabase(scratch: string): Promise<string> {
  const given = process.env.DATABASE_URL?.trim();
  if (given) {
    const name = decodeURIComponent(new URL(given).pathname.replace(/^\//, ''));
    if (!/fuzz|test/.test(name)) {
      throw new HarnessError(`refusing to fuzz database "${name}": its name must contain "fuzz" or "test"`);
    }
    return given;
  }
  const dataDir = path.join(scratch, 'pg');
  fs.mkdirSync(dataDir, { mode: 0o755 });
  fs.chmodSync(dataDir, 0o755);
  const embedded = await startEmbeddedPostgres({ dataDir, database: 'postgres', log });
  onCleanup(() => embedded.stop());
  const admin = new Client({ connectionString: embedded.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE grantry_fuzz ENCODING 'UTF8' TEMPLATE template0`);
  await admin.end();
  const url = new URL(embedded.url);
  url.pathname = '/grantry_fuzz';
  return url.toString();
}

/** Real HTTP over one keep-alive socket; a request that gets no answer in 15 s is a hang. */
function httpTransport(port: number): { transport: Transport; agent: http.Agent } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const transport: Transport = (request: WireRequest) =>
    new Promise<WireResponse>((resolve, reject) => {
      const headers: Record<string, string> = { ...request.headers };
      if (request.body !== undefined) headers['content-length'] = String(Buffer.byteLength(request.body));
      const req = http.request(
        { host: '127.0.0.1', port, method: request.method, path: request.url, headers, agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          res.on('error', reject);
        },
      );
      req.setTimeout(15_000, () => req.destroy(new Error('no answer within 15 s')));
      req.on('error', reject);
      req.end(request.body);
    });
  return { transport, agent };
}

async function main(): Promise<number> {
  const options = parseOptions();
  installSignalHandlers();
  const scratch = scratchDir();
  onCleanup(() => fs.promises.rm(scratch, { recursive: true, force: true }));
  if (!fs.existsSync(SERVER)) throw new HarnessError(`${SERVER} is missing: run "npm run build" first`);

  log('starting PostgreSQL');
  const url = await openDatabase(scratch);
  const dataSource = await openDataSource(url, 'grantry-fuzz');
  onCleanup(() => dataSource.destroy().then(() => undefined));
  await runMigrations(dataSource);
  const world = await seedWorld(dataSource);
  log(
    `seeded ${world.userIds.length} users, ${world.providerIds.length} providers, grants and ${world.secrets.size} secret forms to look for`,
  );

  const port = await freePort();
  const logFile = path.join(scratch, 'server.log');
  const server = await startServer({
    name: 'grantry',
    script: SERVER,
    env: {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: url,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      RUN_MIGRATIONS: 'false',
      // Many cases present bad keys: a throttled address would answer 429 to the valid ones as well.
      AUTH_FAILURE_LIMIT: '0',
    },
    port,
    logFile,
    readyPath: '/-/health/ready/',
  });
  let exited: string | undefined;
  server.child.once('exit', (code, signal) => {
    exited = signal ?? `code ${code}`;
  });

  const { transport, agent } = httpTransport(port);
  const rss = new MemoryTrack('server RSS', () => memoryOf(server.pid).rss);
  const started = performance.now();
  const run = new FuzzRun(world, transport, {
    onCase: (r) => {
      if (exited !== undefined) throw new Error(`the server exited (${exited})`);
      if (r.cases % 250 === 0) rss.sample(r.cases);
      if (r.cases % 2000 === 0)
        log(`${r.cases} cases, ${r.requests} requests, RSS ${mib(rss.samples.at(-1)?.bytes ?? 0)}`);
    },
  });
  log(`fuzzing with seed ${options.seed}: ${options.runs} cases against ${server.url} (pid ${server.pid})`);
  const details = await fc.check(
    fc.asyncProperty(fuzzCase(world, { dotSegments: true }), (c) => run.execute(c)),
    { seed: options.seed, numRuns: options.runs, path: options.path },
  );
  const seconds = (performance.now() - started) / 1000;
  rss.sample(run.cases);

  const problems: string[] = [];
  if (details.failed) {
    problems.push(failureReport(details, `npm run fuzz -- --seed {seed} --path {path}`));
  }
  const live = await transport({ method: 'GET', url: '/-/health/live/', headers: {}, body: undefined }).catch(
    (error: Error) => ({ status: 0, body: error.message }),
  );
  if (exited !== undefined || live.status !== 200) {
    problems.push(`the server did not stay up: ${exited ?? `live answered ${live.status} ${live.body}`}`);
  }
  // A ceiling far above the ~200 MiB the server needs, and no drift once warm: a per-request leak shows as growth.
  const memory = rss.problem({ ceiling: 768 * 2 ** 20, maxGrowth: 64 * 2 ** 20 });
  if (memory) problems.push(memory);
  const serverLog = fs.readFileSync(logFile, 'utf8');
  const logged = world.secrets.find(serverLog);
  if (logged) problems.push(`the server log contains a secret: ${logged}`);
  agent.destroy();

  process.stdout.write(
    [
      '',
      `Seed ${options.seed}: ${run.cases} cases (${run.requests} requests, ${run.noiseComparisons} compared without their noise parameters) in ${seconds.toFixed(1)} s, ${(run.requests / seconds).toFixed(0)} requests/s`,
      `Server RSS: ${mib(rss.warm)} after warm-up, ${mib(rss.final)} at the end, peak ${mib(rss.peak)} (${rss.samples.length} samples)`,
      '',
      statusTable(run.stats),
      '',
      knownIssuesReport(run),
      '',
    ].join('\n'),
  );
  if (problems.length > 0) {
    process.stdout.write(`FAILED\n\n${problems.join('\n\n')}\n`);
    return 1;
  }
  if (run.known.size > 0 && !options.allowKnown) {
    process.stdout.write(
      'FAILED: known issues were seen (their owners must fix them; --allow-known accepts them)\n',
    );
    return 1;
  }
  process.stdout.write('OK: every invariant held\n');
  return 0;
}

main()
  .then(async (code) => {
    await cleanup();
    process.exit(code);
  })
  .catch(async (error: unknown) => {
    process.stderr.write(
      `${error instanceof HarnessError ? error.message : String((error as Error).stack ?? error)}\n`,
    );
    await cleanup();
    process.exit(2);
  });
