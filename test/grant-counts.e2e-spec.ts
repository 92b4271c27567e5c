/**
 * The unfiltered list's `count` comes from trigger-maintained deltas, not COUNT(*). It must stay exact while rows are
 * inserted and deleted from several connections, with transactions rolling back and folds running concurrently.
 */
import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { GrantCounts, unfoldedGrantDeltas } from '../src/oauth2/grants/grant-counts';
import { bearer, createTestApp, openTestDataSource, request, type TestApp } from './support/app';
import { GRANT_TABLES, GrantFactories, type GrantType } from './support/factories';

const PATHS: Record<GrantType, string> = {
  access: '/api/v3/oauth2/access_tokens/',
  refresh: '/api/v3/oauth2/refresh_tokens/',
  code: '/api/v3/oauth2/authorization_codes/',
};
const TABLES = Object.fromEntries(
  (['access', 'refresh', 'code'] as const).map((type) => [
    type,
    { ...GRANT_TABLES[type], path: PATHS[type] },
  ]),
) as Record<GrantType, { table: string; hash: string; path: string }>;

let t: TestApp;
let f: GrantFactories;
let writers: DataSource;
let adminKey: string;
let userId: number;
let providerId: number;
let otherProviderId: number;

beforeAll(async () => {
  t = await createTestApp({ GRANT_COUNTS_FOLD_MS: '25' });
  f = new GrantFactories(t.dataSource);
  const admins = await f.group({ isSuperuser: true });
  const admin = await f.user();
  await f.member(admin, admins);
  adminKey = await f.apiKey(admin);
  userId = (await f.user()).id;
  providerId = (await f.provider()).id;
  otherProviderId = (await f.provider()).id;
  writers = await openTestDataSource('grantry-count-writers', 6);
});
afterAll(async () => {
  await writers.destroy();
  await t.close();
});

async function apiCount(type: GrantType): Promise<number> {
  const response = await request(t.app, 'GET', `${TABLES[type].path}?page_size=1`, bearer(adminKey));
  expect(response.status).toBe(200);
  return (response.body as { pagination: { count: number } }).pagination.count;
}

async function tableCount(type: GrantType): Promise<number> {
  const [row] = await t.dataSource.query<{ count: number }[]>(
    `SELECT count(*)::int AS count FROM ${TABLES[type].table}`,
  );
  return row?.count ?? -1;
}

interface Snapshot {
  counted: number;
  summed: number;
  /** Providers whose summed deltas differ from COUNT(*) of their grants. */
  mismatched: number;
}

/**
 * The kept per-provider rows of table $1: folded (grant_counts) and not folded yet (the triggers' deltas and the
 * grants above the fold mark, unfoldedGrantDeltas).
 */
const kept = (table: string): string => `(SELECT provider_id, delta FROM grant_counts WHERE table_name = $1
               UNION ALL SELECT provider_id, delta FROM (${unfoldedGrantDeltas(table)}) u) kept`;

/** The counts and the deltas from one statement, so from one snapshot even while writers run. */
async function sameSnapshot(type: GrantType): Promise<Snapshot> {
  const { table } = TABLES[type];
  const [row] = await t.dataSource.query<Snapshot[]>(
    `SELECT (SELECT count(*) FROM ${table})::int AS counted,
            (SELECT coalesce(sum(delta), 0) FROM ${kept(table)})::int AS summed,
            (SELECT count(*) FROM (SELECT provider_id, count(*) AS n FROM ${table} GROUP BY provider_id) c
               FULL JOIN (SELECT provider_id, sum(delta) AS n FROM ${kept(table)}
                           GROUP BY provider_id HAVING sum(delta) <> 0) d USING (provider_id)
              WHERE c.n IS DISTINCT FROM d.n)::int AS mismatched`,
    [table],
  );
  return row ?? { counted: -1, summed: -2, mismatched: -1 };
}

function insertSql(type: GrantType, rows: number): string {
  const { table, hash } = TABLES[type];
  return `INSERT INTO ${table} (provider_id, user_id, ${hash}, scope, expires, expiring)
          SELECT $1, $2, sha256(gen_random_uuid()::text::bytea), 'openid', now() + interval '1 hour', true
            FROM generate_series(1, ${rows})`;
}

/** One writer: a random mix of single and multi-row inserts, deletes, and rolled-back transactions. */
async function churn(type: GrantType, until: number, seed: number): Promise<number> {
  const { table } = TABLES[type];
  let statements = 0;
  let state = seed;
  const next = (n: number): number => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state % n;
  };
  while (Date.now() < until) {
    try {
      await churnOnce(type, table, next);
    } catch (error) {
      // Five writers deleting random rows of one user lock them in no common order, so PostgreSQL may abort one as
      // a deadlock victim: that statement rolled back, which is one more case the counts must survive.
      if ((error as { driverError?: { code?: string } }).driverError?.code !== '40P01') throw error;
    }
    statements += 1;
  }
  return statements;
}

async function churnOnce(type: GrantType, table: string, next: (n: number) => number): Promise<void> {
  const action = next(6);
  if (action === 0 || action === 1) {
    const provider = next(2) === 0 ? providerId : otherProviderId;
    await writers.query(insertSql(type, 1 + next(action === 0 ? 1 : 20)), [provider, userId]);
  } else if (action === 2) {
    await writers.query(
      `DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE user_id = $1 ORDER BY random() LIMIT $2)`,
      [userId, 1 + next(5)],
    );
  } else if (action === 3) {
    const runner = writers.createQueryRunner();
    await runner.startTransaction();
    try {
      await runner.query(insertSql(type, 5), [providerId, userId]);
      await runner.query(
        `DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE user_id = $1 LIMIT 3)`,
        [userId],
      );
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
  } else {
    const runner = writers.createQueryRunner();
    await runner.startTransaction();
    try {
      await runner.query(insertSql(type, 3), [providerId, userId]);
      await runner.query(
        `DELETE FROM ${table} WHERE id = (SELECT max(id) FROM ${table} WHERE user_id = $1)`,
        [userId],
      );
      await runner.commitTransaction();
    } catch (error) {
      await runner.rollbackTransaction();
      throw error;
    } finally {
      await runner.release();
    }
  }
}

describe.each(['access', 'refresh', 'code'] as GrantType[])('%s: the list count', (type) => {
  it('equals COUNT(*) after concurrent inserts, deletes, rollbacks and folds, and at every snapshot during them', async () => {
    const before = await apiCount(type);
    expect(before).toBe(await tableCount(type));

    const until = Date.now() + 1500;
    const folds = t.app.get(GrantCounts);
    const checks: Snapshot[] = [];
    const [statements] = await Promise.all([
      Promise.all([1, 2, 3, 4, 5].map((seed) => churn(type, until, seed))).then((counts) =>
        counts.reduce((a, b) => a + b, 0),
      ),
      (async () => {
        while (Date.now() < until) {
          checks.push(await sameSnapshot(type));
          await folds.fold();
        }
      })(),
    ]);
    expect(statements).toBeGreaterThan(50);
    expect(checks.length).toBeGreaterThan(5);
    for (const check of checks) {
      expect(check.summed).toBe(check.counted);
      expect(check.mismatched).toBe(0);
    }

    const after = await tableCount(type);
    expect(after).not.toBe(before); // the churn really changed the table
    expect(await apiCount(type)).toBe(after);
    await folds.fold();
    expect(await apiCount(type)).toBe(after);
    const [folded] = await t.dataSource.query<{ rows: number; providers: number }[]>(
      `SELECT (SELECT count(*) FROM grant_counts WHERE table_name = $1)::int AS rows,
              (SELECT count(*) FROM grant_deltas WHERE table_name = $1)::int AS deltas,
              (SELECT count(*) FROM ${TABLES[type].table}
                WHERE id > (SELECT last_id FROM grant_fold_marks WHERE table_name = $1))::int AS above,
              (SELECT count(DISTINCT provider_id) FROM ${TABLES[type].table})::int AS providers`,
      [TABLES[type].table],
    );
    // Folded into one row per provider, no delta and no grant above the fold mark left behind.
    expect(folded).toEqual({ rows: folded?.providers, deltas: 0, above: 0, providers: folded?.providers });
    expect(await sameSnapshot(type)).toMatchObject({ mismatched: 0 });
  });

  it('per provider: follows an UPDATE that moves grants, and the ?provider= count agrees', async () => {
    const from = await f.provider();
    const to = await f.provider();
    const user = await f.user();
    for (let i = 0; i < 5; i += 1) await f.grant(type, user.id, from.id);
    const providerCount = async (id: number): Promise<number> => {
      const response = await request(t.app, 'GET', `${TABLES[type].path}?provider=${id}`, bearer(adminKey));
      return (response.body as { pagination: { count: number } }).pagination.count;
    };
    expect([await providerCount(from.id), await providerCount(to.id)]).toEqual([5, 0]);
    await t.dataSource.query(
      `UPDATE ${TABLES[type].table} SET provider_id = $1 WHERE id IN (SELECT id FROM ${TABLES[type].table} WHERE provider_id = $2 LIMIT 2)`,
      [to.id, from.id],
    );
    expect([await providerCount(from.id), await providerCount(to.id)]).toEqual([3, 2]);
    await t.dataSource.query(
      `UPDATE ${TABLES[type].table} SET scope = 'openid profile' WHERE provider_id = $1`,
      [to.id],
    );
    expect(await sameSnapshot(type)).toMatchObject({ mismatched: 0 });
  });

  it('follows deletes that cascade from a user, and TRUNCATE', async () => {
    const doomed = await f.user();
    for (let i = 0; i < 7; i += 1) await f.grant(type, doomed.id, providerId);
    const before = await apiCount(type);
    await t.dataSource.query('DELETE FROM users WHERE id = $1', [doomed.id]);
    expect(await apiCount(type)).toBe(before - 7);
    expect(await apiCount(type)).toBe(await tableCount(type));

    const runner = t.dataSource.createQueryRunner();
    await runner.startTransaction();
    try {
      await runner.query(`TRUNCATE ${TABLES[type].table} CASCADE`);
      const [row] = (await runner.query(
        `SELECT coalesce(sum(delta), 0)::int AS summed FROM ${kept(TABLES[type].table)}`,
        [TABLES[type].table],
      )) as { summed: number }[];
      expect(row?.summed).toBe(0);
    } finally {
      await runner.rollbackTransaction();
      await runner.release();
    }
    expect(await apiCount(type)).toBe(await tableCount(type));
  });
});

describe('the fold mark (migration GrantFoldMarks)', () => {
  const table = 'oauth2_access_tokens';
  /** The id sequence's last value: where the mark stands once everything is folded. */
  const sequenceLast = async (): Promise<number> => {
    const [row] = await t.dataSource.query<{ last: string }[]>(
      `SELECT pg_sequence_last_value(pg_get_serial_sequence($1, 'id')::regclass)::text AS last`,
      [table],
    );
    return Number(row?.last);
  };
  const mark = async (): Promise<number> => {
    const [row] = await t.dataSource.query<{ last_id: string }[]>(
      'SELECT last_id::text FROM grant_fold_marks WHERE table_name = $1',
      [table],
    );
    return Number(row?.last_id);
  };

  it('never passes a grant whose transaction is still open: a lower id committed after a higher one is counted', async () => {
    const folds = t.app.get(GrantCounts);
    await folds.fold();
    const open = writers.createQueryRunner();
    await open.startTransaction();
    try {
      const [low] = (await open.query(`${insertSql('access', 1)} RETURNING id`, [providerId, userId])) as {
        id: number;
      }[];
      // A higher id, committed while the lower one is not.
      const [high] = await t.dataSource.query<{ id: number }[]>(`${insertSql('access', 1)} RETURNING id`, [
        providerId,
        userId,
      ]);
      expect(high!.id).toBeGreaterThan(low!.id);
      // The fold cannot take the table while the insert is open: it gives up on it (after its lock timeout) and
      // leaves the mark below the open grant; the committed one is counted from above the mark.
      const started = Date.now();
      expect(await folds.fold()).toBe(true);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(await mark()).toBeLessThan(low!.id);
      expect(await apiCount('access')).toBe(await tableCount('access'));
      await open.commitTransaction();
    } finally {
      if (open.isTransactionActive) await open.rollbackTransaction();
      await open.release();
    }
    expect(await apiCount('access')).toBe(await tableCount('access'));
    await folds.fold();
    expect(await mark()).toBe(await sequenceLast());
    expect(await apiCount('access')).toBe(await tableCount('access'));
    expect(await sameSnapshot('access')).toMatchObject({ mismatched: 0 });
  });

  it('a REPEATABLE READ delete whose snapshot predates a fold of its grants fails (40001) instead of miscounting', async () => {
    const folds = t.app.get(GrantCounts);
    await folds.fold();
    const [grant] = await t.dataSource.query<{ id: number }[]>(`${insertSql('access', 1)} RETURNING id`, [
      providerId,
      userId,
    ]);
    const before = await tableCount('access');
    const reader = writers.createQueryRunner();
    await reader.startTransaction('REPEATABLE READ');
    try {
      await reader.query('SELECT 1'); // the snapshot: the grant is above the mark in it
      await folds.fold();
      expect(await mark()).toBeGreaterThanOrEqual(grant!.id);
      const error = await reader.query(`DELETE FROM ${table} WHERE id = $1`, [grant!.id]).then(
        () => undefined,
        (thrown: { driverError?: { code?: string } }) => thrown.driverError?.code,
      );
      expect(error).toBe('40001');
    } finally {
      await reader.rollbackTransaction();
      await reader.release();
    }
    expect(await tableCount('access')).toBe(before);
    // A REPEATABLE READ delete whose snapshot is newer than the fold counts as any other.
    await t.dataSource.transaction('REPEATABLE READ', async (manager) => {
      await manager.query(`DELETE FROM ${table} WHERE id = $1`, [grant!.id]);
    });
    expect(await tableCount('access')).toBe(before - 1);
    expect(await apiCount('access')).toBe(before - 1);
    expect(await sameSnapshot('access')).toMatchObject({ mismatched: 0 });
  });

  it('folds deltas while the table is being written (a bulk revocation), and leaves only the mark for later', async () => {
    const folds = t.app.get(GrantCounts);
    await folds.fold();
    const [a, b] = await t.dataSource.query<{ id: number }[]>(`${insertSql('access', 2)} RETURNING id`, [
      providerId,
      userId,
    ]);
    await folds.fold(); // both folded: below the mark
    const markBefore = await mark();
    // A writer holds the table (as a revocation batch does), while another revocation commits its deltas.
    const writer = writers.createQueryRunner();
    await writer.startTransaction();
    try {
      await writer.query(`UPDATE ${table} SET revoked = true WHERE id = $1`, [a!.id]);
      await t.dataSource.query(`UPDATE ${table} SET revoked = true WHERE id = $1`, [b!.id]);
      await t.dataSource.query(insertSql('access', 1), [providerId, userId]);
      expect(await folds.fold()).toBe(true);
      // The committed deltas are folded although the table lock could not be had; the new grant waits.
      const [left] = await t.dataSource.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM grant_deltas WHERE table_name = $1',
        [table],
      );
      expect(left?.n).toBe(0);
      expect(await mark()).toBe(markBefore);
      expect(await apiCount('access')).toBe(await tableCount('access'));
      await writer.commitTransaction();
    } finally {
      if (writer.isTransactionActive) await writer.rollbackTransaction();
      await writer.release();
    }
    await folds.fold();
    expect(await mark()).toBeGreaterThan(markBefore);
    expect(await sameSnapshot('access')).toMatchObject({ mismatched: 0 });
  });

  it('a bulk insert of 25,000 grants folds in chunks, all of them', async () => {
    const folds = t.app.get(GrantCounts);
    await folds.fold(); // nothing pending: the 25,000 grants are all the fold has to move
    // Each transaction of a fold (this test's or the app's own ticks) is logged with what it moved.
    const logger = Reflect.get(folds, 'logger') as Logger;
    const debug = jest.spyOn(logger, 'debug');
    let calls: unknown[][] = [];
    try {
      try {
        await t.dataSource.query(insertSql('access', 25_000), [otherProviderId, userId]);
        expect(await apiCount('access')).toBe(await tableCount('access'));
        await folds.fold();
      } finally {
        calls = [...debug.mock.calls]; // mockRestore clears them
        debug.mockRestore();
      }
      const moved = calls
        .map(([message]) => /^grant counts folded: (\d+) deltas/.exec(String(message))?.[1])
        .filter((n): n is string => n !== undefined)
        .map(Number);
      // 2,000 grants per transaction at most, so writers of the table wait briefly: twelve chunks and the rest.
      expect(moved.filter((n) => n === 2000).length).toBe(12);
      expect(moved).toContain(1000);
      expect(await mark()).toBe(await sequenceLast());
      expect(await apiCount('access')).toBe(await tableCount('access'));
      expect(await sameSnapshot('access')).toMatchObject({ mismatched: 0 });
    } finally {
      // The later tests of this file walk every page of the table: not through 25,000 more rows.
      await t.dataSource.query(`DELETE FROM ${table} WHERE provider_id = $1`, [otherProviderId]);
    }
  });

  it('a compaction that failed is made up at the next tick, though that tick has nothing to fold', async () => {
    const folds = t.app.get(GrantCounts);
    await t.dataSource.query(insertSql('access', 2), [providerId, userId]);
    await folds.fold();
    const keptRows = async (): Promise<number> => {
      const [row] = await t.dataSource.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM grant_counts WHERE table_name = $1 AND provider_id = $2',
        [table, providerId],
      );
      return row?.n ?? -1;
    };
    expect(await keptRows()).toBe(1);
    // The first compaction after this point fails in the database, as a statement timeout or a lost connection
    // would fail it: after the grants were folded into a second row for the provider. (A sequence counts the
    // attempts, since a rollback does not undo nextval.)
    await t.dataSource.query(`CREATE SEQUENCE test_compactions;
      CREATE FUNCTION test_interrupt_compaction() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF nextval('test_compactions') = 1 THEN RAISE EXCEPTION 'compaction interrupted'; END IF;
        RETURN NULL;
      END $$;
      CREATE TRIGGER test_interrupt_compaction BEFORE DELETE ON grant_counts
        FOR EACH STATEMENT EXECUTE FUNCTION test_interrupt_compaction();`);
    const compactions = async (): Promise<number> => {
      const [row] = await t.dataSource.query<{ n: string }[]>(
        'SELECT last_value::text AS n FROM test_compactions WHERE is_called',
      );
      return Number(row?.n ?? 0);
    };
    try {
      await t.dataSource.query(insertSql('access', 3), [providerId, userId]);
      // The fold that fails may be an app's tick or this test's.
      for (let i = 0; (await compactions()) === 0 && i < 50; i += 1)
        await folds.fold().catch(() => undefined);
      expect(await compactions()).toBe(1);
    } finally {
      await t.dataSource.query(`DROP TRIGGER test_interrupt_compaction ON grant_counts;
        DROP FUNCTION test_interrupt_compaction(); DROP SEQUENCE test_compactions;`);
    }
    expect(await mark()).toBe(await sequenceLast());
    // Nothing is pending now, yet the next fold compacts what the failed one left.
    expect(await folds.fold()).toBe(true);
    expect(await keptRows()).toBe(1);
    expect(await apiCount('access')).toBe(await tableCount('access'));
    expect(await sameSnapshot('access')).toMatchObject({ mismatched: 0 });
  });
});

describe.each(['access', 'refresh', 'code'] as GrantType[])('%s: every page of the whole table', (type) => {
  const { table, path } = TABLES[type];
  beforeAll(async () => {
    // several providers with uneven numbers of grants, some without expiry, so pages straddle providers
    const user = await f.user();
    for (const rows of [9, 1, 15, 4]) {
      const provider = await f.provider();
      for (let i = 0; i < rows; i += 1) {
        await f.grant(type, user.id, provider.id, {
          expires: i % 4 === 0 ? null : new Date(Date.now() + (i % 3) * 3600_000),
        });
      }
    }
  });

  it.each([
    ['', 'g.provider_id, g.expires, g.id'],
    ['&ordering=-provider,-expires', 'g.provider_id DESC, g.expires DESC, g.id DESC'],
    ['&ordering=-expires', 'g.expires DESC, g.id DESC'],
    ['&ordering=provider,-expires', 'g.provider_id, g.expires DESC, g.id DESC'],
    ['&ordering=user,pk', 'g.user_id, g.id'],
  ])(
    'ordering%s: pages from the start, the end and the provider counts match plain ORDER BY',
    async (ordering, sql) => {
      const expected = (
        await t.dataSource.query<{ id: number }[]>(`SELECT g.id FROM ${table} g ORDER BY ${sql}`)
      ).map((row) => row.id);
      const pageSize = 7;
      const pages = Math.ceil(expected.length / pageSize);
      const seen: number[] = [];
      for (let page = 1; page <= pages; page += 1) {
        const response = await request(
          t.app,
          'GET',
          `${path}?page_size=${pageSize}&page=${page}${ordering}`,
          bearer(adminKey),
        );
        expect(response.status).toBe(200);
        const body = response.body as { pagination: { count: number }; results: { pk: number }[] };
        expect(body.pagination.count).toBe(expected.length);
        seen.push(...body.results.map((row) => row.pk));
      }
      expect(seen).toEqual(expected);
      const last = await request(
        t.app,
        'GET',
        `${path}?page_size=${pageSize}&page=last${ordering}`,
        bearer(adminKey),
      );
      expect((last.body as { results: { pk: number }[] }).results.map((row) => row.pk)).toEqual(
        expected.slice((pages - 1) * pageSize),
      );
    },
  );
});

describe.each(['access', 'refresh', 'code'] as GrantType[])('%s: search counts and pages', (type) => {
  const { table, path } = TABLES[type];
  let owner: { id: number };
  let ownerKey: string;
  let marker: string;
  let providers: number[];
  let bobId: number;

  beforeAll(async () => {
    marker = `q${Date.now().toString(36)}${type}`;
    const alice = await f.user({ username: `${marker}-alice`, name: 'Alice Able' });
    const bob = await f.user({ username: `${marker}-bob`, email: `${marker}-bob@example.com` });
    owner = alice;
    bobId = bob.id;
    ownerKey = await f.apiKey(alice);
    const p1 = await f.provider(`${marker}-one`);
    const p2 = await f.provider(`other-${marker}`);
    const p3 = await f.provider();
    providers = [p1.id, p2.id, p3.id];
    for (const [user, provider, n] of [
      [alice, p1, 3],
      [alice, p3, 2],
      [bob, p2, 4],
      [bob, p3, 5],
    ] as const) {
      for (let i = 0; i < n; i += 1) await f.grant(type, user.id, provider.id);
    }
  });

  /** The naive way: join and ILIKE every field, as the baseline does. */
  async function naive(terms: string[], extra = '', params: unknown[] = []): Promise<number[]> {
    const conditions = terms.map(
      (_, i) => `(u.username ILIKE $${i + 1} OR u.name ILIKE $${i + 1} OR u.email ILIKE $${i + 1}
                  OR p.name ILIKE $${i + 1} OR p.client_id ILIKE $${i + 1}
                  OR a.slug ILIKE $${i + 1} OR a.name ILIKE $${i + 1})`,
    );
    const rows = await t.dataSource.query<{ id: number }[]>(
      `SELECT g.id FROM ${table} g JOIN users u ON u.id = g.user_id JOIN oauth2_providers p ON p.id = g.provider_id
         LEFT JOIN applications a ON a.provider_id = p.id
        WHERE ${[...conditions, ...(extra ? [extra.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + terms.length}`)] : [])].join(' AND ')}
        ORDER BY g.provider_id, g.expires, g.id`,
      // Written here, not taken from the product: a term's backslash, % and _ are literal (ILIKE's escape is \).
      [...terms.map((term) => `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`), ...params],
    );
    return rows.map((row) => row.id);
  }

  async function api(query: string, key = adminKey): Promise<{ count: number; pks: number[] }> {
    const response = await request(t.app, 'GET', `${path}?page_size=100&${query}`, bearer(key));
    expect(response.status).toBe(200);
    const body = response.body as { pagination: { count: number }; results: { pk: number }[] };
    return { count: body.pagination.count, pks: body.results.map((row) => row.pk) };
  }

  it.each([
    ['one term over users and providers', () => `search=${marker}`, () => naive([marker])],
    ['two terms (both must match)', () => `search=${marker}+bob`, () => naive([marker, 'bob'])],
    [
      'with a provider filter',
      () => `search=${marker}&provider=${providers[2]}`,
      () => naive([marker], 'g.provider_id = $1', [providers[2]]),
    ],
    [
      'with a user filter',
      () => `search=other+${marker}&user=${bobId}`,
      () => naive(['other', marker], 'g.user_id = $1', [bobId]),
    ],
  ])('%s: count and rows equal the naive join', async (_, query, expected) => {
    const rows = await expected();
    expect(rows.length).toBeGreaterThan(0);
    expect(await api(query())).toEqual({ count: rows.length, pks: rows });
  });

  it('as an owner, search counts and shows only their own rows', async () => {
    const rows = await naive([marker], 'g.user_id = $1', [owner.id]);
    expect(rows).toHaveLength(5);
    expect(await api(`search=${marker}`, ownerKey)).toEqual({ count: 5, pks: rows });
  });
});
