/**
 * The kept counts of the broad incident filters (migration GrantFacetCounts, Where.facetCountSql): `revoked`,
 * `is_expired`, `expires__lt/__gte` and one `scope` word, alone and combined, counted from per-hour facets plus the
 * grants of the hours holding the filters' instants. In a database of this suite's own, with grants placed on both
 * sides of those instants inside one hour, at the hour's edges, without an expiry, not expiring with a past expiry,
 * and with repeated or doubled-space scope words. Every count is compared with a count(*) written here, over the
 * rows themselves, after inserts, revocations, deletions, rolled back writes, folds, a TRUNCATE and writers in
 * another time zone; and the facets' initial fill by the migration is checked on rows that existed before it.
 */
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { GrantCounts, foldGrantCounts } from '../src/oauth2/grants/grant-counts';
import { bearer, request } from './support/app';
import { Factories } from './support/factories';
import { ScratchDatabases } from './support/scratch-database';

const TYPES = [
  { path: '/api/v3/oauth2/access_tokens/', table: 'oauth2_access_tokens', hash: 'token_hash' },
  { path: '/api/v3/oauth2/refresh_tokens/', table: 'oauth2_refresh_tokens', hash: 'token_hash' },
  { path: '/api/v3/oauth2/authorization_codes/', table: 'oauth2_authorization_codes', hash: 'code_hash' },
];
type GrantTable = (typeof TYPES)[number];

/** A fixed instant in the middle of an hour, 2030-03-10T12:30:00Z, and the hour around it. */
const T = '2030-03-10T12:30:00.000Z';
const QUERIES_AT_T = [`expires__lt=${T}`, `expires__gte=${T}`];

/**
 * A query and the same filter written as SQL over the grant's own columns (the API's documented meaning), for the
 * oracle. `scope` containment: every listed word is one of the scope's words.
 */
const CASES: { query: string; sql: string }[] = [
  { query: 'revoked=true', sql: 'revoked' },
  { query: 'revoked=false', sql: 'NOT revoked' },
  { query: 'is_expired=true', sql: 'expiring AND expires < now()' },
  { query: 'is_expired=false', sql: 'NOT COALESCE(expiring AND expires < now(), false)' },
  { query: `expires__lt=${T}`, sql: `expires < '${T}'` },
  { query: `expires__gte=${T}`, sql: `expires >= '${T}'` },
  { query: 'expires__lt=2030-03-10T12:00:00Z', sql: `expires < '2030-03-10T12:00:00Z'` },
  { query: 'expires__gte=2030-03-10T13:00:00Z', sql: `expires >= '2030-03-10T13:00:00Z'` },
  {
    query: `expires__gte=2030-03-10T12:10:00Z&expires__lt=${T}`,
    sql: `expires >= '2030-03-10T12:10:00Z' AND expires < '${T}'`,
  },
  {
    query: 'expires__gte=2020-01-01T00:00:00Z&expires__lt=2035-01-01T00:00:00Z',
    sql: `expires >= '2020-01-01T00:00:00Z' AND expires < '2035-01-01T00:00:00Z'`,
  },
  { query: 'scope=openid', sql: `'openid' = ANY(string_to_array(scope, ' '))` },
  { query: 'scope=email', sql: `'email' = ANY(string_to_array(scope, ' '))` },
  { query: 'scope=email,email', sql: `'email' = ANY(string_to_array(scope, ' '))` },
  { query: 'scope=nothing', sql: 'false' },
  {
    query: 'revoked=false&scope=openid&ordering=-expires',
    sql: `NOT revoked AND 'openid' = ANY(string_to_array(scope, ' '))`,
  },
  {
    query: `is_expired=false&revoked=true&expires__lt=${T}&scope=email`,
    sql: `NOT COALESCE(expiring AND expires < now(), false) AND revoked AND expires < '${T}'
          AND 'email' = ANY(string_to_array(scope, ' '))`,
  },
  {
    query: 'is_expired=true&expires__gte=2020-01-01T00:00:00Z',
    sql: `expiring AND expires < now() AND expires >= '2020-01-01T00:00:00Z'`,
  },
  // Not answered by the facets (two words together; a user): counted the ordinary way, and still right.
  {
    query: 'scope=openid email',
    sql: `'openid' = ANY(string_to_array(scope, ' ')) AND 'email' = ANY(string_to_array(scope, ' '))`,
  },
  { query: 'revoked=true&username=facet-alice', sql: 'revoked AND user_id = $alice' },
];

const scratch = new ScratchDatabases('grantry_facets');
let app: NestFastifyApplication;
let dataSource: DataSource;
let adminKey: string;
let aliceId: number;
let providerId: number;

/**
 * The rows placed around the instants the filters turn on (`now` is the database's clock at insert time): the start
 * and the last microsecond of now's hour, a minute either side of now, the same around T, both edges of T's hour, an
 * hour away from it, far past and future, no expiry, not expiring, revoked or not, repeated and empty scope words.
 */
const ROWS_SQL = (table: string, hash: string): string => `
  INSERT INTO ${table} (provider_id, user_id, ${hash}, scope, expires, expiring, revoked)
  SELECT $1, $2, sha256(gen_random_uuid()::text::bytea) , v.scope, v.expires, v.expiring, v.revoked
    FROM (VALUES
      ('openid email', date_trunc('hour', now()), true, false),
      ('openid', date_trunc('hour', now()) + interval '1 hour' - interval '1 microsecond', true, false),
      ('openid openid email', now() - interval '1 minute', true, true),
      ('email', now() + interval '1 minute', true, false),
      ('openid  email', now() - interval '1 minute', false, false),
      ('', now() + interval '1 minute', true, true),
      ('openid', timestamptz '${T}' - interval '1 microsecond', true, false),
      ('openid email', timestamptz '${T}', true, true),
      ('email', timestamptz '${T}' + interval '1 microsecond', true, false),
      ('profile', timestamptz '2030-03-10T12:00:00Z', true, false),
      ('profile email', timestamptz '2030-03-10T12:59:59.999999Z', true, true),
      ('openid', timestamptz '2030-03-10T11:59:59.999999Z', true, false),
      ('openid', timestamptz '2030-03-10T13:00:00Z', false, false),
      ('email openid', timestamptz '2001-01-01T00:00:00Z', true, true),
      ('openid', timestamptz '2001-01-01T00:00:00Z', false, false),
      ('profile', timestamptz '2099-01-01T00:00:00Z', true, false),
      ('openid email profile', NULL, false, false),
      ('openid', NULL, false, true)
    ) AS v(scope, expires, expiring, revoked)`;

async function insertRows(type: GrantTable, on: DataSource | { query: DataSource['query'] } = dataSource) {
  await on.query(ROWS_SQL(type.table, type.hash), [providerId, aliceId]);
}

/** The count the API answers for `query`. */
async function apiCount(type: GrantTable, query: string): Promise<number> {
  const response = await request(app, 'GET', `${type.path}?${query}`, bearer(adminKey));
  expect({ query, status: response.status }).toEqual({ query, status: 200 });
  return (response.body as { pagination: { count: number } }).pagination.count;
}

/** The oracle: count(*) of the rows matching the filter's SQL, written above. */
async function rowCount(type: GrantTable, sql: string): Promise<number> {
  const [row] = await dataSource.query<{ n: string }[]>(
    `SELECT count(*)::text AS n FROM ${type.table} WHERE ${sql.replace('$alice', String(aliceId))}`,
  );
  return Number(row?.n);
}

/** Every case's API count next to the oracle's, for one table, as one comparable object. */
async function compareAll(type: GrantTable): Promise<void> {
  const got: Record<string, number> = {};
  const want: Record<string, number> = {};
  for (const c of CASES) {
    got[c.query] = await apiCount(type, c.query);
    want[c.query] = await rowCount(type, c.sql);
  }
  expect(got).toEqual(want);
}

/** grant_facet_counts' sums for one table, and the same figures counted from the grants themselves. */
/**
 * The facets (with, on GrantFacetDeltas' schema, its unfolded scope deltas split into words) against the rows; and
 * with `providers`, grant_counts against the rows per provider.
 */
async function expectFacetsMatchRows(
  type: GrantTable,
  olderSchema?: { deltaTable: 'grant_facet_deltas' | 'grant_deltas'; providers: true },
): Promise<void> {
  const key = `coalesce(word, '*') || ' ' || revoked || ' ' || expiring || ' ' || coalesce(bucket::text, '-')`;
  const deltaTable = olderSchema?.deltaTable;
  const facetDeltas = deltaTable
    ? `UNION ALL SELECT NULL, revoked, expiring, bucket, delta FROM ${deltaTable} WHERE table_name = $1
       UNION ALL SELECT w, d.revoked, d.expiring, d.bucket, d.delta
                   FROM ${deltaTable} d, LATERAL (SELECT DISTINCT w FROM unnest(string_to_array(d.scope, ' ')) w
                                                   WHERE w <> '') words
                  WHERE d.table_name = $1`
    : '';
  // On GrantDeltas' schema the provider counts' unfolded deltas are in grant_deltas too.
  const providerDeltas =
    deltaTable === 'grant_deltas'
      ? 'UNION ALL SELECT provider_id, delta FROM grant_deltas WHERE table_name = $1'
      : '';
  const facets = await dataSource.query<{ key: string; n: number }[]>(
    `SELECT ${key} AS key, sum(delta)::int AS n FROM (
       SELECT word, revoked, expiring, bucket, delta FROM grant_facet_counts WHERE table_name = $1 ${facetDeltas}) f
      GROUP BY 1 HAVING sum(delta) <> 0 ORDER BY 1`,
    [type.table],
  );
  if (olderSchema?.providers) {
    const kept = await dataSource.query<unknown[]>(
      `SELECT provider_id, sum(delta)::int AS n FROM (
         SELECT provider_id, delta FROM grant_counts WHERE table_name = $1 ${providerDeltas}) k
        GROUP BY 1 HAVING sum(delta) <> 0 ORDER BY 1`,
      [type.table],
    );
    const counted = await dataSource.query<unknown[]>(
      `SELECT provider_id, count(*)::int AS n FROM ${type.table} GROUP BY 1 ORDER BY 1`,
    );
    expect(kept).toEqual(counted);
  }
  const rows = await dataSource.query<{ key: string; n: number }[]>(
    `SELECT ${key} AS key, count(*)::int AS n FROM (
       SELECT NULL::text AS word, revoked, expiring, grant_expiry_bucket(expires) AS bucket FROM ${type.table}
       UNION ALL
       SELECT DISTINCT ON (g.id, w) w, revoked, expiring, grant_expiry_bucket(expires)
         FROM ${type.table} g, unnest(string_to_array(g.scope, ' ')) w WHERE w <> '') f
      GROUP BY 1 ORDER BY 1`,
  );
  expect(rows.length).toBeGreaterThan(10);
  expect(facets).toEqual(rows);
}

beforeAll(async () => {
  ({ app, dataSource } = await scratch.createApp());
  const f = new Factories(dataSource);
  adminKey = (await f.superuser()).key;
  aliceId = (await f.user({ username: 'facet-alice' })).id;
  providerId = (await f.provider()).id;
});

afterAll(async () => {
  await app?.close();
  await scratch.dropAll();
});

describe('facet counts', () => {
  it('the migration fills the facets from the grants that exist before it', async () => {
    // Undo GrantFacetCounts (and the migrations after it), write grants the old triggers do not count, migrate again.
    // (The other tests may have run first: npm run test:shuffled runs a file's tests in any order.)
    const revokedBefore = await rowCount(TYPES[0]!, 'revoked');
    const undone: string[] = [];
    while (!undone.includes('GrantFacetCounts1764870000000')) {
      const [last] = await dataSource.query<{ name: string }[]>(
        'SELECT name FROM migrations ORDER BY id DESC LIMIT 1',
      );
      undone.push(last?.name ?? '');
      await dataSource.undoLastMigration({ transaction: 'all' });
    }
    expect(undone).toEqual([
      'GrantFoldMarks1764900000000',
      'GrantDeltas1764890000000',
      'GrantFacetDeltas1764880000000',
      'GrantRevokedAt1764871000000',
      'GrantFacetCounts1764870000000',
    ]);
    for (const type of TYPES) await insertRows(type);
    await dataSource.runMigrations({ transaction: 'all' });
    for (const type of TYPES) await compareAll(type);
    // A hand-checked figure, so that the oracle is not the only judge: of the 18 rows, 6 are revoked.
    expect(await apiCount(TYPES[0]!, 'revoked=true')).toBe(revokedBefore + 6);
  });

  it('the counts come from the facets and the unfolded deltas: rows written by hand show in them, and not in the others', async () => {
    const type = TYPES[0]!;
    const before = Object.fromEntries(
      await Promise.all(CASES.map(async (c) => [c.query, await apiCount(type, c.query)] as const)),
    );
    await dataSource.query(
      `INSERT INTO grant_facet_counts (table_name, word, revoked, expiring, bucket, delta)
       VALUES ($1, NULL, true, true, '1990-01-01T00:00:00Z', 1000), ($1, 'openid', false, true, '2090-01-01T00:00:00Z', 100)`,
      [type.table],
    );
    // A delta not folded yet keeps the scope whole: it counts once under each of its words, repeated or not.
    await dataSource.query(
      `INSERT INTO grant_deltas (table_name, provider_id, scope, revoked, expiring, bucket, delta)
       VALUES ($1, $2, 'openid openid email', false, true, '2091-01-01T00:00:00Z', 10)`,
      [type.table, providerId],
    );
    try {
      const after = Object.fromEntries(
        await Promise.all(CASES.map(async (c) => [c.query, await apiCount(type, c.query)] as const)),
      );
      const shift = Object.fromEntries(CASES.map((c) => [c.query, after[c.query]! - before[c.query]!]));
      expect(shift).toEqual({
        'revoked=true': 1000,
        'revoked=false': 10,
        'is_expired=true': 1000,
        'is_expired=false': 10,
        [`expires__lt=${T}`]: 1000,
        [`expires__gte=${T}`]: 10,
        'expires__lt=2030-03-10T12:00:00Z': 1000,
        'expires__gte=2030-03-10T13:00:00Z': 10,
        [`expires__gte=2030-03-10T12:10:00Z&expires__lt=${T}`]: 0,
        'expires__gte=2020-01-01T00:00:00Z&expires__lt=2035-01-01T00:00:00Z': 0,
        'scope=openid': 110,
        'scope=email': 10,
        'scope=email,email': 10,
        'scope=nothing': 0,
        'revoked=false&scope=openid&ordering=-expires': 110,
        [`is_expired=false&revoked=true&expires__lt=${T}&scope=email`]: 0,
        'is_expired=true&expires__gte=2020-01-01T00:00:00Z': 0,
        'scope=openid email': 0,
        'revoked=true&username=facet-alice': 0,
      });
    } finally {
      await dataSource.query(`DELETE FROM grant_facet_counts WHERE delta IN (1000, 100) AND bucket IN
        ('1990-01-01T00:00:00Z', '2090-01-01T00:00:00Z')`);
      await dataSource.query(`DELETE FROM grant_deltas WHERE bucket = '2091-01-01T00:00:00Z'`);
    }
  });

  it('an insert writes no delta (the grants above the fold mark are counted from the table), an update of folded grants one per group; the fold splits them into word facets and moves the mark', async () => {
    const type = TYPES[1]!;
    const rows = async (): Promise<{ deltas: unknown[]; facets: number; above: number }> => {
      const deltas = await dataSource.query<unknown[]>(
        `SELECT scope, revoked, expiring, to_char(bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS bucket,
                delta::int FROM grant_deltas WHERE table_name = $1 ORDER BY delta, revoked`,
        [type.table],
      );
      const [counts] = await dataSource.query<{ facets: number; above: number }[]>(
        `SELECT (SELECT count(*) FROM grant_facet_counts WHERE table_name = $1)::int AS facets,
                (SELECT count(*) FROM ${type.table}
                  WHERE id > (SELECT last_id FROM grant_fold_marks WHERE table_name = $1))::int AS above`,
        [type.table],
      );
      return { deltas, facets: counts?.facets ?? -1, above: counts?.above ?? -1 };
    };
    await foldGrantCounts(dataSource);
    const folded = await rows();
    expect(folded).toEqual({ deltas: [], facets: folded.facets, above: 0 });
    // Three grants in one statement, alike but for their expiry within one hour: no delta row (no insert trigger,
    // migration GrantFoldMarks), no facet row; three grants above the mark.
    await dataSource.query(
      `INSERT INTO ${type.table} (provider_id, user_id, token_hash, scope, expires, expiring, revoked)
       SELECT $1, $2, sha256(gen_random_uuid()::text::bytea), 'delta-a delta-b delta-a', e, true, false
         FROM unnest(ARRAY['2031-05-05T10:05:00Z', '2031-05-05T10:30:00Z', '2031-05-05T10:59:00Z']::timestamptz[]) e`,
      [providerId, aliceId],
    );
    expect(await rows()).toEqual({ deltas: [], facets: folded.facets, above: 3 });
    // Revoking them before a fold writes no delta either: they are counted from the table as they are.
    await dataSource.query(`UPDATE ${type.table} SET revoked = true WHERE scope = 'delta-a delta-b delta-a'`);
    expect(await rows()).toEqual({ deltas: [], facets: folded.facets, above: 3 });
    expect(await apiCount(type, 'scope=delta-a')).toBe(3);
    expect(await apiCount(type, 'scope=delta-b&revoked=true')).toBe(3);
    expect(await apiCount(type, 'scope=delta-b&revoked=false')).toBe(0);
    // Folded: nothing above the mark, and the grants counted under all grants and each distinct word, revoked.
    await foldGrantCounts(dataSource);
    expect(await rows()).toMatchObject({ deltas: [], above: 0 });
    const words = async (): Promise<unknown[]> =>
      dataSource.query<unknown[]>(
        `SELECT word, revoked, sum(delta)::int AS delta FROM grant_facet_counts
          WHERE table_name = $1 AND bucket = '2031-05-05T10:00:00Z' GROUP BY 1, 2 ORDER BY word NULLS FIRST, revoked`,
        [type.table],
      );
    expect(await words()).toEqual([
      { word: null, revoked: true, delta: 3 },
      { word: 'delta-a', revoked: true, delta: 3 },
      { word: 'delta-b', revoked: true, delta: 3 },
    ]);
    // Now below the mark, an update moves them with one delta per group: minus three revoked, plus three not.
    // Touching no counted column moves nothing.
    await dataSource.query(
      `UPDATE ${type.table} SET revoked = false WHERE scope = 'delta-a delta-b delta-a'`,
    );
    await dataSource.query(
      `UPDATE ${type.table} SET created = created WHERE scope = 'delta-a delta-b delta-a'`,
    );
    const one = { scope: 'delta-a delta-b delta-a', expiring: true, bucket: '2031-05-05 10:00' };
    expect((await rows()).deltas).toEqual([
      { ...one, revoked: true, delta: -3 },
      { ...one, revoked: false, delta: 3 },
    ]);
    expect(await apiCount(type, 'scope=delta-a&revoked=false')).toBe(3);
    expect(await apiCount(type, 'scope=delta-b&revoked=true')).toBe(0);
    await foldGrantCounts(dataSource);
    expect(await rows()).toMatchObject({ deltas: [], above: 0 });
    expect(await words()).toEqual([
      { word: null, revoked: false, delta: 3 },
      { word: 'delta-a', revoked: false, delta: 3 },
      { word: 'delta-b', revoked: false, delta: 3 },
    ]);
    await compareAll(type);
  });

  it.each(TYPES)(
    '$table: agree with count(*) after inserts, revocations, deletions and rollbacks',
    async (type) => {
      await insertRows(type);
      await compareAll(type);
      // A revocation moves grants between facets; so does an update of the expiry or the scope.
      await dataSource.query(
        `UPDATE ${type.table} SET revoked = true WHERE scope = 'openid' AND NOT revoked`,
      );
      await dataSource.query(
        `UPDATE ${type.table} SET expires = expires + interval '30 minutes', scope = scope || ' extra'
        WHERE scope LIKE 'email%'`,
      );
      // An update that changes none of the counted columns moves nothing.
      await dataSource.query(`UPDATE ${type.table} SET created = created - interval '1 day'`);
      await compareAll(type);
      // Deletions, as the cleanup and cascades do them.
      await dataSource.query(
        `DELETE FROM ${type.table} WHERE expires < '2002-01-01' OR expires IS NULL AND revoked`,
      );
      await compareAll(type);
      // A rolled back write leaves the counts as they were.
      await dataSource
        .transaction(async (manager) => {
          await manager.query(ROWS_SQL(type.table, type.hash), [providerId, aliceId]);
          await manager.query(`UPDATE ${type.table} SET revoked = NOT revoked`);
          throw new Error('roll back');
        })
        .catch((error: Error) => expect(error.message).toBe('roll back'));
      await compareAll(type);
    },
  );

  it('agree after a fold, which leaves one row per facet', async () => {
    expect(await app.get(GrantCounts).fold()).toBe(true);
    const [dupes] = await dataSource.query<{ n: string }[]>(
      `SELECT count(*)::text AS n FROM (
         SELECT 1 FROM grant_facet_counts GROUP BY table_name, word, revoked, expiring, bucket HAVING count(*) > 1) d`,
    );
    expect(dupes?.n).toBe('0');
    for (const type of TYPES) await compareAll(type);
  });

  it('agree after folds racing each other and writers, none holding the fold lock', async () => {
    const type = TYPES[0]!;
    await Promise.all([
      foldGrantCounts(dataSource),
      insertRows(type),
      foldGrantCounts(dataSource),
      dataSource.query(`UPDATE ${type.table} SET revoked = NOT revoked WHERE scope = 'profile'`),
      foldGrantCounts(dataSource),
      insertRows(type),
    ]);
    await compareAll(type);
    await foldGrantCounts(dataSource);
    await compareAll(type);
  });

  it('writers in a time zone with a half-hour offset bucket as everyone else', async () => {
    const type = TYPES[1]!;
    await dataSource.transaction(async (manager) => {
      await manager.query(`SET LOCAL TIME ZONE 'Asia/Kolkata'`);
      await insertRows(type, manager);
      await manager.query(`UPDATE ${type.table} SET revoked = true WHERE expires = '${T}'`);
    });
    await compareAll(type);
    // The bucket of 12:30 UTC (18:00 in Kolkata) is 12:00 UTC.
    const [bucket] = await dataSource.query<{ b: string }[]>(
      `SELECT to_char(grant_expiry_bucket('${T}') AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS b`,
    );
    expect(bucket?.b).toBe('2030-03-10 12:00:00');
  });

  it('a TRUNCATE empties them, and later inserts count from zero', async () => {
    const type = TYPES[2]!;
    await dataSource.query(`TRUNCATE ${type.table}`);
    const [left] = await dataSource.query<{ n: string }[]>(
      'SELECT count(*)::text AS n FROM grant_facet_counts WHERE table_name = $1',
      [type.table],
    );
    expect(left?.n).toBe('0');
    const [deltas] = await dataSource.query<{ n: string }[]>(
      'SELECT count(*)::text AS n FROM grant_deltas WHERE table_name = $1',
      [type.table],
    );
    expect(deltas?.n).toBe('0');
    const [mark] = await dataSource.query<{ last_id: string }[]>(
      'SELECT last_id::text FROM grant_fold_marks WHERE table_name = $1',
      [type.table],
    );
    expect(mark?.last_id).toBe('0');
    expect(await apiCount(type, 'revoked=true')).toBe(0);
    await insertRows(type);
    await compareAll(type);
    expect(await apiCount(type, 'revoked=true')).toBe(6);
  });

  it("undoing GrantFoldMarks turns the grants above the mark into deltas, and GrantDeltas' insert trigger counts on", async () => {
    const type = TYPES[0]!;
    await insertRows(type);
    await foldGrantCounts(dataSource);
    await insertRows(type);
    await dataSource.query(`UPDATE ${type.table} SET revoked = NOT revoked WHERE scope LIKE 'openid%'`);
    const [pending] = await dataSource.query<{ deltas: number; above: number }[]>(
      `SELECT (SELECT count(*) FROM grant_deltas WHERE table_name = $1)::int AS deltas,
              (SELECT count(*) FROM ${type.table}
                WHERE id > (SELECT last_id FROM grant_fold_marks WHERE table_name = $1))::int AS above`,
      [type.table],
    );
    // The update touched folded grants (deltas) and the 18 new ones (above the mark, no delta).
    expect(pending?.deltas).toBeGreaterThan(0);
    expect(pending?.above).toBe(18);
    await dataSource.undoLastMigration({ transaction: 'all' });
    try {
      const [last] = await dataSource.query<{ name: string }[]>(
        'SELECT name FROM migrations ORDER BY id DESC LIMIT 1',
      );
      expect(last?.name).toBe('GrantDeltas1764890000000');
      // This code reads the fold marks, so the API cannot answer on the older schema: the kept counts and
      // grant_deltas are compared with the rows directly, per provider and per facet.
      const olderSchema = { deltaTable: 'grant_deltas', providers: true } as const;
      await expectFacetsMatchRows(type, olderSchema);
      await insertRows(type);
      await dataSource.query(`DELETE FROM ${type.table} WHERE scope = 'profile'`);
      await expectFacetsMatchRows(type, olderSchema);
    } finally {
      await dataSource.runMigrations({ transaction: 'all' });
    }
    await insertRows(type);
    await compareAll(type);
    await foldGrantCounts(dataSource);
    await compareAll(type);
  });

  it('undoing GrantDeltas keeps the unfolded deltas as provider counts and scope deltas, and the old triggers count on', async () => {
    const type = TYPES[0]!;
    await insertRows(type);
    await dataSource.query(`UPDATE ${type.table} SET revoked = NOT revoked WHERE scope LIKE 'openid%'`);
    // GrantFoldMarks' down turns the grants above the mark into deltas; GrantDeltas' then moves them on.
    await dataSource.undoLastMigration({ transaction: 'all' });
    const [pending] = await dataSource.query<{ n: number }[]>(
      'SELECT count(*)::int AS n FROM grant_deltas WHERE table_name = $1',
      [type.table],
    );
    expect(pending?.n).toBeGreaterThan(0);
    await dataSource.undoLastMigration({ transaction: 'all' });
    try {
      const [last] = await dataSource.query<{ name: string }[]>(
        'SELECT name FROM migrations ORDER BY id DESC LIMIT 1',
      );
      expect(last?.name).toBe('GrantFacetDeltas1764880000000');
      // This code reads the deltas' table, so the API cannot answer on the older schema: the kept counts are
      // compared with the rows directly, per provider, and per word (and all grants), revoked or not, expiring or
      // not and hour of expiry.
      const olderSchema = { deltaTable: 'grant_facet_deltas', providers: true } as const;
      await expectFacetsMatchRows(type, olderSchema);
      await insertRows(type);
      await expectFacetsMatchRows(type, olderSchema);
    } finally {
      await dataSource.runMigrations({ transaction: 'all' });
    }
    await insertRows(type);
    await compareAll(type);
  });

  it('the queries at T split the rows of T’s hour exactly', async () => {
    // Rows at T - 1us, T and T + 1us, and at both edges of the hour: 2 before T, 3 from T on, per insertRows call;
    // on an emptied table, whichever tests ran before.
    const type = TYPES[2]!;
    await dataSource.query(`TRUNCATE ${type.table}`);
    await insertRows(type);
    const counts = await Promise.all(QUERIES_AT_T.map((query) => apiCount(type, query)));
    const [hour] = await dataSource.query<{ before: string; after: string }[]>(
      `SELECT count(*) FILTER (WHERE expires < '${T}')::text AS before,
              count(*) FILTER (WHERE expires >= '${T}')::text AS after
         FROM ${type.table} WHERE expires >= '2030-03-10T12:00:00Z' AND expires < '2030-03-10T13:00:00Z'`,
    );
    expect({ before: hour?.before, after: hour?.after }).toEqual({ before: '2', after: '3' });
    const total = await apiCount(type, '');
    const nullExpiry = await rowCount(type, 'expires IS NULL');
    expect(counts[0]! + counts[1]! + nullExpiry).toBe(total);
  });
});
