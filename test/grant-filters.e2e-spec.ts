/**
 * The inventory's incident filters (issue 14) on the three grant lists and their detail routes: each alone and
 * combined, against a fixture built by hand in a database of this suite's own (so "alone" means the whole table),
 * with the expected pks written out here, not computed by the code under test; and the 400 bodies of bad values.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { bearer, request } from './support/app';
import { Factories } from './support/factories';
import { ScratchDatabases } from './support/scratch-database';

const TYPES = [
  {
    path: '/api/v3/oauth2/access_tokens/',
    table: 'oauth2_access_tokens',
    hash: 'token_hash',
    model: 'AccessToken',
  },
  {
    path: '/api/v3/oauth2/refresh_tokens/',
    table: 'oauth2_refresh_tokens',
    hash: 'token_hash',
    model: 'RefreshToken',
  },
  {
    path: '/api/v3/oauth2/authorization_codes/',
    table: 'oauth2_authorization_codes',
    hash: 'code_hash',
    model: 'AuthorizationCode',
  },
] as const;

type Label = 'a1' | 'a2' | 'a3' | 'a4' | 'b1' | 'b2' | 'b3' | 'b4';

/**
 * The fixture, the same in each table. Providers are created P1 < P2 < P3, so the default ordering (provider,
 * expires, pk; NULL expiry last) is a2 b1 a1 | b3 a3 b2 | b4 a4.
 */
const FIXTURE: {
  label: Label;
  /** When it was issued. */
  created: string;
  user: 'alice' | 'bob';
  provider: 'P1' | 'P2' | 'P3';
  scope: string;
  expires: string | null;
  expiring: boolean;
  revoked: boolean;
}[] = [
  {
    label: 'a1',
    created: '2026-01-10T00:00:00Z',
    user: 'alice',
    provider: 'P1',
    scope: 'openid profile email',
    expires: '2030-01-01T00:00:00Z',
    expiring: true,
    revoked: false,
  },
  {
    label: 'a2',
    created: '2026-01-01T00:00:00Z',
    user: 'alice',
    provider: 'P1',
    scope: 'openid',
    expires: '2020-01-01T00:00:00Z',
    expiring: true,
    revoked: false,
  },
  {
    label: 'a3',
    created: '2026-02-01T00:00:00Z',
    user: 'alice',
    provider: 'P2',
    scope: 'openid email',
    expires: '2030-06-01T00:00:00Z',
    expiring: true,
    revoked: true,
  },
  {
    label: 'a4',
    created: '2026-03-01T00:00:00Z',
    user: 'alice',
    provider: 'P3',
    scope: 'openid profile',
    expires: null,
    expiring: false,
    revoked: false,
  },
  {
    label: 'b1',
    created: '2025-12-01T00:00:00Z',
    user: 'bob',
    provider: 'P1',
    scope: 'openid email offline_access',
    expires: '2021-06-01T00:00:00Z',
    expiring: true,
    revoked: true,
  },
  {
    label: 'b2',
    created: '2026-02-15T00:00:00Z',
    user: 'bob',
    provider: 'P2',
    scope: 'profile',
    expires: '2031-01-01T00:00:00Z',
    expiring: true,
    revoked: false,
  },
  // Does not expire, although its expiry is past: never expired, as the list's is_expired field says.
  {
    label: 'b3',
    created: '2026-01-20T00:00:00Z',
    user: 'bob',
    provider: 'P2',
    scope: 'openid profile email',
    expires: '2019-01-01T00:00:00Z',
    expiring: false,
    revoked: false,
  },
  {
    label: 'b4',
    created: '2026-03-10T00:00:00Z',
    user: 'bob',
    provider: 'P3',
    scope: 'email openid',
    expires: '2030-02-01T00:00:00Z',
    expiring: true,
    revoked: false,
  },
];
const ALL: Label[] = ['a2', 'b1', 'a1', 'b3', 'a3', 'b2', 'b4', 'a4'];

const scratch = new ScratchDatabases('grantry_filters');
let app: NestFastifyApplication;
let dataSource: DataSource;
let adminKey: string;
let aliceKey: string;
let aliceId: number;
let bobId: number;
const providers: Record<'P1' | 'P2' | 'P3', { id: number; clientId: string }> = {
  P1: { id: 0, clientId: '' },
  P2: { id: 0, clientId: '' },
  P3: { id: 0, clientId: '' },
};
/** pk of each label, per table. */
const pks: Record<string, Record<Label, number>> = {};

beforeAll(async () => {
  ({ app, dataSource } = await scratch.createApp());

  const f = new Factories(dataSource);
  adminKey = (await f.superuser()).key;
  const alice = await f.user({ username: 'alice' });
  const bob = await f.user({ username: 'bob' });
  aliceId = alice.id;
  bobId = bob.id;
  aliceKey = await f.apiKey(alice);
  for (const name of ['P1', 'P2', 'P3'] as const) {
    const provider = await f.provider(`provider-${name}`);
    providers[name] = { id: provider.id, clientId: provider.clientId };
  }
  await dataSource.query(
    `INSERT INTO applications (slug, name, provider_id) VALUES ('app-one', 'App One', $1)`,
    [providers.P1.id],
  );
  await dataSource.query(
    `INSERT INTO applications (slug, name, provider_id) VALUES ('app-two', 'App Two', $1)`,
    [providers.P2.id],
  );
  // An application without a provider: its slug matches nothing.
  await dataSource.query(`INSERT INTO applications (slug, name) VALUES ('app-none', 'App None')`);

  for (const type of TYPES) {
    const byLabel = {} as Record<Label, number>;
    for (const row of FIXTURE) {
      const hash = createHash('sha256').update(randomBytes(32)).digest();
      const [inserted] = await dataSource.query<{ id: number }[]>(
        `INSERT INTO ${type.table} (provider_id, user_id, ${type.hash}, scope, expires, expiring, revoked, created)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
        [
          providers[row.provider].id,
          row.user === 'alice' ? aliceId : bobId,
          hash,
          row.scope,
          row.expires,
          row.expiring,
          row.revoked,
          row.created,
        ],
      );
      byLabel[row.label] = inserted?.id ?? 0;
    }
    pks[type.table] = byLabel;
  }
});

afterAll(async () => {
  await app?.close();
  await scratch.dropAll();
});

interface Page {
  pagination: { count: number; current: number; total_pages: number };
  results: { pk: number }[];
}

async function list(
  type: (typeof TYPES)[number],
  query: string,
  key = adminKey,
): Promise<{ count: number; labels: Label[]; status: number }> {
  const response = await request(app, 'GET', `${type.path}?${query}`, bearer(key));
  expect({ query, status: response.status }).toEqual({ query, status: 200 });
  const body = response.body as Page;
  const byPk = new Map(Object.entries(pks[type.table] ?? {}).map(([label, pk]) => [pk, label as Label]));
  return {
    status: response.status,
    count: body.pagination.count,
    labels: body.results.map((row) => byPk.get(row.pk) ?? (`unknown pk ${row.pk}` as Label)),
  };
}

const expectList = async (
  type: (typeof TYPES)[number],
  query: string,
  labels: Label[],
  count = labels.length,
  key = adminKey,
): Promise<void> => {
  const got = await list(type, query, key);
  expect({ query, count: got.count, labels: got.labels }).toEqual({ query, count, labels });
};

describe.each(TYPES)('$path', (type) => {
  it('without a filter lists the whole fixture', async () => {
    await expectList(type, '', ALL);
  });

  it('filters alone', async () => {
    await expectList(type, 'revoked=true', ['b1', 'a3']);
    await expectList(type, 'revoked=false', ['a2', 'a1', 'b3', 'b2', 'b4', 'a4']);
    await expectList(type, 'revoked=True', ['b1', 'a3']);
    // is_expired as the field computes it: expiring AND expires < now (b3 does not expire; a4 has no expiry).
    await expectList(type, 'is_expired=true', ['a2', 'b1']);
    await expectList(type, 'is_expired=false', ['a1', 'b3', 'a3', 'b2', 'b4', 'a4']);
    await expectList(type, 'expires__lt=2025-01-01T00:00:00Z', ['a2', 'b1', 'b3']);
    // gte includes the instant itself (a3 expires at 2030-06-01T00:00:00Z).
    await expectList(type, 'expires__gte=2030-06-01T00:00:00Z', ['a3', 'b2']);
    await expectList(type, 'expires__gte=2030-06-01', ['a3', 'b2']);
    // lt excludes it: a2 expires at exactly 2020-01-01T00:00:00Z, written here with an offset.
    await expectList(type, 'expires__lt=2020-01-01T02:00:00%2B02:00', ['b3']);
    // An unencoded + arrives as a space; read as the offset it was.
    await expectList(type, 'expires__lt=2020-01-01T02:00:01+02:00', ['a2', 'b3']);
    await expectList(type, 'expires__lt=2020-01-01T00:00:00.001Z', ['a2', 'b3']);
    await expectList(type, 'scope=email', ['b1', 'a1', 'b3', 'a3', 'b4']);
    await expectList(type, 'scope=openid%20profile', ['a1', 'b3', 'a4']);
    await expectList(type, 'scope=profile,email', ['a1', 'b3']);
    await expectList(type, 'scope=offline_access', ['b1']);
    // Whole words only: "open" is not "openid".
    await expectList(type, 'scope=open', []);
    await expectList(type, 'application=app-one', ['a2', 'b1', 'a1']);
    await expectList(type, `client_id=${providers.P2.clientId}`, ['b3', 'a3', 'b2']);
    await expectList(type, 'username=bob', ['b1', 'b3', 'b2', 'b4']);
    // Issued at or after (a3 at exactly 2026-02-01T00:00:00Z) / before (a1 at exactly 2026-01-10 excluded).
    await expectList(type, 'created__gte=2026-02-01T00:00:00Z', ['a3', 'b2', 'b4', 'a4']);
    await expectList(type, 'created__lt=2026-01-10', ['a2', 'b1']);
    await expectList(type, 'created__lt=2026-01-10T00:00:00.001Z', ['a2', 'b1', 'a1']);
  });

  it('names that match nothing are an empty list, not an error', async () => {
    await expectList(type, 'application=no-such-app', []);
    await expectList(type, 'application=app-none', []);
    await expectList(type, 'client_id=no-such-client', []);
    await expectList(type, 'username=nobody', []);
    await expectList(type, 'username=BOB', []); // exact, case included
  });

  it('an empty value is no filter, as django-filter reads it', async () => {
    await expectList(type, 'revoked=&is_expired=&expires__lt=&scope=&application=&client_id=&username=', ALL);
    await expectList(type, 'scope=%20,%20', ALL);
    // DRF reads the last of a repeated parameter.
    await expectList(type, 'revoked=false&revoked=true', ['b1', 'a3']);
  });

  it('filters combined with each other and with user, provider, search, ordering and pages', async () => {
    await expectList(type, 'username=alice&revoked=false&scope=openid', ['a2', 'a1', 'a4']);
    await expectList(type, `user=${aliceId}&is_expired=false`, ['a1', 'a3', 'a4']);
    await expectList(type, `provider=${providers.P2.id}&revoked=false`, ['b3', 'b2']);
    await expectList(type, `application=app-one&client_id=${providers.P2.clientId}`, []);
    await expectList(type, `application=app-two&client_id=${providers.P2.clientId}&username=alice`, ['a3']);
    await expectList(type, 'expires__gte=2030-01-01&expires__lt=2030-06-01', ['a1', 'b4']);
    // "Everything issued to a client since T": client_id with created__gte.
    await expectList(type, `client_id=${providers.P1.clientId}&created__gte=2026-01-01`, ['a2', 'a1']);
    // "Valid at T" (T = 2026-01-15): issued before T, expiring at or after it.
    await expectList(type, 'created__lt=2026-01-15&expires__gte=2026-01-15', ['a1']);
    await expectList(type, 'is_expired=false&expires__lt=2025-01-01', ['b3']);
    await expectList(type, 'search=app-two&scope=email', ['b3', 'a3']);
    await expectList(type, 'search=bob&revoked=true', ['b1']);
    await expectList(type, 'search=alice%20app-one&is_expired=false', ['a1']);
    await expectList(type, 'ordering=-expires&revoked=false', ['a4', 'b2', 'b4', 'a1', 'a2', 'b3']);
    await expectList(type, 'ordering=user,-pk&scope=email', ['a3', 'a1', 'b4', 'b3', 'b1']);
    await expectList(type, 'revoked=false&page_size=2', ['a2', 'a1'], 6);
    await expectList(type, 'revoked=false&page_size=2&page=2', ['b3', 'b2'], 6);
    await expectList(type, 'revoked=false&page_size=2&page=3', ['b4', 'a4'], 6);
    await expectList(type, 'revoked=false&page_size=2&page=last', ['b4', 'a4'], 6);
    await expectList(type, 'scope=email&ordering=-expires&page_size=3&page=2', ['b1', 'b3'], 5);
    // application and client_id are counted from the per-provider counts, on page 1 and after it.
    await expectList(type, 'application=app-one&page_size=2&page=2', ['a1'], 3);
    await expectList(
      type,
      `client_id=${providers.P2.clientId}&provider=${providers.P2.id}&page_size=1&page=3`,
      ['b2'],
      3,
    );
    await expectList(type, `application=app-one&provider=${providers.P2.id}`, []);
    await expectList(type, `application=app-two&provider=${providers.P2.id}&page_size=2&page=2`, ['b2'], 3);
    await expectList(type, 'application=no-such-app&page=last', []);
    const pastTheEnd = await request(app, 'GET', `${type.path}?revoked=true&page=2`, bearer(adminKey));
    expect({ status: pastTheEnd.status, body: pastTheEnd.body }).toEqual({
      status: 404,
      body: { detail: 'Invalid page.' },
    });
  });

  // These run as a walk of the provider index one provider at a time (GrantStore.pageSql), prepared: each page, in
  // both directions of the provider-first ordering, from the start and (past the middle) from the end.
  it('an expiry range in the provider-first ordering, forwards, backwards and over pages', async () => {
    const gte = 'expires__gte=2025-01-01';
    await expectList(type, gte, ['a1', 'a3', 'b2', 'b4']);
    await expectList(type, `${gte}&ordering=-provider,-expires,-pk`, ['b4', 'b2', 'a3', 'a1']);
    await expectList(type, `${gte}&page_size=1`, ['a1'], 4);
    await expectList(type, `${gte}&page_size=1&page=2`, ['a3'], 4);
    await expectList(type, `${gte}&page_size=1&page=3`, ['b2'], 4);
    await expectList(type, `${gte}&page_size=1&page=last`, ['b4'], 4);
    await expectList(type, `${gte}&page_size=3&page=2&ordering=-provider,-expires,-pk`, ['a1'], 4);
    await expectList(type, 'expires__lt=2025-01-01&page_size=2', ['a2', 'b1'], 3);
    await expectList(type, 'expires__lt=2025-01-01&page_size=2&page=2', ['b3'], 3);
    await expectList(type, 'expires__lt=2025-01-01&ordering=-provider,-expires,-pk', ['b3', 'b1', 'a2']);
    await expectList(type, 'expires__lt=2019-01-01', []);
    await expectList(type, `${gte}&expires__lt=2030-06-01`, ['a1', 'b4']);
    await expectList(type, `${gte}&provider=${providers.P2.id}&page_size=1&page=2`, ['b2'], 2);
    await expectList(type, `${gte}&application=app-one`, ['a1']);
    await expectList(type, `expires__lt=2025-01-01&client_id=${providers.P2.clientId}`, ['b3']);
    // Another T on the same prepared statement.
    await expectList(type, 'expires__lt=2020-06-01&page_size=2', ['a2', 'b3'], 2);
    // PostgreSQL's own choice of plans on the app's pool: forcing generic plans would force them on every
    // statement with parameters, unnamed ones included (dataSourceOptions).
    const [mode] = await dataSource.query<{ plan_cache_mode: string }[]>('SHOW plan_cache_mode');
    expect(mode).toEqual({ plan_cache_mode: 'auto' });
  });

  it('valid_at: issued by T, not expired at T, not revoked by T (revoked_at)', async () => {
    const table = pks[type.table] as Record<Label, number>;
    // a3 and b1 were inserted revoked, without a revocation time: possibly valid at any T.
    await expectList(type, 'valid_at=2026-03-20T00:00:00Z', ['a1', 'b3', 'a3', 'b2', 'b4', 'a4']);
    // Writing revoked_at alone (as a backfill would) does not fire the revocation trigger.
    await dataSource.query(`UPDATE ${type.table} SET revoked_at = '2026-02-10T00:00:00Z' WHERE id = $1`, [
      table.a3,
    ]);
    try {
      // a3: issued 2026-02-01, revoked 2026-02-10. b3 does not expire; a2 expired in 2020; b2 issued 2026-02-15.
      await expectList(type, 'valid_at=2026-02-05T00:00:00Z', ['a1', 'b3', 'a3']);
      await expectList(type, 'valid_at=2026-02-10T00:00:00Z', ['a1', 'b3']);
      await expectList(type, 'valid_at=2026-02-09T23:59:59.999Z', ['a1', 'b3', 'a3']);
      await expectList(type, 'valid_at=2026-03-20T00:00:00Z', ['a1', 'b3', 'b2', 'b4', 'a4']);
      // Issued at T is valid at T (a1); b3 is issued after it.
      await expectList(type, 'valid_at=2026-01-10T00:00:00Z', ['a1']);
      await expectList(type, 'valid_at=2020-01-01T00:00:00Z', []);
      // Expiring at T is still valid at T (as is_expired: expires < now); a1 expires at 2030-01-01T00:00:00Z.
      await expectList(type, 'valid_at=2030-01-01T00:00:00Z', ['a1', 'b3', 'b2', 'b4', 'a4']);
      await expectList(type, 'valid_at=2030-01-01T00:00:00.001Z', ['b3', 'b2', 'b4', 'a4']);
      await expectList(type, 'valid_at=2026-02-05T00:00:00Z&username=alice', ['a1', 'a3']);
      await expectList(type, 'valid_at=2026-02-05T00:00:00Z&scope=email&revoked=true', ['a3']);
      const bad = await request(app, 'GET', `${type.path}?valid_at=last%20tuesday`, bearer(adminKey));
      expect({ status: bad.status, body: bad.body }).toEqual({
        status: 400,
        body: { valid_at: ['Enter a valid date/time.'] },
      });
      // The export applies it and says when each grant was revoked.
      const exported = await request(
        app,
        'GET',
        `${type.path}export/?valid_at=2026-02-05T00:00:00Z`,
        bearer(adminKey),
      );
      expect(exported.status).toBe(200);
      const rows = exported.text
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { pk: number; revoked_at: string | null });
      expect(rows.map((row) => [row.pk, row.revoked_at])).toEqual(
        [
          [table.a1, null],
          [table.a3, '2026-02-10T00:00:00Z'],
          [table.b3, null],
        ].sort((x, y) => Number(x[0]) - Number(y[0])),
      );
    } finally {
      await dataSource.query(`UPDATE ${type.table} SET revoked_at = NULL WHERE id = $1`, [table.a3]);
    }
  });

  it('a revoking UPDATE records when, and un-revoking clears it', async () => {
    const table = pks[type.table] as Record<Label, number>;
    const read = async (): Promise<{ revoked_at: string | null; at_now: boolean }> => {
      const [row] = await dataSource.query<{ revoked_at: string | null; at_now: boolean }[]>(
        `SELECT revoked_at::text, revoked_at BETWEEN now() - interval '1 minute' AND now() AS at_now
           FROM ${type.table} WHERE id = $1`,
        [table.b2],
      );
      return row ?? { revoked_at: 'missing', at_now: false };
    };
    try {
      await dataSource.query(`UPDATE ${type.table} SET revoked = true WHERE id = $1`, [table.b2]);
      expect((await read()).at_now).toBe(true);
      // Revoking what is revoked already keeps the first time.
      const first = (await read()).revoked_at;
      await dataSource.query(`UPDATE ${type.table} SET revoked = true, scope = scope WHERE id = $1`, [
        table.b2,
      ]);
      expect((await read()).revoked_at).toBe(first);
      await dataSource.query(`UPDATE ${type.table} SET revoked = false WHERE id = $1`, [table.b2]);
      expect(await read()).toEqual({ revoked_at: null, at_now: null });
    } finally {
      await dataSource.query(`UPDATE ${type.table} SET revoked = false WHERE id = $1`, [table.b2]);
    }
  });

  it('a plain user filtering sees only their own grants', async () => {
    await expectList(type, 'revoked=false', ['a2', 'a1', 'a4'], 3, aliceKey);
    await expectList(type, 'scope=email', ['a1', 'a3'], 2, aliceKey);
    await expectList(type, 'username=bob', [], 0, aliceKey);
    await expectList(type, `client_id=${providers.P2.clientId}`, ['a3'], 1, aliceKey);
    await expectList(type, 'is_expired=true&page_size=1', ['a2'], 1, aliceKey);
  });

  it('the detail routes apply the filters as the list does', async () => {
    const table = pks[type.table] as Record<Label, number>;
    const get = (path: string) => request(app, 'GET', `${type.path}${path}`, bearer(adminKey));
    const noMatch = { detail: `No ${type.model} matches the given query.` };

    const visible = await get(`${table.a3}/?revoked=true&username=alice`);
    expect({ status: visible.status, pk: (visible.body as { pk: number }).pk }).toEqual({
      status: 200,
      pk: table.a3,
    });
    const hidden = await get(`${table.a1}/?revoked=true`);
    expect({ status: hidden.status, body: hidden.body }).toEqual({ status: 404, body: noMatch });
    const expired = await get(`${table.b3}/?is_expired=true`);
    expect({ status: expired.status, body: expired.body }).toEqual({ status: 404, body: noMatch });

    const usedBy = await get(`${table.a1}/used_by/?scope=email`);
    expect({ status: usedBy.status, body: usedBy.body }).toEqual({ status: 200, body: [] });
    const usedByHidden = await get(`${table.a1}/used_by/?username=bob`);
    expect({ status: usedByHidden.status, body: usedByHidden.body }).toEqual({ status: 404, body: noMatch });

    const badDetail = await get(`${table.a1}/?revoked=maybe`);
    expect({ status: badDetail.status, body: badDetail.body }).toEqual({
      status: 400,
      body: { revoked: ['Select a valid choice. maybe is not one of the available choices.'] },
    });

    // A delete the filters exclude finds nothing, and the row stays.
    const refused = await request(app, 'DELETE', `${type.path}${table.a1}/?revoked=true`, bearer(adminKey));
    expect({ status: refused.status, body: refused.body }).toEqual({ status: 404, body: noMatch });
    const badDelete = await request(
      app,
      'DELETE',
      `${type.path}${table.a1}/?expires__lt=soon`,
      bearer(adminKey),
    );
    expect({ status: badDelete.status, body: badDelete.body }).toEqual({
      status: 400,
      body: { expires__lt: ['Enter a valid date/time.'] },
    });
    const [row] = await dataSource.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM ${type.table} WHERE id = $1`,
      [table.a1],
    );
    expect(row?.n).toBe(1);
  });

  it.each<[string, Record<string, string[]>]>([
    ['revoked=yes', { revoked: ['Select a valid choice. yes is not one of the available choices.'] }],
    ['revoked=1', { revoked: ['Select a valid choice. 1 is not one of the available choices.'] }],
    ['is_expired=2', { is_expired: ['Select a valid choice. 2 is not one of the available choices.'] }],
    ['expires__lt=yesterday', { expires__lt: ['Enter a valid date/time.'] }],
    ['expires__gte=2026-13-01', { expires__gte: ['Enter a valid date/time.'] }],
    ['expires__gte=2026-02-29', { expires__gte: ['Enter a valid date/time.'] }],
    ['expires__lt=2026-01-01T24:00:00Z', { expires__lt: ['Enter a valid date/time.'] }],
    ['expires__lt=1700000000', { expires__lt: ['Enter a valid date/time.'] }],
    ['expires__lt=2026-01-01T00:00:00%2B25:00', { expires__lt: ['Enter a valid date/time.'] }],
    ['valid_at=yesterday', { valid_at: ['Enter a valid date/time.'] }],
    ['valid_at=2026-02-30T00:00:00Z', { valid_at: ['Enter a valid date/time.'] }],
    ['scope=%00', { scope: ['Null characters are not allowed.'] }],
    [
      'scope=openid%20a%22b',
      {
        scope: [
          'Enter scopes separated by spaces or commas, each of printable characters other than " and \\.',
        ],
      },
    ],
    [
      `scope=${Array.from({ length: 21 }, (_, i) => `s${i}`).join('%20')}`,
      { scope: ['Ensure this field has no more than 20 scopes.'] },
    ],
    ['username=a%00b', { username: ['Null characters are not allowed.'] }],
    ['client_id=%00', { client_id: ['Null characters are not allowed.'] }],
    [
      `username=${'u'.repeat(151)}`,
      { username: ['Ensure this field has no more than 150 characters (it has 151).'] },
    ],
    [
      'application=not%20a%20slug',
      { application: ['Enter a valid “slug” consisting of letters, numbers, underscores or hyphens.'] },
    ],
    [
      // Every bad parameter at once, with an unparseable `user`; an unknown provider pk is not checked yet (that
      // takes a query, and the bad values are refused before any).
      'revoked=yes&is_expired=no&expires__lt=x&expires__gte=y&created__lt=2026-02-30&created__gte=z&scope=%00&application=%2F&username=%00&user=abc&provider=999999',
      {
        user: ['Select a valid choice. That choice is not one of the available choices.'],
        revoked: ['Select a valid choice. yes is not one of the available choices.'],
        is_expired: ['Select a valid choice. no is not one of the available choices.'],
        expires__lt: ['Enter a valid date/time.'],
        expires__gte: ['Enter a valid date/time.'],
        created__lt: ['Enter a valid date/time.'],
        created__gte: ['Enter a valid date/time.'],
        scope: ['Null characters are not allowed.'],
        application: ['Enter a valid “slug” consisting of letters, numbers, underscores or hyphens.'],
        username: ['Null characters are not allowed.'],
      },
    ],
  ])('400 for %s', async (query, body) => {
    const response = await request(app, 'GET', `${type.path}?${query}`, bearer(adminKey));
    expect({ status: response.status, body: response.body }).toEqual({ status: 400, body });
  });

  it('a long bad value is echoed shortened', async () => {
    const response = await request(app, 'GET', `${type.path}?revoked=${'x'.repeat(100)}`, bearer(adminKey));
    expect({ status: response.status, body: response.body }).toEqual({
      status: 400,
      body: { revoked: [`Select a valid choice. ${'x'.repeat(40)}… is not one of the available choices.`] },
    });
  });
});
