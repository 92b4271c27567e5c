/**
 * authentik's `/api/v3/core/users/` (UserViewSet) on Grantry: every operation through raw HTTP and through
 * authentik's generated client (`@goauthentik/api` CoreApi), with exact bodies built here from the rows the test made,
 * every 400/403/404/405 of the reference, the permission matrix, the deactivation/deletion cascades (counted in the
 * database and in the event), concurrent creates of one username, the events, and the CLI on the same bus.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import {
  Configuration,
  CoreApi,
  instanceOfPaginatedUserList,
  instanceOfSessionUser,
  instanceOfUser,
  ResponseError,
  UserTypeEnum,
} from '@goauthentik/api';
import type { INestApplicationContext } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { DataSource } from 'typeorm';
import { openManagementContext } from '../src/cli/bus';
import { userCreate, userSetPassword } from '../src/cli/commands/user';
import { CLI_CALLER } from '../src/common/auth/caller';
import { ValidationApiError } from '../src/common/errors/api-error';
import { loadConfig } from '../src/config/config';
import { runMigrations } from '../src/database/migrations';
import { addUserToGroup, createGroup, createUser } from '../src/identity/accounts';
import { DeleteUserCommand, MESSAGES, UpdateUserCommand } from '../src/management/users/users.commands';
import { InputError } from '../src/identity/accounts';
import { sha256 } from '../src/common/crypto/secrets';
import { verifyPassword } from '../src/identity/password';
import type { GroupEntity } from '../src/identity/group.entity';
import type { RoleEntity } from '../src/identity/role.entity';
import type { UserEntity } from '../src/identity/user.entity';
import type { OAuth2ProviderEntity } from '../src/providers/oauth2-provider.entity';
import { ScratchDatabases } from './support/scratch-database';
import { openDataSource } from './support/database';
import {
  TEST_SECRET_KEY,
  testSealer,
  bearer,
  createTestApp,
  request,
  requestJson,
  type InjectResult,
  type TestApp,
} from './support/app';
import { initialsAvatarOf } from './support/avatars';
import { runCli } from './support/cli';
import { GrantFactories, unique } from './support/factories';

const BASE = '/api/v3/core/users/';
const DENIED = { detail: 'You do not have permission to perform this action.' };
const NOT_PROVIDED = { detail: 'Authentication credentials were not provided.' };
const NO_USER = { detail: 'No User matches the given query.' };
const NOT_FOUND = { detail: 'Not found.' };
const UNIQUE = { username: ['This field must be unique.'] };

let t: TestApp;
let f: GrantFactories;
let installId: string;
let provider: OAuth2ProviderEntity;
/** A path of this run's own, so list assertions see only the users this suite made. */
const PATH = `grantry-users-${process.pid}-${Date.now().toString(36)}`;

type Json = Record<string, unknown>;

const keys: Record<string, string> = {};
const users: Record<string, UserEntity> = {};

async function principal(name: string, permissions: string[] | 'superuser'): Promise<void> {
  const user = await f.user({ name: `Principal ${name}` });
  if (permissions === 'superuser') {
    const group = await f.group({ isSuperuser: true });
    await f.member(user, group);
  } else if (permissions.length > 0) {
    await f.role(permissions, { user });
  }
  users[name] = user;
  keys[name] = await f.apiKey(user);
}

const as = (name: string): Record<string, string> => (name === 'anonymous' ? {} : bearer(keys[name] ?? ''));
const get = (url: string, who = 'admin'): Promise<InjectResult> => request(t.app, 'GET', url, as(who));
const send = (
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  url: string,
  body: unknown,
  who = 'admin',
): Promise<InjectResult> => requestJson(t.app, method, url, body, as(who));

/** DRF's timestamp text for a column, read with PostgreSQL's own microseconds. */
async function stamps(id: number): Promise<Record<string, string | null>> {
  const iso = (column: string): string =>
    `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ${column}`;
  const [row] = await t.dataSource.query<Record<string, string | null>[]>(
    `SELECT ${iso('date_joined')}, ${iso('password_change_date')}, ${iso('last_updated')}, ${iso('last_login')}
       FROM users WHERE id = $1`,
    [id],
  );
  const trim = (value: string | null | undefined): string | null =>
    value === null || value === undefined ? null : value.replace(/\.000000Z$/, 'Z');
  return {
    date_joined: trim(row?.date_joined),
    password_change_date: trim(row?.password_change_date),
    last_updated: trim(row?.last_updated),
    last_login: trim(row?.last_login),
  };
}

/**
 * The initials avatar of every display name (or, without one, username) this suite expects a body for, written out:
 * the initials, and the palette colour picked by the first byte of sha256 of the name (worked out by hand, e.g.
 * sha256('Alice Liddell') starts 0x91, 145 % 10 = 5).
 */
const AVATARS: Record<string, string> = {
  'Alice Liddell': initialsAvatarOf('AL', '#0d9488'),
  'Bob 100%_done': initialsAvatarOf('B1', '#7c3aed'),
  Carol: initialsAvatarOf('CA', '#0891b2'),
  'Retrieved One': initialsAvatarOf('RO', '#0d9488'),
  'Created User': initialsAvatarOf('CU', '#0d9488'),
  After: initialsAvatarOf('AF', '#059669'),
  Patchy: initialsAvatarOf('PA', '#4f46e5'),
  'Self Person': initialsAvatarOf('SP', '#d97706'),
  'users-minimal-defaults': initialsAvatarOf('US', '#d97706'),
};

function avatarOf(name: string, username: string): string {
  const avatar = AVATARS[name || username];
  if (avatar === undefined) throw new Error(`no hand-written avatar for ${JSON.stringify(name || username)}`);
  return avatar;
}

const numPk = (uuid: string): number =>
  Number(
    BigInt(`0x${uuid.replace(/-/g, '')}`)
      .toString()
      .slice(0, 5),
  );

interface Expected {
  groups?: { group: GroupEntity; parent?: GroupEntity }[];
  roles?: RoleEntity[];
  isSuperuser?: boolean;
}

/** The User body authentik would send, from the row and the groups/roles the test attached. */
async function expectedUser(id: number, expected: Expected = {}): Promise<Json> {
  const [row] = await t.dataSource.query<Json[]>(
    'SELECT username, name, email, is_active, path, type, attributes, uuid FROM users WHERE id = $1',
    [id],
  );
  if (!row) throw new Error(`no user ${id}`);
  const time = await stamps(id);
  const groups = [...(expected.groups ?? [])].sort((a, b) => (a.group.name < b.group.name ? -1 : 1));
  const roles = [...(expected.roles ?? [])].sort((a, b) => (a.name < b.name ? -1 : 1));
  return {
    pk: id,
    username: row.username,
    name: row.name,
    is_active: row.is_active,
    last_login: time.last_login,
    date_joined: time.date_joined,
    is_superuser: expected.isSuperuser ?? false,
    groups: groups.map(({ group }) => group.id),
    groups_obj: groups.map(({ group, parent }) => ({
      pk: group.id,
      num_pk: numPk(group.id),
      name: group.name,
      is_superuser: group.isSuperuser,
      parent: parent?.id ?? null,
      parent_name: parent?.name ?? null,
      attributes: group.attributes,
    })),
    roles: roles.map((role) => role.id),
    roles_obj: roles.map((role) => ({ pk: role.id, name: role.name })),
    email: row.email,
    avatar: avatarOf(String(row.name), String(row.username)),
    attributes: row.attributes,
    uid: createHash('sha256').update(`${id}-${installId}`).digest('hex'),
    path: row.path,
    type: row.type,
    uuid: row.uuid,
    password_change_date: time.password_change_date,
    last_updated: time.last_updated,
  };
}

const page = (results: Json[], count = results.length): Json => ({
  pagination: {
    next: 0,
    previous: 0,
    count,
    current: 1,
    total_pages: 1,
    start_index: count === 0 ? 0 : 1,
    end_index: count,
  },
  results,
  autocomplete: {},
});

async function events(action: string, userId: number): Promise<Json[]> {
  return t.dataSource.query<Json[]>(
    `SELECT action, app, actor_user_id, actor_username, object_user_id, context - 'http_request' AS context
       FROM audit_events WHERE action = $1 AND object_user_id = $2 ORDER BY id`,
    [action, userId],
  );
}

beforeAll(async () => {
  t = await createTestApp({}, true);
  f = new GrantFactories(t.dataSource);
  const [row] = await t.dataSource.query<{ install_id: string }[]>('SELECT install_id FROM install');
  installId = row?.install_id ?? '';
  provider = await f.provider();
  await principal('admin', 'superuser');
  await principal('plain', []);
  await principal('viewer', ['authentik_core.view_user']);
  await principal('adder', ['authentik_core.view_user', 'authentik_core.add_user']);
  await principal('addOnly', ['authentik_core.add_user']);
  await principal('changer', ['authentik_core.view_user', 'authentik_core.change_user']);
  await principal('changeOnly', ['authentik_core.change_user']);
  await principal('deleter', ['authentik_core.view_user', 'authentik_core.delete_user']);
  await principal('deleteOnly', ['authentik_core.delete_user']);
  await principal('resetter', ['authentik_core.view_user', 'authentik_core.reset_user_password']);
  await principal('resetOnly', ['authentik_core.reset_user_password']);
});

afterAll(() => t.close());

describe('list', () => {
  let alice: UserEntity;
  let bob: UserEntity;
  let carol: UserEntity;
  let parent: GroupEntity;
  let team: GroupEntity;
  let admins: GroupEntity;
  let role: RoleEntity;

  beforeAll(async () => {
    parent = await f.group();
    team = await f.group({ parent: parent.name });
    admins = await f.group({ isSuperuser: true });
    alice = await f.user({
      username: unique('alice'),
      name: 'Alice Liddell',
      email: 'alice@example.com',
      attributes: { team: 'blue', level: 3 },
    });
    bob = await f.user({ username: unique('bob'), name: 'Bob 100%_done', email: 'BOB@Example.org' });
    carol = await f.user({
      username: unique('carol'),
      name: 'Carol',
      isActive: false,
      type: 'service_account',
    });
    for (const user of [alice, bob, carol]) {
      await t.dataSource.query('UPDATE users SET path = $2 WHERE id = $1', [user.id, PATH]);
    }
    await t.dataSource.query(`UPDATE users SET last_login = '2030-01-02T03:04:05.123456Z' WHERE id = $1`, [
      bob.id,
    ]);
    await f.member(alice, team);
    await f.member(bob, admins);
    role = await f.role(['authentik_core.view_user'], { user: alice });
  });

  const list = (query: string, who = 'admin'): Promise<InjectResult> =>
    get(`${BASE}?path=${PATH}${query ? `&${query}` : ''}`, who);
  const usernames = (response: InjectResult): string[] =>
    ((response.body as { results: Json[] }).results ?? []).map((user) => String(user.username));

  it("serves the page in authentik's shape, ordered by username", async () => {
    const response = await list('');
    expect(response.status).toBe(200);
    expect(response.body).toEqual(
      page([
        await expectedUser(alice.id, { groups: [{ group: team, parent }], roles: [role] }),
        await expectedUser(bob.id, { groups: [{ group: admins }], isSuperuser: true }),
        await expectedUser(carol.id),
      ]),
    );
  });

  it('include_groups / include_roles other than "true" null the nested objects', async () => {
    const response = await list(`username=${alice.username}&include_groups=false&include_roles=0`);
    expect(response.body).toEqual(
      page([
        {
          ...(await expectedUser(alice.id, { groups: [{ group: team, parent }], roles: [role] })),
          groups_obj: null,
          roles_obj: null,
        },
      ]),
    );
  });

  it.each([
    ['username=%s', (): string[] => [alice.username]],
    ['email=BOB@Example.org', (): string[] => [bob.username]],
    ['email=bob@example.org', (): string[] => []],
    ['name=Carol', (): string[] => [carol.username]],
    ['is_active=false', (): string[] => [carol.username]],
    ['is_active=True', (): string[] => [alice.username, bob.username]],
    ['is_active=yes', (): string[] => [alice.username, bob.username, carol.username]],
    ['type=service_account', (): string[] => [carol.username]],
    ['type=internal&type=service_account', (): string[] => [alice.username, bob.username, carol.username]],
    ['last_login__isnull=false', (): string[] => [bob.username]],
    ['last_login=2030-01-02T03:04:05.123456Z', (): string[] => [bob.username]],
    ['last_login__gt=2030-01-01', (): string[] => [bob.username]],
    ['last_login__lt=2030-01-01T00:00:00Z', (): string[] => []],
    ['date_joined__lt=2000-01-01T00:00:00Z', (): string[] => []],
    ['date_joined__gt=2000-01-01T00:00:00Z', (): string[] => [alice.username, bob.username, carol.username]],
    ['is_superuser=true', (): string[] => [bob.username]],
    ['is_superuser=false', (): string[] => [alice.username, carol.username]],
    ['groups_by_name=%team', (): string[] => [alice.username]],
    ['groups_by_pk=%team_pk&groups_by_pk=%admins_pk', (): string[] => [alice.username, bob.username]],
    // Direct groups only: the parent's members do not include the child's.
    ['groups_by_name=%parent', (): string[] => []],
    ['roles_by_name=%role', (): string[] => [alice.username]],
    ['roles_by_pk=%role_pk', (): string[] => [alice.username]],
    ['attributes={"team":"blue"}', (): string[] => [alice.username]],
    ['attributes={"level":3}', (): string[] => [alice.username]],
    ['attributes={"team__icontains":"LU"}', (): string[] => [alice.username]],
    ['attributes={"team":"red"}', (): string[] => []],
    ['path_startswith=grantry-users-', (): string[] => [alice.username, bob.username, carol.username]],
    ['uuid=%alice_uuid', (): string[] => [alice.username]],
    ['search=ALICE', (): string[] => [alice.username]],
    ['search=example', (): string[] => [alice.username, bob.username]],
    ['search=example liddell', (): string[] => [alice.username]],
    ['search=example,org', (): string[] => [bob.username]],
    ['search=100%25_', (): string[] => [bob.username]],
    ['search=%25', (): string[] => [bob.username]],
    ['search=_', (): string[] => [bob.username]],
    ['search=nobody-at-all', (): string[] => []],
  ])('filter %s', async (template, want) => {
    const [aliceUuid] = await t.dataSource.query<{ uuid: string }[]>('SELECT uuid FROM users WHERE id = $1', [
      alice.id,
    ]);
    const query = template
      .replace('%s', alice.username)
      .replace('%team_pk', team.id)
      .replace('%admins_pk', admins.id)
      .replace('%team', encodeURIComponent(team.name))
      .replace('%parent', encodeURIComponent(parent.name))
      .replace('%role_pk', role.id)
      .replace('%role', encodeURIComponent(role.name))
      .replace('%alice_uuid', aliceUuid?.uuid ?? '')
      .replace(/=(\{.*\})$/, (_, json: string) => `=${encodeURIComponent(json)}`);
    const response = await list(query);
    expect(response.status).toBe(200);
    expect(usernames(response)).toEqual(want());
  });

  it('ordering: valid terms apply, invalid ones are dropped, nothing valid is the default', async () => {
    expect(usernames(await list('ordering=-username'))).toEqual([
      carol.username,
      bob.username,
      alice.username,
    ]);
    expect(usernames(await list('ordering=bogus,-name'))).toEqual([
      carol.username,
      bob.username,
      alice.username,
    ]);
    expect(usernames(await list('ordering=is_active,-username'))).toEqual([
      carol.username,
      bob.username,
      alice.username,
    ]);
    expect(usernames(await list('ordering=bogus'))).toEqual([alice.username, bob.username, carol.username]);
    expect(usernames(await list('ordering=groups'))).toHaveLength(3);
    // NULLs first when descending (PostgreSQL, as Django leaves it); ties end with the pk, descending too.
    expect(usernames(await list('ordering=-last_login'))).toEqual([
      carol.username,
      alice.username,
      bob.username,
    ]);
  });

  it('paginates', async () => {
    const response = await list('page_size=2&page=2');
    expect(response.body).toEqual({
      pagination: {
        next: 0,
        previous: 1,
        count: 3,
        current: 2,
        total_pages: 2,
        start_index: 3,
        end_index: 3,
      },
      results: [await expectedUser(carol.id)],
      autocomplete: {},
    });
    expect(await list('page=9')).toMatchObject({ status: 404, body: { detail: 'Invalid page.' } });
  });

  it.each([
    ['date_joined=yesterday', { date_joined: ['Enter a valid date/time.'] }],
    ['last_login__lt=2024-02-30', { last_login__lt: ['Enter a valid date/time.'] }],
    ['uuid=nope', { uuid: ['Enter a valid UUID.'] }],
    ['type=robot', { type: ['Select a valid choice. robot is not one of the available choices.'] }],
    ['groups_by_pk=x', { groups_by_pk: ['“x” is not a valid value.'] }],
    [
      `groups_by_pk=${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}`,
      {
        groups_by_pk: [
          `Select a valid choice. ${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)} is not one of the available choices.`,
        ],
      },
    ],
    [
      'groups_by_name=no-such-group',
      { groups_by_name: ['Select a valid choice. no-such-group is not one of the available choices.'] },
    ],
    [
      'roles_by_name=no-such-role',
      { roles_by_name: ['Select a valid choice. no-such-role is not one of the available choices.'] },
    ],
    [
      `roles_by_pk=${'1'.repeat(8)}-1111-4111-8111-${'1'.repeat(12)}`,
      {
        roles_by_pk: [
          `Select a valid choice. ${'1'.repeat(8)}-1111-4111-8111-${'1'.repeat(12)} is not one of the available choices.`,
        ],
      },
    ],
    ['attributes=not-json', ['filter: failed to parse JSON']],
    ['attributes=%5B1%5D', ['filter: value must be key:value mapping']],
  ])('400 for %s', async (query, body) => {
    expect(await list(query)).toMatchObject({ status: 400, body });
  });

  it('never a 500 for hostile values', async () => {
    for (const query of [
      'username=%00',
      'search=%00%00',
      'attributes=%7B%22a%00%22%3A%22%00%22%7D',
      'date_joined=99999-01-01',
      'last_login=2024-01-01T00:00%2B99:00',
      `search=${'x'.repeat(5000)}`,
      'ordering=%00',
      'page_size=99999999999999999999',
    ]) {
      const response = await list(query);
      expect([200, 400]).toContain(response.status);
    }
  });
});

describe("one group's members (groups_by_name or groups_by_pk alone: the group_member_order path)", () => {
  let group: GroupEntity;
  const members: Record<string, UserEntity> = {};
  let tag: string;

  // A fresh group per test: they change its members, and run in any order (jest --randomize).
  beforeEach(async () => {
    tag = unique('gm');
    group = await f.group();
    // Usernames chosen so their order is known by hand: a < b < c < d < e.
    for (const letter of ['c', 'a', 'e', 'b', 'd']) {
      members[letter] = await f.user({ username: `${tag}-${letter}` });
      await f.member(members[letter], group);
    }
  });

  const names = (response: InjectResult): string[] =>
    ((response.body as { results: Json[] }).results ?? []).map((user) =>
      String(user.username).replace(`${tag}-`, ''),
    );
  const pagination = (response: InjectResult): Json => (response.body as { pagination: Json }).pagination;
  const byName = (query: string): Promise<InjectResult> =>
    get(`${BASE}?groups_by_name=${encodeURIComponent(group.name)}${query}`);

  /** What group_member_order holds against what it is derived from: must always be equal. */
  async function drift(): Promise<unknown[]> {
    return t.dataSource.query(
      `(SELECT group_id, username, user_id FROM group_member_order
        EXCEPT ALL SELECT ug.group_id, u.username, ug.user_id FROM user_groups ug JOIN users u ON u.id = ug.user_id)
       UNION ALL
       (SELECT ug.group_id, u.username, ug.user_id FROM user_groups ug JOIN users u ON u.id = ug.user_id
        EXCEPT ALL SELECT group_id, username, user_id FROM group_member_order)`,
    );
  }

  it('pages the members in username order, with the exact count, both ways and by pk', async () => {
    const first = await byName('&page_size=2');
    expect(first.status).toBe(200);
    expect(names(first)).toEqual(['a', 'b']);
    expect(pagination(first)).toMatchObject({ count: 5, current: 1, total_pages: 3, next: 2, previous: 0 });
    const second = await byName('&page_size=2&page=2');
    expect(names(second)).toEqual(['c', 'd']);
    const last = await byName('&page_size=2&page=last');
    expect(names(last)).toEqual(['e']);
    expect(pagination(last)).toMatchObject({ count: 5, current: 3, next: 0, previous: 2 });
    expect(names(await byName('&ordering=-username&page_size=3'))).toEqual(['e', 'd', 'c']);
    expect(names(await get(`${BASE}?groups_by_pk=${group.id.toUpperCase()}&page_size=3&page=2`))).toEqual([
      'd',
      'e',
    ]);
    const beyond = await byName('&page_size=2&page=4');
    expect(beyond.status).toBe(404);
    expect(beyond.body).toEqual({ detail: 'Invalid page.' });
  });

  it('serves the same documents as the general path (the same filter with another ordering)', async () => {
    const fast = await byName('&page_size=5');
    const general = await byName('&page_size=5&ordering=username,pk&include_groups=true');
    // `ordering=pk` takes the general path; sorted by hand into username order, the bodies must be equal.
    const byPk = await byName('&page_size=5&ordering=pk');
    expect(fast.status).toBe(200);
    expect(fast.body).toEqual(general.body);
    const sorted = [...((byPk.body as { results: Json[] }).results ?? [])].sort((x, y) =>
      String(x.username) < String(y.username) ? -1 : 1,
    );
    expect((fast.body as { results: Json[] }).results).toEqual(sorted);
  });

  it('follows renames, additions, removals and deletions, and stays equal to user_groups', async () => {
    const renamed = await send('PATCH', `${BASE}${members.a?.id}/`, { username: `${tag}-f` });
    expect(renamed.status).toBe(200);
    expect(names(await byName(''))).toEqual(['b', 'c', 'd', 'e', 'f']);
    const removed = await send('POST', `/api/v3/core/groups/${group.id}/remove_user/`, { pk: members.c?.id });
    expect(removed.status).toBe(204);
    const deleted = await send('DELETE', `${BASE}${members.d?.id}/`, undefined);
    expect(deleted.status).toBe(204);
    const newcomer = await f.user({ username: `${tag}-a2` });
    const added = await send('POST', `/api/v3/core/groups/${group.id}/add_user/`, { pk: newcomer.id });
    expect(added.status).toBe(204);
    const response = await byName('');
    expect(names(response)).toEqual(['a2', 'b', 'e', 'f']);
    expect(pagination(response)).toMatchObject({ count: 4 });
    expect(await drift()).toEqual([]);
  });

  it('stays equal to user_groups when renames and memberships race', async () => {
    const racers = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => f.user({ username: `${tag}-r${i}` })));
    await Promise.all(
      racers.flatMap((user, i) => [
        send('POST', `/api/v3/core/groups/${group.id}/add_user/`, { pk: user.id }),
        send('PATCH', `${BASE}${user.id}/`, { username: `${tag}-s${i}` }),
      ]),
    );
    expect(await drift()).toEqual([]);
    expect(names(await byName('&page_size=20'))).toEqual([
      'a',
      'b',
      'c',
      'd',
      'e',
      's0',
      's1',
      's2',
      's3',
      's4',
      's5',
    ]);
  });

  it("an empty group is an empty page; a group that does not exist is the filter check's 400", async () => {
    const empty = await f.group();
    const response = await get(`${BASE}?groups_by_name=${encodeURIComponent(empty.name)}`);
    expect(response.status).toBe(200);
    expect(response.body).toEqual(page([]));
    const missing = await get(`${BASE}?groups_by_name=no-such-group-${tag}`);
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual({
      groups_by_name: [`Select a valid choice. no-such-group-${tag} is not one of the available choices.`],
    });
    const gone = await get(`${BASE}?groups_by_pk=${randomUUID()}`);
    expect(gone.status).toBe(400);
    expect(Object.keys(gone.body as Json)).toEqual(['groups_by_pk']);
    const deletedGroup = await f.group();
    await f.member(await f.user(), deletedGroup);
    await t.dataSource.query('DELETE FROM groups WHERE id = $1', [deletedGroup.id]);
    expect(await drift()).toEqual([]);
  });
});

describe('retrieve', () => {
  it('answers the user; filters and search apply as on the list; lookups that cannot match are 404', async () => {
    const user = await f.user({ name: 'Retrieved One', email: 'r1@example.com' });
    expect(await get(`${BASE}${user.id}/`)).toMatchObject({ status: 200, body: await expectedUser(user.id) });
    expect((await get(`${BASE}${user.id}/?include_groups=false`)).body).toEqual({
      ...(await expectedUser(user.id)),
      groups_obj: null,
    });
    expect(await get(`${BASE}${user.id}/?search=zzz-no-match`)).toMatchObject({ status: 404, body: NO_USER });
    expect(await get(`${BASE}${user.id}/?is_active=false`)).toMatchObject({ status: 404, body: NO_USER });
    expect(await get(`${BASE}2147483000/`)).toMatchObject({ status: 404, body: NO_USER });
    for (const id of ['abc', '-1', '0', '99999999999', '1.5', '%00']) {
      expect(await get(`${BASE}${id}/`)).toMatchObject({ status: 404, body: NOT_FOUND });
    }
  });
});

describe('create', () => {
  it('201 with the user; unusable (NULL) password; groups and roles set; a model_created event', async () => {
    const group = await f.group();
    const role = await f.role([]);
    const username = unique('created');
    const response = await send('POST', BASE, {
      username: `  ${username} `,
      name: 'Created User',
      email: 'created@example.com',
      is_active: true,
      last_login: '2031-02-03T04:05:06.789012Z',
      groups: [group.id],
      roles: [role.id],
      attributes: { a: { b: [1, 2] } },
      path: 'people/staff',
      type: 'external',
      password: 'ignored-field',
    });
    expect(response.status).toBe(201);
    const body = response.body as Json;
    const pk = Number(body.pk);
    expect(body).toEqual(await expectedUser(pk, { groups: [{ group }], roles: [role] }));
    expect(body).toMatchObject({
      username,
      last_login: '2031-02-03T04:05:06.789012Z',
      path: 'people/staff',
      type: 'external',
      attributes: { a: { b: [1, 2] } },
    });
    const [row] = await t.dataSource.query<{ password: string | null }[]>(
      'SELECT password FROM users WHERE id = $1',
      [pk],
    );
    expect(row?.password).toBeNull();
    expect(await events('model_created', pk)).toEqual([
      {
        action: 'model_created',
        app: 'authentik.events',
        actor_user_id: users.admin?.id,
        actor_username: users.admin?.username,
        object_user_id: pk,
        context: { model: { app: 'authentik_core', model_name: 'user', pk, name: username } },
      },
    ]);
  });

  it('defaults: active, internal, path users, empty attributes, no groups', async () => {
    // A fixed username: with no name, the avatar's initials and colour come from it.
    const username = 'users-minimal-defaults';
    const response = await send('POST', BASE, { username, name: '' });
    expect(response.status).toBe(201);
    const pk = Number((response.body as Json).pk);
    expect(response.body).toEqual(await expectedUser(pk));
    expect(response.body).toMatchObject({
      is_active: true,
      type: 'internal',
      path: 'users',
      attributes: {},
      email: '',
    });
  });

  it.each([
    [{}, { username: ['This field is required.'], name: ['This field is required.'] }],
    [{ username: '', name: 'x' }, { username: ['This field may not be blank.'] }],
    [
      { username: 'x'.repeat(151), name: 'x' },
      { username: ['Ensure this field has no more than 150 characters.'] },
    ],
    [{ username: 'a\u0000b', name: 'x' }, { username: ['Null characters are not allowed.'] }],
    [{ username: unique('v'), name: null }, { name: ['This field may not be null.'] }],
    [
      { username: unique('v'), name: 'x', email: 'not-an-email' },
      { email: ['Enter a valid email address.'] },
    ],
    [
      { username: unique('v'), name: 'x', path: '/lead' },
      { path: ['No leading or trailing slashes allowed.'] },
    ],
    [
      { username: unique('v'), name: 'x', path: 'trail/' },
      { path: ['No leading or trailing slashes allowed.'] },
    ],
    [
      { username: unique('v'), name: 'x', path: 'a//b' },
      { path: ['No empty segments in user path allowed.'] },
    ],
    [{ username: unique('v'), name: 'x', path: '' }, { path: ['This field may not be blank.'] }],
    [
      { username: unique('v'), name: 'x', type: 'internal_service_account' },
      { type: ['Setting a user to internal service account is not allowed.'] },
    ],
    [{ username: unique('v'), name: 'x', type: 'robot' }, { type: ['"robot" is not a valid choice.'] }],
    [
      { username: unique('v'), name: 'x', attributes: [1] },
      { attributes: ['Value must be a dictionary, and not have any duplicate keys.'] },
    ],
    [
      { username: unique('v'), name: 'x', attributes: 'str' },
      { attributes: ['Value must be a dictionary, and not have any duplicate keys.'] },
    ],
    [
      { username: unique('v'), name: 'x', attributes: { 'k\u0000': 1 } },
      { attributes: ['Null characters are not allowed.'] },
    ],
    [{ username: unique('v'), name: 'x', is_active: 'yes' }, { is_active: ['Must be a valid boolean.'] }],
    [
      { username: unique('v'), name: 'x', last_login: '2024-02-30T00:00:00Z' },
      {
        last_login: [
          'Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].',
        ],
      },
    ],
    [
      { username: unique('v'), name: 'x', groups: 'abc' },
      { groups: ['Expected a list of items but got type "str".'] },
    ],
    [{ username: unique('v'), name: 'x', groups: ['abc'] }, { groups: ['“abc” is not a valid UUID.'] }],
    [
      { username: unique('v'), name: 'x', groups: [true] },
      { groups: ['Incorrect type. Expected pk value, received bool.'] },
    ],
    [
      { username: unique('v'), name: 'x', roles: [7] },
      { roles: ['Invalid pk "7" - object does not exist.'] },
    ],
  ])('400 %j', async (body, errors) => {
    expect(await send('POST', BASE, body)).toMatchObject({ status: 400, body: errors });
  });

  it('400 for unknown groups/roles (with the username check, in field order) and non-object bodies', async () => {
    const taken = await f.user();
    const ghost = randomUUID();
    expect(
      await send('POST', BASE, { username: taken.username, name: 'x', groups: [ghost], roles: [ghost] }),
    ).toEqual(
      expect.objectContaining({
        status: 400,
        body: {
          username: ['This field must be unique.'],
          groups: [`Invalid pk "${ghost}" - object does not exist.`],
          roles: [`Invalid pk "${ghost}" - object does not exist.`],
        },
      }),
    );
    // Case-sensitive, as DRF's UniqueValidator on the username.
    expect((await send('POST', BASE, { username: taken.username.toUpperCase(), name: 'x' })).status).toBe(
      201,
    );
    expect(await send('POST', BASE, [1])).toMatchObject({
      status: 400,
      body: { non_field_errors: ['Invalid data. Expected a dictionary, but got list.'] },
    });
    expect(await send('POST', BASE, '{"username": ')).toMatchObject({
      status: 400,
      body: { detail: 'JSON parse error.' },
    });
  });

  it('never a 500 for hostile bodies (deep nesting, huge numbers, wrong types everywhere)', async () => {
    const deep = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;
    const bodies: unknown[] = [
      `{"username":"${unique('deep')}","name":"x","attributes":{"a":${deep(20_000)}}}`,
      `{"username":"${unique('deep')}","name":"x","attributes":{"a":${deep(2_000)}}}`,
      { username: unique('num'), name: 'x', attributes: { n: 1e308, m: -0 } },
      `{"username":"${unique('num')}","name":"x","attributes":{"n":1e400}}`,
      { username: 1234, name: 5 },
      {
        username: { a: 1 },
        name: [],
        email: 7,
        groups: [[]],
        roles: {},
        path: 1,
        type: null,
        is_active: null,
      },
      { username: unique('nul'), name: 'x', email: 'a\u0000@b.co' },
      { username: unique('nul'), name: 'x\u0000' },
      { username: unique('big'), name: 'x'.repeat(60_000) },
      null,
      'null',
      '"string"',
      '123',
    ];
    for (const body of bodies) {
      const response = await send('POST', BASE, body);
      const label = JSON.stringify(body).slice(0, 80);
      expect(
        [201, 400, 413].includes(response.status)
          ? 'ok'
          : `${response.status} for ${label}: ${response.text}`,
      ).toBe('ok');
    }
  });

  it('concurrent creates of one username: one 201, every other 400 "This field must be unique."', async () => {
    const username = unique('race');
    const responses = await Promise.all(
      Array.from({ length: 6 }, () => send('POST', BASE, { username, name: 'Racer' })),
    );
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([201, 400, 400, 400, 400, 400]);
    for (const r of responses.filter((r) => r.status === 400)) expect(r.body).toEqual(UNIQUE);
    const [row] = await t.dataSource.query<{ n: number }[]>(
      'SELECT count(*)::int AS n FROM users WHERE username = $1',
      [username],
    );
    expect(row?.n).toBe(1);
  });
});

describe('update and partial update', () => {
  it('PUT replaces; omitted groups and roles become []; other omitted fields stay', async () => {
    const group = await f.group();
    const user = await f.user({ name: 'Before', email: 'before@example.com', attributes: { keep: 1 } });
    await f.member(user, group);
    const role = await f.role([], { user });
    const response = await send('PUT', `${BASE}${user.id}/`, { username: user.username, name: 'After' });
    expect(response.status).toBe(200);
    expect(response.body).toEqual(await expectedUser(user.id));
    expect(response.body).toMatchObject({
      name: 'After',
      email: 'before@example.com',
      attributes: { keep: 1 },
    });
    expect((response.body as Json).groups).toEqual([]);
    expect(role.id).toBeDefined();
    expect(await events('model_updated', user.id)).toEqual([
      expect.objectContaining({
        context: { model: { app: 'authentik_core', model_name: 'user', pk: user.id, name: user.username } },
      }),
    ]);
  });

  it('PATCH changes only what is sent; groups and roles are set exactly', async () => {
    const [g1, g2] = [await f.group(), await f.group()];
    const user = await f.user({ name: 'Patchy' });
    await f.member(user, g1);
    const role = await f.role([]);
    const response = await send('PATCH', `${BASE}${user.id}/`, {
      groups: [g2.id],
      roles: [role.id],
      email: 'p@x.io',
    });
    expect(response.status).toBe(200);
    expect(response.body).toEqual(await expectedUser(user.id, { groups: [{ group: g2 }], roles: [role] }));
    expect(response.body).toMatchObject({ name: 'Patchy', email: 'p@x.io' });
    expect(await send('PATCH', `${BASE}${user.id}/`, { name: null })).toMatchObject({
      status: 400,
      body: { name: ['This field may not be null.'] },
    });
    expect((await send('PATCH', `${BASE}${user.id}/`, undefined)).status).toBe(200);
  });

  it("a username taken by another user is 400; keeping one's own is fine", async () => {
    const [a, b] = [await f.user(), await f.user()];
    expect(await send('PATCH', `${BASE}${a.id}/`, { username: b.username })).toMatchObject({
      status: 400,
      body: UNIQUE,
    });
    expect((await send('PATCH', `${BASE}${a.id}/`, { username: a.username })).status).toBe(200);
    expect(await send('PUT', `${BASE}${a.id}/`, { name: 'x' })).toMatchObject({
      status: 400,
      body: { username: ['This field is required.'] },
    });
  });

  it('internal service accounts: not settable, not changeable, not modifiable', async () => {
    const plain = await f.user();
    expect(await send('PATCH', `${BASE}${plain.id}/`, { type: 'internal_service_account' })).toMatchObject({
      status: 400,
      body: { type: ['Setting a user to internal service account is not allowed.'] },
    });
    const isa = await f.user({ type: 'internal_service_account' });
    expect(await send('PATCH', `${BASE}${isa.id}/`, { type: 'internal' })).toMatchObject({
      status: 400,
      body: { type: ["Can't change internal service account to other user type."] },
    });
    expect(await send('PATCH', `${BASE}${isa.id}/`, { name: 'renamed' })).toMatchObject({
      status: 400,
      body: { non_field_errors: ["Can't modify internal service account users"] },
    });
    expect(
      await send('PUT', `${BASE}${isa.id}/`, {
        username: isa.username,
        name: 'x',
        type: 'internal_service_account',
      }),
    ).toMatchObject({
      status: 400,
      body: { non_field_errors: ["Can't modify internal service account users"] },
    });
  });

  it('404 for a missing user, "Not found." for a malformed id', async () => {
    expect(await send('PATCH', `${BASE}2147483000/`, {})).toMatchObject({ status: 404, body: NO_USER });
    expect(await send('PUT', `${BASE}abc/`, {})).toMatchObject({ status: 404, body: NOT_FOUND });
  });
});

interface Seeded {
  user: UserEntity;
  key: string;
}

/** A user with two live sessions and one ended, two access, one refresh, one device token, one code and an API key. */
async function seeded(): Promise<Seeded> {
  const user = await f.user({ name: 'Cut Off' });
  const key = await f.apiKey(user);
  for (const ended of [null, null, 'now()']) {
    await t.dataSource.query(
      `INSERT INTO sessions (id, token_hash, user_id, expires, ip, ended)
       VALUES ($1, $2, $3, now() + interval '1 hour', '::1', ${ended ?? 'NULL'})`,
      [randomUUID(), sha256(randomUUID()), user.id],
    );
  }
  await f.grant('access', user.id, provider.id);
  await f.grant('access', user.id, provider.id);
  await f.grant('refresh', user.id, provider.id);
  await f.grant('code', user.id, provider.id);
  await t.dataSource.query(
    `INSERT INTO oauth2_device_tokens (provider_id, user_id, device_code_hash, user_code, scope, expires)
     VALUES ($1, $2, $3, $4, 'openid', now() + interval '10 minutes')`,
    [provider.id, user.id, sha256(randomUUID()), randomUUID().slice(0, 8).toUpperCase()],
  );
  return { user, key };
}

async function remaining(userId: number): Promise<Json> {
  const [row] = await t.dataSource.query<Json[]>(
    `SELECT (SELECT count(*) FROM sessions WHERE user_id = $1 AND ended IS NULL)::int AS live_sessions,
            (SELECT count(*) FROM sessions WHERE user_id = $1)::int AS sessions,
            (SELECT count(*) FROM oauth2_access_tokens WHERE user_id = $1)::int AS access,
            (SELECT count(*) FROM oauth2_refresh_tokens WHERE user_id = $1)::int AS refresh,
            (SELECT count(*) FROM oauth2_device_tokens WHERE user_id = $1)::int AS device,
            (SELECT count(*) FROM oauth2_authorization_codes WHERE user_id = $1)::int AS codes,
            (SELECT count(*) FROM api_tokens WHERE user_id = $1)::int AS api`,
    [userId],
  );
  return row ?? {};
}

const cascade = (counts: {
  sessions: number;
  access: number;
  refresh: number;
  device: number;
  codes: number;
  api?: number;
}): Json => ({
  deleted: [
    { model: 'authentik_providers_oauth2.accesstoken', count: counts.access },
    { model: 'authentik_providers_oauth2.refreshtoken', count: counts.refresh },
    { model: 'authentik_providers_oauth2.devicetoken', count: counts.device },
    { model: 'authentik_providers_oauth2.authorizationcode', count: counts.codes },
    ...(counts.api === undefined ? [] : [{ model: 'authentik_core.token', count: counts.api }]),
  ],
  ended: [{ model: 'authentik_core.authenticatedsession', count: counts.sessions }],
});

describe('deactivation and deletion', () => {
  it.each(['PATCH', 'PUT'] as const)(
    '%s is_active=false ends sessions and deletes OAuth2 grants in the same transaction; the event counts them',
    async (method) => {
      const { user, key } = await seeded();
      expect(await remaining(user.id)).toEqual({
        live_sessions: 2,
        sessions: 3,
        access: 2,
        refresh: 1,
        device: 1,
        codes: 1,
        api: 1,
      });
      const body =
        method === 'PATCH'
          ? { is_active: false }
          : { username: user.username, name: 'Cut Off', is_active: false };
      const response = await send(method, `${BASE}${user.id}/`, body);
      expect(response.status).toBe(200);
      expect((response.body as Json).is_active).toBe(false);
      expect(await remaining(user.id)).toEqual({
        live_sessions: 0,
        sessions: 3,
        access: 0,
        refresh: 0,
        device: 0,
        codes: 0,
        api: 1,
      });
      const [event] = await events('model_updated', user.id);
      expect(event?.context).toEqual({
        model: { app: 'authentik_core', model_name: 'user', pk: user.id, name: user.username },
        ...cascade({ sessions: 2, access: 2, refresh: 1, device: 1, codes: 1 }),
      });
      // An inactive user's key no longer authenticates.
      expect(await request(t.app, 'GET', BASE, bearer(key))).toMatchObject({
        status: 403,
        body: { detail: 'Token invalid/expired' },
      });
    },
  );

  it('DELETE: 204; sessions, grants and API tokens go; the events stay (no gdpr deletion)', async () => {
    const { user } = await seeded();
    await send('PATCH', `${BASE}${user.id}/`, { name: 'Renamed first' });
    const response = await send('DELETE', `${BASE}${user.id}/`, undefined);
    expect(response.status).toBe(204);
    expect(response.text).toBe('');
    expect(await remaining(user.id)).toEqual({
      live_sessions: 0,
      sessions: 0,
      access: 0,
      refresh: 0,
      device: 0,
      codes: 0,
      api: 0,
    });
    expect((await events('model_updated', user.id)).length).toBe(1);
    const [event] = await events('model_deleted', user.id);
    expect(event).toEqual({
      action: 'model_deleted',
      app: 'authentik.events',
      actor_user_id: users.admin?.id,
      actor_username: users.admin?.username,
      object_user_id: user.id,
      context: {
        model: { app: 'authentik_core', model_name: 'user', pk: user.id, name: user.username },
        ...cascade({ sessions: 2, access: 2, refresh: 1, device: 1, codes: 1, api: 1 }),
      },
    });
    expect(await get(`${BASE}${user.id}/`)).toMatchObject({ status: 404, body: NO_USER });
    expect(await send('DELETE', `${BASE}${user.id}/`, undefined)).toMatchObject({
      status: 404,
      body: NO_USER,
    });
  });
});

describe('me/', () => {
  it('any authenticated user: groups with ancestors by name, roles direct and through groups, system permissions', async () => {
    const top = await f.group({ name: unique('zz-top').slice(0, 80) });
    const middle = await f.group({ name: unique('aa-middle').slice(0, 80), parent: top.name });
    const user = await f.user({ name: 'Self Person', email: 'self@example.com' });
    await f.member(user, middle);
    const direct = await f.role(['authentik_rbac.view_system_info', 'authentik_core.view_user'], { user });
    const inherited = await f.role(['authentik_rbac.access_admin_interface'], { group: top });
    const key = await f.apiKey(user);
    const response = await request(t.app, 'GET', `${BASE}me/`, bearer(key));
    expect(response.status).toBe(200);
    const roles = [direct, inherited].sort((a, b) => (a.name < b.name ? -1 : 1));
    const [row] = await t.dataSource.query<{ uuid: string }[]>('SELECT uuid FROM users WHERE id = $1', [
      user.id,
    ]);
    expect(row?.uuid).toBeDefined();
    const self = {
      pk: user.id,
      username: user.username,
      name: 'Self Person',
      is_active: true,
      is_superuser: false,
      is_current: true,
      groups: [
        { name: middle.name, pk: middle.id },
        { name: top.name, pk: top.id },
      ],
      roles: roles.map((role) => ({ name: role.name, pk: role.id })),
      email: 'self@example.com',
      avatar: avatarOf('Self Person', user.username),
      uid: createHash('sha256').update(`${user.id}-${installId}`).digest('hex'),
      settings: {},
      type: 'internal',
      system_permissions: ['access_admin_interface', 'view_system_info'],
    };
    expect(response.body).toEqual({ user: self, users: [self] });
    // Key order as authentik's UserSelf declares its fields.
    expect(Object.keys((response.body as { user: Json }).user)).toEqual(Object.keys(self));
    const plain = await get(`${BASE}me/`, 'plain');
    expect(plain.status).toBe(200);
    expect((plain.body as { user: Json }).user).toMatchObject({
      pk: users.plain?.id,
      groups: [],
      roles: [],
      system_permissions: [],
    });
    expect(await get(`${BASE}me/`, 'anonymous')).toMatchObject({ status: 403, body: NOT_PROVIDED });
  });
});

describe('set_password/', () => {
  it('204, a new scrypt hash, password_change_date moves, a password_set event', async () => {
    const user = await f.user();
    const before = await stamps(user.id);
    const response = await send(
      'POST',
      `${BASE}${user.id}/set_password/`,
      { password: 'correct horse battery' },
      'resetter',
    );
    expect(response).toMatchObject({ status: 204, text: '' });
    const [row] = await t.dataSource.query<{ password: string }[]>(
      'SELECT password FROM users WHERE id = $1',
      [user.id],
    );
    await expect(verifyPassword('correct horse battery', row?.password ?? null)).resolves.toBe(true);
    expect((await stamps(user.id)).password_change_date).not.toBe(before.password_change_date);
    expect(await events('password_set', user.id)).toEqual([
      {
        action: 'password_set',
        app: 'authentik.events',
        actor_user_id: users.resetter?.id,
        actor_username: users.resetter?.username,
        object_user_id: user.id,
        context: { model: { app: 'authentik_core', model_name: 'user', pk: user.id, name: user.username } },
      },
    ]);
  });

  it('400 with an empty body for a blank, missing, non-string, short or huge password; 404; 403', async () => {
    const user = await f.user();
    for (const body of [
      { password: '' },
      { password: '   ' },
      {},
      { password: 12345678 },
      [1],
      { password: 'short' },
      { password: 'x'.repeat(1025) },
    ]) {
      const response = await send('POST', `${BASE}${user.id}/set_password/`, body);
      expect({ body, status: response.status, text: response.text }).toEqual({ body, status: 400, text: '' });
    }
    const [row] = await t.dataSource.query<{ password: string | null }[]>(
      'SELECT password FROM users WHERE id = $1',
      [user.id],
    );
    expect(row?.password).toBeNull();
    expect(await send('POST', `${BASE}2147483000/set_password/`, { password: 'long enough' })).toMatchObject({
      status: 404,
      body: NO_USER,
    });
    expect(
      await send('POST', `${BASE}${user.id}/set_password/`, { password: 'long enough' }, 'viewer'),
    ).toMatchObject({ status: 403, body: DENIED });
    expect(
      await send('POST', `${BASE}${user.id}/set_password/`, { password: 'long enough' }, 'resetOnly'),
    ).toMatchObject({ status: 403, body: DENIED });
  });
});

describe('405 and 403 on methods a route does not map', () => {
  it.each([
    ['PUT', BASE, 'changer', 405, 'GET, POST, HEAD, OPTIONS'],
    ['PUT', BASE, 'viewer', 403, undefined],
    ['PATCH', BASE, 'changeOnly', 405, 'GET, POST, HEAD, OPTIONS'],
    ['PATCH', BASE, 'deleter', 403, undefined],
    ['DELETE', BASE, 'deleter', 405, 'GET, POST, HEAD, OPTIONS'],
    ['DELETE', BASE, 'changer', 403, undefined],
    ['POST', `${BASE}1/`, 'plain', 405, 'GET, PUT, PATCH, DELETE, HEAD, OPTIONS'],
    ['POST', `${BASE}me/`, 'plain', 405, 'GET, HEAD, OPTIONS'],
    ['DELETE', `${BASE}me/`, 'admin', 405, 'GET, HEAD, OPTIONS'],
    ['PUT', `${BASE}1/set_password/`, 'admin', 405, 'POST, OPTIONS'],
  ] as const)('%s %s as %s: %d', async (method, url, who, status, allow) => {
    const response =
      method === 'POST' || method === 'PUT' || method === 'PATCH' || method === 'DELETE'
        ? await send(method, url, {}, who)
        : await get(url, who);
    expect(response.status).toBe(status);
    expect(response.body).toEqual(status === 405 ? { detail: `Method "${method}" not allowed.` } : DENIED);
    if (allow) expect(response.headers.allow).toBe(allow);
  });

  it('GET set_password/ is 405', async () => {
    const response = await get(`${BASE}1/set_password/`, 'plain');
    expect(response).toMatchObject({ status: 405, body: { detail: 'Method "GET" not allowed.' } });
  });
});

describe('permission matrix', () => {
  type Op = 'list' | 'retrieve' | 'create' | 'update' | 'patch' | 'delete' | 'set_password' | 'me';
  const OPS: Op[] = ['list', 'retrieve', 'create', 'update', 'patch', 'delete', 'set_password', 'me'];
  const OK: Record<Op, number> = {
    list: 200,
    retrieve: 200,
    create: 201,
    update: 200,
    patch: 200,
    delete: 204,
    set_password: 204,
    me: 200,
  };
  /** Which principals may do what; everyone else gets 403 "You do not have permission..." (anonymous: not provided). */
  const ALLOWED: Record<string, Op[]> = {
    admin: OPS,
    plain: ['me'],
    viewer: ['list', 'retrieve', 'me'],
    adder: ['list', 'retrieve', 'create', 'me'],
    addOnly: ['create', 'me'],
    changer: ['list', 'retrieve', 'update', 'patch', 'me'],
    changeOnly: ['me'],
    deleter: ['list', 'retrieve', 'delete', 'me'],
    deleteOnly: ['me'],
    resetter: ['list', 'retrieve', 'set_password', 'me'],
    resetOnly: ['me'],
    anonymous: [],
  };

  const cells = Object.keys(ALLOWED).flatMap((who) => OPS.map((op) => [who, op] as const));

  it.each(cells)('%s %s', async (who, op) => {
    const target = await f.user();
    const url = `${BASE}${target.id}/`;
    let response: InjectResult;
    switch (op) {
      case 'list':
        response = await get(`${BASE}?username=${target.username}`, who);
        break;
      case 'retrieve':
        response = await get(url, who);
        break;
      case 'create':
        response = await send('POST', BASE, { username: unique('m'), name: 'M' }, who);
        break;
      case 'update':
        response = await send('PUT', url, { username: target.username, name: 'M' }, who);
        break;
      case 'patch':
        response = await send('PATCH', url, { name: 'M' }, who);
        break;
      case 'delete':
        response = await send('DELETE', url, undefined, who);
        break;
      case 'set_password':
        response = await send('POST', `${url}set_password/`, { password: 'long enough pw' }, who);
        break;
      case 'me':
        response = await get(`${BASE}me/`, who);
        break;
    }
    const allowed = ALLOWED[who]?.includes(op) ?? false;
    const want = allowed
      ? { status: OK[op] }
      : { status: 403, body: who === 'anonymous' ? NOT_PROVIDED : DENIED };
    expect(response).toMatchObject(want);
    // A denied write changed nothing.
    if (!allowed && op !== 'create')
      expect(await t.dataSource.query('SELECT name FROM users WHERE id = $1', [target.id])).toEqual([
        { name: '' },
      ]);
  });

  it('a denied write is 403 before its body is looked at', async () => {
    expect(await send('POST', BASE, [1], 'viewer')).toMatchObject({ status: 403, body: DENIED });
    expect(await send('PATCH', `${BASE}${users.plain?.id}/`, { username: '' }, 'viewer')).toMatchObject({
      status: 403,
      body: DENIED,
    });
  });
});

describe('superusers are written to only by superusers (Grantry, stricter than authentik)', () => {
  it('a non-superuser cannot make anyone a superuser, directly or through a child group, nor touch a superuser', async () => {
    const admins = await f.group({ isSuperuser: true });
    const child = await f.group({ parent: admins.name });
    const target = await f.user();
    const su = await f.user();
    await f.member(su, admins);
    const memberships = async (userId: number): Promise<number> => {
      const [row] = await t.dataSource.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM user_groups WHERE user_id = $1',
        [userId],
      );
      return row?.n ?? -1;
    };
    for (const groups of [[admins.id], [child.id]]) {
      expect(await send('PATCH', `${BASE}${target.id}/`, { groups }, 'changer')).toMatchObject({
        status: 403,
        body: DENIED,
      });
      expect(
        await send(
          'PUT',
          `${BASE}${target.id}/`,
          { username: target.username, name: 'x', groups },
          'changer',
        ),
      ).toMatchObject({ status: 403, body: DENIED });
    }
    expect(await memberships(target.id)).toBe(0);
    const username = unique('escalate');
    expect(await send('POST', BASE, { username, name: 'x', groups: [child.id] }, 'adder')).toMatchObject({
      status: 403,
      body: DENIED,
    });
    expect(await t.dataSource.query('SELECT 1 FROM users WHERE username = $1', [username])).toEqual([]);
    expect(await send('PATCH', `${BASE}${su.id}/`, { name: 'hijacked' }, 'changer')).toMatchObject({
      status: 403,
      body: DENIED,
    });
    expect(
      await send('POST', `${BASE}${su.id}/set_password/`, { password: 'taken over!' }, 'resetter'),
    ).toMatchObject({
      status: 403,
      body: DENIED,
    });
    expect(await send('DELETE', `${BASE}${su.id}/`, undefined, 'deleter')).toMatchObject({
      status: 403,
      body: DENIED,
    });
    expect(await t.dataSource.query('SELECT name, password FROM users WHERE id = $1', [su.id])).toEqual([
      { name: '', password: null },
    ]);
    // A superuser may do all of it.
    expect((await send('PATCH', `${BASE}${target.id}/`, { groups: [child.id] })).body).toMatchObject({
      is_superuser: true,
    });
    expect((await send('POST', `${BASE}${su.id}/set_password/`, { password: 'by an admin' })).status).toBe(
      204,
    );
  });
});

describe('last active superuser', () => {
  // The shared test database always holds other active superusers, so the refusal is tested on a database of its
  // own, through the commands the API dispatches (the CLI's bus).
  const databases = new ScratchDatabases('grantry_users');
  let db: DataSource;
  let context: INestApplicationContext;
  let bus: CommandBus;

  beforeAll(async () => {
    db = await openDataSource(await databases.create(), 'users-last-superuser', 4);
    await runMigrations(db);
    const config = loadConfig({ NODE_ENV: 'test', SECRET_KEY: TEST_SECRET_KEY });
    context = await openManagementContext(config, db, testSealer());
    bus = context.get(CommandBus);
  });
  afterAll(async () => {
    await context.close();
    await db.destroy();
    await databases.dropAll();
  });

  async function superuser(group: string): Promise<UserEntity> {
    const user = await createUser(db.manager, { username: unique('su') });
    await addUserToGroup(db.manager, user.username, group);
    return user;
  }

  const refused = { non_field_errors: [MESSAGES.lastSuperuser] };
  const errorOf = (promise: Promise<unknown>): Promise<unknown> =>
    promise.then(
      () => 'succeeded',
      (error: unknown) => (error instanceof ValidationApiError ? error.errors : error),
    );
  const activeSuperusers = async (): Promise<number> => {
    const [row] = await db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM users u JOIN user_documents d ON d.user_id = u.id
        WHERE u.is_active AND (d.doc->>'is_superuser')::boolean`,
    );
    return row?.n ?? -1;
  };

  it('refuses deactivating, demoting or deleting the last one; others can go; a race leaves exactly one', async () => {
    const admins = await createGroup(db.manager, { name: unique('admins').slice(0, 80), isSuperuser: true });
    const [a, b] = [await superuser(admins.name), await superuser(admins.name)];
    const other = await createUser(db.manager, { username: unique('plain') });

    // Two superusers deactivating each other at once: one wins, the other is refused.
    const race = await Promise.all([
      errorOf(bus.execute(new UpdateUserCommand(CLI_CALLER, a.id, { is_active: false }, true))),
      errorOf(bus.execute(new UpdateUserCommand(CLI_CALLER, b.id, { is_active: false }, true))),
    ]);
    expect(race.sort((x, y) => String(x).localeCompare(String(y)))).toEqual([refused, 'succeeded']);
    expect(await activeSuperusers()).toBe(1);
    const [{ id: last } = { id: 0 }] = await db.query<{ id: number }[]>(
      'SELECT id FROM users WHERE id = ANY($1) AND is_active',
      [[a.id, b.id]],
    );
    const lastUser = last === a.id ? a : b;

    expect(
      await errorOf(bus.execute(new UpdateUserCommand(CLI_CALLER, last, { is_active: false }, true))),
    ).toEqual(refused);
    expect(
      await errorOf(
        bus.execute(
          new UpdateUserCommand(CLI_CALLER, last, { username: lastUser.username, name: 'x' }, false),
        ),
      ),
    ).toEqual(refused);
    expect(await errorOf(bus.execute(new DeleteUserCommand(CLI_CALLER, last)))).toEqual(refused);
    expect(await activeSuperusers()).toBe(1);
    // Nothing of a refused write stayed (its event neither).
    const [row] = await db.query<{ name: string; n: number }[]>(
      `SELECT name, (SELECT count(*)::int FROM audit_events WHERE object_user_id = $1) AS n FROM users WHERE id = $1`,
      [last],
    );
    expect(row).toEqual({ name: '', n: 0 });

    // Anyone else, and the last superuser's other changes, are fine.
    expect(
      await errorOf(bus.execute(new UpdateUserCommand(CLI_CALLER, other.id, { is_active: false }, true))),
    ).toBe('succeeded');
    expect(
      await errorOf(bus.execute(new UpdateUserCommand(CLI_CALLER, last, { name: 'Still here' }, true))),
    ).toBe('succeeded');
    // With a second active superuser, the first may go.
    const c = await superuser(admins.name);
    expect(await errorOf(bus.execute(new DeleteUserCommand(CLI_CALLER, last)))).toBe('succeeded');
    expect(await activeSuperusers()).toBe(1);
    expect(c.id).toBeGreaterThan(0);
  });
});

describe('the CLI dispatches the same commands', () => {
  it('user create: validated like the API, event by grantry-cli, --superuser through the superuser group', async () => {
    const username = unique('cli');
    const out = await runCli(t.dataSource, userCreate, [
      '--username',
      username,
      '--name',
      'CLI',
      '--superuser',
    ]);
    expect(out).toEqual({
      pk: expect.any(Number),
      uuid: expect.any(String),
      username,
      name: 'CLI',
      email: '',
      is_active: true,
      type: 'internal',
      is_superuser: true,
      has_password: false,
    });
    expect((await get(`${BASE}${Number(out.pk)}/`)).body).toMatchObject({ is_superuser: true });
    expect(await events('model_created', Number(out.pk))).toEqual([
      expect.objectContaining({ actor_user_id: null, actor_username: 'grantry-cli' }),
    ]);
    await expect(runCli(t.dataSource, userCreate, ['--username', username])).rejects.toEqual(
      new InputError(`a user named "${username}" already exists`),
    );
    await expect(
      runCli(t.dataSource, userCreate, ['--username', unique('cli'), '--type', 'internal_service_account']),
    ).rejects.toEqual(new InputError('type: Setting a user to internal service account is not allowed.'));
    await expect(runCli(t.dataSource, userCreate, ['--username', 'x'.repeat(151)])).rejects.toEqual(
      new InputError('username: Ensure this field has no more than 150 characters.'),
    );
    expect(userSetPassword.name).toBe('user set-password');
  });
});

describe("authentik's client (CoreApi)", () => {
  let api: CoreApi;

  beforeAll(() => {
    const { port } = t.app.getHttpServer().address() as AddressInfo;
    api = new CoreApi(
      new Configuration({ basePath: `http://127.0.0.1:${port}/api/v3`, accessToken: keys.admin }),
    );
  });

  it('runs every users operation and decodes the answers with its own models', async () => {
    const group = await f.group();
    const username = unique('client');
    const created = await api.coreUsersCreate({
      userRequest: {
        username,
        name: 'Client Made',
        email: 'c@example.com',
        groups: [group.id],
        path: PATH,
        type: UserTypeEnum.External,
      },
    });
    expect(instanceOfUser(created)).toBe(true);
    expect(created).toMatchObject({ username, name: 'Client Made', type: 'external', groups: [group.id] });
    expect(created.dateJoined).toBeInstanceOf(Date);
    expect(Number.isNaN(created.dateJoined.getTime())).toBe(false);

    const listed = await api.coreUsersList({
      path: PATH,
      username,
      type: [UserTypeEnum.External],
      groupsByPk: [group.id],
      isActive: true,
      search: 'client made',
      ordering: '-username',
      includeRoles: false,
    });
    expect(instanceOfPaginatedUserList(listed)).toBe(true);
    expect(listed.results.map((user) => user.pk)).toEqual([created.pk]);
    expect(listed.results[0]?.rolesObj).toBeNull();

    expect((await api.coreUsersRetrieve({ id: created.pk })).username).toBe(username);
    const updated = await api.coreUsersUpdate({
      id: created.pk,
      userRequest: { username, name: 'Client Updated' },
    });
    expect(updated).toMatchObject({ name: 'Client Updated', groups: [] });
    const patched = await api.coreUsersPartialUpdate({
      id: created.pk,
      patchedUserRequest: { attributes: { x: 1 } },
    });
    expect(patched.attributes).toEqual({ x: 1 });
    await api.coreUsersSetPasswordCreate({
      id: created.pk,
      userPasswordSetRequest: { password: 'client password' },
    });
    const me = await api.coreUsersMeRetrieve();
    expect(instanceOfSessionUser(me)).toBe(true);
    expect(me.user).toMatchObject({ pk: users.admin?.id, isSuperuser: true });
    await api.coreUsersDestroy({ id: created.pk });
    const missing = await api.coreUsersRetrieve({ id: created.pk }).catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(ResponseError);
    expect((missing as ResponseError).response.status).toBe(404);
    const bad = await api
      .coreUsersCreate({ userRequest: { username: '', name: 'x' } })
      .catch((error: unknown) => error);
    expect((bad as ResponseError).response.status).toBe(400);
    expect(await (bad as ResponseError).response.json()).toEqual({
      username: ['This field may not be blank.'],
    });
  });
});
