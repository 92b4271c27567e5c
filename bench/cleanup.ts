/**
 * `npm run bench:cleanup`: the expiry cleanup of issue 14 (src/oauth2/grants/grant-cleanup.ts) deleting 500,000
 * expired grants from the bench database's grant tables, as they are (1,000,000 access and refresh tokens after
 * `npm run bench` seeded them), timed, with the latency of single-row inserts and of a list read measured before and
 * while it runs. Writes bench/CLEANUP.md (a full run) or bench/CLEANUP.partial.md.
 *
 * The rows it deletes are its own: inserted with an expiry in January 2000, under a provider of its own, and the
 * retention is chosen so that the cutoff is 1 February 2000, before anything `cli seed` writes. The seeded data set is
 * therefore left as it was (checked: the dry run must count exactly the inserted rows, or the run stops).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import { cleanExpiredGrants, CLEANUP_BATCH_SIZE, previewCleanup } from '../src/oauth2/grants/grant-cleanup';
import { openDataSource } from '../test/support/database';
import { cli, migrate, openDatabase, query, ROOT } from './database';
import { HarnessError, installSignalHandlers, onCleanup, positive, runHarness } from './procs';

const HELP = `Usage: npm run bench:cleanup -- [options]

Inserts expired grants (40 % access tokens, 40 % refresh tokens, 20 % authorization codes) into the bench
database's grant tables and times the cleanup job deleting them, measuring insert and read latency meanwhile.

Options:
  --count N        expired grants to insert and delete (default 500000)
  --data-dir DIR   the bench's embedded PostgreSQL data dir (default bench/.data, where npm run bench seeds 1M)
  --batch-size N   rows per batch (default ${CLEANUP_BATCH_SIZE})
  --help           show this help

Environment: BENCH_DATABASE_URL uses that PostgreSQL instead of the embedded one.`;

const log = (message: string): void => {
  process.stderr.write(`[cleanup ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
};

const TABLES = [
  { kind: 'access', table: 'oauth2_access_tokens', hash: 'token_hash', share: 0.4 },
  { kind: 'refresh', table: 'oauth2_refresh_tokens', hash: 'token_hash', share: 0.4 },
  { kind: 'code', table: 'oauth2_authorization_codes', hash: 'code_hash', share: 0.2 },
] as const;

/** The cutoff of the run: every row the bench inserts expires before it, every seeded row after. */
const CUTOFF = Date.UTC(2000, 1, 1);

interface Probe {
  stop(): Promise<number[]>;
}

/** Runs `statement` back to back on its own connection until stopped; answers each run's latency (ms). */
async function probe(url: string, statement: (i: number) => [string, unknown[]]): Promise<Probe> {
  const client = new Client({ connectionString: url });
  await client.connect();
  const latencies: number[] = [];
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i += 1) {
      const [text, values] = statement(i);
      const started = performance.now();
      await client.query(text, values);
      latencies.push(performance.now() - started);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await client.end();
      return latencies;
    },
  };
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

const ms = (value: number): string => (Number.isNaN(value) ? '-' : value.toFixed(1));

async function main(): Promise<number> {
  installSignalHandlers();
  const { values } = parseArgs({
    options: {
      count: { type: 'string' },
      'data-dir': { type: 'string' },
      'batch-size': { type: 'string' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const count = positive('count', values.count, 500_000, true);
  const batchSize = positive('batch-size', values['batch-size'], CLEANUP_BATCH_SIZE, true);
  const dataDir = path.resolve(values['data-dir'] ?? path.join(ROOT, 'bench', '.data'));
  if (!fs.existsSync(path.join(ROOT, 'dist', 'src', 'cli', 'main.js'))) {
    throw new HarnessError('dist/src/cli/main.js is missing: run "npm run build" first');
  }

  const db = await openDatabase({ dataDir, log });
  onCleanup(() => db.stop());
  await migrate(db.url);
  const [user] = await query<{ id: number }>(db.url, 'SELECT min(id) AS id FROM users');
  let userId = user?.id ?? null;
  if (userId === null) {
    userId = (await cli<{ pk: number }>(db.url, ['user', 'create', '--username', 'bench-cleanup'])).pk;
  }
  const [provider] = await query<{ id: number }>(
    db.url,
    `INSERT INTO oauth2_providers (name, client_id) VALUES ('bench-cleanup', 'bench-cleanup-' || gen_random_uuid())
     RETURNING id`,
  );
  const providerId = provider?.id;
  if (providerId === undefined) throw new HarnessError('could not create the bench provider');
  onCleanup(async () => {
    await query(db.url, 'DELETE FROM oauth2_providers WHERE id = $1', [providerId]);
  });
  const sizes: Record<string, number> = {};
  for (const { table } of TABLES) {
    const [row] = await query<{ n: string }>(db.url, `SELECT count(*)::text AS n FROM ${table}`);
    sizes[table] = Number(row?.n ?? 0);
  }

  log(`inserting ${count} expired grants (provider ${providerId})`);
  const inserted: Record<string, number> = {};
  let left = count;
  for (const [i, { kind, table, hash, share }] of TABLES.entries()) {
    const n = i === TABLES.length - 1 ? left : Math.round(count * share);
    left -= n;
    inserted[kind] = n;
    // Expiries spread over January 2000, a few revoked: the job deletes by expiry alone.
    await query(
      db.url,
      `INSERT INTO ${table} (provider_id, user_id, ${hash}, expires, expiring, revoked, scope)
       SELECT $1::int, $2::int, sha256(convert_to('bench-cleanup:' || $3::text || ':' || g || ':' || random(), 'UTF8')),
              timestamptz '2000-01-01 00:00:00+00' + (g % 2592000) * interval '1 second', true, g % 20 = 0, 'openid'
         FROM generate_series(1, $4::int) g`,
      [providerId, userId, kind, n],
    );
  }
  await query(db.url, 'ANALYZE oauth2_access_tokens, oauth2_refresh_tokens, oauth2_authorization_codes');

  const dataSource = await openDataSource(db.url, 'grantry-bench-cleanup', 2);
  onCleanup(() => dataSource.destroy());
  const [clock] = await query<{ now: Date }>(db.url, 'SELECT now() AS now');
  const retentionMs = (clock?.now.getTime() ?? Date.now()) - CUTOFF;
  const preview = await previewCleanup(dataSource, retentionMs);
  const expected = { access: inserted.access, refresh: inserted.refresh, code: inserted.code };
  if (JSON.stringify(preview.counts) !== JSON.stringify(expected)) {
    throw new HarnessError(
      `the dry run counts ${JSON.stringify(preview.counts)}, not the inserted ${JSON.stringify(expected)}: ` +
        'the database holds other grants expired before 2000-02-01; refusing to delete them',
    );
  }

  // Inserts of live tokens (what issuance does) and the default list's first page, back to back on two connections.
  const insertProbe = (i: number): [string, unknown[]] => [
    `INSERT INTO oauth2_access_tokens (provider_id, user_id, token_hash, expires, scope)
     VALUES ($1, $2, sha256(convert_to('bench-cleanup-probe:' || $3::text || ':' || random(), 'UTF8')),
             now() + interval '1 hour', 'openid')`,
    [providerId, userId, i],
  ];
  const readProbe = (): [string, unknown[]] => [
    'SELECT id, expires FROM oauth2_access_tokens ORDER BY expires DESC, id DESC LIMIT 20',
    [],
  ];
  log('measuring idle latency (3 s)');
  let writes = await probe(db.url, insertProbe);
  let reads = await probe(db.url, readProbe);
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const idle = { writes: await writes.stop(), reads: await reads.stop() };

  log('cleaning');
  writes = await probe(db.url, insertProbe);
  reads = await probe(db.url, readProbe);
  const report = await cleanExpiredGrants(dataSource, {
    retentionMs,
    batchSize,
    onBusy: 'wait',
    waitMs: 60_000,
    trigger: 'cli',
  });
  const during = { writes: await writes.stop(), reads: await reads.stop() };
  if (report === undefined) throw new HarnessError('another instance held the cleanup job for a minute');
  if (JSON.stringify(report.deleted) !== JSON.stringify(expected)) {
    throw new HarnessError(`deleted ${JSON.stringify(report.deleted)}, expected ${JSON.stringify(expected)}`);
  }
  await query(db.url, `DELETE FROM oauth2_access_tokens WHERE provider_id = $1`, [providerId]);

  const total = count;
  const perSecond = Math.round(total / (report.durationMs / 1000));
  const rows = [
    '| grants deleted | table sizes before (access / refresh / code) | batch | batches | duration | rows/s | access | refresh | code |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|',
    `| ${total.toLocaleString('en-US')} | ${TABLES.map(({ table }) => (sizes[table] ?? 0).toLocaleString('en-US')).join(' / ')} | ${batchSize} | ${report.batches} | ${(report.durationMs / 1000).toFixed(1)} s | ${perSecond.toLocaleString('en-US')} | ${report.deleted.access} in ${(report.durationsMs.access / 1000).toFixed(1)} s | ${report.deleted.refresh} in ${(report.durationsMs.refresh / 1000).toFixed(1)} s | ${report.deleted.code} in ${(report.durationsMs.code / 1000).toFixed(1)} s |`,
  ];
  const latency = [
    '| probe (one connection, back to back) | idle: n / p50 / p99 / max (ms) | during cleanup: n / p50 / p99 / max (ms) |',
    '|---|---|---|',
    ...(['writes', 'reads'] as const).map((what) => {
      const cell = (values: number[]): string =>
        `${values.length} / ${ms(percentile(values, 50))} / ${ms(percentile(values, 99))} / ${ms(Math.max(...values))}`;
      const name = what === 'writes' ? 'insert one live access token' : 'list page: 20 by -expires';
      return `| ${name} | ${cell(idle[what])} | ${cell(during[what])} |`;
    }),
  ];
  const full = count >= 500_000 && values['data-dir'] === undefined && !process.env.BENCH_DATABASE_URL;
  const file = path.join(ROOT, 'bench', full ? 'CLEANUP.md' : 'CLEANUP.partial.md');
  const text = [
    '# Expiry cleanup benchmark',
    '',
    `${new Date().toISOString()}, PostgreSQL ${db.version}; \`npm run bench:cleanup${process.argv.slice(2).length > 0 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\`.`,
    '',
    ...rows,
    '',
    ...latency,
    '',
    'No index was added for the cleanup: it walks the `(expires, id)` index every grant table already has.',
    '',
  ].join('\n');
  fs.writeFileSync(file, text);
  process.stdout.write(`${rows.join('\n')}\n\n${latency.join('\n')}\n`);
  log(`wrote ${path.relative(ROOT, file)}`);
  return 0;
}

runHarness(main, log);
