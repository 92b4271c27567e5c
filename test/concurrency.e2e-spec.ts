import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import type { UserEntity } from '../src/identity/user.entity';
import { createTestApp, type TestApp, testDatabaseUrl } from './support/app';
import { GRANT_TABLES, GrantFactories, type GrantType } from './support/factories';

/**
 * Concurrency over real sockets (a listening app, undici's fetch with one connection per in-flight request):
 * racing deletes of one row, and paged lists read while rows are being deleted.
 *
 * What a paged list can promise while rows are deleted under it, and what this suite holds it to:
 * - Each page is one SQL statement, so one snapshot: no row twice within a page, and the page is a contiguous run of
 *   that snapshot in the requested order (pk breaking ties). Checked by placing every returned row in the full
 *   ordering known from the start: rows must come in strictly increasing positions, and every row skipped between
 *   two of them must be one whose DELETE had been sent before the page arrived. A non-deterministic order (no pk
 *   tiebreak, or a tiebreak in the wrong direction) fails this as soon as ties are read in another order.
 * - Every returned row existed: it is one of the known rows, not one whose DELETE had already answered 204 before the
 *   list request was sent, and it carries the user, provider and expiry it was created with.
 * - `count` lies between the rows surely alive at the end of the request and those possibly alive at its start;
 *   the pagination block is exactly Django's arithmetic for that count; page 1 (count and rows from one statement)
 *   and the last page hold exactly as many rows as `count` says.
 * - Pages read one after another are not one snapshot: with only deletes, plain OFFSET paging can skip a row but
 *   never repeat one. Grantry reads pages past the middle from the end, placed by a count, so the count and the page
 *   must come from one snapshot; the case at the end holds a delete between them.
 */

interface Response {
  status: number;
  text: string;
  body: unknown;
}

interface Row {
  pk: number;
  user: { pk: number };
  provider: { pk: number };
  expires: string | null;
  is_expired: boolean;
  scope: string[];
  id_token?: string;
  revoked?: boolean;
}

interface PageBody {
  pagination: Record<string, number>;
  results: Row[];
  autocomplete: Record<string, never>;
}

/** A row as created: what the ordering and the shape check need. */
interface Known {
  pk: number;
  provider: number;
  user: number;
  /** Microseconds since the epoch, exactly as PostgreSQL stores it; null for a non-expiring row. */
  expiresUs: bigint | null;
}

type Field = 'provider' | 'expires' | 'user' | 'pk';
type Ordering = { field: Field; descending: boolean }[];

const PATHS: Record<GrantType, string> = {
  access: '/api/v3/oauth2/access_tokens/',
  refresh: '/api/v3/oauth2/refresh_tokens/',
  code: '/api/v3/oauth2/authorization_codes/',
};
const MODELS: Record<GrantType, string> = {
  access: 'AccessToken',
  refresh: 'RefreshToken',
  code: 'AuthorizationCode',
};

let t: TestApp;
let f: GrantFactories;
let base: string;
let admin: UserEntity;
let adminKey: string;

async function http(method: 'GET' | 'DELETE', path: string, key: string): Promise<Response> {
  const response = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${key}` } });
  const text = await response.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, text, body };
}

function tally(responses: Response[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const { status } of responses) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

/** Every row of `table` matching `where`, as the ordering sees it. */
async function known(type: GrantType, where: string, params: unknown[]): Promise<Known[]> {
  const rows = await t.dataSource.query<
    { id: number; provider_id: number; user_id: number; us: string | null }[]
  >(
    `SELECT id, provider_id, user_id, (extract(epoch FROM expires) * 1000000)::bigint::text AS us
       FROM ${GRANT_TABLES[type].table} ${where}`,
    params,
  );
  return rows.map((row) => ({
    pk: row.id,
    provider: row.provider_id,
    user: row.user_id,
    expiresUs: row.us === null ? null : BigInt(row.us),
  }));
}

/** PostgreSQL's order: NULL sorts after every value ascending (so first descending). */
function comparator(ordering: Ordering): (a: Known, b: Known) => number {
  const value = (row: Known, field: Field): bigint | null => {
    switch (field) {
      case 'provider':
        return BigInt(row.provider);
      case 'user':
        return BigInt(row.user);
      case 'pk':
        return BigInt(row.pk);
      case 'expires':
        return row.expiresUs;
    }
  };
  return (a, b) => {
    for (const { field, descending } of ordering) {
      const x = value(a, field);
      const y = value(b, field);
      if (x === y) continue;
      const ascending = x === null ? 1 : y === null ? -1 : x < y ? -1 : 1;
      return descending ? -ascending : ascending;
    }
    return 0;
  };
}

/** Django's Paginator arithmetic, written out independently of the app's. */
function expectedPagination(page: number, count: number, size: number): Record<string, number> {
  const pages = Math.max(1, Math.ceil(count / size));
  return {
    next: page < pages ? page + 1 : 0,
    previous: page > 1 ? page - 1 : 0,
    count,
    current: page,
    total_pages: pages,
    start_index: count === 0 ? 0 : (page - 1) * size + 1,
    end_index: page === pages ? count : page * size,
  };
}

const TOKEN_KEYS = ['expires', 'id_token', 'is_expired', 'pk', 'provider', 'revoked', 'scope', 'user'];
const CODE_KEYS = ['expires', 'is_expired', 'pk', 'provider', 'scope', 'user'];

/** One page request and what was known about the deletes around it. */
interface Observation {
  type: GrantType;
  /** Every row the list could show, in the list's order. */
  order: Known[];
  /** Requested page (a number or `last`) and page size. */
  page: number | 'last';
  size: number;
  response: Response;
  /** Rows whose DELETE had answered 204 before the list request was sent: surely gone for every snapshot. */
  goneAtStart: ReadonlySet<number>;
  /** Rows whose DELETE had been sent before the list answered: the only rows any snapshot may lack. */
  maybeGoneAtEnd: ReadonlySet<number>;
}

/** Everything wrong with one page under the guarantees stated at the top of this file; [] when none. */
function pageProblems(o: Observation): string[] {
  const problems: string[] = [];
  if (o.response.status !== 200) return [`status ${o.response.status}: ${o.response.text.slice(0, 200)}`];
  const body = o.response.body as PageBody;
  const { count, current } = body.pagination as { count: number; current: number };
  const results = body.results;
  const position = new Map(o.order.map((row, index) => [row.pk, index]));
  const surelyAlive = o.order.filter((row) => !o.maybeGoneAtEnd.has(row.pk)).length;
  const possiblyAlive = o.order.filter((row) => !o.goneAtStart.has(row.pk)).length;

  if (!(surelyAlive <= count && count <= possiblyAlive))
    problems.push(`count ${count} outside [${surelyAlive}, ${possiblyAlive}]`);
  const page = o.page === 'last' ? Math.max(1, Math.ceil(count / o.size)) : o.page;
  if (JSON.stringify(body.pagination) !== JSON.stringify(expectedPagination(page, count, o.size)))
    problems.push(`pagination ${JSON.stringify(body.pagination)} for page ${page} of ${count}`);
  if (JSON.stringify(body.autocomplete) !== '{}') problems.push('autocomplete is not {}');

  const pks = results.map((row) => row.pk);
  if (new Set(pks).size !== pks.length) problems.push(`a row twice within the page: ${pks.join(',')}`);
  if (results.length > o.size) problems.push(`${results.length} rows on a page of ${o.size}`);
  const offset = (current - 1) * o.size;
  if (current === 1 && results.length !== Math.min(count, o.size))
    problems.push(`page 1 holds ${results.length} rows, count ${count} says ${Math.min(count, o.size)}`);
  if (current > 1 && current === body.pagination.total_pages && surelyAlive >= o.size) {
    if (results.length !== count - offset)
      problems.push(`last page holds ${results.length} rows, count ${count} says ${count - offset}`);
  }

  let previous = -1;
  for (const row of results) {
    const index = position.get(row.pk);
    const expected = index === undefined ? undefined : o.order[index];
    if (index === undefined || expected === undefined) {
      problems.push(`row ${row.pk} is not one of the rows this list can show`);
      continue;
    }
    if (o.goneAtStart.has(row.pk)) problems.push(`row ${row.pk} was deleted before the request`);
    const keys = Object.keys(row).sort();
    if (JSON.stringify(keys) !== JSON.stringify(o.type === 'code' ? CODE_KEYS : TOKEN_KEYS))
      problems.push(`row ${row.pk} has keys ${keys.join(',')}`);
    const expires = row.expires === null ? null : BigInt(Date.parse(row.expires));
    const expectedMs = expected.expiresUs === null ? null : expected.expiresUs / 1000n;
    if (row.user.pk !== expected.user || row.provider.pk !== expected.provider || expires !== expectedMs)
      problems.push(
        `row ${row.pk} changed: ${JSON.stringify({ user: row.user.pk, provider: row.provider.pk })}`,
      );
    if (index <= previous) problems.push(`row ${row.pk} out of order (position ${index} after ${previous})`);
    for (let skipped = previous + 1; previous >= 0 && skipped < index; skipped += 1) {
      const gap = o.order[skipped];
      if (gap && !o.maybeGoneAtEnd.has(gap.pk))
        problems.push(`live row ${gap.pk} missing between ${o.order[previous]?.pk} and ${row.pk}`);
    }
    previous = Math.max(previous, index);
  }

  // Where the page starts: after `offset` rows of its snapshot, give or take the deletes in flight during the
  // request (a page placed by the count of an earlier statement may start earlier by as many rows).
  const first = results[0] === undefined ? undefined : position.get(results[0].pk);
  if (first !== undefined) {
    const before = o.order.slice(0, first);
    const surelyBefore = before.filter((row) => !o.maybeGoneAtEnd.has(row.pk)).length;
    const possiblyBefore = before.filter((row) => !o.goneAtStart.has(row.pk)).length;
    const inFlight = [...o.maybeGoneAtEnd].filter((pk) => !o.goneAtStart.has(pk)).length;
    if (!(surelyBefore <= offset && offset <= possiblyBefore + inFlight))
      problems.push(`page at offset ${offset} starts after ${surelyBefore}..${possiblyBefore} live rows`);
  }
  return problems;
}

beforeAll(async () => {
  t = await createTestApp(
    {
      // Folding count deltas every 100 ms puts folds among the deletes and lists the counts are checked against.
      GRANT_COUNTS_FOLD_MS: '100',
      DB_CONNECT_TIMEOUT_MS: '10000',
      AUTH_FAILURE_LIMIT: '0',
    },
    true,
  );
  const address = t.app.getHttpServer().address() as AddressInfo;
  base = `http://127.0.0.1:${address.port}`;
  f = new GrantFactories(t.dataSource);
  const root = await f.group({ isSuperuser: true });
  admin = await f.user();
  await f.member(admin, await f.group({ parent: root.name }));
  adminKey = await f.apiKey(admin);
});
afterAll(() => t.close());

describe('racing deletes of one row', () => {
  it.each(['access', 'refresh', 'code'] as const)(
    '%s: 50 concurrent DELETEs (owner and superuser) -> one 204, 49 404s, one audit event',
    async (type) => {
      const owner = await f.user();
      const ownerKey = await f.apiKey(owner);
      const provider = await f.provider();
      const { pk } = await f.grant(type, owner.id, provider.id);
      const responses = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          http('DELETE', `${PATHS[type]}${pk}/`, i % 2 ? ownerKey : adminKey),
        ),
      );
      expect(tally(responses)).toEqual({ 204: 1, 404: 49 });
      const winner = responses.findIndex((response) => response.status === 204);
      expect(responses[winner]?.text).toBe('');
      for (const response of responses.filter((r) => r.status === 404))
        expect(response.body).toEqual({ detail: `No ${MODELS[type]} matches the given query.` });
      const events = await t.dataSource.query<Record<string, unknown>[]>(
        'SELECT actor_user_id, object_user_id FROM audit_events WHERE model = $1 AND object_pk = $2',
        [MODELS[type], pk],
      );
      expect(events).toEqual([{ actor_user_id: winner % 2 ? owner.id : admin.id, object_user_id: owner.id }]);
      const left = await t.dataSource.query<unknown[]>(
        `SELECT 1 FROM ${GRANT_TABLES[type].table} WHERE id = $1`,
        [pk],
      );
      expect(left).toEqual([]);
    },
  );
});

/** A deterministic shuffle (mulberry32), so a failing run can be replayed. */
function shuffled<T>(items: T[], seed: number): T[] {
  let state = seed >>> 0;
  const random = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Deletes over HTTP, recording when each was sent and when its 204 arrived. */
class Deleter {
  readonly sent = new Map<number, number>();
  readonly done = new Map<number, number>();
  readonly failures: string[] = [];

  constructor(
    private readonly type: GrantType,
    private readonly key: string,
  ) {}

  /** Rows surely gone for a request sent at `start`. */
  goneAt(start: number): Set<number> {
    return new Set([...this.done].filter(([, at]) => at < start).map(([pk]) => pk));
  }

  /** Rows that may be gone for a request answered at `end`. */
  maybeGoneAt(end: number): Set<number> {
    return new Set([...this.sent].filter(([, at]) => at < end).map(([pk]) => pk));
  }

  async run(pks: number[], workers: number, pauseMs: number): Promise<void> {
    const queue = [...pks];
    await Promise.all(
      Array.from({ length: workers }, async (_, worker) => {
        for (let pk = queue.shift(); pk !== undefined; pk = queue.shift()) {
          await sleep((pk * 7 + worker * 13) % pauseMs);
          this.sent.set(pk, performance.now());
          const response = await http('DELETE', `${PATHS[this.type]}${pk}/`, this.key);
          if (response.status === 204) this.done.set(pk, performance.now());
          else this.failures.push(`DELETE ${pk}: ${response.status} ${response.text}`);
        }
      }),
    );
  }
}

interface ListSpec {
  name: string;
  query: string;
  ordering: Ordering;
  sizes: number[];
  key: () => string;
  /** The rows this list can show, read before the deletes start. */
  rows: () => Promise<Known[]>;
}

describe('lists while rows are deleted', () => {
  const type: GrantType = 'access';
  const SEED = 20261123;
  let owner: UserEntity;
  let ownerKey: string;
  let providerId: number;
  const mine: number[] = [];

  beforeAll(async () => {
    owner = await f.user();
    ownerKey = await f.apiKey(owner);
    const others = [await f.user(), await f.user()];
    providerId = (await f.provider()).id;
    // Four expiry values and non-expiring rows, in an order unrelated to the pks: nearly every row ties with
    // dozens of others on every sort key but the pk, so only the pk tiebreak makes the order deterministic.
    const start = Math.ceil(Date.now() / 1000) * 1000 + 86_400_000;
    for (let i = 0; i < 160; i += 1) {
      const user = i % 3 === 0 ? owner : (others[i % 2] as UserEntity);
      const expires = i % 5 === 4 ? null : new Date(start + ((i * 3) % 4) * 60_000);
      mine.push((await f.grant(type, user.id, providerId, { expires })).pk);
    }
  });

  const specs = (): ListSpec[] => [
    {
      name: 'superuser, ?provider, default ordering (provider, expires, pk)',
      query: `provider=${providerId}`,
      ordering: [
        { field: 'provider', descending: false },
        { field: 'expires', descending: false },
        { field: 'pk', descending: false },
      ],
      sizes: [7, 20],
      key: () => adminKey,
      rows: () => known(type, 'WHERE provider_id = $1', [providerId]),
    },
    {
      name: 'superuser, ?provider, ordering=-expires (expires DESC, pk DESC)',
      query: `provider=${providerId}&ordering=-expires`,
      ordering: [
        { field: 'expires', descending: true },
        { field: 'pk', descending: true },
      ],
      sizes: [13, 50],
      key: () => adminKey,
      rows: () => known(type, 'WHERE provider_id = $1', [providerId]),
    },
    {
      // No filter: the count and the per-provider counts that place deep pages come from grant_counts. Other
      // suites' rows are part of this list; they hold still because the suites run in band (npm test).
      name: 'superuser, whole table, default ordering',
      query: '',
      ordering: [
        { field: 'provider', descending: false },
        { field: 'expires', descending: false },
        { field: 'pk', descending: false },
      ],
      sizes: [40],
      key: () => adminKey,
      rows: () => known(type, '', []),
    },
    {
      name: 'owner (own rows only), ordering=user,-expires',
      query: 'ordering=user,-expires',
      ordering: [
        { field: 'user', descending: false },
        { field: 'expires', descending: true },
        { field: 'pk', descending: true },
      ],
      sizes: [9],
      key: () => ownerKey,
      rows: () => known(type, 'WHERE user_id = $1', [owner.id]),
    },
  ];

  /** Reads every page of `spec` in turn, then `page=last`, until `until()` says stop (at least once). */
  async function walk(
    spec: ListSpec,
    size: number,
    order: Known[],
    deleter: Deleter,
    until: () => boolean,
  ): Promise<Observation[]> {
    const observations: Observation[] = [];
    const read = async (page: number | 'last'): Promise<Observation> => {
      const start = performance.now();
      const query = [spec.query, `page_size=${size}`, `page=${page}`].filter(Boolean).join('&');
      const response = await http('GET', `${PATHS[type]}?${query}`, spec.key());
      const end = performance.now();
      const observation: Observation = {
        type,
        order,
        page,
        size,
        response,
        goneAtStart: deleter.goneAt(start),
        maybeGoneAtEnd: deleter.maybeGoneAt(end),
      };
      observations.push(observation);
      return observation;
    };
    do {
      let pages = 1;
      for (let page = 1; page <= pages; page += 1) {
        const { response } = await read(page);
        if (response.status !== 200) break;
        pages = (response.body as PageBody).pagination.total_pages ?? 1;
      }
      await read('last');
    } while (!until());
    return observations;
  }

  /** pageProblems, plus the one legitimate non-200: a page that the deletes moved past the end. */
  function problemsOf(spec: ListSpec, o: Observation): string[] {
    const label = `${spec.name}, page_size=${o.size}, page=${o.page}`;
    if (o.response.status === 404 && typeof o.page === 'number') {
      const surelyAlive = o.order.filter((row) => !o.maybeGoneAtEnd.has(row.pk)).length;
      const lastPossible = Math.max(1, Math.ceil(surelyAlive / o.size));
      const ok = o.page > lastPossible && JSON.stringify(o.response.body) === '{"detail":"Invalid page."}';
      return ok ? [] : [`${label}: 404 ${o.response.text} although page ${lastPossible} surely exists`];
    }
    return pageProblems(o).map((problem) => `${label}: ${problem}`);
  }

  it('every page is an ordered, contiguous run of live rows with exact counts, while 100 of 160 rows are deleted', async () => {
    const lists = specs();
    const orders = await Promise.all(
      lists.map(async (spec) => (await spec.rows()).sort(comparator(spec.ordering))),
    );
    const deleter = new Deleter(type, adminKey);
    const victims = shuffled(mine, SEED).slice(0, 100);
    let deleting = true;
    const deletes = deleter.run(victims, 4, 25).finally(() => {
      deleting = false;
    });
    const walks = lists.flatMap((spec, i) =>
      spec.sizes.map(async (size) => ({
        spec,
        observations: await walk(spec, size, orders[i] ?? [], deleter, () => !deleting),
      })),
    );
    const results = await Promise.all(walks);
    await deletes;

    expect(deleter.failures).toEqual([]);
    expect(deleter.done.size).toBe(100);
    const problems = results.flatMap(({ spec, observations }) =>
      observations.flatMap((o) => problemsOf(spec, o)),
    );
    expect(problems).toEqual([]);
    // The suite proves nothing unless the lists really ran among the deletes.
    const overlapping = results
      .flatMap(({ observations }) => observations)
      .filter((o) => o.response.status === 200 && o.maybeGoneAtEnd.size > o.goneAtStart.size);
    expect(overlapping.length).toBeGreaterThan(20);

    // Once the deletes are over, consecutive pages are read from one unchanging table: together they are exactly
    // the surviving rows, in order, each once.
    for (const [i, spec] of lists.entries()) {
      const order = orders[i] ?? [];
      const survivors = order.filter((row) => !deleter.done.has(row.pk)).map((row) => row.pk);
      for (const size of spec.sizes) {
        const seen: number[] = [];
        const observations = await walk(spec, size, order, deleter, () => true);
        for (const o of observations.filter((x) => x.page !== 'last')) {
          expect(problemsOf(spec, o)).toEqual([]);
          expect((o.response.body as PageBody).pagination.count).toBe(survivors.length);
          seen.push(...(o.response.body as PageBody).results.map((row) => row.pk));
        }
        expect({ list: spec.name, size, pks: seen }).toEqual({ list: spec.name, size, pks: survivors });
      }
    }
  });

  it('the page check itself fails on a wrong tie order, a skipped live row, a repeated or deleted row, a bad count', () => {
    const order: Known[] = [1, 2, 3, 4, 5, 6].map((pk) => ({ pk, provider: 1, user: 1, expiresUs: null }));
    const row = (pk: number): Row => ({
      pk,
      user: { pk: 1 },
      provider: { pk: 1 },
      expires: null,
      is_expired: false,
      scope: [],
      id_token: '{}',
      revoked: false,
    });
    const observe = (
      pks: number[],
      count: number,
      gone: number[] = [],
      inFlight: number[] = [],
    ): Observation => ({
      type: 'access',
      order,
      page: 1,
      size: 3,
      response: {
        status: 200,
        text: '',
        body: { pagination: expectedPagination(1, count, 3), results: pks.map(row), autocomplete: {} },
      },
      goneAtStart: new Set(gone),
      maybeGoneAtEnd: new Set([...gone, ...inFlight]),
    });
    expect(pageProblems(observe([1, 2, 3], 6))).toEqual([]);
    expect(pageProblems(observe([1, 3, 4], 5, [], [2]))).toEqual([]);
    expect(pageProblems(observe([2, 1, 3], 6))).toEqual(
      expect.arrayContaining([expect.stringContaining('out of order')]),
    );
    expect(pageProblems(observe([1, 3, 4], 6))).toEqual([expect.stringContaining('live row 2 missing')]);
    expect(pageProblems(observe([1, 1, 2], 6))).toEqual(
      expect.arrayContaining([expect.stringContaining('twice within the page')]),
    );
    expect(pageProblems(observe([1, 2, 3], 6, [2]))).toEqual(
      expect.arrayContaining([expect.stringContaining('deleted before the request')]),
    );
    expect(pageProblems(observe([1, 2, 3], 7))).toEqual([expect.stringContaining('count 7 outside [6, 6]')]);
    expect(pageProblems(observe([2, 3, 4], 6))).toEqual([expect.stringContaining('starts after')]);
  });
});

/**
 * README "Stable pagination" promises no row on two pages. A page past the middle is read from the end, placed by
 * the count; if a delete committed between the count and the page, the window would slide back over the previous
 * page. Here: 30 rows, page_size 10; page 2 is read (rows 11-20); then page 3's statements are held on a table lock
 * until 3 deletes of the last rows commit. Reading count and page in one snapshot gives 30 rows and rows 21-30 (or,
 * after the deletes, 27 and rows 21-27); with a count from before and rows from after, it read rows 18-27, three of
 * them already on page 2 (how this case failed before GrantStore.list read both in one snapshot).
 */
describe('pages read one after another', () => {
  it('never repeat a row, even when a delete commits between a page’s count and its rows', async () => {
    const type: GrantType = 'refresh';
    const table = GRANT_TABLES[type].table;
    const user = await f.user();
    const providerId = (await f.provider()).id;
    const start = Date.now() + 86_400_000;
    const pks: number[] = [];
    for (let i = 0; i < 30; i += 1)
      pks.push((await f.grant(type, user.id, providerId, { expires: new Date(start + i * 1000) })).pk);
    const path = `${PATHS[type]}?provider=${providerId}&page_size=10`;
    const page2 = await http('GET', `${path}&page=2`, adminKey);
    expect((page2.body as PageBody).results.map((row) => row.pk)).toEqual(pks.slice(10, 20));

    const blocker = new Client({
      connectionString: testDatabaseUrl(),
      application_name: 'concurrency-blocker',
    });
    await blocker.connect();
    let page3: Response | undefined;
    let interleaved = false;
    try {
      await blocker.query('BEGIN');
      await blocker.query(`DELETE FROM ${table} WHERE id = ANY($1)`, [pks.slice(27)]);
      // The count (grant_counts) stays readable and does not see the uncommitted deletes; the rows do not.
      await blocker.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
      const pending = http('GET', `${path}&page=3`, adminKey);
      for (let i = 0; i < 500 && !interleaved; i += 1) {
        const waiting = await t.dataSource.query<unknown[]>(
          `SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE NOT l.granted AND l.relation = $1::regclass AND a.query NOT ILIKE 'LOCK TABLE%'`,
          [table],
        );
        interleaved = waiting.length > 0;
        if (!interleaved) await sleep(10);
      }
      await blocker.query('COMMIT');
      page3 = await pending;
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      await blocker.end();
    }
    // The setup must really interleave the request with the deletes, or this case proves nothing.
    expect(interleaved).toBe(true);
    expect(page3?.status).toBe(200);

    const body = page3.body as PageBody;
    const got = body.results.map((row) => row.pk);
    expect(got.filter((pk) => pks.slice(10, 20).includes(pk))).toEqual([]);
    // One snapshot, either side of the deletes: 30 rows and page 3 = rows 21-30, or 27 rows and page 3 = rows 21-27.
    const before = { count: 30, pks: pks.slice(20, 30) };
    const after = { count: 27, pks: pks.slice(20, 27) };
    expect([before, after]).toContainEqual({ count: body.pagination.count, pks: got });
  });
});
