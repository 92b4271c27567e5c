/**
 * authentik's /api/v3/core/tokens/ and /api/v3/events/events/ on Grantry: every operation through raw HTTP and through
 * authentik's generated client (@goauthentik/api), with exact bodies, the permission matrix, the key shown once by
 * view_key/ (and never again, nor after ten minutes, nor twice to concurrent callers), set_key/ rotation, and the
 * event log with its filters over Grantry's own action names.
 */
import type { AddressInfo } from 'node:net';
import { Configuration, CoreApi, EventActions, EventsApi, IntentEnum, ResponseError } from '@goauthentik/api';
import { sha256 } from '../src/common/crypto/secrets';
import { tokenCreate, tokenDelete, tokenRotate } from '../src/cli/commands/token';
import type { UserEntity } from '../src/identity/user.entity';
import { TokenKeyCopySweep } from '../src/management/tokens/token-key-sweep';
import { bearer, createTestApp, request, requestJson, type InjectResult, type TestApp } from './support/app';
import { runCli } from './support/cli';
import { Factories, unique } from './support/factories';

let t: TestApp;
let f: Factories;
let baseUrl: string;

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

function call(method: Method, path: string, key?: string, body?: unknown): Promise<InjectResult> {
  const headers = key === undefined ? {} : bearer(key);
  const url = `/api/v3${path}`;
  if (method === 'GET' || (method === 'DELETE' && body === undefined))
    return request(t.app, method, url, headers);
  return requestJson(t.app, method, url, body ?? {}, headers);
}

const DENIED = { detail: 'You do not have permission to perform this action.' };
const ANONYMOUS = { detail: 'Authentication credentials were not provided.' };
const NO_TOKEN = { detail: 'No Token matches the given query.' };
const NO_EVENT = { detail: 'No Event matches the given query.' };
const KEY_GONE = {
  detail:
    "This token's key was shown once (view_key/ answers within 10 minutes of the token's creation or of its last " +
    'set_key/, and only once); it can no longer be viewed. Set a new key with set_key/.',
};
const SLUG = 'Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.';
const TOKEN_KEYS = [
  'pk',
  'managed',
  'identifier',
  'intent',
  'user',
  'user_obj',
  'description',
  'expires',
  'expiring',
];
const EVENT_KEYS = ['pk', 'user', 'action', 'app', 'context', 'client_ip', 'created', 'expires', 'brand'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DAY_MS = 86_400_000;

interface Person {
  user: UserEntity;
  key: string;
}

let admin: Person;
let owner: Person;
let other: Person;
let viewer: Person;
let changer: Person;
let deleter: Person;
let keyViewer: Person;
let keySetter: Person;
let eventViewer: Person;
let eventAdder: Person;

async function person(
  permissions: string[],
  options: { superuser?: boolean; name?: string } = {},
): Promise<Person> {
  const user = await f.user({ name: options.name ?? '', email: `${unique('p')}@example.com` });
  if (options.superuser) {
    const group = await f.group({ isSuperuser: true });
    await f.member(user, group);
  }
  if (permissions.length > 0) await f.role(permissions, { user });
  return { user, key: await f.apiKey(user) };
}

/** A token made through the API by `who`, and its key read once from view_key/. */
async function apiToken(
  who: Person,
  body: Record<string, unknown> = {},
): Promise<{ identifier: string; key: string; body: Record<string, unknown> }> {
  const identifier = unique('tok');
  const created = await call('POST', '/core/tokens/', who.key, { identifier, ...body });
  expect([created.status, created.body]).toEqual([201, expect.objectContaining({ identifier })]);
  const viewed = await call('GET', `/core/tokens/${identifier}/view_key/`, who.key);
  expect(viewed.status).toBe(200);
  return {
    identifier,
    key: (viewed.body as { key: string }).key,
    body: created.body as Record<string, unknown>,
  };
}

async function tokenRow(identifier: string): Promise<Record<string, unknown> | undefined> {
  const rows = await t.dataSource.query<Record<string, unknown>[]>(
    `SELECT id, user_id, intent, expires, expiring, key_hash, key_copy, key_copy_until FROM api_tokens WHERE identifier = $1`,
    [identifier],
  );
  return rows[0];
}

async function authenticates(key: string): Promise<boolean> {
  const response = await call('GET', '/core/tokens/', key);
  return response.status === 200;
}

beforeAll(async () => {
  t = await createTestApp({}, true);
  f = new Factories(t.dataSource);
  const address = t.app.getHttpServer().address() as AddressInfo;
  baseUrl = `http://127.0.0.1:${address.port}/api/v3`;
  admin = await person([], { superuser: true });
  owner = await person([], { name: 'Token Owner' });
  other = await person([]);
  viewer = await person(['authentik_core.view_token']);
  changer = await person(['authentik_core.view_token', 'authentik_core.change_token']);
  deleter = await person(['authentik_core.view_token', 'authentik_core.delete_token']);
  keyViewer = await person(['authentik_core.view_token_key']);
  keySetter = await person(['authentik_core.view_token', 'authentik_core.set_token_key']);
  eventViewer = await person(['authentik_events.view_event']);
  eventAdder = await person(['authentik_events.add_event']);
});
afterAll(() => t.close());

describe('tokens: create', () => {
  it('refuses anonymous callers on every route', async () => {
    expect(await call('GET', '/core/tokens/')).toMatchObject({ status: 403, body: ANONYMOUS });
    expect(await call('POST', '/core/tokens/', undefined, { identifier: 'x' })).toMatchObject({
      status: 403,
      body: ANONYMOUS,
    });
    expect(await call('GET', '/core/tokens/x/view_key/')).toMatchObject({ status: 403, body: ANONYMOUS });
    expect(await call('POST', '/core/tokens/x/set_key/', undefined, { key: 'k' })).toMatchObject({
      status: 403,
      body: ANONYMOUS,
    });
  });

  it('creates an api token for a user without any permission, with no key in the response', async () => {
    const identifier = unique('mine');
    const before = Date.now();
    const response = await call('POST', '/core/tokens/', owner.key, {
      identifier,
      description: 'CI',
      // A non-superuser's token is their own and expires as their attribute says, whatever the body says.
      user: admin.user.id,
      expiring: false,
      expires: '2099-01-01T00:00:00Z',
    });
    expect(response.status).toBe(201);
    const body = response.body as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(TOKEN_KEYS);
    expect(body).toEqual({
      pk: expect.stringMatching(UUID),
      managed: null,
      identifier,
      intent: 'api',
      user: owner.user.id,
      user_obj: expect.objectContaining({
        pk: owner.user.id,
        username: owner.user.username,
        name: 'Token Owner',
      }),
      description: 'CI',
      expires: expect.any(String),
      expiring: true,
    });
    expect(response.text).not.toMatch(/"key"/);
    const expires = Date.parse(body.expires as string);
    expect(expires - before).toBeGreaterThanOrEqual(DAY_MS - 1000);
    expect(expires - Date.now()).toBeLessThanOrEqual(DAY_MS + 1000);
    const row = await tokenRow(identifier);
    expect((row?.key_hash as Buffer).length).toBe(32);
    expect(row?.key_copy).toBeInstanceOf(Buffer);
  });

  it('lets a superuser create a token for another user, non-expiring, as an app password', async () => {
    const identifier = unique('forowner');
    const expires = new Date(Date.now() + 3600_000).toISOString();
    const response = await call('POST', '/core/tokens/', admin.key, {
      identifier,
      user: owner.user.id,
      intent: 'app_password',
      expires: expires.replace('Z', '000Z'),
      expiring: false,
    });
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({
      user: owner.user.id,
      intent: 'app_password',
      expires: expires.replace('Z', '000Z'),
      expiring: false,
    });
  });

  it.each([
    [{ identifier: 'has space' }, { identifier: [SLUG] }],
    [{ identifier: '' }, { identifier: ['This field may not be blank.'] }],
    [{}, { identifier: ['This field is required.'] }],
    [{ identifier: 'x'.repeat(256) }, { identifier: ['Ensure this field has no more than 255 characters.'] }],
    [{ identifier: 'ok', intent: 'bogus' }, { intent: ['"bogus" is not a valid choice.'] }],
    [{ identifier: 'ok', intent: 'recovery' }, { intent: ['Invalid intent recovery'] }],
    [{ identifier: 'ok', intent: 'verification' }, { intent: ['Invalid intent verification'] }],
    [
      { identifier: 'ok', managed: 'goauthentik.io/x' },
      { managed: ['Grantry has no managed tokens: managed must be null.'] },
    ],
    [{ identifier: 'ok', user: 'abc' }, { user: ['Incorrect type. Expected pk value, received str.'] }],
    [{ identifier: 'ok', user: true }, { user: ['Incorrect type. Expected pk value, received bool.'] }],
    [{ identifier: 'ok', user: 2147483600 }, { user: ['Invalid pk "2147483600" - object does not exist.'] }],
    [
      { identifier: 'ok', expires: 'soon' },
      { expires: [expect.stringMatching(/^Datetime has wrong format/)] },
    ],
    [{ identifier: 'ok', expiring: 'maybe' }, { expiring: ['Must be a valid boolean.'] }],
    [{ identifier: 'ok', description: 'a\u0000b' }, { description: ['Null characters are not allowed.'] }],
    [{ identifier: 'o\u0000k' }, { identifier: [SLUG] }],
    [
      { identifier: 'ok', intent: 'app_password', expires: '2001-01-01T00:00:00Z' },
      { expires: ['Token expires in the past.'] },
    ],
  ])('refuses %j with 400 %j', async (body, errors) => {
    const response = await call('POST', '/core/tokens/', admin.key, body);
    expect([response.status, response.body]).toEqual([400, errors]);
  });

  it('refuses an app password beyond the maximum lifetime, naming it as authentik does', async () => {
    const response = await call('POST', '/core/tokens/', owner.key, {
      identifier: unique('long'),
      intent: 'app_password',
      expires: new Date(Date.now() + 2 * DAY_MS).toISOString(),
    });
    expect(response.status).toBe(400);
    expect(response.body).toEqual({
      expires: [
        expect.stringMatching(
          /^Token expires exceeds maximum lifetime \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?\+00:00 UTC\)\.$/,
        ),
      ],
    });
  });

  it('honours the group attribute goauthentik.io/user/token-maximum-lifetime', async () => {
    const user = await f.user();
    const group = await f.group();
    await t.dataSource.query(`UPDATE groups SET attributes = $1 WHERE id = $2`, [
      { 'goauthentik.io/user/token-maximum-lifetime': 'days=7' },
      group.id,
    ]);
    await f.member(user, group);
    const key = await f.apiKey(user);
    const expires = new Date(Date.now() + 5 * DAY_MS).toISOString();
    const response = await call('POST', '/core/tokens/', key, {
      identifier: unique('week'),
      intent: 'app_password',
      expires,
    });
    expect([response.status, (response.body as { expires?: string }).expires]).toEqual([
      201,
      expires.replace('Z', '000Z'),
    ]);
  });

  it('refuses a duplicate identifier, also when two requests race', async () => {
    const identifier = unique('dup');
    expect((await call('POST', '/core/tokens/', owner.key, { identifier })).status).toBe(201);
    expect(await call('POST', '/core/tokens/', admin.key, { identifier })).toMatchObject({
      status: 400,
      body: { identifier: ['Token with this identifier already exists.'] },
    });
    const raced = unique('race');
    const results = await Promise.all(
      [owner, other, admin].map((who) => call('POST', '/core/tokens/', who.key, { identifier: raced })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 400, 400]);
    for (const r of results.filter((r) => r.status === 400)) {
      expect(r.body).toEqual({ identifier: ['Token with this identifier already exists.'] });
    }
  });

  it('answers malformed bodies with DRF errors', async () => {
    expect(await call('POST', '/core/tokens/', owner.key, [1])).toMatchObject({
      status: 400,
      body: { non_field_errors: ['Invalid data. Expected a dictionary, but got list.'] },
    });
  });
});

describe('tokens: view_key once', () => {
  it('hands the key to its owner once, records secret_view without the key, then refuses', async () => {
    const identifier = unique('once');
    const created = await call('POST', '/core/tokens/', owner.key, { identifier });
    const pk = (created.body as { pk: string }).pk;
    const first = await call('GET', `/core/tokens/${identifier}/view_key/`, owner.key);
    expect(first.status).toBe(200);
    expect(Object.keys(first.body as object)).toEqual(['key']);
    const key = (first.body as { key: string }).key;
    expect(key).toMatch(/^[A-Za-z0-9]{60}$/);
    expect((await tokenRow(identifier))?.key_hash).toEqual(sha256(key));
    expect(await authenticates(key)).toBe(true);
    // No other response carries the key.
    for (const path of [
      '/core/tokens/?page_size=100',
      `/core/tokens/${identifier}/`,
      '/events/events/?page_size=100',
    ]) {
      const response = await call('GET', path, admin.key);
      expect([path, response.status, response.text.includes(key)]).toEqual([path, 200, false]);
    }
    const second = await call('GET', `/core/tokens/${identifier}/view_key/`, owner.key);
    expect([second.status, second.body]).toEqual([403, KEY_GONE]);
    const row = await tokenRow(identifier);
    expect([row?.key_copy, row?.key_copy_until]).toEqual([null, null]);

    const events = await t.dataSource.query<
      { action: string; app: string; context: Record<string, unknown> }[]
    >(
      `SELECT action, app, context FROM audit_events WHERE action = 'secret_view' AND context->'secret'->>'pk' = $1`,
      [pk.replaceAll('-', '')],
    );
    expect(events).toHaveLength(1);
    const expires = new Date(Date.parse((created.body as { expires: string }).expires));
    const py = expires.toISOString().replace('T', ' ').replace('Z', '000+00:00');
    expect(events[0]?.app).toBe('authentik.core');
    expect(events[0]?.context.secret).toEqual({
      app: 'authentik_core',
      model_name: 'token',
      pk: pk.replaceAll('-', ''),
      name: `${identifier} (expires=${py.endsWith('.000000+00:00') ? py.replace('.000000', '') : py})`,
    });
    const all = await t.dataSource.query<{ text: string }[]>(
      `SELECT string_agg(row_to_json(e)::text, ' ') AS text FROM audit_events e`,
    );
    expect(all[0]?.text).not.toContain(key);
    expect(t.logs.text).not.toContain(key);
  });

  it('refuses after ten minutes (timestamp moved in the database), and the sweep destroys the copy', async () => {
    const identifier = unique('late');
    expect((await call('POST', '/core/tokens/', owner.key, { identifier })).status).toBe(201);
    await t.dataSource.query(
      `UPDATE api_tokens SET key_copy_until = now() - interval '1 second' WHERE identifier = $1`,
      [identifier],
    );
    expect(await call('GET', `/core/tokens/${identifier}/view_key/`, owner.key)).toMatchObject({
      status: 403,
      body: KEY_GONE,
    });
    expect((await tokenRow(identifier))?.key_copy).toBeInstanceOf(Buffer);
    const swept = await t.app.get(TokenKeyCopySweep).sweep();
    expect(swept).toBeGreaterThanOrEqual(1);
    expect((await tokenRow(identifier))?.key_copy).toBeNull();
  });

  it('gives the key to exactly one of several concurrent callers', async () => {
    const identifier = unique('concurrent');
    expect((await call('POST', '/core/tokens/', owner.key, { identifier })).status).toBe(201);
    const results = await Promise.all(
      [owner, owner, admin, keyViewer, owner, admin].map((who) =>
        call('GET', `/core/tokens/${identifier}/view_key/`, who.key),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 403, 403, 403, 403, 403]);
    for (const r of results.filter((r) => r.status === 403)) expect(r.body).toEqual(KEY_GONE);
    const events = await t.dataSource.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM audit_events WHERE action = 'secret_view' AND context->'secret'->>'name' LIKE $1`,
      [`${identifier} %`],
    );
    expect(events[0]?.n).toBe(1);
  });

  it('needs view_token_key or ownership: 404 for an unknown token, 403 otherwise', async () => {
    const identifier = unique('perm');
    expect((await call('POST', '/core/tokens/', owner.key, { identifier })).status).toBe(201);
    for (const who of [other, viewer, changer, keySetter]) {
      expect(await call('GET', `/core/tokens/${identifier}/view_key/`, who.key)).toMatchObject({
        status: 403,
        body: DENIED,
      });
    }
    expect(await call('GET', '/core/tokens/no-such-token/view_key/', keyViewer.key)).toMatchObject({
      status: 404,
      body: NO_TOKEN,
    });
    expect(await call('GET', '/core/tokens/bad%00id/view_key/', keyViewer.key)).toMatchObject({
      status: 404,
      body: NO_TOKEN,
    });
    const viewed = await call('GET', `/core/tokens/${identifier}/view_key/`, keyViewer.key);
    expect(viewed.status).toBe(200);
  });
});

describe('tokens: set_key', () => {
  it('rotates the key (old one refused, new one accepted), 204, model_updated, and a fresh view window', async () => {
    const { identifier, key: oldKey } = await apiToken(owner);
    const newKey = 'N'.repeat(20) + unique('k').replace(/[^A-Za-z0-9]/g, '');
    const response = await call('POST', `/core/tokens/${identifier}/set_key/`, keySetter.key, {
      key: newKey,
    });
    expect([response.status, response.text]).toEqual([204, '']);
    expect(await authenticates(oldKey)).toBe(false);
    expect(await authenticates(newKey)).toBe(true);
    // The owner may read the key that was set, once, within ten minutes.
    expect(await call('GET', `/core/tokens/${identifier}/view_key/`, owner.key)).toMatchObject({
      status: 200,
      body: { key: newKey },
    });
    const events = await t.dataSource.query<{ app: string; actor_username: string; text: string }[]>(
      `SELECT app, actor_username, context::text AS text FROM audit_events
        WHERE action = 'model_updated' AND context->'model'->>'model_name' = 'token'
          AND context->'model'->>'name' LIKE $1`,
      [`${identifier} %`],
    );
    expect(events.map((e) => [e.app, e.actor_username])).toEqual([
      ['authentik.core', keySetter.user.username],
    ]);
    expect(events[0]?.text).not.toContain(newKey);
  });

  it.each([
    ['blank', { key: '  ' }],
    ['missing', {}],
    ['not a string', { key: 5 }],
  ])('answers a %s key with 400 and an empty body', async (_name, body) => {
    const { identifier } = await apiToken(owner);
    const response = await call('POST', `/core/tokens/${identifier}/set_key/`, keySetter.key, body);
    expect([response.status, response.text]).toEqual([400, '']);
  });

  it('needs set_token_key (owners lack it) and visibility', async () => {
    const { identifier } = await apiToken(owner);
    expect(await call('POST', `/core/tokens/${identifier}/set_key/`, owner.key, { key: '' })).toMatchObject({
      status: 403,
      body: DENIED,
    });
    expect(await call('POST', `/core/tokens/${identifier}/set_key/`, viewer.key, { key: 'x' })).toMatchObject(
      {
        status: 403,
        body: DENIED,
      },
    );
    // Not the owner's and no view_token: not found, as authentik's owner filter hides it.
    expect(await call('POST', `/core/tokens/${identifier}/set_key/`, other.key, { key: 'x' })).toMatchObject({
      status: 404,
      body: NO_TOKEN,
    });
    expect(await call('POST', '/core/tokens/nothing-here/set_key/', admin.key, { key: 'x' })).toMatchObject({
      status: 404,
      body: NO_TOKEN,
    });
  });
});

describe('tokens: list and retrieve', () => {
  let mine: string;
  let theirs: string;
  beforeAll(async () => {
    mine = (await apiToken(owner, { description: 'owner list' })).identifier;
    theirs = (await apiToken(other, { description: 'other list' })).identifier;
  });

  it('shows a user their own tokens only, never a 403', async () => {
    const response = await call('GET', '/core/tokens/?page_size=100', owner.key);
    expect(response.status).toBe(200);
    const body = response.body as {
      pagination: { count: number };
      results: { identifier: string; user: number }[];
      autocomplete: object;
    };
    expect(body.results.every((token) => token.user === owner.user.id)).toBe(true);
    expect(body.results.map((token) => token.identifier)).toContain(mine);
    expect(body.autocomplete).toEqual({});
    // A user whose only token is the key they call with sees exactly that one.
    const newcomer = await person([]);
    const none = await call('GET', '/core/tokens/', newcomer.key);
    expect(none.status).toBe(200);
    expect(none.body).toMatchObject({
      pagination: { count: 1 },
      results: [{ user: newcomer.user.id, user_obj: { username: newcomer.user.username } }],
    });
  });

  it('shows everything to view_token, with filters, search and ordering', async () => {
    const byOwner = await call(
      'GET',
      `/core/tokens/?user__username=${owner.user.username}&ordering=-identifier`,
      viewer.key,
    );
    const results = (byOwner.body as { results: { identifier: string; user: number }[] }).results;
    expect(results.length).toBeGreaterThan(1);
    expect(results.every((token) => token.user === owner.user.id)).toBe(true);
    expect(results.map((r) => r.identifier)).toEqual([...results.map((r) => r.identifier)].sort().reverse());
    const one = await call('GET', `/core/tokens/?identifier=${theirs}`, viewer.key);
    expect((one.body as { pagination: { count: number } }).pagination.count).toBe(1);
    const search = await call('GET', `/core/tokens/?search=${encodeURIComponent('other list')}`, viewer.key);
    expect((search.body as { results: { identifier: string }[] }).results.map((r) => r.identifier)).toContain(
      theirs,
    );
    expect((await call('GET', `/core/tokens/?identifier=${theirs}`, owner.key)).body).toMatchObject({
      pagination: { count: 0 },
    });
    expect((await call('GET', `/core/tokens/?identifier=${mine}&managed=x`, viewer.key)).body).toMatchObject({
      pagination: { count: 0 },
    });
    expect(
      (await call('GET', `/core/tokens/?identifier=${mine}&expiring=FALSE`, viewer.key)).body,
    ).toMatchObject({
      pagination: { count: 0 },
    });
    expect((await call('GET', `/core/tokens/?identifier=${mine}&expiring=1`, viewer.key)).body).toMatchObject(
      {
        pagination: { count: 1 },
      },
    );
    expect(
      (await call('GET', `/core/tokens/?identifier=${mine}&expiring=maybe`, viewer.key)).body,
    ).toMatchObject({
      pagination: { count: 1 },
    });
    expect((await call('GET', `/core/tokens/?identifier=${mine}&intent=api`, viewer.key)).body).toMatchObject(
      {
        pagination: { count: 1 },
      },
    );
    expect((await call('GET', `/core/tokens/?identifier=a%00b`, viewer.key)).body).toMatchObject({
      pagination: { count: 0 },
    });
  });

  it('refuses bad filter values with 400 and bad pages with 404', async () => {
    expect(await call('GET', '/core/tokens/?intent=bogus', viewer.key)).toMatchObject({
      status: 400,
      body: { intent: ['Select a valid choice. bogus is not one of the available choices.'] },
    });
    expect(await call('GET', '/core/tokens/?expires=tomorrow', viewer.key)).toMatchObject({
      status: 400,
      body: { expires: ['Enter a valid date/time.'] },
    });
    expect(await call('GET', '/core/tokens/?page=999999', viewer.key)).toMatchObject({
      status: 404,
      body: { detail: 'Invalid page.' },
    });
  });

  it('retrieves a visible token, 404 otherwise', async () => {
    const response = await call('GET', `/core/tokens/${mine}/`, owner.key);
    expect(response.status).toBe(200);
    expect(Object.keys(response.body as object)).toEqual(TOKEN_KEYS);
    expect(await call('GET', `/core/tokens/${mine}/`, other.key)).toMatchObject({
      status: 404,
      body: NO_TOKEN,
    });
    expect((await call('GET', `/core/tokens/${mine}/`, viewer.key)).status).toBe(200);
    expect(await call('GET', `/core/tokens/${mine}/?intent=app_password`, viewer.key)).toMatchObject({
      status: 404,
      body: NO_TOKEN,
    });
    expect(await call('GET', '/core/tokens/nope/', admin.key)).toMatchObject({ status: 404, body: NO_TOKEN });
  });

  it('addresses a token by an identifier of the full 255 characters', async () => {
    const identifier = `${unique('long')}-`.padEnd(255, 'x');
    expect((await call('POST', '/core/tokens/', owner.key, { identifier })).status).toBe(201);
    expect((await call('GET', `/core/tokens/${identifier}/`, owner.key)).status).toBe(200);
    expect((await call('GET', `/core/tokens/${identifier}/view_key/`, owner.key)).status).toBe(200);
    expect((await call('DELETE', `/core/tokens/${identifier}/`, owner.key)).status).toBe(204);
  });

  it('includes expired tokens', async () => {
    const { identifier } = await apiToken(owner);
    await t.dataSource.query(
      `UPDATE api_tokens SET expires = now() - interval '1 day' WHERE identifier = $1`,
      [identifier],
    );
    expect((await call('GET', `/core/tokens/${identifier}/`, owner.key)).status).toBe(200);
  });
});

describe('tokens: update and delete', () => {
  it('lets the owner PATCH, keeping owner and intent it does not name (deliberately unlike authentik)', async () => {
    const identifier = unique('patch');
    const expires = new Date(Date.now() + 3600_000).toISOString();
    expect(
      (
        await call('POST', '/core/tokens/', admin.key, {
          identifier,
          user: owner.user.id,
          intent: 'app_password',
          expires,
        })
      ).status,
    ).toBe(201);
    const patched = await call('PATCH', `/core/tokens/${identifier}/`, owner.key, { description: 'renamed' });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      intent: 'app_password',
      expires: expires.replace('Z', '000Z'),
      description: 'renamed',
      user: owner.user.id,
    });
    const bySuperuser = await call('PATCH', `/core/tokens/${identifier}/`, admin.key, {
      description: 'admin',
    });
    expect(bySuperuser.body).toMatchObject({
      user: owner.user.id,
      intent: 'app_password',
      expires: expires.replace('Z', '000Z'),
    });
    expect(
      await call('PATCH', `/core/tokens/${identifier}/`, admin.key, { user: admin.user.id }),
    ).toMatchObject({
      status: 400,
      body: { user: ['User cannot be changed'] },
    });
    expect(
      await call('PATCH', `/core/tokens/${identifier}/`, owner.key, { intent: 'recovery' }),
    ).toMatchObject({
      status: 400,
      body: { intent: ['Invalid intent recovery'] },
    });
    expect(
      await call('PATCH', `/core/tokens/${identifier}/`, owner.key, { expires: null, expiring: 'x' }),
    ).toMatchObject({
      status: 400,
      body: { expiring: ['Must be a valid boolean.'] },
    });
  });

  it('renames with PUT, refusing a taken identifier and a missing one', async () => {
    const { identifier } = await apiToken(owner);
    const { identifier: taken } = await apiToken(owner);
    expect(await call('PUT', `/core/tokens/${identifier}/`, owner.key, { identifier: taken })).toMatchObject({
      status: 400,
      body: { identifier: ['Token with this identifier already exists.'] },
    });
    expect(await call('PUT', `/core/tokens/${identifier}/`, owner.key, { description: 'x' })).toMatchObject({
      status: 400,
      body: { identifier: ['This field is required.'] },
    });
    const renamed = `${identifier}-new`;
    const response = await call('PUT', `/core/tokens/${identifier}/`, owner.key, { identifier: renamed });
    expect([response.status, (response.body as { identifier: string }).identifier]).toEqual([200, renamed]);
    expect(await call('GET', `/core/tokens/${identifier}/`, owner.key)).toMatchObject({ status: 404 });
  });

  it('checks permissions before the body: 404 unseen, 403 seen without change_token', async () => {
    const { identifier } = await apiToken(owner);
    expect(
      await call('PATCH', `/core/tokens/${identifier}/`, other.key, { identifier: 'bad slug' }),
    ).toMatchObject({
      status: 404,
      body: NO_TOKEN,
    });
    expect(
      await call('PATCH', `/core/tokens/${identifier}/`, viewer.key, { identifier: 'bad slug' }),
    ).toMatchObject({
      status: 403,
      body: DENIED,
    });
    expect(
      await call('PATCH', `/core/tokens/${identifier}/`, changer.key, { identifier: 'bad slug' }),
    ).toMatchObject({
      status: 400,
      body: { identifier: [SLUG] },
    });
    expect(
      (await call('PATCH', `/core/tokens/${identifier}/`, changer.key, { description: 'c' })).status,
    ).toBe(200);
  });

  it('deletes for the owner or delete_token, with model_deleted; the key stops working', async () => {
    const { identifier, key } = await apiToken(owner);
    expect(await call('DELETE', `/core/tokens/${identifier}/`, viewer.key)).toMatchObject({
      status: 403,
      body: DENIED,
    });
    expect(await call('DELETE', `/core/tokens/${identifier}/`, other.key)).toMatchObject({
      status: 404,
      body: NO_TOKEN,
    });
    const response = await call('DELETE', `/core/tokens/${identifier}/`, deleter.key);
    expect([response.status, response.text]).toEqual([204, '']);
    expect(await authenticates(key)).toBe(false);
    expect(await call('DELETE', `/core/tokens/${identifier}/`, deleter.key)).toMatchObject({
      status: 404,
      body: NO_TOKEN,
    });
    const own = await apiToken(owner);
    expect((await call('DELETE', `/core/tokens/${own.identifier}/`, owner.key)).status).toBe(204);
    const events = await t.dataSource.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM audit_events WHERE action = 'model_deleted' AND context->'model'->>'name' LIKE $1`,
      [`${identifier} %`],
    );
    expect(events[0]?.n).toBe(1);
  });

  it('answers PUT/PATCH/DELETE on the list URL with 403, or 405 to a holder of the permission', async () => {
    expect(await call('PUT', '/core/tokens/', owner.key, {})).toMatchObject({ status: 403, body: DENIED });
    const put = await call('PUT', '/core/tokens/', changer.key, {});
    expect([put.status, put.body, put.headers.allow]).toEqual([
      405,
      { detail: 'Method "PUT" not allowed.' },
      'GET, POST, HEAD, OPTIONS',
    ]);
    expect((await call('DELETE', '/core/tokens/', deleter.key)).status).toBe(405);
    expect((await call('DELETE', '/core/tokens/', viewer.key)).status).toBe(403);
  });
});

describe('tokens: permission matrix', () => {
  type Who =
    'anonymous' | 'other' | 'owner' | 'viewer' | 'changer' | 'deleter' | 'keyViewer' | 'keySetter' | 'admin';
  const WHO: Who[] = [
    'anonymous',
    'other',
    'owner',
    'viewer',
    'changer',
    'deleter',
    'keyViewer',
    'keySetter',
    'admin',
  ];
  const key = (who: Who): string | undefined =>
    who === 'anonymous'
      ? undefined
      : { other, owner, viewer, changer, deleter, keyViewer, keySetter, admin }[who].key;
  // One token of `owner` per cell, made by a superuser (so its key copy exists for view_key/).
  const OPERATIONS: Record<string, [Method, string, unknown, Record<Who, number>]> = {
    retrieve: [
      'GET',
      '/',
      undefined,
      {
        anonymous: 403,
        other: 404,
        owner: 200,
        viewer: 200,
        changer: 200,
        deleter: 200,
        keyViewer: 404,
        keySetter: 200,
        admin: 200,
      },
    ],
    partial_update: [
      'PATCH',
      '/',
      { description: 'm' },
      {
        anonymous: 403,
        other: 404,
        owner: 200,
        viewer: 403,
        changer: 200,
        deleter: 403,
        keyViewer: 404,
        keySetter: 403,
        admin: 200,
      },
    ],
    destroy: [
      'DELETE',
      '/',
      undefined,
      {
        anonymous: 403,
        other: 404,
        owner: 204,
        viewer: 403,
        changer: 403,
        deleter: 204,
        keyViewer: 404,
        keySetter: 403,
        admin: 204,
      },
    ],
    view_key: [
      'GET',
      '/view_key/',
      undefined,
      {
        anonymous: 403,
        other: 403,
        owner: 200,
        viewer: 403,
        changer: 403,
        deleter: 403,
        keyViewer: 200,
        keySetter: 403,
        admin: 200,
      },
    ],
    set_key: [
      'POST',
      '/set_key/',
      'fresh',
      {
        anonymous: 403,
        other: 404,
        owner: 403,
        viewer: 403,
        changer: 403,
        deleter: 403,
        keyViewer: 404,
        keySetter: 204,
        admin: 204,
      },
    ],
  };
  it.each(Object.keys(OPERATIONS))('%s', async (operation) => {
    const [method, suffix, body, expected] = OPERATIONS[operation] as [
      Method,
      string,
      unknown,
      Record<Who, number>,
    ];
    const got: Record<string, number> = {};
    for (const who of WHO) {
      const identifier = unique('matrix');
      expect(
        (await call('POST', '/core/tokens/', admin.key, { identifier, user: owner.user.id })).status,
      ).toBe(201);
      const payload = body === 'fresh' ? { key: unique('key').replace(/[^A-Za-z0-9]/g, '') } : body;
      got[who] = (await call(method, `/core/tokens/${identifier}${suffix}`, key(who), payload)).status;
    }
    expect(got).toEqual(expected);
  });

  it('lists for everyone authenticated: all with view_token or superuser, else their own', async () => {
    const counts: Record<string, boolean> = {};
    for (const who of WHO.filter((w) => w !== 'anonymous')) {
      const r = await call('GET', '/core/tokens/?page_size=100', key(who));
      expect(r.status).toBe(200);
      const users = new Set((r.body as { results: { user: number }[] }).results.map((token) => token.user));
      counts[who] = users.size > 1;
    }
    expect(counts).toEqual({
      other: false,
      owner: false,
      viewer: true,
      changer: true,
      deleter: true,
      keyViewer: false,
      keySetter: true,
      admin: true,
    });
  });
});

describe('tokens: CLI', () => {
  it('creates, rotates and deletes, recording events as grantry-cli', async () => {
    const user = await f.user();
    const created = await runCli(t.dataSource, tokenCreate, ['--user', user.username, '--json']);
    const identifier = created.identifier as string;
    expect(created.key).toMatch(/^[A-Za-z0-9]{60}$/);
    expect(await authenticates(created.key as string)).toBe(true);
    // The CLI printed the key: no copy for view_key/.
    expect((await tokenRow(identifier))?.key_copy).toBeNull();
    const rotated = await runCli(t.dataSource, tokenRotate, ['--identifier', identifier, '--json']);
    expect(rotated).toEqual({ identifier, key: expect.stringMatching(/^[A-Za-z0-9]{60}$/) });
    expect(await authenticates(created.key as string)).toBe(false);
    expect(await authenticates(rotated.key as string)).toBe(true);
    expect(await runCli(t.dataSource, tokenDelete, ['--identifier', identifier, '--json'])).toEqual({
      identifier,
      deleted: true,
    });
    expect(await authenticates(rotated.key as string)).toBe(false);
    await expect(runCli(t.dataSource, tokenDelete, ['--identifier', identifier])).rejects.toMatchObject({
      response: NO_TOKEN,
    });
    const events = await call(
      'GET',
      `/events/events/?username=grantry-cli&search=${identifier}&ordering=created`,
      eventViewer.key,
    );
    const results = (events.body as { results: { action: string; app: string; user: object }[] }).results;
    expect(results.map((e) => [e.action, e.app, e.user])).toEqual([
      ['model_created', 'authentik.events', { username: 'grantry-cli' }],
      ['model_updated', 'authentik.core', { username: 'grantry-cli' }],
      ['model_deleted', 'authentik.events', { username: 'grantry-cli' }],
    ]);
  });
});

describe('events', () => {
  /** A row as the inventory, issuance and login code write them (Grantry's own action names, no context). */
  async function legacy(
    action: string,
    actor: string,
    model: string | null,
    objectPk: number | null,
    userId: number | null = null,
  ): Promise<string> {
    const [row] = await t.dataSource.query<{ event_uuid: string }[]>(
      `INSERT INTO audit_events (action, actor_user_id, actor_username, model, object_pk)
       VALUES ($1, $2, $3, $4, $5) RETURNING event_uuid::text`,
      [action, userId, actor, model, objectPk],
    );
    return row?.event_uuid ?? '';
  }

  it('needs view_event to list or retrieve: 403 otherwise, also for bad filters', async () => {
    expect(await call('GET', '/events/events/')).toMatchObject({ status: 403, body: ANONYMOUS });
    for (const who of [owner, viewer, eventAdder]) {
      expect(await call('GET', '/events/events/?actions=bogus', who.key)).toMatchObject({
        status: 403,
        body: DENIED,
      });
      expect(
        await call('GET', '/events/events/00000000-0000-0000-0000-000000000000/', who.key),
      ).toMatchObject({
        status: 403,
        body: DENIED,
      });
    }
    expect((await call('GET', '/events/events/', eventViewer.key)).status).toBe(200);
    expect((await call('GET', '/events/events/', admin.key)).status).toBe(200);
  });

  it("serves Grantry's own action names as EventActions, with the model derived and the name kept", async () => {
    const actor = unique('legacy');
    const deleted = await legacy('grant_deleted', actor, 'AccessToken', 41, admin.user.id);
    await legacy('code_replayed', actor, 'AuthorizationCode', 42, null);
    await legacy('refresh_token_reused', actor, 'RefreshToken', 43, null);
    await legacy('client_auth_failed', actor, 'OAuth2Provider', 44, null);
    await legacy('authorization_granted', actor, 'AccessToken', 45, null);
    await legacy('token_revoked', actor, 'RefreshToken', 46, null);
    await legacy('login_failed', actor, 'user', 0, null);
    const response = await call('GET', `/events/events/${deleted}/`, eventViewer.key);
    expect(response.status).toBe(200);
    expect(Object.keys(response.body as object)).toEqual(EVENT_KEYS);
    expect(response.body).toEqual({
      pk: deleted,
      user: { pk: admin.user.id, username: actor, email: '' },
      action: 'model_deleted',
      app: 'authentik.events',
      context: {
        model: {
          app: 'authentik_providers_oauth2',
          model_name: 'accesstoken',
          pk: 41,
          name: 'AccessToken 41',
        },
        grantry_action: 'grant_deleted',
      },
      client_ip: null,
      created: expect.stringMatching(/Z$/),
      expires: expect.stringMatching(/Z$/),
      brand: {},
    });
    const list = async (query: string): Promise<{ count: number; actions: string[]; grantry: unknown[] }> => {
      const r = await call(
        'GET',
        `/events/events/?username=${actor}&ordering=created&${query}`,
        eventViewer.key,
      );
      expect(r.status).toBe(200);
      const body = r.body as {
        pagination: { count: number };
        results: { action: string; context: { grantry_action?: string } }[];
      };
      return {
        count: body.pagination.count,
        actions: body.results.map((e) => e.action),
        grantry: body.results.map((e) => e.context.grantry_action),
      };
    };
    expect(await list('')).toEqual({
      count: 7,
      actions: [
        'model_deleted',
        'suspicious_request',
        'suspicious_request',
        'login_failed',
        'authorize_application',
        'model_deleted',
        'login_failed',
      ],
      grantry: [
        'grant_deleted',
        'code_replayed',
        'refresh_token_reused',
        'client_auth_failed',
        'authorization_granted',
        'token_revoked',
        undefined,
      ],
    });
    expect((await list('actions=suspicious_request')).count).toBe(2);
    expect((await list('actions=suspicious_request&actions=model_deleted')).count).toBe(4);
    expect((await list('action=LOGIN')).count).toBe(2);
    expect((await list('action=authorize')).count).toBe(1);
    expect((await list('context_model_pk=44')).actions).toEqual(['login_failed']);
    expect((await list('context_model_pk=0044')).count).toBe(1);
    expect((await list('context_model_name=refreshtoken')).count).toBe(2);
    expect((await list('context_model_app=authentik_providers_oauth2')).count).toBe(6);
    expect((await list('search=code_replayed')).count).toBe(1);
    expect((await list('brand_name=Default%20brand')).count).toBe(0);
    expect((await list('client_ip=10.0.0.1')).count).toBe(0);
    // A failed sign-in of no user: no model, the attempted name as context.username (as authentik records it).
    const failed = await call(
      'GET',
      `/events/events/?username=${actor}&actions=login_failed&context_model_pk=`,
      eventViewer.key,
    );
    const lastFailed = (failed.body as { results: { user: object; context: object }[] }).results.find(
      (e) => !('model' in e.context),
    );
    expect(lastFailed).toMatchObject({ user: {}, context: { username: actor } });
  });

  it('refuses unknown actions, answers 404s as DRF', async () => {
    expect(
      await call('GET', '/events/events/?actions=login&actions=custom_x', eventViewer.key),
    ).toMatchObject({
      status: 400,
      body: { actions: ['Select a valid choice. custom_x is not one of the available choices.'] },
    });
    expect(await call('GET', '/events/events/not-a-uuid/', eventViewer.key)).toMatchObject({
      status: 404,
      body: { detail: 'Not found.' },
    });
    expect(
      await call('GET', '/events/events/0b4e9b1c-8f0b-4c51-9d1b-1a2b3c4d5e6f/', eventViewer.key),
    ).toMatchObject({
      status: 404,
      body: NO_EVENT,
    });
  });

  it('hides events past their expiry', async () => {
    const actor = unique('expired');
    const uuid = await legacy('login', actor, 'user', owner.user.id, owner.user.id);
    await t.dataSource.query(
      `UPDATE audit_events SET expires = now() - interval '1 second' WHERE event_uuid = $1`,
      [uuid],
    );
    expect(await call('GET', `/events/events/${uuid}/`, eventViewer.key)).toMatchObject({
      status: 404,
      body: NO_EVENT,
    });
    expect((await call('GET', `/events/events/?username=${actor}`, eventViewer.key)).body).toMatchObject({
      pagination: { count: 0 },
    });
  });

  it('finds a token event by its UUID with or without dashes', async () => {
    const { identifier, body } = await apiToken(owner);
    const pk = body.pk as string;
    for (const value of [pk, pk.replaceAll('-', '')]) {
      const r = await call(
        'GET',
        `/events/events/?context_model_pk=${value}&actions=model_created`,
        eventViewer.key,
      );
      const results = (
        r.body as { results: { user: object; context: { model: object; http_request: object } }[] }
      ).results;
      expect(results).toHaveLength(1);
      expect(results[0]?.user).toEqual({
        pk: owner.user.id,
        username: owner.user.username,
        email: owner.user.email,
      });
      expect(results[0]?.context.model).toEqual({
        app: 'authentik_core',
        model_name: 'token',
        pk: pk.replaceAll('-', ''),
        name: expect.stringMatching(new RegExp(`^${identifier} \\(expires=`)),
      });
      expect(results[0]?.context.http_request).toMatchObject({
        path: '/api/v3/core/tokens/',
        method: 'POST',
      });
    }
  });

  it('creates an event with add_event only, validating after the permission check', async () => {
    expect(await call('POST', '/events/events/', eventViewer.key, { action: 'nope' })).toMatchObject({
      status: 403,
      body: DENIED,
    });
    for (const [body, errors] of [
      [{ action: 'custom_foo', app: 'x' }, { action: ['"custom_foo" is not a valid choice.'] }],
      [{ action: 'login' }, { app: ['This field is required.'] }],
      [
        { action: 'login', app: 'x', client_ip: '999.1.1.1' },
        { client_ip: ['Enter a valid IPv4 or IPv6 address.'] },
      ],
      [
        { action: 'login', app: 'x', context: [] },
        { context: ['Expected a dictionary of items but got type "list".'] },
      ],
    ] as const) {
      expect(await call('POST', '/events/events/', eventAdder.key, body)).toMatchObject({
        status: 400,
        body: errors,
      });
    }
    const user = { pk: 12, username: unique('posted'), email: 'p@example.com' };
    const response = await call('POST', '/events/events/', eventAdder.key, {
      action: 'custom_',
      app: 'my.app',
      user,
      context: { note: 'hi', password: 'hunter2' },
      client_ip: '192.0.2.7',
      expires: '2099-01-01T00:00:00Z',
      brand: { name: 'x' },
    });
    expect(response.status).toBe(201);
    expect(response.body).toEqual({
      pk: expect.stringMatching(UUID),
      user,
      action: 'custom_',
      app: 'my.app',
      context: { note: 'hi', password: '********************' },
      client_ip: '192.0.2.7',
      created: expect.any(String),
      expires: '2099-01-01T00:00:00Z',
      brand: {},
    });
    expect(
      (await call('GET', `/events/events/?username=${user.username}&client_ip=192.0.2.7`, eventViewer.key))
        .body,
    ).toMatchObject({
      pagination: { count: 1 },
    });
  });

  it('answers a POSTed event that is already expired, then hides it', async () => {
    const response = await call('POST', '/events/events/', eventAdder.key, {
      action: 'login',
      app: 'x',
      expires: '2001-01-01T00:00:00Z',
    });
    expect(response).toMatchObject({
      status: 201,
      body: { action: 'login', expires: '2001-01-01T00:00:00Z', user: {} },
    });
    const pk = (response.body as { pk: string }).pk;
    expect(await call('GET', `/events/events/${pk}/`, eventViewer.key)).toMatchObject({
      status: 404,
      body: NO_EVENT,
    });
  });

  it('keeps the log append-only: PUT/PATCH/DELETE answer 405 to everyone, with Allow', async () => {
    const uuid = await legacy('login', unique('ro'), 'user', owner.user.id, owner.user.id);
    for (const method of ['PUT', 'PATCH', 'DELETE'] as const) {
      for (const who of [admin, eventViewer, owner]) {
        const r = await call(
          method,
          `/events/events/${uuid}/`,
          who.key,
          method === 'DELETE' ? undefined : {},
        );
        expect([r.status, r.body, r.headers.allow]).toEqual([
          405,
          { detail: `Method "${method}" not allowed.` },
          'GET, HEAD, OPTIONS',
        ]);
      }
    }
    expect((await call('DELETE', '/events/events/', owner.key)).status).toBe(403);
    expect((await call('DELETE', '/events/events/', admin.key)).status).toBe(405);
  });

  it('lists with the default ordering -created and exact pagination', async () => {
    const actor = unique('page');
    const made: string[] = [];
    for (let i = 0; i < 5; i += 1)
      made.push(await legacy('logout', actor, 'user', owner.user.id, owner.user.id));
    const r = await call('GET', `/events/events/?username=${actor}&page_size=2&page=2`, eventViewer.key);
    expect(r.body).toMatchObject({
      pagination: {
        next: 3,
        previous: 1,
        count: 5,
        current: 2,
        total_pages: 3,
        start_index: 3,
        end_index: 4,
      },
      autocomplete: {},
    });
    expect((r.body as { results: { pk: string }[] }).results.map((e) => e.pk)).toEqual([made[2], made[1]]);
  });
});

describe('@goauthentik/api', () => {
  let core: CoreApi;
  let events: EventsApi;
  beforeAll(() => {
    core = new CoreApi(new Configuration({ basePath: baseUrl, accessToken: admin.key }));
    events = new EventsApi(new Configuration({ basePath: baseUrl, accessToken: admin.key }));
  });

  it('drives every token operation', async () => {
    const identifier = unique('client');
    const created = await core.coreTokensCreate({
      tokenRequest: { identifier, intent: IntentEnum.Api, user: owner.user.id, description: 'by client' },
    });
    expect(created).toMatchObject({ identifier, intent: IntentEnum.Api, user: owner.user.id });
    expect(created.userObj.username).toBe(owner.user.username);
    const { key } = await core.coreTokensViewKeyRetrieve({ identifier });
    expect(key).toMatch(/^[A-Za-z0-9]{60}$/);
    const again = await core.coreTokensViewKeyRetrieve({ identifier }).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(ResponseError);
    expect((again as ResponseError).response.status).toBe(403);
    const list = await core.coreTokensList({ identifier, userUsername: owner.user.username });
    expect(list.pagination.count).toBe(1);
    expect(list.results[0]?.identifier).toBe(identifier);
    expect((await core.coreTokensRetrieve({ identifier })).description).toBe('by client');
    expect(
      (await core.coreTokensPartialUpdate({ identifier, patchedTokenRequest: { description: 'patched' } }))
        .description,
    ).toBe('patched');
    expect(
      (await core.coreTokensUpdate({ identifier, tokenRequest: { identifier, description: 'put' } }))
        .description,
    ).toBe('put');
    const newKey = `client${'K'.repeat(40)}`;
    await core.coreTokensSetKeyCreate({ identifier, tokenSetKeyRequest: { key: newKey } });
    expect(await authenticates(newKey)).toBe(true);
    expect(await authenticates(key)).toBe(false);
    expect((await core.coreTokensViewKeyRetrieve({ identifier })).key).toBe(newKey);
    await core.coreTokensDestroy({ identifier });
    const gone = await core.coreTokensRetrieve({ identifier }).catch((e: unknown) => e);
    expect((gone as ResponseError).response.status).toBe(404);
  });

  it('drives the event operations', async () => {
    const username = unique('client-event');
    const created = await events.eventsEventsCreate({
      eventRequest: {
        action: EventActions.ConfigurationWarning,
        app: 'grantry.test',
        user: { username },
        context: { a: 1 },
      },
    });
    expect(created).toMatchObject({
      action: EventActions.ConfigurationWarning,
      app: 'grantry.test',
      context: { a: 1 },
    });
    const list = await events.eventsEventsList({ username, actions: [EventActions.ConfigurationWarning] });
    expect(list.pagination.count).toBe(1);
    expect(list.results[0]?.pk).toBe(created.pk);
    expect((await events.eventsEventsRetrieve({ eventUuid: created.pk })).user).toEqual({ username });
    const put = await events
      .eventsEventsUpdate({ eventUuid: created.pk, eventRequest: { action: EventActions.Login, app: 'x' } })
      .catch((e: unknown) => e);
    expect((put as ResponseError).response.status).toBe(405);
    const patch = await events
      .eventsEventsPartialUpdate({ eventUuid: created.pk, patchedEventRequest: { app: 'x' } })
      .catch((e: unknown) => e);
    expect((patch as ResponseError).response.status).toBe(405);
    const destroy = await events.eventsEventsDestroy({ eventUuid: created.pk }).catch((e: unknown) => e);
    expect((destroy as ResponseError).response.status).toBe(405);
    expect((destroy as ResponseError).response.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
    expect((await events.eventsEventsRetrieve({ eventUuid: created.pk })).pk).toBe(created.pk);
  });
});
