import { createHash } from 'node:crypto';
import { Client } from 'pg';
import type { UserEntity } from '../src/identity/user.entity';
import type { OAuth2ProviderEntity } from '../src/providers/oauth2-provider.entity';
import { bearer, createTestApp, request, type TestApp } from './support/app';
import { initialsAvatarOf } from './support/avatars';
import { GrantFactories, type GrantType, unique } from './support/factories';

interface Kind {
  type: GrantType;
  path: string;
  model: string;
  codename: string;
  isToken: boolean;
}

const KINDS: Kind[] = [
  {
    type: 'access',
    path: '/api/v3/oauth2/access_tokens/',
    model: 'AccessToken',
    codename: 'accesstoken',
    isToken: true,
  },
  {
    type: 'refresh',
    path: '/api/v3/oauth2/refresh_tokens/',
    model: 'RefreshToken',
    codename: 'refreshtoken',
    isToken: true,
  },
  {
    type: 'code',
    path: '/api/v3/oauth2/authorization_codes/',
    model: 'AuthorizationCode',
    codename: 'authorizationcode',
    isToken: false,
  },
];

const INVALID_CHOICE = ['Select a valid choice. That choice is not one of the available choices.'];
const HOUR = 3600_000;

interface Page {
  pagination: Record<string, number>;
  results: {
    pk: number;
    expires: string | null;
    user: { pk: number };
    provider: { pk: number };
    revoked?: boolean;
  }[];
  autocomplete: Record<string, never>;
}

let t: TestApp;
let f: GrantFactories;
let admin: UserEntity;
let adminKey: string;
let installId: string;

beforeAll(async () => {
  // No background count folding: the SQL-statement count below must see this suite's requests only.
  t = await createTestApp({ GRANT_COUNTS_FOLD_MS: '0' });
  f = new GrantFactories(t.dataSource);
  const root = await f.group({ isSuperuser: true });
  const child = await f.group({ parent: root.name });
  admin = await f.user();
  await f.member(admin, child); // a superuser through a parent group
  adminKey = await f.apiKey(admin);
  const rows = await t.dataSource.query<{ install_id: string }[]>('SELECT install_id FROM install');
  installId = rows[0]?.install_id ?? '';
});
afterAll(() => t.close());

const get = (path: string, key = adminKey) => request(t.app, 'GET', path, bearer(key));
const del = (path: string, key = adminKey) => request(t.app, 'DELETE', path, bearer(key));
const uid = (pk: number): string => createHash('sha256').update(`${pk}-${installId}`).digest('hex');

describe.each(KINDS)('$path', (kind) => {
  describe('response shape', () => {
    it('a fully populated row, exactly', async () => {
      const provider = await f.provider();
      const app = await f.application({ providerId: provider.id, name: 'Grafana Ünicode' });
      const backchannel = await f.application();
      await t.dataSource.query(
        'UPDATE oauth2_providers SET backchannel_application_id = $1, redirect_uris = $2 WHERE id = $3',
        [
          backchannel.id,
          JSON.stringify([
            {
              matching_mode: 'strict',
              url: 'https://app.example.com/cb',
              redirect_uri_type: 'authorization',
            },
          ]),
          provider.id,
        ],
      );
      const parent = await f.group();
      const group = await f.group({ parent: parent.name });
      const user = await f.user({
        name: 'Zoë Tester',
        email: 'zoe@example.com',
        attributes: { team: 'blue' },
      });
      await f.member(user, group);
      const role = await f.role(['authentik_providers_oauth2.view_accesstoken'], { user });
      const expires = new Date('2031-05-06T07:08:09.123Z');
      const { pk } = await f.grant(kind.type, user.id, provider.id, {
        scope: 'openid email profile',
        expires,
        idToken: { sub: 'abc', iss: 'https://idp/', nonce: null, email: 'zoë@example.com' },
      });
      // Fixed timestamps, one with microseconds and one with none, so the expected body is written out.
      await t.dataSource.query(
        `UPDATE users SET date_joined = '2030-01-02T03:04:05.123456Z', password_change_date = '2030-02-03T04:05:06Z',
                          last_updated = '2030-03-04T05:06:07.5Z'
          WHERE id = $1`,
        [user.id],
      );
      const [userRow] = await t.dataSource.query<{ uuid: string }[]>('SELECT uuid FROM users WHERE id = $1', [
        user.id,
      ]);
      const [providerRow] = await t.dataSource.query<{ client_id: string }[]>(
        'SELECT client_id FROM oauth2_providers WHERE id = $1',
        [provider.id],
      );

      const response = await get(`${kind.path}${pk}/`);
      expect(response.status).toBe(200);
      const body = response.body as Record<string, unknown> & { user: Record<string, string> };
      const expected: Record<string, unknown> = {
        pk,
        provider: {
          pk: provider.id,
          name: provider.name,
          authentication_flow: null,
          authorization_flow: provider.authorizationFlow,
          invalidation_flow: provider.invalidationFlow,
          property_mappings: [],
          component: 'ak-provider-oauth2-form',
          assigned_application_slug: app.slug,
          assigned_application_name: 'Grafana Ünicode',
          assigned_backchannel_application_slug: backchannel.slug,
          assigned_backchannel_application_name: backchannel.name,
          verbose_name: 'OAuth2/OpenID Provider',
          verbose_name_plural: 'OAuth2/OpenID Providers',
          meta_model_name: 'authentik_providers_oauth2.oauth2provider',
          client_type: 'confidential',
          client_id: providerRow?.client_id,
          access_code_validity: 'minutes=1',
          access_token_validity: 'hours=1',
          refresh_token_validity: 'days=30',
          refresh_token_threshold: 'seconds=0',
          include_claims_in_id_token: true,
          signing_key: null,
          encryption_key: null,
          redirect_uris: [
            {
              matching_mode: 'strict',
              url: 'https://app.example.com/cb',
              redirect_uri_type: 'authorization',
            },
          ],
          logout_uri: '',
          logout_method: 'backchannel',
          sub_mode: 'hashed_user_id',
          issuer_mode: 'per_provider',
          jwt_federation_sources: [],
          jwt_federation_providers: [],
          grant_types: ['authorization_code', 'refresh_token'],
        },
        user: {
          pk: user.id,
          username: user.username,
          name: 'Zoë Tester',
          is_active: true,
          last_login: null,
          date_joined: '2030-01-02T03:04:05.123456Z',
          is_superuser: false,
          groups: [group.id],
          groups_obj: [
            {
              pk: group.id,
              num_pk: Number(
                BigInt(`0x${group.id.replace(/-/g, '')}`)
                  .toString()
                  .slice(0, 5),
              ),
              name: group.name,
              is_superuser: false,
              parent: parent.id,
              parent_name: parent.name,
              attributes: {},
            },
          ],
          roles: [role.id],
          roles_obj: [{ pk: role.id, name: role.name }],
          email: 'zoe@example.com',
          // sha256('Zoë Tester')[0] = 0x6a, 106 % 10 = 6: the seventh colour of the palette.
          avatar: initialsAvatarOf('ZT', '#d97706'),
          attributes: { team: 'blue' },
          uid: uid(user.id),
          path: 'users',
          type: 'internal',
          uuid: userRow?.uuid,
          password_change_date: '2030-02-03T04:05:06Z',
          last_updated: '2030-03-04T05:06:07.500000Z',
        },
        is_expired: false,
        expires: '2031-05-06T07:08:09.123000Z',
        scope: ['openid', 'email', 'profile'],
      };
      if (kind.isToken) {
        expected.id_token = [
          '{',
          '    "iss": "https://idp/",',
          '    "sub": "abc",',
          '    "acr": "goauthentik.io/providers/oauth2/default",',
          '    "email": "zo\\u00eb@example.com"',
          '}',
        ].join('\n');
        expected.revoked = false;
      }
      expect(body).toEqual(expected);
      expect(JSON.stringify(body)).not.toMatch(/client_secret|token_hash|code_hash/);
    });

    it('a row with null expiry, no application and no groups; include_groups=false and include_roles=false', async () => {
      const provider = await f.provider();
      const user = await f.user({ name: '' });
      const { pk } = await f.grant(kind.type, user.id, provider.id, { expires: null, scope: '' });
      const response = await get(`${kind.path}${pk}/`);
      expect(response.status).toBe(200);
      const body = response.body as Record<string, Record<string, unknown>>;
      expect(body).toEqual(
        expect.objectContaining({
          pk,
          is_expired: false,
          expires: null,
          scope: [],
          ...(kind.isToken ? { revoked: false } : {}),
        }),
      );
      expect(body.provider).toEqual(
        expect.objectContaining({
          assigned_application_slug: null,
          assigned_application_name: null,
          assigned_backchannel_application_slug: null,
          assigned_backchannel_application_name: null,
        }),
      );
      expect(body.user).toEqual(
        expect.objectContaining({ groups: [], groups_obj: [], roles: [], roles_obj: [] }),
      );
      if (kind.isToken)
        expect(body.id_token).toBe('{\n    "acr": "goauthentik.io/providers/oauth2/default"\n}');

      const lean = await get(`${kind.path}${pk}/?include_groups=false&include_roles=False`);
      expect((lean.body as Record<string, Record<string, unknown>>).user).toEqual(
        expect.objectContaining({ groups: [], groups_obj: null, roles: [], roles_obj: null }),
      );
    });

    it('is_expired is true past expiry', async () => {
      const provider = await f.provider();
      const { pk } = await f.grant(kind.type, admin.id, provider.id, {
        expires: new Date(Date.now() - HOUR),
      });
      expect((await get(`${kind.path}${pk}/`)).body).toEqual(expect.objectContaining({ is_expired: true }));
    });
  });

  describe('pagination', () => {
    async function rows(n: number): Promise<OAuth2ProviderEntity> {
      const provider = await f.provider();
      for (let i = 0; i < n; i += 1) await f.grant(kind.type, admin.id, provider.id);
      return provider;
    }

    it.each([
      [
        0,
        '',
        { next: 0, previous: 0, count: 0, current: 1, total_pages: 1, start_index: 0, end_index: 0 },
        0,
      ],
      [
        1,
        '',
        { next: 0, previous: 0, count: 1, current: 1, total_pages: 1, start_index: 1, end_index: 1 },
        1,
      ],
      [
        20,
        '',
        { next: 0, previous: 0, count: 20, current: 1, total_pages: 1, start_index: 1, end_index: 20 },
        20,
      ],
      [
        21,
        '',
        { next: 2, previous: 0, count: 21, current: 1, total_pages: 2, start_index: 1, end_index: 20 },
        20,
      ],
      [
        21,
        '&page=2',
        { next: 0, previous: 1, count: 21, current: 2, total_pages: 2, start_index: 21, end_index: 21 },
        1,
      ],
      [
        45,
        '&page=2',
        { next: 3, previous: 1, count: 45, current: 2, total_pages: 3, start_index: 21, end_index: 40 },
        20,
      ],
      [
        45,
        '&page=last',
        { next: 0, previous: 2, count: 45, current: 3, total_pages: 3, start_index: 41, end_index: 45 },
        5,
      ],
      [
        45,
        '&page_size=100',
        { next: 0, previous: 0, count: 45, current: 1, total_pages: 1, start_index: 1, end_index: 45 },
        45,
      ],
      [
        45,
        '&page_size=1000&page=',
        { next: 0, previous: 0, count: 45, current: 1, total_pages: 1, start_index: 1, end_index: 45 },
        45,
      ],
      [
        45,
        '&page_size=0',
        { next: 2, previous: 0, count: 45, current: 1, total_pages: 3, start_index: 1, end_index: 20 },
        20,
      ],
      [
        45,
        '&page_size=-3',
        { next: 2, previous: 0, count: 45, current: 1, total_pages: 3, start_index: 1, end_index: 20 },
        20,
      ],
      [
        45,
        '&page_size=abc',
        { next: 2, previous: 0, count: 45, current: 1, total_pages: 3, start_index: 1, end_index: 20 },
        20,
      ],
      [
        45,
        '&page_size=7&page=7',
        { next: 0, previous: 6, count: 45, current: 7, total_pages: 7, start_index: 43, end_index: 45 },
        3,
      ],
    ])('%i rows%s', async (n, extra, expected, length) => {
      const provider = await rows(n);
      const response = await get(`${kind.path}?provider=${provider.id}${extra}`);
      expect(response.status).toBe(200);
      const body = response.body as Page;
      expect(Object.keys(body)).toEqual(['pagination', 'results', 'autocomplete']);
      expect(Object.keys(body.pagination)).toEqual([
        'next',
        'previous',
        'count',
        'current',
        'total_pages',
        'start_index',
        'end_index',
      ]);
      expect(body.pagination).toEqual(expected);
      expect(body.results).toHaveLength(length);
      expect(body.autocomplete).toEqual({});
    });

    it.each(['0', '-1', 'abc', '1.5', '4'])('page=%s -> 404 Invalid page.', async (page) => {
      const provider = await rows(45);
      const response = await get(`${kind.path}?provider=${provider.id}&page=${page}`);
      expect(response.status).toBe(404);
      expect(response.body).toEqual({ detail: 'Invalid page.' });
    });

    it('pages never overlap or skip, even when every sort key ties', async () => {
      const provider = await f.provider();
      const expires = new Date(Date.now() + HOUR);
      const pks: number[] = [];
      for (let i = 0; i < 25; i += 1)
        pks.push((await f.grant(kind.type, admin.id, provider.id, { expires })).pk);
      const seen: number[] = [];
      for (let page = 1; page <= 5; page += 1) {
        const body = (
          await get(`${kind.path}?provider=${provider.id}&page_size=5&page=${page}&ordering=-expires`)
        ).body as Page;
        seen.push(...body.results.map((row) => row.pk));
      }
      // -expires: the pk breaks the ties in the same direction
      expect(seen).toEqual([...pks].sort((a, b) => b - a));
    });
  });

  describe('ordering', () => {
    let provider: OAuth2ProviderEntity;
    let users: UserEntity[];
    const grants: { pk: number; userId: number; expires: number | null; revoked: boolean }[] = [];

    beforeAll(async () => {
      provider = await f.provider();
      users = [await f.user(), await f.user()];
      const base = Date.now() + 10 * HOUR;
      const plan: [number, number | null, boolean][] = [
        [1, base + 3 * HOUR, false],
        [0, base + 1 * HOUR, true],
        [1, null, false],
        [0, base + 1 * HOUR, false],
        [0, base + 2 * HOUR, true],
      ];
      for (const [userIndex, expires, revoked] of plan) {
        const user = users[userIndex] as UserEntity;
        const { pk } = await f.grant(kind.type, user.id, provider.id, {
          expires: expires === null ? null : new Date(expires),
          revoked,
        });
        grants.push({ pk, userId: user.id, expires, revoked });
      }
    });

    type Key = 'pk' | 'user' | 'expires' | 'revoked';
    const value = (g: (typeof grants)[number], key: Key): number => {
      if (key === 'pk') return g.pk;
      if (key === 'user') return g.userId;
      if (key === 'revoked') return g.revoked ? 1 : 0;
      return g.expires ?? Number.POSITIVE_INFINITY; // NULL sorts last ascending, first descending
    };
    const keys: Key[] = kind.isToken ? ['pk', 'user', 'expires', 'revoked'] : ['pk', 'user', 'expires'];

    it.each(keys.flatMap((key) => [key, `-${key}`]))(
      'ordering=%s, ties broken by pk in the same direction',
      async (ordering) => {
        const key = ordering.replace('-', '') as Key;
        const sign = ordering.startsWith('-') ? -1 : 1;
        const expected = [...grants]
          .sort((a, b) => sign * (value(a, key) - value(b, key) || a.pk - b.pk))
          .map((g) => g.pk);
        const body = (await get(`${kind.path}?provider=${provider.id}&ordering=${ordering}`)).body as Page;
        expect(body.results.map((row) => row.pk)).toEqual(expected);
      },
    );

    it('several terms, unknown terms ignored; default is provider, expires', async () => {
      const expected = [...grants]
        .sort((a, b) => a.userId - b.userId || value(b, 'expires') - value(a, 'expires') || b.pk - a.pk)
        .map((g) => g.pk);
      const body = (await get(`${kind.path}?provider=${provider.id}&ordering=name,user,-expires,bogus`))
        .body as Page;
      expect(body.results.map((row) => row.pk)).toEqual(expected);
      const byDefault = [...grants]
        .sort((a, b) => value(a, 'expires') - value(b, 'expires') || a.pk - b.pk)
        .map((g) => g.pk);
      for (const ordering of ['', '&ordering=', '&ordering=nonsense']) {
        const response = (await get(`${kind.path}?provider=${provider.id}${ordering}`)).body as Page;
        expect(response.results.map((row) => row.pk)).toEqual(byDefault);
      }
    });

    if (!kind.isToken) {
      it('ignores revoked for authorization codes', async () => {
        const body = (await get(`${kind.path}?provider=${provider.id}&ordering=-revoked`)).body as Page;
        const byDefault = [...grants]
          .sort((a, b) => value(a, 'expires') - value(b, 'expires') || a.pk - b.pk)
          .map((g) => g.pk);
        expect(body.results.map((row) => row.pk)).toEqual(byDefault);
      });
    }
  });

  describe('filters', () => {
    it('user and provider filter by pk; empty values do not filter', async () => {
      const [p1, p2] = [await f.provider(), await f.provider()];
      const [u1, u2] = [await f.user(), await f.user()];
      const a = (await f.grant(kind.type, u1.id, p1.id)).pk;
      const b = (await f.grant(kind.type, u2.id, p1.id)).pk;
      const c = (await f.grant(kind.type, u1.id, p2.id)).pk;
      const pks = async (query: string): Promise<number[]> =>
        ((await get(`${kind.path}?${query}&page_size=100`)).body as Page).results
          .map((row) => row.pk)
          .sort((x, y) => x - y);
      expect(await pks(`provider=${p1.id}`)).toEqual([a, b]);
      expect(await pks(`user=${u1.id}`)).toEqual([a, c]);
      expect(await pks(`user=${u1.id}&provider=${p2.id}`)).toEqual([c]);
      expect(await pks(`user=&provider=${p1.id}`)).toEqual([a, b]);
      expect(await pks(`user=${u2.id}&provider=`)).toEqual([b]);
    });

    it.each([
      ['user=999999999', { user: INVALID_CHOICE }],
      ['provider=999999999', { provider: INVALID_CHOICE }],
      ['user=abc', { user: INVALID_CHOICE }],
      ['provider=1.5', { provider: INVALID_CHOICE }],
      ['user=99999999999', { user: INVALID_CHOICE }],
      ['user=-1&provider=x', { user: INVALID_CHOICE, provider: INVALID_CHOICE }],
    ])('%s -> 400', async (query, body) => {
      const response = await get(`${kind.path}?${query}`);
      expect(response.status).toBe(400);
      expect(response.body).toEqual(body);
    });

    it('apply on retrieve, delete and used_by too', async () => {
      const [p1, p2] = [await f.provider(), await f.provider()];
      const { pk } = await f.grant(kind.type, admin.id, p1.id);
      const noMatch = { detail: `No ${kind.model} matches the given query.` };
      expect((await get(`${kind.path}${pk}/?provider=${p2.id}`)).body).toEqual(noMatch);
      expect((await get(`${kind.path}${pk}/used_by/?provider=${p2.id}`)).body).toEqual(noMatch);
      expect((await del(`${kind.path}${pk}/?provider=${p2.id}`)).body).toEqual(noMatch);
      expect((await get(`${kind.path}${pk}/?user=abc`)).body).toEqual({ user: INVALID_CHOICE });
      expect((await del(`${kind.path}${pk}/?user=abc`)).status).toBe(400);
      expect((await get(`${kind.path}${pk}/?provider=${p1.id}`)).status).toBe(200);
    });

    it('retrieve ignores page and page_size, as authentik does on a detail route', async () => {
      const provider = await f.provider();
      const { pk } = await f.grant(kind.type, admin.id, provider.id);
      const plain = await get(`${kind.path}${pk}/`);
      expect(plain.status).toBe(200);
      for (const query of ['page=abc', 'page=0', 'page=999999', 'page_size=-5', 'page=last&page_size=x']) {
        const response = await get(`${kind.path}${pk}/?${query}`);
        expect([query, response.status, response.body]).toEqual([query, 200, plain.body]);
      }
    });
  });

  describe('search', () => {
    let target: { pk: number };
    let marker: string;
    let other: { pk: number };

    beforeAll(async () => {
      marker = unique('srch').replace(/-/g, '');
      const user = await f.user({
        username: `${marker}-user`,
        name: `Name ${marker}N`,
        email: `${marker}E@example.com`,
      });
      const provider = await f.provider(`Provider ${marker}P`);
      await f.application({
        providerId: provider.id,
        slug: `${marker}s`.slice(0, 50),
        name: `App ${marker}A`,
      });
      target = await f.grant(kind.type, user.id, provider.id);
      other = await f.grant(kind.type, admin.id, (await f.provider()).id);
    });

    const found = async (term: string): Promise<number[]> =>
      ((await get(`${kind.path}?search=${encodeURIComponent(term)}&page_size=100`)).body as Page).results.map(
        (row) => row.pk,
      );

    it.each([
      ['username', (m: string) => `${m}-USER`],
      ['name', (m: string) => `name ${m}n`],
      ['email', (m: string) => `${m}e@EXAMPLE`],
      ['provider name', (m: string) => `${m}p`],
      ['application slug', (m: string) => `${m}S`],
      ['application name', (m: string) => `${m}a`],
    ])('finds by %s, case-insensitively', async (_field, term) => {
      const pks = await found(term(marker));
      expect(pks).toEqual([target.pk]);
    });

    it('finds by client id', async () => {
      const [row] = await t.dataSource.query<{ client_id: string }[]>(
        `SELECT p.client_id FROM ${kind.type === 'code' ? 'oauth2_authorization_codes' : kind.type === 'access' ? 'oauth2_access_tokens' : 'oauth2_refresh_tokens'} g
           JOIN oauth2_providers p ON p.id = g.provider_id WHERE g.id = $1`,
        [target.pk],
      );
      expect(await found(row?.client_id.toLowerCase() ?? 'none')).toEqual([target.pk]);
    });

    it('treats % and _ literally, and requires every term to match', async () => {
      expect(await found('%')).not.toContain(other.pk);
      expect(await found('_')).not.toContain(other.pk);
      expect(await found(`${marker} nothing-matches-this`)).toEqual([]);
      expect(await found(`${marker}-user ${marker}p`)).toEqual([target.pk]);
      const all = (await get(`${kind.path}?search=`)).body as Page;
      expect(all.pagination.count).toBeGreaterThan(1);
    });
  });

  describe('who sees and deletes what', () => {
    let owner: UserEntity;
    let ownerKey: string;
    let strangerKey: string;
    let viewerKey: string;
    let deleterKey: string;
    let providerId: number;

    beforeAll(async () => {
      providerId = (await f.provider()).id;
      owner = await f.user();
      ownerKey = await f.apiKey(owner);
      strangerKey = await f.apiKey(await f.user());
      const viewers = await f.group({ parent: (await f.group()).name });
      const viewer = await f.user();
      await f.member(viewer, viewers);
      await f.role([`authentik_providers_oauth2.view_${kind.codename}`], { group: viewers });
      viewerKey = await f.apiKey(viewer);
      const deleter = await f.user();
      await f.role([`authentik_providers_oauth2.delete_${kind.codename}`], { user: deleter });
      deleterKey = await f.apiKey(deleter);
    });

    it('owners see their own rows; others do not; superusers and view-role holders see all', async () => {
      const { pk } = await f.grant(kind.type, owner.id, providerId);
      const noMatch = { detail: `No ${kind.model} matches the given query.` };
      expect((await get(`${kind.path}${pk}/`, ownerKey)).status).toBe(200);
      expect(await get(`${kind.path}${pk}/`, strangerKey)).toEqual(
        expect.objectContaining({ status: 404, body: noMatch }),
      );
      expect((await get(`${kind.path}${pk}/`, viewerKey)).status).toBe(200);
      expect((await get(`${kind.path}${pk}/`)).status).toBe(200);
      const ownList = (await get(`${kind.path}?provider=${providerId}`, ownerKey)).body as Page;
      expect(ownList.results.every((row) => row.user.pk === owner.id)).toBe(true);
      expect(
        ((await get(`${kind.path}?provider=${providerId}`, strangerKey)).body as Page).pagination.count,
      ).toBe(0);
      expect(
        ((await get(`${kind.path}?provider=${providerId}`, viewerKey)).body as Page).pagination.count,
      ).toBe(ownList.pagination.count);
      expect((await get(`${kind.path}${pk}/used_by/`, strangerKey)).body).toEqual(noMatch);
      expect(await get(`${kind.path}${pk}/used_by/`, ownerKey)).toEqual(
        expect.objectContaining({ status: 200, body: [] }),
      );
    });

    it('deleting: stranger 404, viewer 403, owner 204; then gone; second delete 404; one audit event', async () => {
      const { pk } = await f.grant(kind.type, owner.id, providerId);
      const noMatch = { detail: `No ${kind.model} matches the given query.` };
      expect(await del(`${kind.path}${pk}/`, strangerKey)).toEqual(
        expect.objectContaining({ status: 404, body: noMatch }),
      );
      expect(await del(`${kind.path}${pk}/`, viewerKey)).toEqual(
        expect.objectContaining({
          status: 403,
          body: { detail: 'You do not have permission to perform this action.' },
        }),
      );
      const deleted = await del(`${kind.path}${pk}/`, ownerKey);
      expect(deleted.status).toBe(204);
      expect(deleted.text).toBe('');
      expect(await get(`${kind.path}${pk}/`, ownerKey)).toEqual(
        expect.objectContaining({ status: 404, body: noMatch }),
      );
      expect(await del(`${kind.path}${pk}/`, ownerKey)).toEqual(
        expect.objectContaining({ status: 404, body: noMatch }),
      );
      const events = await t.dataSource.query<Record<string, unknown>[]>(
        `SELECT action, actor_user_id, model, object_user_id, object_provider_id, length(secret_hash_prefix) AS prefix
           FROM audit_events WHERE model = $1 AND object_pk = $2`,
        [kind.model, pk],
      );
      expect(events).toEqual([
        {
          action: 'grant_deleted',
          actor_user_id: owner.id,
          model: kind.model,
          object_user_id: owner.id,
          object_provider_id: providerId,
          prefix: 8,
        },
      ]);
    });

    it('delete-role holders and superusers delete rows of others', async () => {
      const first = await f.grant(kind.type, owner.id, providerId);
      const second = await f.grant(kind.type, owner.id, providerId);
      // A delete permission without view does not reveal the row: it is found only when visible.
      expect((await del(`${kind.path}${first.pk}/`, deleterKey)).status).toBe(404);
      expect((await del(`${kind.path}${first.pk}/`)).status).toBe(204);
      expect((await del(`${kind.path}${second.pk}/`)).status).toBe(204);
    });

    it('50 concurrent deletes of one row: exactly one 204, the rest 404, one audit event', async () => {
      const { pk } = await f.grant(kind.type, owner.id, providerId);
      const statuses = await Promise.all(Array.from({ length: 50 }, () => del(`${kind.path}${pk}/`)));
      const counts = statuses.reduce<Record<number, number>>(
        (acc, r) => ({ ...acc, [r.status]: (acc[r.status] ?? 0) + 1 }),
        {},
      );
      expect(counts).toEqual({ 204: 1, 404: 49 });
      const events = await t.dataSource.query(
        'SELECT 1 FROM audit_events WHERE model = $1 AND object_pk = $2',
        [kind.model, pk],
      );
      expect(events).toHaveLength(1);
    });
  });

  describe('errors', () => {
    it.each(['abc', '0', '-1', '2147483648', '9223372036854775808', '1e3'])(
      'id %s -> 404 Not found.',
      async (id) => {
        for (const suffix of ['', 'used_by/']) {
          const response = await get(`${kind.path}${id}/${suffix}`);
          expect(response.status).toBe(404);
          expect(response.body).toEqual({ detail: 'Not found.' });
        }
        expect((await del(`${kind.path}${id}/`)).body).toEqual({ detail: 'Not found.' });
      },
    );

    it('an id that does not exist -> 404 No <Model> matches the given query.', async () => {
      const response = await get(`${kind.path}2147483647/`);
      expect(response).toEqual(
        expect.objectContaining({
          status: 404,
          body: { detail: `No ${kind.model} matches the given query.` },
        }),
      );
    });

    it.each([
      ['POST', ''],
      ['PUT', ''],
      ['PATCH', ''],
      ['POST', '1/'],
      ['PUT', '1/'],
      ['PATCH', '1/'],
      ['POST', '1/used_by/'],
      ['DELETE', '1/used_by/'],
    ] as const)('%s %s -> 405 with authentik body', async (method, suffix) => {
      const response = await request(t.app, method, `${kind.path}${suffix}`, bearer(adminKey));
      expect(response.status).toBe(405);
      expect(response.body).toEqual({ detail: `Method "${method}" not allowed.` });
    });

    it('405 only after authentication', async () => {
      const response = await request(t.app, 'PATCH', `${kind.path}1/`);
      expect(response).toEqual(
        expect.objectContaining({
          status: 403,
          body: { detail: 'Authentication credentials were not provided.' },
        }),
      );
    });

    it('every route needs credentials', async () => {
      for (const path of [kind.path, `${kind.path}1/`, `${kind.path}1/used_by/`]) {
        expect((await request(t.app, 'GET', path)).body).toEqual({
          detail: 'Authentication credentials were not provided.',
        });
      }
      expect((await request(t.app, 'DELETE', `${kind.path}1/`, bearer('nope'))).body).toEqual({
        detail: 'Token invalid/expired',
      });
    });
  });

  it('a list costs a fixed number of SQL statements whatever the page size', async () => {
    const provider = await f.provider();
    for (let i = 0; i < 30; i += 1) await f.grant(kind.type, (await f.user()).id, provider.id);
    const count = async (query: string): Promise<number> => {
      // every statement, through TypeORM or straight on the pool, ends in pg's Client#query
      const spy = jest.spyOn(Client.prototype, 'query');
      try {
        const response = await get(`${kind.path}?provider=${provider.id}&${query}`);
        expect(response.status).toBe(200);
        return spy.mock.calls.length;
      } finally {
        spy.mockRestore();
      }
    };
    await get(`${kind.path}?provider=${provider.id}`); // warms the once-per-process install id
    // page 1: authentication, then one statement (filter check, count, page, its users and providers)
    expect(await count('page_size=1')).toBe(2);
    expect(await count('page_size=100')).toBe(2);
    // other pages: authentication, then in one snapshot (BEGIN ... COMMIT) the head (filter check and count) and the
    // page with its users and providers
    expect(await count('page_size=1&page=2')).toBe(5);
    expect(await count('page_size=10&page=2')).toBe(5);
    expect(await count('page_size=1&page=2&search=provider')).toBe(5); // matches the provider's name
  });
});
