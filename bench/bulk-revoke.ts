/**
 * The bulk revocation scenario (issue 14): POST /api/v3/oauth2/access_tokens/bulk_revoke/ on N fresh access tokens
 * (100,000 at full scale) while a read scenario runs under autocannon, and the read's p99 alone for comparison. For
 * context, the same revocation as one plain `UPDATE ... WHERE user_id = $1 AND NOT revoked` statement (what a
 * straightforward implementation would run) under the same read load. See bench/README.md.
 */
import path from 'node:path';
import type { LoadRequest, LoadResult } from './load';
import { connect, query } from './database';
import { forkControlled, forkOnce, HarnessError, type Server, sleep } from './procs';
import type { Limit } from './report';

export const BULK_REVOKE_SCENARIO = 'bulk revoke: access tokens';

const LOAD_SCRIPT = path.join(__dirname, 'load.js');
/** Marks the scenario's rows (their token_hash is the SHA-256 of this prefix and a counter). */
const MARK = 'bench-bulk-revoke:';

export interface BulkRead {
  name: string;
  paths: string[];
  key: string;
}

interface Options {
  url: string;
  grantry: Server;
  admin: { username: string; key: string };
  reads: BulkRead[];
  rows: number;
  connections: number;
  /** Seconds of the read measured alone. */
  duration: number;
  log: (message: string) => void;
}

interface Fixture {
  userId: number;
  providerId: number;
}

/**
 * The bench superuser's own access tokens are the scenario's rows: it holds none otherwise, so `{"user": <its pk>}`
 * selects exactly them. Inserted in one statement (with the count triggers, as any insert), then analysed.
 */
async function insertRows(url: string, fixture: Fixture, rows: number): Promise<void> {
  await query(
    url,
    `INSERT INTO oauth2_access_tokens (provider_id, user_id, token_hash, scope, expires, expiring, revoked, id_token)
     SELECT $1, $2, sha256(convert_to($3 || i::text, 'UTF8')), 'openid profile', now() + interval '1 hour', true,
            false, '{}'::jsonb
       FROM generate_series(1, $4) i`,
    [fixture.providerId, fixture.userId, `${MARK}${Date.now()}:`, rows],
  );
  await query(url, 'ANALYZE oauth2_access_tokens');
}

/**
 * Waits until the server's fold has moved the inserted rows into the kept counts (none left above the access
 * tokens' fold mark, no delta), then checkpoints: the revocation is measured from a settled table, not while the
 * fixture's own 100,000-row insert is still being counted (every list count reads the grants above the mark, here
 * spread over tens of thousands of pages) or written out (its dirty buffers evicted by the readers). A real table
 * gains grants a few at a time, which each fold tick absorbs. Answers how long the fold took.
 */
async function settle(url: string): Promise<number> {
  const started = performance.now();
  for (;;) {
    const [row] = await query<{ settled: boolean }>(
      url,
      `SELECT NOT EXISTS (SELECT 1 FROM grant_deltas WHERE table_name = 'oauth2_access_tokens')
              AND (SELECT last_id FROM grant_fold_marks WHERE table_name = 'oauth2_access_tokens')
                  >= coalesce(pg_sequence_last_value('oauth2_access_tokens_id_seq'), 0) AS settled`,
    );
    if (row?.settled === true) break;
    if (performance.now() - started > 300_000)
      throw new HarnessError('bulk revoke: the fold did not catch up in 300 s');
    await sleep(200);
  }
  const folded = performance.now() - started;
  await query(url, 'CHECKPOINT').catch(() => undefined); // needs superuser (or pg_checkpoint); best effort
  return folded;
}

async function removeRows(url: string, fixture: Fixture): Promise<void> {
  await query(url, 'DELETE FROM oauth2_access_tokens WHERE user_id = $1', [fixture.userId]);
  await query(url, `DELETE FROM audit_events WHERE actor_user_id = $1 AND context ? 'bulk_revoke'`, [
    fixture.userId,
  ]);
  await query(url, 'VACUUM ANALYZE oauth2_access_tokens');
}

function loadRequest(server: Server, read: BulkRead, connections: number, duration: number): LoadRequest {
  return {
    url: server.url,
    paths: read.paths,
    headers: { authorization: `Bearer ${read.key}` },
    connections,
    duration,
    timeout: 60,
  };
}

/** Runs `work` while the read is under load (from 0.5 s before it to its end); answers both. */
async function during<T>(
  options: Options,
  read: BulkRead,
  work: () => Promise<T>,
): Promise<{ value: T; load: LoadResult; ms: number }> {
  const load = forkControlled<LoadRequest, LoadResult>(
    LOAD_SCRIPT,
    loadRequest(options.grantry, read, options.connections, 3600),
    3_700_000,
  );
  await sleep(500);
  const started = performance.now();
  let value: T;
  try {
    value = await work();
  } catch (error) {
    load.stop();
    await load.result.catch(() => undefined);
    throw error;
  }
  const ms = performance.now() - started;
  load.stop();
  return { value, load: await load.result, ms };
}

async function revokeByApi(options: Options, fixture: Fixture): Promise<{ count: number; body: string }> {
  const response = await fetch(`${options.grantry.url}/api/v3/oauth2/access_tokens/bulk_revoke/`, {
    method: 'POST',
    headers: { authorization: `Bearer ${options.admin.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ user: fixture.userId }),
  });
  const body = await response.text();
  if (response.status !== 200) throw new HarnessError(`bulk_revoke answered ${response.status}: ${body}`);
  return { count: (JSON.parse(body) as { count: number }).count, body };
}

async function revokeInOneStatement(url: string, fixture: Fixture): Promise<number> {
  const client = await connect(url);
  try {
    const result = await client.query(
      'UPDATE oauth2_access_tokens SET revoked = true WHERE user_id = $1 AND NOT revoked',
      [fixture.userId],
    );
    return result.rowCount ?? 0;
  } finally {
    await client.end();
  }
}

const ms = (value: number): string => `${value.toFixed(0)} ms`;

/** The scenario's rows in the report's limits table (all information: the issue sets no bound). */
export async function bulkRevokeScenario(options: Options): Promise<Limit[]> {
  const { url, rows, log } = options;
  const [admin] = await query<{ id: number }>(url, 'SELECT id FROM users WHERE username = $1', [
    options.admin.username,
  ]);
  const [provider] = await query<{ id: number }>(url, 'SELECT id FROM oauth2_providers ORDER BY id LIMIT 1');
  if (!admin || !provider) throw new HarnessError('bulk revoke: no bench superuser or provider');
  const fixture: Fixture = { userId: admin.id, providerId: provider.id };
  const limits: Limit[] = [];
  await removeRows(url, fixture);
  try {
    for (const read of options.reads) {
      log(`bulk revoke: ${read.name} alone for ${options.duration} s...`);
      const alone = await forkOnce<LoadRequest, LoadResult>(
        LOAD_SCRIPT,
        loadRequest(options.grantry, read, options.connections, options.duration),
        options.duration * 1000 + 90_000,
      );

      await insertRows(url, fixture, rows);
      log(`bulk revoke: ${rows} rows inserted, folded into the counts in ${ms(await settle(url))}`);
      log(`bulk revoke: ${rows} rows through the API while ${read.name} runs...`);
      const api = await during(options, read, () => revokeByApi(options, fixture));
      if (api.value.count !== rows) {
        throw new HarnessError(`bulk_revoke revoked ${api.value.count} of ${rows} rows: ${api.value.body}`);
      }
      await removeRows(url, fixture);

      await insertRows(url, fixture, rows);
      await settle(url);
      log(`bulk revoke: ${rows} rows in one UPDATE statement while ${read.name} runs...`);
      const single = await during(options, read, () => revokeInOneStatement(url, fixture));
      await removeRows(url, fixture);

      const p99 = (load: LoadResult): string =>
        `${ms(load.p99)} (${load.rps.toFixed(0)} req/s${load.non2xx + load.errors > 0 ? `, ${load.non2xx} non-2xx, ${load.errors} errors` : ''})`;
      limits.push(
        {
          name: `Bulk revoke of ${rows.toLocaleString('en-US')} access tokens (POST bulk_revoke, batches of 5,000) during ${read.name}`,
          value: `${(api.ms / 1000).toFixed(2)} s`,
          target: '(info)',
          pass: undefined,
          note: `${Math.round(rows / (api.ms / 1000)).toLocaleString('en-US')} rows/s; one plain UPDATE of the same rows took ${(single.ms / 1000).toFixed(2)} s (${single.value} rows)`,
        },
        {
          name: `${read.name}: p99 alone / during the bulk revoke / during one plain UPDATE`,
          value: `${ms(alone.p99)} / ${ms(api.load.p99)} / ${ms(single.load.p99)}`,
          target: '(info)',
          pass: undefined,
          note:
            `alone ${options.duration} s: ${p99(alone)}; during bulk_revoke (${api.load.duration.toFixed(1)} s, ` +
            `from 0.5 s before): ${p99(api.load)}; during the UPDATE (${single.load.duration.toFixed(1)} s): ${p99(single.load)}`,
        },
      );
      log(
        `bulk revoke: ${rows} rows in ${ms(api.ms)} (one UPDATE: ${ms(single.ms)}); ${read.name} p99 ` +
          `${ms(alone.p99)} alone, ${ms(api.load.p99)} during bulk_revoke, ${ms(single.load.p99)} during the UPDATE`,
      );
    }
  } finally {
    await removeRows(url, fixture);
  }
  return limits;
}
