/**
 * POST /api/v3/oauth2/<type>/bulk_revoke/ (issue 14): validation, dry run against real run, idempotence, the
 * permission matrix, concurrent overlapping runs, the refresh tokens' cascade to their access tokens, the audit event,
 * and the issuance side (revoked tokens and codes refused). Counts are checked against the database.
 */
import { sha256 } from '../src/common/crypto/secrets';
import type { UserEntity } from '../src/identity/user.entity';
import { Sealer } from '../src/keys/sealing';
import {
  EMPTY_PREDICATE,
  INCLUDE_ACCESS_TOKENS_ONLY,
  REVOKED_NOT_A_FILTER,
  unknownField,
} from '../src/oauth2/grants/bulk-revoke.dto';
import { BULK_REVOKE_LIMITS } from '../src/oauth2/grants/bulk-revoke';
import { ACCESS_TOKENS, AUTHORIZATION_CODES, REFRESH_TOKENS } from '../src/oauth2/grants/grant-kind';
import { INVALID_CHOICE } from './support/messages';
import { Clients } from '../src/oauth2/issuance/core/clients';
import { type Issued, TokenIssuer } from '../src/oauth2/issuance/core/token-issuer';
import { createApplication, createProvider } from '../src/providers/providers';
import { bearer, createTestApp, request, requestJson, type InjectResult, type TestApp } from './support/app';
import { GRANT_TABLES, GrantFactories, type GrantType, unique } from './support/factories';

type Path = 'access_tokens' | 'refresh_tokens' | 'authorization_codes';
const TYPE_OF: Record<Path, GrantType> = {
  access_tokens: 'access',
  refresh_tokens: 'refresh',
  authorization_codes: 'code',
};
const REDIRECT = 'https://rp.example.com/callback';
/** DRF DateTimeField's message, written out, with the date form the body's instants accept too (as the list). */
const DATETIME_FORMAT =
  'Datetime has wrong format. Use one of these formats instead: YYYY-MM-DD, YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].';

describe('bulk revocation: POST /api/v3/oauth2/<type>/bulk_revoke/', () => {
  let t: TestApp;
  let f: GrantFactories;
  let adminKey: string;
  const defaultBatch = BULK_REVOKE_LIMITS.batchSize;

  beforeAll(async () => {
    t = await createTestApp();
    f = new GrantFactories(t.dataSource);
    const admin = await f.user();
    const superusers = await f.group({ isSuperuser: true });
    await f.member(admin, superusers);
    adminKey = await f.apiKey(admin);
  });
  afterAll(() => t?.close());
  afterEach(() => {
    BULK_REVOKE_LIMITS.batchSize = defaultBatch;
  });

  const post = (type: Path, body: unknown, key: string): Promise<InjectResult> =>
    requestJson(t.app, 'POST', `/api/v3/oauth2/${type}/bulk_revoke/`, body, bearer(key));

  /** Inserts `n` grants of `type` for the user at the provider; answers their pks, ascending. */
  async function grants(
    type: GrantType,
    user: UserEntity,
    providerId: number,
    n: number,
    options: { revoked?: boolean; expires?: Date | null; scope?: string } = {},
  ): Promise<number[]> {
    const { table, hash } = GRANT_TABLES[type];
    const rows = await t.dataSource.query<{ id: number }[]>(
      `INSERT INTO ${table} (provider_id, user_id, ${hash}, scope, expires, expiring, revoked)
       SELECT $1, $2, sha256(convert_to($3 || i::text, 'UTF8')), $4, $5, $5::timestamptz IS NOT NULL, $6
         FROM generate_series(1, $7) i
       RETURNING id`,
      [
        providerId,
        user.id,
        unique('grant'),
        options.scope ?? 'openid',
        options.expires === undefined ? new Date(Date.now() + 3600_000) : options.expires,
        options.revoked ?? false,
        n,
      ],
    );
    return rows.map((row) => row.id).sort((a, b) => a - b);
  }

  async function revokedCount(type: GrantType, ids: number[]): Promise<number> {
    const [row] = await t.dataSource.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM ${GRANT_TABLES[type].table} WHERE id = ANY($1) AND revoked`,
      [ids],
    );
    return row?.n ?? -1;
  }

  async function keyWith(permissions: string[]): Promise<{ user: UserEntity; key: string }> {
    const user = await f.user();
    if (permissions.length > 0) await f.role(permissions, { user });
    return { user, key: await f.apiKey(user) };
  }

  describe('routes', () => {
    it('is a static route beside :id, 405 for other methods, 403 without credentials', async () => {
      const provider = await f.provider();
      const owner = await f.user();
      await grants('access', owner, provider.id, 3);
      const ok = await post('access_tokens', { provider: provider.id, dry_run: true }, adminKey);
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ dry_run: true, count: 3 });
      // Without the trailing slash too, as every /api/v3 path.
      const bare = await requestJson(
        t.app,
        'POST',
        '/api/v3/oauth2/access_tokens/bulk_revoke',
        { provider: provider.id, dry_run: true },
        bearer(adminKey),
      );
      expect(bare.status).toBe(200);
      const get = await request(t.app, 'GET', '/api/v3/oauth2/access_tokens/bulk_revoke/', bearer(adminKey));
      expect(get.status).toBe(405);
      expect(get.body).toEqual({ detail: 'Method "GET" not allowed.' });
      expect(get.headers.allow).toBe('POST, OPTIONS');
      const anonymous = await requestJson(t.app, 'POST', '/api/v3/oauth2/access_tokens/bulk_revoke/', {
        provider: provider.id,
      });
      expect(anonymous.status).toBe(403);
      expect(anonymous.body).toEqual({ detail: 'Authentication credentials were not provided.' });
      // The other POST routes of the inventory still read no body and answer 405.
      const list = await requestJson(
        t.app,
        'POST',
        '/api/v3/oauth2/access_tokens/',
        '{broken',
        bearer(adminKey),
      );
      expect(list.status).toBe(405);
    });
  });

  describe('400s (nothing written)', () => {
    let provider: { id: number };
    let ids: number[];

    beforeAll(async () => {
      provider = await f.provider();
      ids = await grants('refresh', await f.user(), provider.id, 5);
    });
    afterEach(async () => {
      expect(await revokedCount('refresh', ids)).toBe(0);
    });

    it.each<[string, unknown, unknown]>([
      ['an empty body', {}, { non_field_errors: [EMPTY_PREDICATE] }],
      ['only dry_run', { dry_run: true }, { non_field_errors: [EMPTY_PREDICATE] }],
      [
        'only include_access_tokens',
        { include_access_tokens: true },
        { non_field_errors: [EMPTY_PREDICATE] },
      ],
      [
        'bad types',
        {
          user: 'abc',
          provider: 1.5,
          dry_run: 'yes',
          is_expired: 1,
          expires__lt: 'soon',
          expires__gte: '2024-02-30T00:00:00Z',
          scope: 5,
          application: '',
          client_id: 7,
          username: null,
          include_access_tokens: 'true',
        },
        {
          user: ['A valid integer is required.'],
          provider: ['A valid integer is required.'],
          dry_run: ['Must be a valid boolean.'],
          is_expired: ['Must be a valid boolean.'],
          expires__lt: [DATETIME_FORMAT],
          expires__gte: [DATETIME_FORMAT],
          scope: ['Expected a string of scopes or a list of scope strings.'],
          application: ['This field may not be blank.'],
          client_id: ['Not a valid string.'],
          username: ['This field may not be null.'],
          include_access_tokens: ['Must be a valid boolean.'],
        },
      ],
      ['an empty scope', { scope: ' , ' }, { scope: ['This field may not be blank.'] }],
      // As the list's query parameter: a value that cannot be a slug is refused, not an empty match.
      [
        'an application that cannot be a slug',
        { application: 'not a slug' },
        { application: ['Enter a valid “slug” consisting of letters, numbers, underscores or hyphens.'] },
      ],
      // valid_at alone or beside a good filter: a malformed instant never falls back to "no filter".
      ['valid_at in words', { valid_at: 'yesterday' }, { valid_at: [DATETIME_FORMAT] }],
      [
        'valid_at on February 30th',
        { valid_at: '2026-02-30T00:00:00Z', user: 1 },
        { valid_at: [DATETIME_FORMAT] },
      ],
      ['valid_at at 24:00', { valid_at: '2026-01-01T24:00:00Z' }, { valid_at: [DATETIME_FORMAT] }],
      [
        "valid_at with a space for the offset (a query string's unencoded +)",
        { valid_at: '2026-01-01T10:00 05:00' },
        { valid_at: [DATETIME_FORMAT] },
      ],
      ['valid_at as a date on February 30th', { valid_at: '2026-02-30' }, { valid_at: [DATETIME_FORMAT] }],
      [
        'valid_at with an offset of 25 hours',
        { valid_at: '2026-01-01T00:00:00+25:00' },
        { valid_at: [DATETIME_FORMAT] },
      ],
      ['valid_at as epoch seconds', { valid_at: 1_700_000_000 }, { valid_at: [DATETIME_FORMAT] }],
      ['valid_at empty', { valid_at: '' }, { valid_at: [DATETIME_FORMAT] }],
      ['valid_at null', { valid_at: null }, { valid_at: ['This field may not be null.'] }],
      ['unknown members', { usr: 5, provider: 1 }, { usr: [unknownField(REFRESH_TOKENS)] }],
      ['revoked', { revoked: false, user: 1 }, { revoked: [REVOKED_NOT_A_FILTER] }],
      [
        'unknown and bad members together',
        { usr: 5, dry_run: 'x' },
        { usr: [unknownField(REFRESH_TOKENS)], dry_run: ['Must be a valid boolean.'] },
      ],
      ['a user that does not exist', { user: 2_000_000_000 }, { user: [INVALID_CHOICE] }],
      [
        'a pk out of range',
        { user: -1, provider: 2 ** 40 },
        { user: [INVALID_CHOICE], provider: [INVALID_CHOICE] },
      ],
      ['a list', [1], { non_field_errors: ['Invalid data. Expected a dictionary, but got list.'] }],
      ['a string', '"x"', { non_field_errors: ['Invalid data. Expected a dictionary, but got str.'] }],
      ['malformed JSON', '{"user": ', { detail: 'JSON parse error.' }],
    ])('refuses %s', async (_name, body, expected) => {
      const response = await post('refresh_tokens', body, adminKey);
      expect(response.status).toBe(400);
      expect(response.body).toEqual(expected);
    });

    it('refuses a provider that does not exist, as the list does', async () => {
      const response = await post('refresh_tokens', { provider: 2_000_000_000 }, adminKey);
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ provider: [INVALID_CHOICE] });
    });

    it('takes include_access_tokens only on refresh tokens', async () => {
      for (const type of ['access_tokens', 'authorization_codes'] as const) {
        const response = await post(type, { provider: provider.id, include_access_tokens: true }, adminKey);
        expect(response.status).toBe(400);
        expect(response.body).toEqual({ include_access_tokens: [INCLUDE_ACCESS_TOKENS_ONLY] });
      }
      const unknown = await post('authorization_codes', { nope: 1 }, adminKey);
      expect(unknown.body).toEqual({ nope: [unknownField(AUTHORIZATION_CODES)] });
      expect(unknownField(ACCESS_TOKENS)).toBe(
        'Unknown field. access_tokens/bulk_revoke/ takes user, provider, is_expired, expires__lt, expires__gte, ' +
          'created__lt, created__gte, valid_at, scope, application, client_id, username, dry_run.',
      );
    });
  });

  describe.each<Path>(['access_tokens', 'refresh_tokens', 'authorization_codes'])('%s', (type) => {
    it('dry run and real run agree; the real run is exact and idempotent', async () => {
      BULK_REVOKE_LIMITS.batchSize = 37;
      const provider = await f.provider();
      const other = await f.provider();
      const owner = await f.user();
      const live = await grants(TYPE_OF[type], owner, provider.id, 250);
      const already = await grants(TYPE_OF[type], owner, provider.id, 10, { revoked: true });
      const elsewhere = await grants(TYPE_OF[type], owner, other.id, 7);
      const body = { user: owner.id, provider: provider.id };
      const model = `authentik_providers_oauth2.${{ access_tokens: 'accesstoken', refresh_tokens: 'refreshtoken', authorization_codes: 'authorizationcode' }[type]}`;

      const dry = await post(type, { ...body, dry_run: true }, adminKey);
      expect(dry.status).toBe(200);
      expect(dry.body).toEqual({
        dry_run: true,
        model,
        count: 250,
        first_ids: live.slice(0, 100),
        own_only: false,
      });
      expect(await revokedCount(TYPE_OF[type], live)).toBe(0);

      const real = await post(type, body, adminKey);
      expect(real.status).toBe(200);
      expect(real.body).toEqual({ ...(dry.body as object), dry_run: false });
      expect(await revokedCount(TYPE_OF[type], live)).toBe(250);
      expect(await revokedCount(TYPE_OF[type], already)).toBe(10);
      expect(await revokedCount(TYPE_OF[type], elsewhere)).toBe(0);

      const again = await post(type, body, adminKey);
      expect(again.body).toEqual({ dry_run: false, model, count: 0, first_ids: [], own_only: false });
      const dryAgain = await post(type, { ...body, dry_run: true }, adminKey);
      expect(dryAgain.body).toEqual({ dry_run: true, model, count: 0, first_ids: [], own_only: false });
      // The list shows them revoked (tokens carry `revoked`; codes stay listed as well).
      const list = await request(
        t.app,
        'GET',
        `/api/v3/oauth2/${type}/?user=${owner.id}&provider=${provider.id}&page_size=1`,
        bearer(adminKey),
      );
      expect((list.body as { pagination: { count: number } }).pagination.count).toBe(260);
    });
  });

  describe('permissions', () => {
    let provider: { id: number };
    let a: { user: UserEntity; key: string };
    let b: UserEntity;
    let aIds: number[];
    let bIds: number[];

    beforeEach(async () => {
      provider = await f.provider();
      a = await keyWith([]);
      b = await f.user();
      aIds = await grants('access', a.user, provider.id, 30);
      bIds = await grants('access', b, provider.id, 20);
    });

    const dryCount = async (key: string, body: Record<string, unknown>): Promise<unknown> =>
      (await post('access_tokens', { ...body, dry_run: true }, key)).body;

    it('a superuser and a holder of the view and delete permissions (through a group role) act on every grant', async () => {
      expect(await dryCount(adminKey, { provider: provider.id })).toMatchObject({
        count: 50,
        own_only: false,
      });
      const deleter = await f.user();
      const group = await f.group();
      await f.member(deleter, group);
      await f.role(
        ['authentik_providers_oauth2.view_accesstoken', 'authentik_providers_oauth2.delete_accesstoken'],
        { group },
      );
      const key = await f.apiKey(deleter);
      expect(await dryCount(key, { provider: provider.id })).toMatchObject({ count: 50, own_only: false });
      const real = await post('access_tokens', { user: b.id }, key);
      expect(real.body).toMatchObject({ count: 20, own_only: false });
      expect(await revokedCount('access', bIds)).toBe(20);
      expect(await revokedCount('access', aIds)).toBe(0);
    });

    it('a viewer without the delete permission acts on their own grants only', async () => {
      const viewer = await keyWith(['authentik_providers_oauth2.view_accesstoken']);
      const own = await grants('access', viewer.user, provider.id, 4);
      // The list shows the viewer all 54 …
      const list = await request(
        t.app,
        'GET',
        `/api/v3/oauth2/access_tokens/?provider=${provider.id}&page_size=1`,
        bearer(viewer.key),
      );
      expect((list.body as { pagination: { count: number } }).pagination.count).toBe(54);
      // … but bulk_revoke only their 4.
      expect(await dryCount(viewer.key, { provider: provider.id })).toEqual({
        dry_run: true,
        model: 'authentik_providers_oauth2.accesstoken',
        count: 4,
        first_ids: own,
        own_only: true,
      });
      expect(await dryCount(viewer.key, { user: b.id })).toMatchObject({ count: 0, first_ids: [] });
      const real = await post('access_tokens', { provider: provider.id }, viewer.key);
      expect(real.body).toMatchObject({ count: 4, own_only: true });
      expect(await revokedCount('access', own)).toBe(4);
      expect(await revokedCount('access', [...aIds, ...bIds])).toBe(0);
    });

    it('a holder of the delete permission without the view permission acts on their own grants only', async () => {
      const deleter = await keyWith(['authentik_providers_oauth2.delete_accesstoken']);
      const own = await grants('access', deleter.user, provider.id, 2);
      expect(await dryCount(deleter.key, { provider: provider.id })).toEqual({
        dry_run: true,
        model: 'authentik_providers_oauth2.accesstoken',
        count: 2,
        first_ids: own,
        own_only: true,
      });
    });

    it('a plain user revokes their own grants, and none of someone else’s', async () => {
      expect(await dryCount(a.key, { user: a.user.id })).toMatchObject({ count: 30, own_only: true });
      expect(await dryCount(a.key, { user: b.id })).toMatchObject({ count: 0, own_only: true });
      const other = await post('access_tokens', { user: b.id }, a.key);
      expect(other.status).toBe(200);
      expect(other.body).toMatchObject({ count: 0 });
      const real = await post('access_tokens', { provider: provider.id }, a.key);
      expect(real.body).toMatchObject({ count: 30, first_ids: aIds.slice(0, 100), own_only: true });
      expect(await revokedCount('access', aIds)).toBe(30);
      expect(await revokedCount('access', bIds)).toBe(0);
    });
  });

  it('concurrent overlapping runs lose nothing and count nothing twice', async () => {
    BULK_REVOKE_LIMITS.batchSize = 150;
    const provider = await f.provider();
    const u1 = await f.user();
    const u2 = await f.user();
    const ids1 = await grants('access', u1, provider.id, 1800);
    const ids2 = await grants('access', u2, provider.id, 1200);
    const bystander = await grants('access', await f.user(), (await f.provider()).id, 50);
    const bodies = [
      { provider: provider.id },
      { user: u1.id },
      { user: u2.id, provider: provider.id },
      { provider: provider.id },
    ];
    const answers = await Promise.all(bodies.map((body) => post('access_tokens', body, adminKey)));
    const counts = answers.map((answer) => {
      expect(answer.status).toBe(200);
      return (answer.body as { count: number }).count;
    });
    expect(counts.reduce((sum, n) => sum + n, 0)).toBe(3000);
    expect(await revokedCount('access', [...ids1, ...ids2])).toBe(3000);
    expect(await revokedCount('access', bystander)).toBe(0);
    // Each run's audit event holds its own count, and they add up too.
    const events = await t.dataSource.query<{ count: number; complete: boolean }[]>(
      `SELECT (context->'bulk_revoke'->>'count')::int AS count, (context->'bulk_revoke'->>'complete')::boolean AS complete
         FROM audit_events WHERE request_id = ANY($1)`,
      [answers.map((answer) => answer.headers['x-request-id'] as string)],
    );
    expect(events.map((event) => event.count).sort((x, y) => x - y)).toEqual(
      [...counts].sort((x, y) => x - y),
    );
    expect(events.every((event) => event.complete)).toBe(true);
  });

  describe('audit event', () => {
    it('records one model_updated event per real run, none for a dry run', async () => {
      BULK_REVOKE_LIMITS.batchSize = 10;
      const provider = await f.provider();
      const owner = await f.user();
      await grants('code', owner, provider.id, 25);
      const { user: caller, key } = await keyWith([
        'authentik_providers_oauth2.view_authorizationcode',
        'authentik_providers_oauth2.delete_authorizationcode',
      ]);
      const before = await t.dataSource.query<{ n: number }[]>('SELECT count(*)::int AS n FROM audit_events');
      await post('authorization_codes', { provider: provider.id, dry_run: true }, key);
      const afterDry = await t.dataSource.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM audit_events',
      );
      expect(afterDry[0]?.n).toBe(before[0]?.n);

      const response = await post('authorization_codes', { provider: provider.id, user: owner.id }, key);
      expect(response.status).toBe(200);
      const requestId = String(response.headers['x-request-id']);
      const events = await request(
        t.app,
        'GET',
        `/api/v3/events/events/?username=${encodeURIComponent(caller.username)}`,
        bearer(adminKey),
      );
      expect(events.status).toBe(200);
      const results = (events.body as { results: Record<string, unknown>[] }).results;
      expect(results).toHaveLength(1);
      const event = results[0] as { action: string; user: unknown; context: Record<string, unknown> };
      expect(event.action).toBe('model_updated');
      expect(event.user).toMatchObject({ pk: caller.id, username: caller.username });
      expect(response.body).toMatchObject({ count: 25 });
      expect(event.context.bulk_revoke).toEqual({
        model: 'authentik_providers_oauth2.authorizationcode',
        filters: { user: owner.id, provider: provider.id },
        count: 25,
        own_only: false,
        complete: true,
      });
      expect(event.context.http_request).toMatchObject({
        path: '/api/v3/oauth2/authorization_codes/bulk_revoke/',
        method: 'POST',
        request_id: requestId,
      });
      const rows = await t.dataSource.query<{ object_user_id: number; object_provider_id: number }[]>(
        'SELECT object_user_id, object_provider_id FROM audit_events WHERE request_id = $1',
        [requestId],
      );
      expect(rows).toEqual([{ object_user_id: owner.id, object_provider_id: provider.id }]);
    });
  });

  describe('the issuance side', () => {
    let setup: { providerId: number; clientId: string; clientSecret: string };
    let owner: UserEntity;

    beforeAll(async () => {
      const { provider, clientSecret } = await createProvider(
        t.dataSource.manager,
        { name: unique('bulk-rp'), signingAlgorithm: 'ES256', redirectUris: [REDIRECT] },
        t.app.get(Sealer),
      );
      await createApplication(t.dataSource.manager, {
        slug: unique('bulk-app').slice(0, 50),
        name: 'Bulk',
        providerId: provider.id,
      });
      setup = { providerId: provider.id, clientId: provider.clientId, clientSecret: clientSecret ?? '' };
      owner = await f.user();
    });

    async function mint(familyId: string, subjectOf: UserEntity = owner): Promise<Issued> {
      const client = await t.app.get(Clients).find(setup.clientId);
      if (!client) throw new Error('no client');
      const issuer = t.app.get(TokenIssuer);
      return t.dataSource.transaction(async (manager) => {
        const subject = await issuer.subject(manager, subjectOf.id);
        if (!subject) throw new Error('no subject');
        return issuer.issue(manager, {
          client,
          subject,
          scopes: ['openid', 'offline_access'],
          base: 'http://localhost:80',
          authTime: new Date(),
          sessionId: null,
          nonce: null,
          familyId,
          amr: ['pwd'],
          withRefreshToken: true,
        });
      });
    }

    const form = async (url: string, fields: Record<string, string>): Promise<InjectResult> => {
      const response = await t.app
        .getHttpAdapter()
        .getInstance()
        .inject({
          method: 'POST',
          url,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams(fields).toString(),
        });
      return {
        status: response.statusCode,
        body: JSON.parse(response.body) as unknown,
        headers: response.headers,
        text: response.body,
      };
    };
    const credentials = (): Record<string, string> => ({
      client_id: setup.clientId,
      client_secret: setup.clientSecret,
    });
    const introspect = async (token: string): Promise<unknown> =>
      ((await form('/application/o/introspect/', { token, ...credentials() })).body as { active: boolean })
        .active;

    it('include_access_tokens revokes the access tokens of the matching refresh tokens’ authorizations', async () => {
      const issuer = t.app.get(TokenIssuer);
      const family = issuer.newFamily();
      const first = await mint(family);
      const second = await mint(family); // a later exchange in the same authorization
      const unrelated = await mint(issuer.newFamily());
      // A refresh token without a family (the CLI, the seed, imports) has no access tokens under it, and an access
      // token of no matching refresh token's family (here: none at all) is not under any.
      await grants('refresh', owner, setup.providerId, 1);
      const lone = await grants('access', owner, setup.providerId, 1);
      // Someone else's authorization at the same provider is not matched by `user`.
      const stranger = await mint(issuer.newFamily(), await f.user());
      expect(await introspect(first.body.access_token)).toBe(true);

      const body = { user: owner.id, provider: setup.providerId, include_access_tokens: true };
      const dry = await post('refresh_tokens', { ...body, dry_run: true }, adminKey);
      const expectedAccess = [first.accessTokenId, second.accessTokenId, unrelated.accessTokenId].sort(
        (x, y) => x - y,
      );
      expect(dry.body).toMatchObject({
        dry_run: true,
        count: 4,
        access_tokens: {
          model: 'authentik_providers_oauth2.accesstoken',
          count: 3,
          first_ids: expectedAccess,
          own_only: false,
        },
      });
      const real = await post('refresh_tokens', body, adminKey);
      expect(real.body).toEqual({ ...(dry.body as object), dry_run: false });

      expect(await introspect(first.body.access_token)).toBe(false);
      expect(await introspect(second.body.access_token)).toBe(false);
      expect(await revokedCount('access', lone)).toBe(0);
      expect(await introspect(stranger.body.access_token)).toBe(true);
      const refreshed = await form('/application/o/token/', {
        grant_type: 'refresh_token',
        refresh_token: second.body.refresh_token ?? '',
        ...credentials(),
      });
      expect(refreshed.status).toBe(400);
      expect(refreshed.body).toMatchObject({ error: 'invalid_grant' });
      const userinfo = await request(
        t.app,
        'GET',
        '/application/o/userinfo/',
        bearer(first.body.access_token),
      );
      expect(userinfo.status).toBe(401);
    });

    it('the cascade needs the access token permissions for others’ access tokens', async () => {
      const issuer = t.app.get(TokenIssuer);
      const victim = await f.user();
      const theirs = await mint(issuer.newFamily(), victim);
      // May view and delete every refresh token, but no access token beyond their own.
      const refresher = await keyWith([
        'authentik_providers_oauth2.view_refreshtoken',
        'authentik_providers_oauth2.delete_refreshtoken',
      ]);
      const own = await mint(issuer.newFamily(), refresher.user);
      const body = { provider: setup.providerId, include_access_tokens: true, dry_run: true };
      const dry = await post('refresh_tokens', { ...body, user: victim.id }, refresher.key);
      expect(dry.body).toEqual({
        dry_run: true,
        model: 'authentik_providers_oauth2.refreshtoken',
        count: 1,
        first_ids: [theirs.refreshTokenId],
        own_only: false,
        access_tokens: {
          model: 'authentik_providers_oauth2.accesstoken',
          count: 0,
          first_ids: [],
          own_only: true,
        },
      });
      const real = await post(
        'refresh_tokens',
        { ...body, dry_run: false, user: refresher.user.id },
        refresher.key,
      );
      expect(real.body).toMatchObject({
        count: 1,
        access_tokens: { count: 1, first_ids: [own.accessTokenId], own_only: true },
      });
      expect(await introspect(own.body.access_token)).toBe(false);
      expect(await introspect(theirs.body.access_token)).toBe(true);
    });

    it('without include_access_tokens the access tokens stay valid', async () => {
      const other = await f.user();
      const issued = await mint(t.app.get(TokenIssuer).newFamily(), other);
      const real = await post('refresh_tokens', { user: other.id }, adminKey);
      expect(real.body).toEqual({
        dry_run: false,
        model: 'authentik_providers_oauth2.refreshtoken',
        count: 1,
        first_ids: [issued.refreshTokenId],
        own_only: false,
      });
      expect(await introspect(issued.body.access_token)).toBe(true);
    });

    it('a revoked authorization code cannot be redeemed; an unrevoked one can', async () => {
      const redeemer = await f.user();
      const insertCode = async (): Promise<string> => {
        const value = unique('code');
        await t.dataSource.query(
          `INSERT INTO oauth2_authorization_codes (provider_id, user_id, code_hash, scope, expires, family_id)
           VALUES ($1, $2, $3, 'openid', now() + interval '5 minutes', gen_random_uuid())`,
          [setup.providerId, redeemer.id, sha256(value)],
        );
        return value;
      };
      const revoked = await insertCode();
      const revoke = await post('authorization_codes', { user: redeemer.id }, adminKey);
      expect(revoke.body).toMatchObject({ count: 1 });
      const kept = await insertCode();
      const redeem = (code: string): Promise<InjectResult> =>
        form('/application/o/token/', {
          grant_type: 'authorization_code',
          code,
          redirect_uri: REDIRECT,
          ...credentials(),
        });
      const refused = await redeem(revoked);
      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({ error: 'invalid_grant' });
      const [row] = await t.dataSource.query<{ revoked: boolean }[]>(
        'SELECT revoked FROM oauth2_authorization_codes WHERE code_hash = $1',
        [sha256(revoked)],
      );
      expect(row).toEqual({ revoked: true });
      const accepted = await redeem(kept);
      expect(accepted.status).toBe(200);
    });
  });
});

/* The incident filters, applied by GrantStore.where() as the list applies them. */
describe('bulk revocation with the incident filters (after i14-filters)', () => {
  let t: TestApp;
  let f: GrantFactories;
  let adminKey: string;

  beforeAll(async () => {
    t = await createTestApp();
    f = new GrantFactories(t.dataSource);
    const admin = await f.user();
    const superusers = await f.group({ isSuperuser: true });
    await f.member(admin, superusers);
    adminKey = await f.apiKey(admin);
  });
  afterAll(() => t?.close());

  const dry = async (body: Record<string, unknown>): Promise<number> => {
    const response = await requestJson(
      t.app,
      'POST',
      '/api/v3/oauth2/access_tokens/bulk_revoke/',
      { ...body, dry_run: true },
      bearer(adminKey),
    );
    expect(response.status).toBe(200);
    return (response.body as { count: number }).count;
  };

  it('applies each filter exactly as the list does', async () => {
    const provider = await f.provider();
    const app = await f.application({ providerId: provider.id });
    const owner = await f.user();
    const past = new Date(Date.now() - 3600_000);
    const later = new Date(Date.now() + 7 * 86400_000);
    await f.grant('access', owner.id, provider.id, { expires: past, scope: 'openid profile' });
    await f.grant('access', owner.id, provider.id, { expires: later, scope: 'openid email' });
    await f.grant('access', owner.id, provider.id, { expires: later, scope: 'openid profile email' });
    const base = { provider: provider.id };
    const listCount = async (query: string): Promise<number> => {
      const response = await request(
        t.app,
        'GET',
        `/api/v3/oauth2/access_tokens/?provider=${provider.id}&revoked=false&${query}`,
        bearer(adminKey),
      );
      return (response.body as { pagination: { count: number } }).pagination.count;
    };
    expect(await dry({ ...base, is_expired: true })).toBe(1);
    expect(await dry({ ...base, is_expired: false })).toBe(2);
    expect(await dry({ ...base, expires__lt: new Date(Date.now() + 86400_000).toISOString() })).toBe(1);
    expect(await dry({ ...base, expires__gte: new Date().toISOString() })).toBe(2);
    expect(await dry({ ...base, scope: 'profile' })).toBe(2);
    expect(await dry({ ...base, scope: ['profile', 'email'] })).toBe(1);
    expect(await dry({ application: app.slug })).toBe(3);
    expect(await dry({ client_id: provider.clientId })).toBe(3);
    expect(await dry({ username: owner.username })).toBe(3);
    expect(await dry({ username: `${owner.username}x` })).toBe(0);
    const issued = new Date(Date.now() - 60_000).toISOString();
    expect(await dry({ client_id: provider.clientId, created__gte: issued })).toBe(3);
    expect(await dry({ client_id: provider.clientId, created__lt: issued })).toBe(0);
    // The same numbers as the list with the same filters (not yet revoked).
    expect(await listCount('scope=profile')).toBe(2);
    expect(await listCount('is_expired=true')).toBe(1);
  });

  it('reads an instant as the list does: a date alone is midnight UTC, a date-time without an offset is UTC', async () => {
    const provider = await f.provider();
    const owner = await f.user();
    for (const expires of ['2031-02-28T23:59:59.999Z', '2031-03-01T00:00:00Z', '2031-03-01T05:30:00Z']) {
      await f.grant('access', owner.id, provider.id, { expires: new Date(expires) });
    }
    const listCount = async (query: string): Promise<number> => {
      const response = await request(
        t.app,
        'GET',
        `/api/v3/oauth2/access_tokens/?provider=${provider.id}&${query}`,
        bearer(adminKey),
      );
      expect(response.status).toBe(200);
      return (response.body as { pagination: { count: number } }).pagination.count;
    };
    const cases: [Record<string, string>, number][] = [
      [{ expires__lt: '2031-03-01' }, 1],
      [{ expires__gte: '2031-03-01' }, 2],
      [{ expires__lt: '2031-03-01T00:00:00' }, 1],
      [{ expires__lt: '2031-03-01T05:30' }, 2],
      [{ expires__lt: '2031-03-01T06:00:00+01:00' }, 2],
      [{ expires__gte: '2031-03-01 05:30:00' }, 1],
    ];
    const got = [];
    for (const [filter, count] of cases) {
      const query = new URLSearchParams(filter).toString();
      got.push({
        filter,
        dry: await dry({ provider: provider.id, ...filter }),
        list: await listCount(query),
        count,
      });
    }
    expect(got).toEqual(cases.map(([filter, count]) => ({ filter, dry: count, list: count, count })));
  });
});
