/**
 * `npm run bench`: Grantry against a hand-written baseline on a seeded database. See bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  type BenchDatabase,
  ensureCredentials,
  ensureSeeded,
  migrate,
  openDatabase,
  ROOT,
  type SeedOutcome,
  type SeedParameters,
  stopStrayPostmaster,
  vacuumAnalyze,
} from './database';
import {
  compare,
  fetchOnce,
  loadRun,
  type LoadOptions,
  MemoryWatch,
  statementsPerRequest,
  writeScenario,
  type WriteResult,
} from './measure';
import {
  freePort,
  HarnessError,
  installSignalHandlers,
  isInterrupted,
  memoryOf,
  positive,
  runHarness,
  type Server,
  startServer,
  stopChild,
} from './procs';
import { exportRun } from './export';
import {
  type Limit,
  markdownReport,
  passOf,
  printReport,
  ratioOf,
  ratioText,
  type Report,
  rpsText,
  type ScenarioResult,
} from './report';
import {
  buildIssueScenarios,
  cleanUpIssuance,
  ensureIssuanceFixtures,
  issuanceContext,
  type IssuanceFixtures,
  issueCompare,
  issueLoadRun,
  issueStatements,
  ISSUE_SCENARIO_NAMES,
  MIXED_READS,
  mixedName,
  withBackground,
} from './issuance';
import { BULK_REVOKE_SCENARIO, type BulkRead, bulkRevokeScenario } from './bulk-revoke';
import {
  buildManagementScenarios,
  buildFilterScenarios,
  buildScenarios,
  filterData,
  KINDS,
  type KindData,
  kindData,
  managementData,
} from './scenarios';

const HELP = `Usage: npm run bench -- [options]

Seeds (or reuses) a bench database, then measures Grantry (dist/src/main.js) against bench/baseline.ts under
the same autocannon load, and writes a report.

Options:
  --duration S      measured seconds per scenario and server (default 10)
  --warmup S        discarded warm-up seconds before each measurement (default 2)
  --connections N   concurrent HTTP connections, and SQL clients of the write scenario (default 16)
  --only TEXT       run only scenarios whose name contains TEXT (case-insensitive; repeatable). Names look like
                    "access: list page 1", "codes: search ...", "refresh: owner retrieve", "writes",
                    "start-to-ready", "issue: client_credentials", "issue: refresh", "issue: refresh (rotating)",
                    "issue: code exchange", "issue: introspection", "issue: mixed: ..." ("--only issue" runs all
                    of these), "bulk revoke: access tokens", "export: access tokens" (the streamed export,
                    on a Grantry of its own)
  --skip-seed       use the bench database as it is (no seeding)
  --scale F         data set size factor (default 1 = 1M/1M/200k grants, 10k users, 100 providers);
                    e.g. 0.01 for a quick development run
  --data-dir DIR    embedded PostgreSQL data (default bench/.data, or bench/.data-scale-F when scaled)
  --out FILE        report file (default bench/RESULTS.md for a full run, bench/RESULTS.partial.md otherwise)
  --help            show this help

Environment: BENCH_DATABASE_URL uses that PostgreSQL instead of the embedded one (its database is seeded and
written to; the start-to-ready check of an existing data dir is then skipped).`;

interface Options {
  duration: number;
  warmup: number;
  connections: number;
  only: string[];
  skipSeed: boolean;
  scale: number;
  dataDir: string;
  out: string;
  full: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      only: { type: 'string', multiple: true },
      'skip-seed': { type: 'boolean' },
      scale: { type: 'string' },
      'data-dir': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    process.exit(0);
  }
  const scale = positive('scale', values.scale, 1);
  const only = values.only ?? [];
  const full = scale === 1 && only.length === 0;
  const warmup = values.warmup === '0' ? 0 : positive('warmup', values.warmup, 2);
  return {
    duration: positive('duration', values.duration, 10),
    warmup,
    connections: positive('connections', values.connections, 16, true),
    only,
    skipSeed: values['skip-seed'] ?? false,
    scale,
    dataDir: path.resolve(
      values['data-dir'] ?? path.join(ROOT, 'bench', scale === 1 ? '.data' : `.data-scale-${scale}`),
    ),
    out: path.resolve(values.out ?? path.join(ROOT, 'bench', full ? 'RESULTS.md' : 'RESULTS.partial.md')),
    full,
  };
}

function seedParameters(scale: number): SeedParameters {
  return {
    k: 1,
    // 100,000 users: the management API's users list, search and filters are measured at that size (issue 13).
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

/** After Ctrl-C: leave main() (the signal handler stops everything and exits with 130). */
function stopIfInterrupted(): void {
  if (isInterrupted()) throw new HarnessError('interrupted');
}

const log = (message: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
};

/** Selected by `--only export`. */
const EXPORT_SCENARIO = 'export: access tokens';

function selected(options: Options, name: string): boolean {
  return (
    options.only.length === 0 || options.only.some((text) => name.toLowerCase().includes(text.toLowerCase()))
  );
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

function commitLine(): string {
  const head = git(['rev-parse', '--short', 'HEAD']) || 'unknown';
  const subject = git(['log', '-1', '--format=%s']).slice(0, 90);
  const dirty = git(['status', '--porcelain', '--untracked-files=all'])
    .split('\n')
    .filter(Boolean)
    .map((line) => line.slice(3))
    .filter((file) => !file.startsWith('bench/'));
  const tree =
    dirty.length === 0
      ? 'clean working tree'
      : `working tree differs from it in ${dirty.length} file(s) outside bench/: ${dirty.slice(0, 8).join(', ')}${dirty.length > 8 ? ', ...' : ''}`;
  return `${head} (${subject}); ${tree} (as built at the start of the run)`;
}

const loadAtStart = os.loadavg()[0] ?? 0;

function machineLines(db: BenchDatabase): string[] {
  const cpus = os.cpus();
  return [
    `Machine: ${cpus.length} cores (${cpus[0]?.model.trim() ?? '?'}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()}`,
    `Load average (1 min): ${loadAtStart.toFixed(2)} at the start, ${(os.loadavg()[0] ?? 0).toFixed(2)} at the end ` +
      '(anything else running on the machine skews the numbers)',
    `Node ${process.version}; PostgreSQL ${db.version} (${db.dataDir ? 'embedded, bench data dir' : 'BENCH_DATABASE_URL'}; ` +
      `${Object.entries(db.settings)
        .map(([key, value]) => `${key}=${value}`)
        .join(', ')})`,
  ];
}

function mb(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MB`;
}

async function startGrantry(db: BenchDatabase, logDir: string): Promise<Server> {
  const port = await freePort();
  return startServer({
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
      // Set, it turns on /-/metrics and the per-request metrics hook, to measure what they cost.
      METRICS_TOKEN: process.env.METRICS_TOKEN,
    },
    port,
    logFile: path.join(logDir, 'grantry.log'),
    readyPath: '/-/health/ready/',
  });
}

async function startBaseline(db: BenchDatabase, logDir: string): Promise<Server> {
  const port = await freePort();
  return startServer({
    name: 'baseline',
    script: path.join(__dirname, 'baseline.js'),
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      DATABASE_URL: db.url,
      // The issuance bare loop opens the providers' signing keys with the same key as Grantry.
      SECRET_KEY: process.env.SECRET_KEY,
      PORT: String(port),
      HOST: '127.0.0.1',
      POOL_SIZE: '10',
    },
    port,
    logFile: path.join(logDir, 'baseline.log'),
    readyPath: '/-/health/ready/',
  });
}

/** Grantry started on the existing data dir, starting the embedded PostgreSQL itself, as `npm start` does. */
async function startToReadyEmbedded(db: BenchDatabase, logDir: string): Promise<number> {
  const dataDir = db.dataDir;
  if (!dataDir) throw new HarnessError('no data dir');
  await db.stop();
  const port = await freePort();
  const server = await startServer({
    name: 'Grantry (embedded PostgreSQL)',
    script: path.join(ROOT, 'dist', 'src', 'main.js'),
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      DATA_DIR: dataDir,
      SECRET_KEY: process.env.SECRET_KEY,
      PORT: String(port),
      LOG_LEVEL: 'warn',
    },
    port,
    logFile: path.join(logDir, 'grantry-embedded.log'),
    readyPath: '/-/health/ready/',
  });
  await stopChild(server.child, 60_000);
  stopStrayPostmaster(dataDir);
  return server.readyMs;
}

function describeSeed(seed: SeedOutcome, params: SeedParameters, data: KindData[]): string[] {
  const rows = Object.entries(seed.rows)
    .map(([table, n]) => `${table} ${n.toLocaleString('en-US')}`)
    .join(', ');
  return [
    `Seed parameters: ${JSON.stringify(params)} (\`seed\` CLI, then VACUUM ANALYZE of the grant tables)`,
    `Rows: ${rows}`,
    seed.seeded
      ? `Seeded in this run: ${seed.seconds?.toFixed(0)} s in all (the seed command reported ${seed.cliSeconds} s)`
      : 'Reused from an earlier run (same parameters)',
    ...data.map(
      (d) =>
        `${d.kind.label}: ?user=${d.topUser.id} (${d.topUser.rows} rows), ?provider=${d.topProvider.id} (${d.topProvider.rows} rows), ` +
        `search "${d.search.term}" (user ${d.search.userId}), deep page ${d.deepPage}, owner holds ${d.ownerRows} rows`,
    ),
  ];
}

async function main(): Promise<number> {
  const started = performance.now();
  // What `npm run bench` just built: HEAD and the working tree as they are now (they may move during the run).
  const commit = commitLine();
  installSignalHandlers();
  const options = parseOptions();
  for (const file of [
    path.join(ROOT, 'dist', 'src', 'main.js'),
    path.join(ROOT, 'dist', 'src', 'cli', 'main.js'),
  ]) {
    if (!fs.existsSync(file)) throw new HarnessError(`${file} is missing: run "npm run build" first`);
  }
  const logDir = path.join(ROOT, 'bench', '.logs');
  fs.mkdirSync(logDir, { recursive: true });
  const notes: string[] = [];
  let harnessErrors = 0;

  log(
    process.env.BENCH_DATABASE_URL ? 'using BENCH_DATABASE_URL' : `embedded PostgreSQL in ${options.dataDir}`,
  );
  const db = await openDatabase({ dataDir: options.dataDir, log });
  const applied = await migrate(db.url);
  if (applied.length > 0) log(`applied migrations: ${applied.join(', ')}`);
  const params = seedParameters(options.scale);
  const seed = await ensureSeeded(db.url, params, { skip: options.skipSeed, log });
  if (applied.length > 0 && !seed.seeded) {
    log('migrations changed the schema: VACUUM ANALYZE');
    await vacuumAnalyze(db.url);
  }
  const credentials = await ensureCredentials(db.url);
  log(`superuser ${credentials.admin.username}; non-superuser owner ${credentials.owner.username}`);
  const data: KindData[] = [];
  for (const kind of KINDS) data.push(await kindData(db.url, kind, credentials));
  const allReads = buildScenarios(data);
  const management = await managementData(db.url);
  // The incident filters (issue 14), on access tokens.
  const access = data.find((d) => d.kind.path === 'access_tokens');
  const filterScenarios = access
    ? buildFilterScenarios(access.kind, await filterData(db.url, access.kind, access))
    : [];
  const scenarios = [...allReads, ...filterScenarios, ...buildManagementScenarios(management)].filter(
    (scenario) => selected(options, scenario.name),
  );
  const issueNames = ISSUE_SCENARIO_NAMES.filter((name) => selected(options, name));
  const mixedReads = MIXED_READS.filter(
    (read) => selected(options, mixedName(read, false)) || selected(options, mixedName(read, true)),
  )
    .map((read) => allReads.find((scenario) => scenario.name === read))
    .filter((scenario) => scenario !== undefined);
  let fixtures: IssuanceFixtures | undefined;
  if (issueNames.length + mixedReads.length > 0) {
    fixtures = await ensureIssuanceFixtures(db.url);
    log(
      `issuance providers: ${fixtures.main.clientId} (${fixtures.main.name}), ${fixtures.refresh.clientId} (${fixtures.refresh.name})`,
    );
  }
  // Issue 14: a bulk revocation with reads measured during it (bench/bulk-revoke.ts), after the other scenarios.
  const bulkRevoke = selected(options, BULK_REVOKE_SCENARIO);
  const total = scenarios.length + issueNames.length + mixedReads.length * 2 + (bulkRevoke ? 1 : 0);
  const loadOptions: LoadOptions = {
    connections: options.connections,
    duration: options.duration,
    warmup: options.warmup,
    databaseUrl: db.url,
  };

  const results: ScenarioResult[] = [];
  const limits: Limit[] = [];
  let memory: MemoryWatch | undefined;
  let grantryReadyMs: number | undefined;
  if (total > 0) {
    const loads = scenarios.filter((s) => s.load).length + issueNames.length + mixedReads.length * 2;
    log(
      `${total} scenarios (${loads} under load): about ` +
        `${Math.ceil((loads * 2 * (options.duration + options.warmup + 1.5) + total * 6) / 60)} min`,
    );
    const grantry = await startGrantry(db, logDir);
    grantryReadyMs = grantry.readyMs;
    log(`Grantry ready in ${grantry.readyMs.toFixed(0)} ms (pid ${grantry.pid}, port ${grantry.port})`);
    const baseline = await startBaseline(db, logDir);
    log(`baseline ready in ${baseline.readyMs.toFixed(0)} ms (pid ${baseline.pid}, port ${baseline.port})`);
    memory = new MemoryWatch(grantry.pid);
    memory.sample();
    log('watching both servers idle for 6 s to learn their background statements...');
    await db.counter.learnBackground(6000);
    if (db.counter.background !== 'none seen')
      log(`background statements (not counted): ${db.counter.background}`);

    const serversAlive = (): void => {
      for (const server of [grantry, baseline]) {
        if (server.child.exitCode !== null || server.child.signalCode !== null) {
          throw new HarnessError(`${server.name} exited during the run; see bench/.logs/`);
        }
      }
    };
    let index = 0;
    const logResult = (result: ScenarioResult): void => {
      index += 1;
      const ratio = ratioOf(result);
      const pass = passOf(result);
      log(
        `[${index}/${total}] ${result.scenario.name}: ` +
          (result.grantry && result.baseline
            ? `Grantry ${rpsText(result.grantry)} req/s, baseline ${rpsText(result.baseline)} req/s, ` +
              `${ratioText(ratio)} (target ${result.scenario.target}x) ${pass ? 'PASS' : 'FAIL'}, `
            : '') +
          `SQL/req ${result.queries?.grantry.toFixed(1) ?? '-'} vs ${result.queries?.baseline.toFixed(1) ?? '-'}, ` +
          `JSON ${result.comparison ? (result.comparison.match ? 'same' : 'MISMATCH') : '-'}`,
      );
    };
    for (const scenario of scenarios) {
      if (isInterrupted()) break;
      serversAlive();
      const key = credentials[scenario.as].key;
      const first = scenario.paths[0] ?? '/';
      const result: ScenarioResult = { scenario };
      results.push(result);
      try {
        result.comparison = compare(
          await fetchOnce(grantry, first, key),
          await fetchOnce(baseline, first, key),
        );
        if (!result.comparison.match) {
          log(`MISMATCH ${scenario.name} (${first}): ${result.comparison.difference ?? ''}`);
        }
        if (scenario.name.includes('search') && result.comparison.count !== undefined) {
          scenario.note = `${scenario.note ?? ''}; the API counts ${result.comparison.count} matches`;
        }
        const counting = { maxRequests: 50, minRequests: 5, budgetMs: 3000 };
        const g = await statementsPerRequest(grantry, db.counter, scenario.paths, key, counting);
        const b = await statementsPerRequest(baseline, db.counter, scenario.paths, key, counting);
        result.queries = { grantry: g.perRequest, baseline: b.perRequest };
        result.sequentialMs = { grantry: g.meanMs, baseline: b.meanMs };
        if (scenario.load) {
          result.grantry = await loadRun(grantry, scenario.paths, key, loadOptions, memory.sample);
          result.baseline = await loadRun(baseline, scenario.paths, key, loadOptions);
        }
      } catch (error) {
        harnessErrors += 1;
        result.error = error instanceof Error ? error.message : String(error);
        log(`ERROR in ${scenario.name}: ${result.error}`);
      }
      logResult(result);
    }

    if (fixtures && !isInterrupted()) {
      const context = await issuanceContext(db.url, fixtures);
      try {
        for (const scenario of buildIssueScenarios(context, grantry).filter((s) =>
          issueNames.includes(s.name),
        )) {
          if (isInterrupted()) break;
          serversAlive();
          const result: ScenarioResult = { scenario };
          results.push(result);
          try {
            result.comparison = await issueCompare(grantry, baseline, scenario);
            if (!result.comparison.match)
              log(`MISMATCH ${scenario.name}: ${result.comparison.difference ?? ''}`);
            const g = await issueStatements(grantry, db.counter, scenario);
            const b = await issueStatements(baseline, db.counter, scenario);
            result.queries = { grantry: g.perRequest, baseline: b.perRequest };
            result.sequentialMs = { grantry: g.meanMs, baseline: b.meanMs };
            result.grantry = await issueLoadRun(grantry, scenario, loadOptions, memory.sample);
            result.baseline = await issueLoadRun(baseline, scenario, loadOptions);
          } catch (error) {
            harnessErrors += 1;
            result.error = error instanceof Error ? error.message : String(error);
            log(`ERROR in ${scenario.name}: ${result.error}`);
          }
          logResult(result);
        }
        // The background rate: a quarter of what the slower server managed alone, so both keep up with it.
        const cc = results.find((r) => r.scenario.name === 'issue: client_credentials');
        const rate =
          cc?.grantry && cc.baseline && cc.grantry.ok > 0 && cc.baseline.ok > 0
            ? Math.max(5, Math.round(Math.min(cc.grantry.rps, cc.baseline.rps) / 4))
            : 50;
        for (const read of mixedReads) {
          for (const background of [false, true]) {
            if (isInterrupted()) break;
            serversAlive();
            const scenario = {
              ...read,
              name: mixedName(read.name, background),
              note: background
                ? `${read.name} while client_credentials runs on the same server at a fixed ${rate} req/s ` +
                  '(2 connections, from 1 s before the warm-up to the end of the measured run)'
                : `${read.name} as the read scenario measures it, right before the row below`,
            };
            const result: ScenarioResult = { scenario };
            results.push(result);
            const key = credentials[read.as].key;
            const measure = (server: typeof grantry, sample?: () => void) =>
              loadRun(server, read.paths, key, loadOptions, sample);
            try {
              if (!background) {
                const first = read.paths[0] ?? '/';
                result.comparison = compare(
                  await fetchOnce(grantry, first, key),
                  await fetchOnce(baseline, first, key),
                );
                result.grantry = await measure(grantry, memory.sample);
                result.baseline = await measure(baseline);
              } else {
                const g = await withBackground(grantry, fixtures, rate, () =>
                  measure(grantry, memory?.sample),
                );
                const b = await withBackground(baseline, fixtures, rate, () => measure(baseline));
                result.grantry = g.value;
                result.baseline = b.value;
                const achieved = (load: typeof g.background): string =>
                  `${load.rps.toFixed(1)} req/s 2xx${load.non2xx + load.errors > 0 ? `, ${load.non2xx} non-2xx, ${load.errors} errors` : ''}`;
                scenario.note += `; background achieved: Grantry ${achieved(g.background)}, baseline ${achieved(b.background)}`;
              }
            } catch (error) {
              harnessErrors += 1;
              result.error = error instanceof Error ? error.message : String(error);
              log(`ERROR in ${scenario.name}: ${result.error}`);
            }
            logResult(result);
          }
        }
      } finally {
        const removed = await cleanUpIssuance(db.url, fixtures);
        log(
          `issuance: removed ${removed} rows the bench's providers held (issued tokens, unused codes), vacuumed`,
        );
      }
    }
    if (bulkRevoke && !isInterrupted()) {
      serversAlive();
      const reads: BulkRead[] = ['access: list page 1', 'access: retrieve'].flatMap((name) => {
        const read = allReads.find((scenario) => scenario.name === name);
        return read ? [{ name, paths: read.paths, key: credentials[read.as].key }] : [];
      });
      try {
        limits.push(
          ...(await bulkRevokeScenario({
            url: db.url,
            grantry,
            admin: credentials.admin,
            reads,
            rows: Math.max(1000, Math.round(100_000 * options.scale)),
            connections: options.connections,
            duration: options.duration,
            log,
          })),
        );
      } catch (error) {
        harnessErrors += 1;
        const message = error instanceof Error ? error.message : String(error);
        log(`ERROR in ${BULK_REVOKE_SCENARIO}: ${message}`);
        notes.push(`The bulk revoke scenario failed: ${message}`);
      }
    }
    memory.sample();
    await stopChild(grantry.child);
    await stopChild(baseline.child);
  }

  stopIfInterrupted();
  const peak = memory?.peak;
  if (peak !== undefined) {
    limits.push({
      name: 'Grantry peak RSS (VmHWM) over the run',
      value: mb(peak),
      target: '<= 300 MB',
      pass: peak <= 300 * 2 ** 20,
      note: `highest VmRSS sampled under load ${mb(memory?.peakRss ?? 0)}`,
    });
  }

  stopIfInterrupted();
  let writes: WriteResult | undefined;
  if (selected(options, 'writes: insert access tokens')) {
    log(`write scenario: ${options.connections} clients, ${options.duration} s per table...`);
    try {
      writes = await writeScenario(db.url, {
        clients: options.connections,
        warmupMs: options.warmup * 1000,
        durationMs: options.duration * 1000,
      });
      log(
        `writes: ${writes.grantry.rate.toFixed(0)}/s into oauth2_access_tokens vs ${writes.plain.rate.toFixed(0)}/s ` +
          `plain = ${writes.ratio.toFixed(2)}x`,
      );
      limits.push({
        name: 'Inserts/s into oauth2_access_tokens vs the table without the count triggers and widened indexes',
        value: `${writes.ratio.toFixed(2)}x`,
        target: '>= 0.7x',
        pass: writes.ratio >= 0.7,
        note:
          `${writes.grantry.rate.toFixed(0)}/s vs ${writes.plain.rate.toFixed(0)}/s, ${options.connections} clients; ` +
          `vs a bare copy (pk and token_hash only) ${writes.bareRatio.toFixed(2)}x`,
      });
    } catch (error) {
      harnessErrors += 1;
      const message = error instanceof Error ? error.message : String(error);
      log(`ERROR in the write scenario: ${message}`);
      notes.push(`The write scenario failed: ${message}`);
    }
  }

  stopIfInterrupted();
  if (selected(options, EXPORT_SCENARIO)) {
    // A Grantry of its own, so that its VmHWM is the export's peak and not the load scenarios'.
    log(`${EXPORT_SCENARIO}: every access token as ndjson, then as csv, on a fresh Grantry...`);
    let server: Server | undefined;
    try {
      server = await startGrantry(db, logDir);
      for (const format of ['ndjson', 'csv'] as const) {
        stopIfInterrupted();
        const run = await exportRun(server, credentials.admin.key, format);
        log(
          `export ${format}: ${run.rows} rows, ${mb(run.bytes)} in ${run.seconds.toFixed(1)} s, ` +
            `first byte after ${run.firstByteMs.toFixed(0)} ms, VmRSS up to ${mb(run.peakRss)}`,
        );
        limits.push({
          name: `Export of every access token (${format})`,
          value: `${run.seconds.toFixed(1)} s`,
          target: '(info)',
          pass: undefined,
          note:
            `${run.rows} rows, ${mb(run.bytes)}, ${(run.rows / run.seconds).toFixed(0)} rows/s; first byte after ` +
            `${run.firstByteMs.toFixed(0)} ms; one client reading as fast as it can`,
        });
      }
      const hwm = memoryOf(server.pid).hwm;
      limits.push({
        name: 'Grantry peak RSS (VmHWM) of a fresh process over both exports',
        value: mb(hwm),
        target: '<= 300 MB',
        pass: hwm <= 300 * 2 ** 20,
        note: 'includes start-up; the process served nothing else',
      });
    } catch (error) {
      harnessErrors += 1;
      const message = error instanceof Error ? error.message : String(error);
      log(`ERROR in the export scenario: ${message}`);
      notes.push(`The export scenario failed: ${message}`);
    } finally {
      if (server) await stopChild(server.child);
    }
  }

  stopIfInterrupted();
  if (grantryReadyMs !== undefined) {
    limits.push({
      name: 'Grantry start to ready, PostgreSQL already running (DATABASE_URL)',
      value: `${(grantryReadyMs / 1000).toFixed(2)} s`,
      target: '(info)',
      pass: undefined,
      note: 'spawn of node dist/src/main.js to the first 200 of /-/health/ready/',
    });
  }
  if (db.dataDir && db.embedded?.owned && selected(options, 'start-to-ready')) {
    log('start to ready on the existing data dir (Grantry starting the embedded PostgreSQL itself)...');
    try {
      const readyMs = await startToReadyEmbedded(db, logDir);
      limits.push({
        name: 'Grantry start to ready, existing data dir (embedded PostgreSQL)',
        value: `${(readyMs / 1000).toFixed(2)} s`,
        target: '<= 3 s',
        pass: readyMs <= 3000,
        note: 'DATA_DIR only: includes starting PostgreSQL; spawn to the first 200 of /-/health/ready/',
      });
    } catch (error) {
      harnessErrors += 1;
      const message = error instanceof Error ? error.message : String(error);
      log(`ERROR in start-to-ready: ${message}`);
      notes.push(`The start-to-ready measurement failed: ${message}`);
    }
  }
  if (seed.seeded) {
    limits.push({
      name: 'Seed time (this run)',
      value: `${seed.seconds?.toFixed(0)} s`,
      target: '(info)',
      pass: undefined,
      note: `the seed command reported ${seed.cliSeconds} s; the rest is VACUUM ANALYZE`,
    });
  }
  if (seed.earlier) {
    limits.push({
      name: 'Seed time (earlier run that seeded this data set)',
      value: `${seed.earlier.seconds.toFixed(0)} s`,
      target: '(info)',
      pass: undefined,
      note: `seeded ${seed.earlier.at}; the seed command reported ${seed.earlier.cliSeconds} s, the rest is VACUUM ANALYZE`,
    });
  }
  const one = results.find((r) => r.scenario.name === 'access: list page_size=1');
  const hundred = results.find((r) => r.scenario.name === 'access: list page_size=100');
  if (one?.queries && hundred?.queries) {
    limits.push({
      name: 'SQL statements per request, access list page_size=1 vs page_size=100',
      value: `Grantry ${one.queries.grantry.toFixed(1)} vs ${hundred.queries.grantry.toFixed(1)}; baseline ${one.queries.baseline.toFixed(1)} vs ${hundred.queries.baseline.toFixed(1)}`,
      target: '(info)',
      pass: undefined,
      note: 'a constant number means no per-row queries',
    });
  }

  notes.push(
    `Each scenario: one request to each server, bodies compared; SQL statements counted over up to 50 sequential ` +
      `requests (pg_stat_statements, top-level statements of the bench database; statements a server ran while ` +
      `idle are not counted, and transaction control or LOCK statements among them are subtracted in ` +
      `proportion: ${db.counter.background}); then ${options.warmup} s warm-up (discarded) and ` +
      `${options.duration} s measured with ${options.connections} connections from an autocannon child process, ` +
      `Grantry first, then the baseline, waiting for the database to be idle in between.`,
    'Both servers run as separate processes on the same 2-core machine as PostgreSQL and the load generator, so ' +
      'absolute numbers are modest; the ratios are the point.',
    'Grantry: NODE_ENV=production, LOG_LEVEL=warn, default pool (DB_POOL_SIZE 10) and statement timeout (5 s). ' +
      'Baseline: a pg.Pool of 10, no statement timeout.',
    'Requests/s counts only 2xx answers; non-2xx answers and errors are listed per scenario.',
    `Counting mode: ${db.counter.mode}.`,
  );
  if (!options.full)
    notes.push(`Partial run (scale ${options.scale}, only: ${options.only.join(', ') || 'all'}).`);

  stopIfInterrupted();
  const report: Report = {
    date: new Date().toISOString(),
    machine: machineLines(db),
    commit,
    options: `--duration ${options.duration} --warmup ${options.warmup} --connections ${options.connections}${options.scale !== 1 ? ` --scale ${options.scale}` : ''}${options.only.map((o) => ` --only "${o}"`).join('')}`,
    dataSet: describeSeed(seed, params, data),
    results,
    limits,
    writes,
    notes,
    totalSeconds: (performance.now() - started) / 1000,
  };
  process.stdout.write(`${printReport(report)}\n`);
  fs.writeFileSync(options.out, markdownReport(report));
  log(`report written to ${path.relative(process.cwd(), options.out) || options.out}`);
  return harnessErrors > 0 ? 1 : 0;
}

runHarness(main, log);
