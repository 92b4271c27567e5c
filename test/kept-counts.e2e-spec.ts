/**
 * `grantry counts check [--repair]` (src/database/kept-counts.ts): the counts kept by triggers compared with the
 * rows, on this file's own database. Counts made wrong the way an operator could (rows written with the triggers
 * off, a kept row edited by hand) are reported key by key with exit 3, rebuilt by --repair, and found equal after.
 */
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { foldGrantCounts } from '../src/oauth2/grants/grant-counts';
import { openTestDataSource, testDatabaseUrl } from './support/app';
import { Factories } from './support/factories';
import { type Run, runProcess } from './support/process';

const ROOT = path.resolve(__dirname, '..');
const MAIN = path.join(ROOT, 'dist/src/cli/main.js');

function cli(args: string[]): Promise<Run> {
  return runProcess(process.execPath, [MAIN, ...args], {
    cwd: ROOT,
    env: { DATABASE_URL: testDatabaseUrl() },
  });
}

interface Check {
  table: string;
  kept: string;
  keys: number;
  differing: number;
  differences: { key: Record<string, unknown>; rows: number; kept: number }[];
}

/** The checks of a --json run, after its exit code; keys omitted (they depend on the rows the fixture has). */
async function checks(
  args: string[],
  code: number,
): Promise<{ repaired: boolean; ok: boolean; counts: Check[] }> {
  const run = await cli(['counts', 'check', ...args, '--json']);
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code, stderr: '' });
  return JSON.parse(run.stdout) as { repaired: boolean; ok: boolean; counts: Check[] };
}

const differing = (counts: Check[]): Omit<Check, 'keys'>[] =>
  counts.filter((c) => c.differing > 0).map(({ keys: _keys, ...rest }) => rest);

const ALL = [
  ['oauth2_access_tokens', 'grant_counts'],
  ['oauth2_access_tokens', 'grant_facet_counts'],
  ['oauth2_refresh_tokens', 'grant_counts'],
  ['oauth2_refresh_tokens', 'grant_facet_counts'],
  ['oauth2_authorization_codes', 'grant_counts'],
  ['oauth2_authorization_codes', 'grant_facet_counts'],
  ['users', 'row_counts'],
  ['audit_events', 'row_counts'],
];

let dataSource: DataSource;
let providerId: number;
let userId: number;
let usersBefore: number;

beforeAll(async () => {
  dataSource = await openTestDataSource('grantry-kept-counts');
  const f = new Factories(dataSource);
  providerId = (await f.provider()).id;
  userId = (await f.user()).id;
  // Grants the kept counts include once folded: above the fold mark until then.
  await dataSource.query(
    `INSERT INTO oauth2_access_tokens (provider_id, user_id, token_hash, scope, expires, expiring, revoked)
     SELECT $1, $2, sha256(gen_random_uuid()::text::bytea), s, '2031-01-01T09:15:00Z', true, false
       FROM unnest(ARRAY['openid', 'openid email', 'profile']) s`,
    [providerId, userId],
  );
  const [users] = await dataSource.query<{ n: number }[]>('SELECT count(*)::int AS n FROM users');
  usersBefore = users?.n ?? -1;
});

afterAll(async () => {
  await dataSource?.destroy();
});

describe('grantry counts check', () => {
  // One story (equal, made wrong, reported, repaired, equal again): its steps cannot run in another order.
  it('finds the counts equal, reports rows written around the triggers key by key (exit 3), and --repair rebuilds them', async () => {
    // Equal on a database written only through the triggers.
    const result = await checks([], 0);
    expect(result.counts.map((c) => [c.table, c.kept])).toEqual(ALL);
    expect(differing(result.counts)).toEqual([]);
    expect({ repaired: result.repaired, ok: result.ok }).toEqual({ repaired: false, ok: true });
    // It compared something: the access tokens' provider and facets, the users.
    const keys = Object.fromEntries(result.counts.map((c) => [`${c.table} ${c.kept}`, c.keys]));
    expect(keys['oauth2_access_tokens grant_counts']).toBe(1);
    expect(keys['users row_counts']).toBe(1); // 'all' (none inactive)

    // Grants inserted with explicit ids below the fold mark (the grants above it are counted from the table, so
    // only these escape the kept counts, migration GrantFoldMarks), a user written with the triggers off, and a
    // kept row edited by hand: reported key by key, exit 3.
    await dataSource.transaction(async (manager) => {
      await manager.query(`SET LOCAL session_replication_role = replica`);
      await manager.query(
        `INSERT INTO oauth2_access_tokens (id, provider_id, user_id, token_hash, scope, expires, expiring, revoked)
         SELECT -n, $1, $2, sha256(gen_random_uuid()::text::bytea), 'openid email email', '2031-01-01T09:45:00Z',
                true, true
           FROM generate_series(1, 2) n`,
        [providerId, userId],
      );
      await manager.query(
        `INSERT INTO users (username, name, email, is_active, type, path, attributes, uuid)
         VALUES ('kept-counts-ghost', '', '', false, 'internal', 'users', '{}', gen_random_uuid())`,
      );
    });
    await dataSource.query(
      `INSERT INTO grant_counts (table_name, provider_id, delta) VALUES ('oauth2_refresh_tokens', $1, 5)`,
      [providerId],
    );
    const found = await checks([], 3);
    expect(found.ok).toBe(false);
    const bucket = '2031-01-01T09:00:00Z';
    expect(differing(found.counts)).toEqual([
      {
        table: 'oauth2_access_tokens',
        kept: 'grant_counts',
        differing: 1,
        differences: [{ key: { provider_id: providerId }, rows: 5, kept: 3 }],
      },
      {
        table: 'oauth2_access_tokens',
        kept: 'grant_facet_counts',
        differing: 3,
        differences: [
          { key: { word: 'email', revoked: true, expiring: true, bucket }, rows: 2, kept: 0 },
          { key: { word: 'openid', revoked: true, expiring: true, bucket }, rows: 2, kept: 0 },
          { key: { word: null, revoked: true, expiring: true, bucket }, rows: 2, kept: 0 },
        ],
      },
      {
        table: 'oauth2_refresh_tokens',
        kept: 'grant_counts',
        differing: 1,
        differences: [{ key: { provider_id: providerId }, rows: 0, kept: 5 }],
      },
      {
        table: 'users',
        kept: 'row_counts',
        differing: 2,
        differences: [
          { key: { key: 'all' }, rows: usersBefore + 1, kept: usersBefore },
          { key: { key: 'inactive' }, rows: 1, kept: 0 },
        ],
      },
    ]);

    // The text form names each count, and --limit bounds the keys shown.
    const text = await cli(['counts', 'check', '--limit', '1']);
    expect({ code: text.code, stderr: text.stderr }).toEqual({ code: 3, stderr: '' });
    expect(
      text.stdout.split('\n').filter((line) => line.includes('grant_facet_counts for oauth2_access')),
    ).toEqual(['  DIFFERS  grant_facet_counts for oauth2_access_tokens: 3 of its keys']);
    expect(text.stdout).toContain(
      `             {"word":"email","revoked":true,"expiring":true,"bucket":"${bucket}"}: rows 2, kept 0\n` +
        '             ... and 2 more\n',
    );
    expect(text.stdout).toContain('  ok       grant_counts for oauth2_authorization_codes (0 keys)\n');
    expect(text.stdout.trimEnd().split('\n').at(-1)).toBe(
      '4 kept count(s) differ from their rows: run again with --repair to rebuild them.',
    );

    // --repair rebuilds what differs (and only that), after which the check passes.
    const untouched = await dataSource.query<unknown[]>(
      `SELECT table_name, key, delta::int FROM row_counts WHERE table_name = 'audit_events' ORDER BY key`,
    );
    const repaired = await checks(['--repair'], 0);
    expect({ repaired: repaired.repaired, ok: repaired.ok }).toEqual({ repaired: true, ok: true });
    expect(differing(repaired.counts).map((c) => `${c.table} ${c.kept} ${c.differing}`)).toEqual([
      'oauth2_access_tokens grant_counts 1',
      'oauth2_access_tokens grant_facet_counts 3',
      'oauth2_refresh_tokens grant_counts 1',
      'users row_counts 2',
    ]);
    expect(differing((await checks([], 0)).counts)).toEqual([]);
    // Rebuilt as the rows' counts less the changes waiting for the fold (which stay, shared by both kept tables):
    // folded, one row per key.
    const [pending] = await dataSource.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM oauth2_access_tokens
        WHERE id > (SELECT last_id FROM grant_fold_marks WHERE table_name = 'oauth2_access_tokens')`,
    );
    expect(pending?.n).toBe(3); // the three inserted before, above the mark
    await foldGrantCounts(dataSource);
    const facets = await dataSource.query<unknown[]>(
      `SELECT word, revoked, delta::int FROM grant_facet_counts
        WHERE table_name = 'oauth2_access_tokens' AND bucket = '2031-01-01T09:00:00Z' ORDER BY word NULLS FIRST, revoked`,
    );
    expect(facets).toEqual([
      { word: null, revoked: false, delta: 3 },
      { word: null, revoked: true, delta: 2 },
      { word: 'email', revoked: false, delta: 1 },
      { word: 'email', revoked: true, delta: 2 },
      { word: 'openid', revoked: false, delta: 2 },
      { word: 'openid', revoked: true, delta: 2 },
      { word: 'profile', revoked: false, delta: 1 },
    ]);
    const [deltas] = await dataSource.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM grant_deltas WHERE table_name = 'oauth2_access_tokens'`,
    );
    expect(deltas?.n).toBe(0);
    // A count that did not differ was left as it was.
    expect(
      await dataSource.query<unknown[]>(
        `SELECT table_name, key, delta::int FROM row_counts WHERE table_name = 'audit_events' ORDER BY key`,
      ),
    ).toEqual(untouched);
  });

  it('refuses a bad --limit before opening the database', async () => {
    const run = await cli(['counts', 'check', '--limit', 'many', '--json']);
    expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 1, stdout: '' });
    expect(JSON.parse(run.stderr)).toEqual({ error: expect.stringMatching(/^option --limit/) as unknown });
  });
});
