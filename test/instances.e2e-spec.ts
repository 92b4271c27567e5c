/**
 * Two built instances on one PostgreSQL behave as one service (issue 10): under mixed load (lists, deletes, inserts,
 * failed authentication from one client spread over both), counts stay exact, the failed-auth throttle is shared,
 * and background work (the grant-count fold) never runs twice at once.
 *
 * Both processes trust loopback as a proxy (TRUSTED_PROXIES=loopback), so X-Forwarded-For names the client: one
 * guesser at 203.0.113.77 reaches both instances, as it would through a load balancer.
 */
import type { DataSource } from 'typeorm';
import { BackgroundJob, JOB_LOCK_CLASS } from '../src/database/background-jobs';
import { openTestDataSource, testDatabaseUrl } from './support/app';
import { GRANT_TABLES, GrantFactories, type GrantType } from './support/factories';
import { type ServerProcess, startServer, waitFor } from './support/server-process';

const WHOAMI = '/api/v3/grantry/whoami/';
const INVALID = { detail: 'Token invalid/expired' };
const THROTTLED = { detail: 'Request was throttled.' };
const TYPES: GrantType[] = ['access', 'refresh', 'code'];
const PATHS: Record<GrantType, string> = {
  access: '/api/v3/oauth2/access_tokens/',
  refresh: '/api/v3/oauth2/refresh_tokens/',
  code: '/api/v3/oauth2/authorization_codes/',
};
const LIMIT = 10;
const WINDOW_SECONDS = 120;
const FOLD_MS = 20;
const GUESSER = '203.0.113.77';

interface Answer {
  status: number;
  body: unknown;
  retryAfter: string | null;
}

async function call(
  server: ServerProcess,
  path: string,
  options: { key?: string; method?: string; forwardedFor?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
  if (options.forwardedFor !== undefined) headers['x-forwarded-for'] = options.forwardedFor;
  const response = await fetch(`${server.url}${path}`, {
    method: options.method ?? 'GET',
    headers,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text ? (JSON.parse(text) as unknown) : undefined,
    retryAfter: response.headers.get('retry-after'),
  };
}

/** The fold runs an instance logged (lock hold times by the database's clock), and its skipped ticks. */
function foldLog(server: ServerProcess): { runs: { start: number; end: number }[]; skipped: number } {
  const runs: { start: number; end: number }[] = [];
  let skipped = 0;
  for (const line of server.stdout.join('').split('\n')) {
    if (!line.includes('"GrantCounts"') || !line.endsWith('}')) continue;
    const msg = (JSON.parse(line) as { msg: string }).msg;
    const held = /^grant counts folded: \d+ deltas, lock held from (\d+) to (\d+) /.exec(msg);
    if (held) runs.push({ start: Number(held[1]), end: Number(held[2]) });
    else if (msg.startsWith('grant counts fold skipped')) skipped += 1;
  }
  return { runs, skipped };
}

let db: DataSource;
let f: GrantFactories;
let servers: ServerProcess[];
let adminKey: string;
let userId: number;
let providers: number[];

beforeAll(async () => {
  db = await openTestDataSource('grantry-instances', 4);
  f = new GrantFactories(db);
  await db.query('DELETE FROM auth_failures');
  const admins = await f.group({ isSuperuser: true });
  const admin = await f.user();
  await f.member(admin, admins);
  adminKey = await f.apiKey(admin);
  userId = (await f.user()).id;
  providers = [(await f.provider()).id, (await f.provider()).id, (await f.provider()).id];
  for (const type of TYPES) {
    for (const provider of providers) await insertGrants(type, provider, 50);
  }
  const env = {
    DATABASE_URL: testDatabaseUrl(),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'debug',
    DB_POOL_SIZE: '4',
    TRUSTED_PROXIES: 'loopback',
    AUTH_FAILURE_LIMIT: String(LIMIT),
    AUTH_FAILURE_WINDOW_SECONDS: String(WINDOW_SECONDS),
    GRANT_COUNTS_FOLD_MS: String(FOLD_MS),
  };
  servers = await Promise.all([startServer(env), startServer(env)]);
});

afterAll(async () => {
  for (const server of servers ?? []) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
  await db?.query('DELETE FROM auth_failures');
  await db?.destroy();
});

async function insertGrants(type: GrantType, provider: number, rows: number): Promise<void> {
  const { table, hash } = GRANT_TABLES[type];
  await db.query(
    `INSERT INTO ${table} (provider_id, user_id, ${hash}, scope, expires, expiring)
     SELECT $1, $2, sha256(gen_random_uuid()::text::bytea), 'openid', now() + interval '1 hour', true
       FROM generate_series(1, ${rows})`,
    [provider, userId],
  );
}

async function tableCount(type: GrantType, provider?: number): Promise<number> {
  const [row] = await db.query<{ n: number }[]>(
    `SELECT count(*)::int AS n FROM ${GRANT_TABLES[type].table} WHERE $1::int IS NULL OR provider_id = $1`,
    [provider ?? null],
  );
  return row?.n ?? -1;
}

async function listCount(server: ServerProcess, type: GrantType, query = ''): Promise<number> {
  const answer = await call(server, `${PATHS[type]}?page_size=5${query}`, { key: adminKey });
  expect(answer.status).toBe(200);
  return (answer.body as { pagination: { count: number } }).pagination.count;
}

describe('two instances on one database', () => {
  it('under mixed load: counts exact, the throttle shared, valid keys served from a throttled address', async () => {
    const [a, b] = servers as [ServerProcess, ServerProcess];
    const both = [a, b];
    const idsOf = async (type: GrantType, n: number) =>
      (
        await db.query<{ id: number }[]>(
          `SELECT id FROM ${GRANT_TABLES[type].table} WHERE user_id = $1 ORDER BY id LIMIT $2`,
          [userId, n],
        )
      ).map((row) => row.id);
    const doomed = Object.fromEntries(
      await Promise.all(TYPES.map(async (t) => [t, await idsOf(t, 45)])),
    ) as Record<GrantType, number[]>;
    // The suite's providers' rows now: seeded 150, plus what the other test inserted if it ran first (any order).
    const ownBefore: Record<GrantType, number> = { access: 0, refresh: 0, code: 0 };
    for (const type of TYPES) {
      for (const provider of providers) ownBefore[type] += await tableCount(type, provider);
    }

    let loading = true;
    const listStatuses: number[] = [];
    const lists = async (worker: number) => {
      for (let i = 0; loading; i += 1) {
        const type = TYPES[(worker + i) % 3] as GrantType;
        const page = 1 + (i % 4);
        const answer = await call(
          both[(worker + i) % 2] as ServerProcess,
          `${PATHS[type]}?page=${page}&page_size=7`,
          {
            key: adminKey,
          },
        );
        listStatuses.push(answer.status);
      }
    };
    const inserted: Record<GrantType, number> = { access: 0, refresh: 0, code: 0 };
    const inserts = async () => {
      for (let i = 0; loading; i += 1) {
        const type = TYPES[i % 3] as GrantType;
        await insertGrants(type, providers[(i >> 2) % 3] as number, 1 + (i % 4));
        inserted[type] += 1 + (i % 4);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    };
    // Each grant deleted once, alternating instances; every fifth on both at once (exactly one of them wins).
    const deleteStatuses: number[][] = [];
    const deletes = async (type: GrantType) => {
      for (const [i, id] of doomed[type].entries()) {
        const path = `${PATHS[type]}${id}/`;
        const targets = i % 5 === 0 ? both : [both[i % 2] as ServerProcess];
        const answers = await Promise.all(
          targets.map((s) => call(s, path, { key: adminKey, method: 'DELETE' })),
        );
        deleteStatuses.push(answers.map((answer) => answer.status).sort());
      }
    };
    // One guesser spread over both instances, four requests in flight at a time; its owner's valid key meanwhile.
    const guesses: Answer[] = [];
    const validFromGuesser: number[] = [];
    const guesser = async () => {
      for (let round = 0; round < 10; round += 1) {
        const batch = await Promise.all(
          [0, 1, 2, 3].map((j) =>
            call(both[j % 2] as ServerProcess, WHOAMI, { key: `wrong-${round}-${j}`, forwardedFor: GUESSER }),
          ),
        );
        guesses.push(...batch);
        for (const server of both) {
          validFromGuesser.push(
            (await call(server, WHOAMI, { key: adminKey, forwardedFor: GUESSER })).status,
          );
        }
      }
    };

    const listing = Promise.all([0, 1, 2].map(lists));
    const inserting = inserts();
    await Promise.all([...TYPES.map(deletes), guesser()]);
    loading = false;
    await Promise.all([listing, inserting]);

    expect(new Set(listStatuses)).toEqual(new Set([200]));
    expect(listStatuses.length).toBeGreaterThan(10);
    const raced = deleteStatuses.filter((pair) => pair.length === 2);
    expect(raced).toHaveLength(27);
    for (const pair of raced) expect(pair).toEqual([204, 404]);
    for (const single of deleteStatuses.filter((pair) => pair.length === 1)) expect(single).toEqual([204]);

    // The throttle counted the 40 failures as one client's, whichever instance saw them: exactly LIMIT were
    // answered 403, the rest 429 (an instance counting alone would have let 2 x LIMIT through).
    expect(guesses).toHaveLength(40);
    const refused = guesses.filter((g) => g.status === 403);
    const throttled = guesses.filter((g) => g.status === 429);
    expect({ refused: refused.length, throttled: throttled.length }).toEqual({
      refused: LIMIT,
      throttled: 40 - LIMIT,
    });
    for (const g of refused) expect(g.body).toEqual(INVALID);
    for (const g of throttled) {
      expect(g.body).toEqual(THROTTLED);
      expect(Number(g.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(g.retryAfter)).toBeLessThanOrEqual(WINDOW_SECONDS);
    }
    expect(validFromGuesser).toEqual(Array<number>(20).fill(200));
    expect(await db.query('SELECT bucket, failures FROM auth_failures')).toEqual([
      { bucket: GUESSER, failures: 40 },
    ]);
    for (const server of both) {
      expect(await call(server, WHOAMI, { key: 'wrong', forwardedFor: GUESSER })).toEqual({
        status: 429,
        body: THROTTLED,
        retryAfter: expect.stringMatching(/^\d+$/) as unknown,
      });
      expect(await call(server, WHOAMI, { key: 'wrong', forwardedFor: '203.0.113.78' })).toEqual({
        status: 403,
        body: INVALID,
        retryAfter: null,
      });
    }

    // Exact counts from both instances: the whole list and each provider's, equal to COUNT(*).
    for (const type of TYPES) {
      const expected = await tableCount(type);
      // On the suite's providers: what there was, less 45 deleted through the API, plus those inserted meanwhile.
      let own = 0;
      for (const provider of providers) own += await tableCount(type, provider);
      expect({ type, own }).toEqual({ type, own: ownBefore[type] - 45 + inserted[type] });
      expect(inserted[type]).toBeGreaterThan(0);
      for (const server of both) {
        expect({ type, count: await listCount(server, type) }).toEqual({ type, count: expected });
        for (const provider of providers) {
          expect({ type, provider, count: await listCount(server, type, `&provider=${provider}`) }).toEqual({
            type,
            provider,
            count: await tableCount(type, provider),
          });
        }
      }
    }
    // And the folds caught up: one kept row per table and provider, no delta left (else the last state read).
    let state: { rows: number; deltas: number; expected: number } | undefined;
    const folded = await waitFor(
      async () => {
        const [row] = await db.query<{ rows: number; deltas: number; expected: number }[]>(
          `SELECT (SELECT count(*) FROM grant_counts)::int AS rows,
                (SELECT count(*) FROM grant_deltas)::int AS deltas,
                (SELECT count(*) FROM (SELECT DISTINCT 'a', provider_id FROM oauth2_access_tokens
                                       UNION SELECT DISTINCT 'r', provider_id FROM oauth2_refresh_tokens
                                       UNION SELECT DISTINCT 'c', provider_id FROM oauth2_authorization_codes) p)::int
                  AS expected`,
        );
        state = row;
        return row !== undefined && row.rows === row.expected && row.deltas === 0;
      },
      100 * FOLD_MS + 10_000,
    );
    expect({ folded, state }).toEqual({
      folded: true,
      state: { ...state, deltas: 0, rows: state?.expected },
    });
  });

  it('no duplicate background work: folds of the two instances never overlap, and none runs while the lock is held', async () => {
    const [a, b] = servers as [ServerProcess, ServerProcess];
    // Both instances fold on their own ticks; give them a few hundred ticks with something to fold.
    for (let i = 0; i < 20; i += 1) {
      await insertGrants(TYPES[i % 3] as GrantType, providers[0] as number, 1);
      await new Promise((resolve) => setTimeout(resolve, 2 * FOLD_MS));
    }

    // Holding the fold's lock from here, neither instance folds; both keep trying and skipping.
    const skippedBefore = [foldLog(a).skipped, foldLog(b).skipped];
    const holder = db.createQueryRunner();
    await holder.startTransaction();
    let hold: { start: number; end: number };
    try {
      await holder.query('SELECT pg_advisory_xact_lock($1, $2)', [
        JOB_LOCK_CLASS,
        BackgroundJob.grantCountsFold,
      ]);
      const clock = async () =>
        Number(
          (
            (await holder.query(
              `SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint::text AS us`,
            )) as { us: string }[]
          )[0]?.us,
        );
      const start = await clock();
      await insertGrants('access', providers[1] as number, 3);
      const bothSkipped = await waitFor(
        () =>
          foldLog(a).skipped > (skippedBefore[0] ?? 0) + 3 &&
          foldLog(b).skipped > (skippedBefore[1] ?? 0) + 3,
        100 * FOLD_MS + 10_000,
      );
      expect(bothSkipped).toBe(true);
      hold = { start, end: await clock() };
    } finally {
      await holder.commitTransaction();
      await holder.release();
    }
    // Released: folding resumes (the three deltas inserted during the hold get folded).
    const before = foldLog(a).runs.length + foldLog(b).runs.length;
    expect(
      await waitFor(
        () => foldLog(a).runs.length + foldLog(b).runs.length > before + 5,
        100 * FOLD_MS + 10_000,
      ),
    ).toBe(true);

    const runs = [
      ...foldLog(a).runs.map((run) => ({ ...run, by: 'a' })),
      ...foldLog(b).runs.map((run) => ({ ...run, by: 'b' })),
    ].sort((x, y) => x.start - y.start);
    // Both instances did fold (each takes the lock whenever it is free on its tick) ...
    expect(runs.filter((run) => run.by === 'a').length).toBeGreaterThan(5);
    expect(runs.filter((run) => run.by === 'b').length).toBeGreaterThan(5);
    // ... but never at the same time, by the database's clock, and never while the test held the lock.
    const overlaps = runs.filter((run, i) => i > 0 && run.start < (runs[i - 1]?.end ?? 0));
    expect(overlaps).toEqual([]);
    expect(runs.filter((run) => run.start < hold.end && run.end > hold.start)).toEqual([]);
  });
});
