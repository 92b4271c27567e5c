import path from 'node:path';
import type { DataSource, MigrationInterface } from 'typeorm';
import { MIGRATIONS } from '../migrations';
import { runMigrations } from '../src/database/migrations';
import { TEST_SECRET_KEY } from './support/app';
import { publicTables, rowDigest, schemaDump, tableColumns } from './support/catalog';
import { openDataSource } from './support/database';
import { runProcess } from './support/process';
import { ScratchDatabases } from './support/scratch-database';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');
const NAMES = MIGRATIONS.map((migration) => new migration().name ?? migration.name);
const SNAPSHOT = 'down_snapshot';

/**
 * Tables whose rows the up path computes from other tables (counts, documents, orderings): dropped by the down path,
 * they must come back with the same rows when it is applied again on the same data.
 */
const DERIVED = [
  'grant_counts',
  'grant_facet_counts',
  'grant_facet_deltas',
  'grant_deltas',
  'row_counts',
  'user_documents',
  'provider_documents',
  'group_member_order',
];

/**
 * Rows a down path deletes on purpose, per migration and table: the condition of the rows it keeps. Events' down
 * makes `model` and `object_pk` NOT NULL again, so the events without them (logins, logouts, ...) cannot stay.
 */
const KEPT_BY_DOWN: Record<string, Record<string, string>> = {
  Events1764800000000: { audit_events: 'model IS NOT NULL AND object_pk IS NOT NULL' },
};

/**
 * Columns a down path empties on purpose, per migration and table: SigningKeys' down drops the keys, so the
 * providers' references to them become null, as the foreign key's ON DELETE SET NULL would make them.
 */
const NULLED_BY_DOWN: Record<string, Record<string, string[]>> = {
  SigningKeys1764520000000: { oauth2_providers: ['signing_key'] },
};

/**
 * Tables a down path changes on purpose through their triggers, per migration: the provider documents carry
 * `signing_key`, which SigningKeys' down empties. Each step checks instead that the documents equal a fresh build.
 */
const REBUILT_BY_DOWN: Record<string, string[]> = {
  SigningKeys1764520000000: ['provider_documents'],
  // GrantFacetDeltas' down moves the deltas not folded yet into the facets (split into words), and its up starts
  // with no delta: the rows differ, the counts they add up to do not (expectFacetsCurrent).
  GrantFacetDeltas1764880000000: ['grant_facet_counts', 'grant_facet_deltas'],
  // GrantDeltas' down moves its deltas into grant_counts (per provider) and grant_facet_deltas (per scope), its up
  // moves those into the facets: again the rows differ and the counts do not (expectFacetsCurrent).
  GrantDeltas1764890000000: ['grant_counts', 'grant_facet_counts', 'grant_facet_deltas', 'grant_deltas'],
  // GrantFacetCounts' up counts one row per facet, where the data it is re-applied on held several (the deltas
  // GrantFacetDeltas' down left, not folded).
  GrantFacetCounts1764870000000: ['grant_facet_counts'],
};

/**
 * With GrantFacetCounts applied: per grant table, the facets (and the deltas not folded yet, once GrantFacetDeltas
 * is applied) add up to the grants counted from the rows, per scope word (and all grants), revoked or not,
 * expiring or not and hour of expiry.
 */
async function expectFacetsCurrent(dataSource: DataSource, name: string): Promise<void> {
  const tables = await publicTables(dataSource);
  if (!tables.includes('grant_facet_counts')) return;
  // The scope deltas not folded yet: GrantFacetDeltas' table, or GrantDeltas' (which also carries the provider).
  const deltas = ['grant_facet_deltas', 'grant_deltas']
    .filter((table) => tables.includes(table))
    .map(
      (table) => `UNION ALL SELECT table_name, NULL, revoked, expiring, bucket, delta FROM ${table}
       UNION ALL SELECT DISTINCT ON (d.ctid, w) d.table_name, w, d.revoked, d.expiring, d.bucket, d.delta
                   FROM ${table} d, unnest(string_to_array(d.scope, ' ')) w WHERE w <> ''`,
    )
    .join(' ');
  const key = `table_name || ' ' || coalesce(word, '*') || ' ' || revoked || ' ' || expiring || ' ' || coalesce(bucket::text, '-')`;
  const kept = await dataSource.query<{ key: string; n: number }[]>(
    `SELECT ${key} AS key, sum(delta)::int AS n FROM (
       SELECT table_name, word, revoked, expiring, bucket, delta FROM grant_facet_counts ${deltas}) f
      GROUP BY 1 HAVING sum(delta) <> 0 ORDER BY 1`,
  );
  const counted = await dataSource.query<{ key: string; n: number }[]>(
    `SELECT ${key} AS key, count(*)::int AS n FROM (
       ${['oauth2_access_tokens', 'oauth2_refresh_tokens', 'oauth2_authorization_codes']
         .map(
           (table) => `SELECT '${table}' AS table_name, NULL::text AS word, revoked, expiring,
                              grant_expiry_bucket(expires) AS bucket FROM ${table}
                       UNION ALL SELECT DISTINCT ON (g.id, w) '${table}', w, revoked, expiring, grant_expiry_bucket(expires)
                                   FROM ${table} g, unnest(string_to_array(g.scope, ' ')) w WHERE w <> ''`,
         )
         .join(' UNION ALL ')}) f
      GROUP BY 1 ORDER BY 1`,
  );
  expect({ name, rows: counted.length > 0 }).toEqual({ name, rows: true });
  expect({ name, facets: kept }).toEqual({ name, facets: counted });
  // And the grants per provider: grant_counts, plus GrantDeltas' deltas once it is applied.
  const providerDeltas = tables.includes('grant_deltas')
    ? 'UNION ALL SELECT table_name, provider_id, delta FROM grant_deltas'
    : '';
  const providers = await dataSource.query<unknown[]>(
    `SELECT table_name, provider_id, sum(delta)::int AS n FROM (
       SELECT table_name, provider_id, delta FROM grant_counts ${providerDeltas}) k
      GROUP BY 1, 2 HAVING sum(delta) <> 0 ORDER BY 1, 2`,
  );
  const perProvider = await dataSource.query<unknown[]>(
    `SELECT table_name, provider_id, count(*)::int AS n FROM (
       ${['oauth2_access_tokens', 'oauth2_refresh_tokens', 'oauth2_authorization_codes']
         .map((table) => `SELECT '${table}' AS table_name, provider_id FROM ${table}`)
         .join(' UNION ALL ')}) g
      GROUP BY 1, 2 ORDER BY 1, 2`,
  );
  expect({ name, providers }).toEqual({ name, providers: perProvider });
}

/** With the Documents migration applied: the stored documents are those its functions build from the rows now. */
async function expectDocumentsCurrent(dataSource: DataSource, name: string): Promise<void> {
  if (!(await publicTables(dataSource)).includes('provider_documents')) return;
  const [stale] = await dataSource.query<Record<string, number>[]>(
    `SELECT (SELECT count(*)::int FROM (
               SELECT provider_id, doc::text FROM provider_documents
               EXCEPT SELECT provider_id, doc::text
                 FROM grantry_build_provider_documents(ARRAY(SELECT id FROM oauth2_providers))) x) AS providers,
            (SELECT count(*)::int FROM oauth2_providers) - (SELECT count(*)::int FROM provider_documents)
              AS missing_providers,
            (SELECT count(*)::int FROM (
               SELECT user_id, doc::text FROM user_documents
               EXCEPT SELECT user_id, doc::text FROM grantry_build_user_documents(ARRAY(SELECT id FROM users))) x)
              AS users,
            (SELECT count(*)::int FROM users) - (SELECT count(*)::int FROM user_documents) AS missing_users`,
  );
  expect({ name, stale }).toEqual({
    name,
    stale: { providers: 0, missing_providers: 0, users: 0, missing_users: 0 },
  });
}

/** The rows of every table in the public schema but `migrations`, as digests over the columns given. */
async function digests(
  dataSource: DataSource,
  columnsOf: Map<string, string[]>,
  where: Record<string, string> = {},
  schema = 'public',
): Promise<Record<string, { rows: number; md5: string }>> {
  const result: Record<string, { rows: number; md5: string }> = {};
  for (const [table, columns] of columnsOf) {
    if (table === 'migrations') continue;
    result[table] = await rowDigest(dataSource, table, columns, where[table], schema);
  }
  return result;
}

/** A copy of every table but `migrations`, as it is now, in the schema SNAPSHOT (replacing the last copy). */
async function snapshot(dataSource: DataSource, columnsOf: Map<string, string[]>): Promise<void> {
  await dataSource.query(`DROP SCHEMA IF EXISTS ${SNAPSHOT} CASCADE`);
  await dataSource.query(`CREATE SCHEMA ${SNAPSHOT}`);
  for (const table of columnsOf.keys()) {
    if (table === 'migrations') continue;
    await dataSource.query(`CREATE TABLE ${SNAPSHOT}."${table}" AS TABLE public."${table}"`);
  }
}

/** One migration's up path, recorded as TypeORM records it, in a transaction of its own. */
async function applyOne(dataSource: DataSource, migration: MigrationInterface, name: string): Promise<void> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.startTransaction();
    await migration.up(runner);
    await runner.query('INSERT INTO migrations (timestamp, name) VALUES ($1, $2)', [
      Number(/\d{13}$/.exec(name)?.[0]),
      name,
    ]);
    await runner.commitTransaction();
  } catch (error) {
    if (runner.isTransactionActive) await runner.rollbackTransaction();
    throw error;
  } finally {
    await runner.release();
  }
}

/** The columns present both before and after, per table present both before and after. */
function common(before: Map<string, string[]>, after: Map<string, string[]>): Map<string, string[]> {
  const shared = new Map<string, string[]>();
  for (const [table, columns] of before) {
    const kept = after.get(table);
    if (kept)
      shared.set(
        table,
        columns.filter((column) => kept.includes(column)),
      );
  }
  return shared;
}

async function applied(dataSource: DataSource): Promise<string[]> {
  const rows = await dataSource.query<{ name: string }[]>('SELECT name FROM migrations ORDER BY id');
  return rows.map((row) => row.name);
}

/**
 * Rows in the tables the seed command does not fill, written as the server would leave them: a password, an API
 * token, browser sessions, throttle counters, a device grant, a redeemed code, a consent, an application's group.
 */
async function addOtherRows(dataSource: DataSource): Promise<void> {
  // Writes after the seed's last fold: GrantFacetDeltas' down has deltas to keep.
  await dataSource.query(
    `UPDATE oauth2_access_tokens SET revoked = NOT revoked WHERE id IN (SELECT id FROM oauth2_access_tokens ORDER BY id LIMIT 7)`,
  );
  await dataSource.query(
    `UPDATE users SET password = 'scrypt$16384$8$1$c2FsdA$aGFzaA' WHERE id IN (SELECT id FROM users ORDER BY id LIMIT 3)`,
  );
  await dataSource.query(
    `INSERT INTO api_tokens (identifier, key_hash, intent, user_id, description, expires, expiring)
     SELECT 'down-token-' || id, sha256(convert_to('down-token-' || id, 'UTF8')), 'api', id, 'for the down test',
            now() + interval '1 day', true
       FROM users ORDER BY id LIMIT 2`,
  );
  await dataSource.query(
    `INSERT INTO sessions (id, token_hash, user_id, expires, ip, user_agent, ended)
     SELECT gen_random_uuid(), sha256(convert_to('session-' || id, 'UTF8')), id, now() + interval '1 hour',
            '127.0.0.1', 'jest', CASE WHEN id % 2 = 0 THEN now() END
       FROM users ORDER BY id LIMIT 4`,
  );
  for (const table of ['auth_failures', 'login_failures']) {
    await dataSource.query(
      `INSERT INTO ${table} (bucket, window_start, failures) VALUES ('ip:192.0.2.1', now(), 3), ('ip:192.0.2.2', now(), 1)`,
    );
  }
  await dataSource.query(
    `INSERT INTO device_throttle (bucket, window_end, hits) VALUES ('ip:192.0.2.3', now() + interval '1 hour', 2)`,
  );
  await dataSource.query(
    `INSERT INTO oauth2_device_tokens (provider_id, user_id, device_code_hash, user_code, scope, expires, family_id)
     SELECT p.id, u.id, sha256(convert_to('device-' || p.id, 'UTF8')), 'ABCD-' || p.id, 'openid',
            now() + interval '10 minutes', gen_random_uuid()
       FROM (SELECT id FROM oauth2_providers ORDER BY id LIMIT 1) p, (SELECT id FROM users ORDER BY id LIMIT 1) u`,
  );
  await dataSource.query(
    `INSERT INTO oauth2_code_redemptions (code_hash, family_id, provider_id, forget_after)
     SELECT sha256(convert_to('redeemed-' || id, 'UTF8')), gen_random_uuid(), id, now() + interval '1 hour'
       FROM oauth2_providers ORDER BY id LIMIT 2`,
  );
  await dataSource.query(
    `UPDATE oauth2_access_tokens SET family_id = gen_random_uuid() WHERE id IN
       (SELECT id FROM oauth2_access_tokens ORDER BY id LIMIT 5)`,
  );
  await dataSource.query(
    `INSERT INTO user_consents (user_id, application_id, permissions, expires)
     SELECT u.id, a.id, 'openid email', now() + interval '30 days'
       FROM (SELECT id FROM users ORDER BY id LIMIT 2) u, (SELECT id FROM applications ORDER BY slug LIMIT 1) a`,
  );
  await dataSource.query(
    `INSERT INTO application_groups (application_id, group_id)
     SELECT a.id, g.id FROM (SELECT id FROM applications ORDER BY slug LIMIT 1) a,
                            (SELECT id FROM groups ORDER BY name LIMIT 2) g`,
  );
}

describe('every migration reverted on a database with data', () => {
  const scratch = new ScratchDatabases('grantry_down');
  let fresh: DataSource;
  let worked: DataSource;
  let workedUrl: string;

  beforeAll(async () => {
    fresh = await openDataSource(await scratch.create(), 'down-fresh');
    await runMigrations(fresh);
    workedUrl = await scratch.create();
    worked = await openDataSource(workedUrl, 'down-worked');
    await runMigrations(worked);
  });

  afterAll(async () => {
    await fresh?.destroy();
    await worked?.destroy();
    await scratch.dropAll();
  });

  it('seeds every table, reverts one migration at a time keeping what each down does not drop, re-applies each on data, and ends at the schema of a fresh database', async () => {
    const seed = await runProcess(
      process.execPath,
      [
        CLI,
        'seed',
        '--seed',
        '7',
        '--users',
        '25',
        '--providers',
        '4',
        '--access-tokens',
        '60',
        '--refresh-tokens',
        '40',
        '--authorization-codes',
        '15',
        '--events',
        '80',
        '--json',
      ],
      { cwd: ROOT, env: { DATABASE_URL: workedUrl, SECRET_KEY: TEST_SECRET_KEY } },
    );
    expect({ code: seed.code, stderr: seed.stderr }).toEqual({ code: 0, stderr: '' });
    await addOtherRows(worked);

    // Every table holds rows, so no down path is tried only on an empty table.
    const full = await tableColumns(worked);
    const everything = await digests(worked, full);
    const empty = Object.entries(everything)
      .filter(([, digest]) => digest.rows === 0)
      .map(([table]) => table);
    expect(empty).toEqual([]);
    // The seed wrote events the Events down path must drop, and events it must keep.
    const [events] = await worked.query<{ dropped: number; kept: number }[]>(
      `SELECT count(*) FILTER (WHERE model IS NULL OR object_pk IS NULL)::int AS dropped,
              count(*) FILTER (WHERE model IS NOT NULL AND object_pk IS NOT NULL)::int AS kept FROM audit_events`,
    );
    expect(events?.dropped).toBeGreaterThan(0);
    expect(events?.kept).toBeGreaterThan(0);

    for (let index = NAMES.length - 1; index >= 0; index -= 1) {
      const name = NAMES[index] ?? '';
      const Migration = MIGRATIONS[index];
      if (!Migration) throw new Error(`no migration ${index}`);
      const columnsBefore = await tableColumns(worked);
      await snapshot(worked, columnsBefore);
      const kept = KEPT_BY_DOWN[name] ?? {};

      await worked.undoLastMigration({ transaction: 'each' });
      expect(await applied(worked)).toEqual(NAMES.slice(0, index));
      // What survives the down path (the tables and columns it does not drop) holds exactly what it held.
      const nulled = NULLED_BY_DOWN[name] ?? {};
      const rebuilt = REBUILT_BY_DOWN[name] ?? [];
      const shared = new Map(
        [...common(columnsBefore, await tableColumns(worked))]
          .filter(([table]) => !rebuilt.includes(table))
          .map(([table, columns]) => [table, columns.filter((column) => !nulled[table]?.includes(column))]),
      );
      await expectDocumentsCurrent(worked, name);
      await expectFacetsCurrent(worked, name);
      for (const [table, columns] of Object.entries(nulled)) {
        for (const column of columns) {
          const [row] = await worked.query<{ set: number }[]>(
            `SELECT count(*) FILTER (WHERE "${column}" IS NOT NULL)::int AS set FROM "${table}"`,
          );
          expect({ name, table, column, set: row?.set }).toEqual({ name, table, column, set: 0 });
        }
      }
      expect({ name, afterDown: await digests(worked, shared) }).toEqual({
        name,
        afterDown: await digests(worked, shared, kept, SNAPSHOT),
      });

      // The up path on the data its own down left: it succeeds, keeps that data, and rebuilds what it derives.
      await applyOne(worked, new Migration(), name);
      const columnsUp = await tableColumns(worked);
      expect([...columnsUp.keys()]).toEqual([...columnsBefore.keys()]);
      await expectDocumentsCurrent(worked, name);
      await expectFacetsCurrent(worked, name);
      const derived = new Map(
        [...columnsBefore].filter(
          ([table]) => !shared.has(table) && !rebuilt.includes(table) && DERIVED.includes(table),
        ),
      );
      const compared = new Map([...shared, ...derived]);
      expect({ name, afterUp: await digests(worked, compared) }).toEqual({
        name,
        afterUp: await digests(worked, compared, kept, SNAPSHOT),
      });
      await worked.undoLastMigration({ transaction: 'each' });
      expect(await applied(worked)).toEqual(NAMES.slice(0, index));
    }

    await worked.query(`DROP SCHEMA ${SNAPSHOT} CASCADE`);
    expect(await publicTables(worked)).toEqual(['migrations']);
    await runMigrations(worked);
    const expected = await schemaDump(fresh);
    // A dump that read nothing would compare equal too.
    for (const part of [
      'columns',
      'indexes',
      'constraints',
      'triggers',
      'functions',
      'sequences',
      'extensions',
    ]) {
      expect({ part, empty: (expected[part] ?? []).length === 0 }).toEqual({ part, empty: false });
    }
    expect(await schemaDump(worked)).toEqual(expected);
  }, 600_000);
});
