import path from 'node:path';
import type { DataSource } from 'typeorm';
import { runMigrations } from '../src/database/migrations';
import { TEST_SECRET_KEY } from './support/app';
import { openDataSource } from './support/database';
import { runProcess } from './support/process';
import { ScratchDatabases } from './support/scratch-database';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');

/** Every install gets a random id at its first migration; both databases get this one instead (see below). */
const INSTALL_ID = '8f1d2c3b-4a5e-4f60-8172-93a4b5c6d7e8';

const COUNTS = [
  '--users',
  '30',
  '--providers',
  '5',
  '--access-tokens',
  '120',
  '--refresh-tokens',
  '80',
  '--authorization-codes',
  '25',
  '--events',
  '60',
];

async function seeded(scratch: ScratchDatabases, k: number): Promise<DataSource> {
  const url = await scratch.create();
  const dataSource = await openDataSource(url, `seed-${k}`);
  await runMigrations(dataSource);
  await dataSource.query('UPDATE install SET install_id = $1', [INSTALL_ID]);
  const run = await runProcess(process.execPath, [CLI, 'seed', '--seed', String(k), ...COUNTS, '--json'], {
    cwd: ROOT,
    env: { DATABASE_URL: url, SECRET_KEY: TEST_SECRET_KEY },
  });
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  return dataSource;
}

const quote = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/**
 * What the digests leave out or reduce, and why:
 * - timestamptz columns: the seed's times are relative to the moment of seeding (its help says so), so two runs
 *   differ by the time between them; `expectOneShift` checks instead that every such column moved by that one shift.
 * - the `exp`, `iat` and `auth_time` of the stored ID tokens, and the time fields of the user documents: the same
 *   times again, as numbers and text (also checked by the shift).
 * - `oauth2_providers.client_secret_hash` and the signing keys (every column of `signing_keys`, and the providers'
 *   `signing_key` pointing at them, in the provider documents too): secrets, drawn at random on purpose, so that
 *   nobody who knows K can derive a seeded provider's secret or key.
 */
const REDUCED: Record<string, Record<string, string | null>> = {
  oauth2_access_tokens: { id_token: `id_token::jsonb - 'exp' - 'iat' - 'auth_time'` },
  oauth2_refresh_tokens: { id_token: `id_token::jsonb - 'exp' - 'iat' - 'auth_time'` },
  user_documents: {
    doc: `doc::jsonb - 'last_login' - 'date_joined' - 'password_change_date' - 'last_updated'`,
  },
  provider_documents: { doc: `doc::jsonb - 'signing_key'` },
  oauth2_providers: { client_secret_hash: null, signing_key: null },
  signing_keys: { kp_uuid: null, name: null, kid: null, public_jwk: null, private_key_sealed: null },
};

/**
 * Times that are not the seed's at all but when a row was written (`DEFAULT now()`, the migration's or the write's
 * own moment): not compared, not even by shift.
 */
const WRITTEN_AT = [
  'install.created',
  'secret_key_check.created',
  'oauth2_providers.created',
  'applications.created',
  'signing_keys.created',
];

/**
 * Tables whose rows group the seeded times (so a shift may move a grant from one row to the next): compared by the
 * totals that do not depend on where the hours fall. grant_facet_counts counts grants per hour of expiry (`bucket`).
 */
const REGROUPED: Record<string, string> = {
  grant_facet_counts: `SELECT table_name, word, revoked, expiring, bucket IS NULL AS never_expires, sum(delta) AS grants
                         FROM grant_facet_counts GROUP BY 1, 2, 3, 4, 5 HAVING sum(delta) <> 0`,
};

interface Column {
  name: string;
  type: string;
}

async function columnsOf(dataSource: DataSource): Promise<Map<string, Column[]>> {
  const rows = await dataSource.query<{ table: string; name: string; type: string }[]>(
    `SELECT table_name AS table, column_name AS name, data_type AS type FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name <> 'migrations' ORDER BY table_name, ordinal_position`,
  );
  const tables = new Map<string, Column[]>();
  for (const row of rows) tables.set(row.table, [...(tables.get(row.table) ?? []), row]);
  return tables;
}

/** Per table: the row count and md5 of its rows (sorted), over every column but those REDUCED and the times. */
async function rowDigests(dataSource: DataSource): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const [table, columns] of await columnsOf(dataSource)) {
    const expressions = columns
      .filter((column) => column.type !== 'timestamp with time zone')
      .map((column) => {
        const reduced = REDUCED[table]?.[column.name];
        return reduced === undefined ? quote(column.name) : reduced;
      })
      .filter((expression): expression is string => expression !== null);
    const rows = REGROUPED[table]
      ? `SELECT t::text AS r FROM (${REGROUPED[table]}) t`
      : `SELECT ROW(${expressions.length > 0 ? expressions.join(', ') : 'NULL'})::text AS r FROM ${quote(table)}`;
    const [row] = await dataSource.query<{ rows: number; md5: string }[]>(
      `SELECT count(*)::int AS rows, coalesce(md5(string_agg(r, E'\\n' ORDER BY r COLLATE "C")), '-') AS md5
         FROM (${rows}) s`,
    );
    result[table] = `${row?.rows ?? 0} rows, md5 ${row?.md5 ?? ''}`;
  }
  return result;
}

/** Every seeded time, in epoch seconds, keyed by table.column and the row's primary key. */
async function seededTimes(dataSource: DataSource): Promise<Map<string, number>> {
  const times = new Map<string, number>();
  for (const [table, columns] of await columnsOf(dataSource)) {
    const keys = await dataSource.query<{ name: string }[]>(
      `SELECT a.attname AS name FROM pg_index i
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
        WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY a.attnum`,
      [table],
    );
    const key = `ROW(${keys.map((k) => quote(k.name)).join(', ')})::text`;
    if (REGROUPED[table]) continue;
    const selected: string[] = columns
      .filter((c) => c.type === 'timestamp with time zone' && !WRITTEN_AT.includes(`${table}.${c.name}`))
      .map((c) => `'${table}.${c.name}', extract(epoch FROM ${quote(c.name)})::float8`);
    if (table === 'oauth2_access_tokens' || table === 'oauth2_refresh_tokens') {
      for (const claim of ['exp', 'iat', 'auth_time']) {
        selected.push(`'${table}.id_token.${claim}', (id_token ->> '${claim}')::float8`);
      }
    }
    for (const pair of selected) {
      const rows = await dataSource.query<{ key: string; label: string; value: number | null }[]>(
        `SELECT ${key} AS key, x.label, x.value
           FROM ${quote(table)}, LATERAL (SELECT ${pair.replace(/, /, ' AS label, ')} AS value) x`,
      );
      for (const row of rows) {
        if (row.value !== null) times.set(`${row.label} ${row.key}`, row.value);
      }
    }
  }
  return times;
}

describe('seed --seed K', () => {
  const scratch = new ScratchDatabases('grantry_seedk');
  let first: DataSource;
  let second: DataSource;
  let other: DataSource;

  beforeAll(async () => {
    first = await seeded(scratch, 11);
    second = await seeded(scratch, 11);
    other = await seeded(scratch, 12);
  }, 180_000);

  afterAll(async () => {
    await first?.destroy();
    await second?.destroy();
    await other?.destroy();
    await scratch.dropAll();
  });

  it('gives two databases the same rows in every table (but for the times and the secrets)', async () => {
    const digests = await rowDigests(first);
    expect(await rowDigests(second)).toEqual(digests);
    // The seed filled what it should: no table compared empty by mistake.
    for (const table of ['users', 'groups', 'roles', 'user_groups', 'group_roles', 'oauth2_providers']) {
      expect({ table, empty: digests[table]?.startsWith('0 rows') }).toEqual({ table, empty: false });
    }
    for (const table of ['applications', 'oauth2_access_tokens', 'oauth2_refresh_tokens', 'audit_events']) {
      expect({ table, empty: digests[table]?.startsWith('0 rows') }).toEqual({ table, empty: false });
    }
    expect(digests.oauth2_authorization_codes).toMatch(/^25 rows/);
  });

  it('shifts every seeded time of the second run by one and the same amount', async () => {
    const a = await seededTimes(first);
    const b = await seededTimes(second);
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    expect(a.size).toBeGreaterThan(500);
    const [joined] = [...a.keys()].filter((key) => key.startsWith('users.date_joined ('));
    const shift = (b.get(joined ?? '') ?? NaN) - (a.get(joined ?? '') ?? NaN);
    expect(shift).toBeGreaterThan(0);
    const off: string[] = [];
    for (const [key, value] of a) {
      // The ID tokens' claims are whole seconds (floored), the columns microseconds.
      const tolerance = key.includes('.id_token.') ? 1 : 0.001;
      const moved = (b.get(key) ?? NaN) - value;
      if (!(Math.abs(moved - shift) <= tolerance)) off.push(`${key}: moved ${moved} s, not ${shift} s`);
    }
    expect(off).toEqual([]);
  });

  it('gives another K other rows in every table it seeds', async () => {
    const same = await rowDigests(first);
    const changed = await rowDigests(other);
    const differing = Object.keys(same).filter((table) => same[table] !== changed[table]);
    // All that K seeds, and what is counted or built from it; not the install, the key check, the signing keys
    // (compared by count and algorithm only) or the tables the seed leaves empty.
    expect(differing.sort()).toEqual([
      'applications',
      'audit_events',
      'grant_counts',
      'grant_facet_counts',
      'group_member_order',
      'group_roles',
      'groups',
      'oauth2_access_tokens',
      'oauth2_authorization_codes',
      'oauth2_providers',
      'oauth2_refresh_tokens',
      'provider_documents',
      'roles',
      'row_counts',
      'user_documents',
      'user_groups',
      'user_roles',
      'users',
    ]);
  });
});
