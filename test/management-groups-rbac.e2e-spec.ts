/**
 * /api/v3/core/groups/, /api/v3/rbac/roles/, /api/v3/rbac/permissions/ and the role permission assignment actions
 * (issue 13): raw HTTP with exact bodies, the official @goauthentik/api client, the permission matrix, the errors
 * the reference lists, events, and concurrent writes.
 */
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Configuration, CoreApi, RbacApi, ResponseError } from '@goauthentik/api';
import type { UserEntity } from '../src/identity/user.entity';
import { bearer, createTestApp, request, requestJson, type TestApp } from './support/app';
import { runCli } from './support/cli';
import { groupAddUser, groupCreate } from '../src/cli/commands/group';
import { roleAssign, roleCreate } from '../src/cli/commands/role';
import { Factories, unique } from './support/factories';

let t: TestApp;
let f: Factories;
let baseUrl: string;
let installId: string;
let adminKey: string;
let admin: UserEntity;

const DENIED = { detail: 'You do not have permission to perform this action.' };
const NOT_FOUND = { detail: 'Not found.' };
const NO_GROUP = { detail: 'No Group matches the given query.' };
const NO_ROLE = { detail: 'No Role matches the given query.' };

/** authentik's num_pk, computed independently: the first 5 digits of the UUID as a decimal integer. */
function numPk(uuid: string): number {
  return Number(
    BigInt(`0x${uuid.replaceAll('-', '')}`)
      .toString()
      .slice(0, 5),
  );
}
function uid(pk: number): string {
  return createHash('sha256').update(`${pk}-${installId}`).digest('hex');
}

async function keyWith(permissions: string[]): Promise<{ user: UserEntity; key: string }> {
  const user = await f.user();
  if (permissions.length > 0) await f.role(permissions, { user });
  return { user, key: await f.apiKey(user) };
}

const get = (url: string, key: string) => request(t.app, 'GET', url, bearer(key));
const send = (method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, body: unknown, key: string) =>
  requestJson(t.app, method, url, body, bearer(key));

async function lastEvent(
  modelName: string,
  pk: string | number,
): Promise<{ action: string; context: unknown }> {
  const [row] = await t.dataSource.query<{ action: string; context: unknown }[]>(
    `SELECT action, context FROM audit_events WHERE context->'model'->>'model_name' = $1
       AND context->'model'->>'pk' = $2 ORDER BY id DESC LIMIT 1`,
    [modelName, String(pk).replaceAll('-', '')],
  );
  return row ?? { action: '', context: null };
}

beforeAll(async () => {
  t = await createTestApp({}, true);
  const { port } = t.app.getHttpServer().address() as AddressInfo;
  baseUrl = `http://127.0.0.1:${port}/api/v3`;
  f = new Factories(t.dataSource);
  const [row] = await t.dataSource.query<{ install_id: string }[]>(
    'SELECT install_id FROM install WHERE id = 1',
  );
  installId = row?.install_id ?? '';
  const admins = await f.group({ isSuperuser: true });
  admin = await f.user();
  await f.member(admin, admins);
  adminKey = await f.apiKey(admin);
});
afterAll(() => t.close());

describe('groups over HTTP', () => {
  it('creates, retrieves, lists, updates (PUT resets users/parents) and deletes, with exact bodies and events', async () => {
    const member = await f.user({ name: 'Member One', email: 'm1@example.com' });
    const parentName = unique('parent');
    const parent = await send('POST', '/api/v3/core/groups/', { name: parentName }, adminKey);
    expect(parent.status).toBe(201);
    const parentPk = (parent.body as { pk: string }).pk;
    const role = await f.role(['authentik_core.view_user']);
    const name = unique('group');
    const created = await send(
      'POST',
      '/api/v3/core/groups/',
      { name, parents: [parentPk], users: [member.id], attributes: { team: 'x' }, roles: [role.id] },
      adminKey,
    );
    expect(created.status).toBe(201);
    const pk = (created.body as { pk: string }).pk;
    const expected = {
      pk,
      num_pk: numPk(pk),
      name,
      is_superuser: false,
      parents: [parentPk],
      parents_obj: null,
      users: [member.id],
      users_obj: [
        {
          pk: member.id,
          username: member.username,
          name: 'Member One',
          is_active: true,
          last_login: null,
          email: 'm1@example.com',
          attributes: {},
          uid: uid(member.id),
        },
      ],
      attributes: { team: 'x' },
      roles: [role.id],
      roles_obj: [{ pk: role.id, name: role.name }],
      inherited_roles_obj: null,
      children: [],
      children_obj: null,
    };
    expect(created.body).toEqual(expected);
    expect(await lastEvent('group', pk)).toMatchObject({
      action: 'model_created',
      context: { model: { app: 'authentik_core', model_name: 'group', pk: pk.replaceAll('-', ''), name } },
    });

    expect((await get(`/api/v3/core/groups/${pk}/`, adminKey)).body).toEqual(expected);
    const parentRole = await f.role(['authentik_core.view_group']);
    await t.dataSource.query('INSERT INTO group_roles (group_id, role_id) VALUES ($1, $2)', [
      parentPk,
      parentRole.id,
    ]);
    const all = await get(
      `/api/v3/core/groups/${pk}/?include_users=false&include_parents=true&include_children=true&include_inherited_roles=true`,
      adminKey,
    );
    expect(all.body).toEqual({
      ...expected,
      users_obj: null,
      parents_obj: [
        { pk: parentPk, name: parentName, is_superuser: false, attributes: {}, group_uuid: parentPk },
      ],
      children_obj: [],
      inherited_roles_obj: [{ pk: parentRole.id, name: parentRole.name }],
    });
    const parentView = await get(`/api/v3/core/groups/${parentPk}/?include_children=true`, adminKey);
    expect(parentView.body).toMatchObject({
      children: [pk],
      children_obj: [{ pk, name, is_superuser: false, attributes: { team: 'x' }, group_uuid: pk }],
    });

    const list = await get(`/api/v3/core/groups/?name=${name}`, adminKey);
    expect(list.body).toEqual({
      pagination: {
        next: 0,
        previous: 0,
        count: 1,
        current: 1,
        total_pages: 1,
        start_index: 1,
        end_index: 1,
      },
      results: [expected],
      autocomplete: {},
    });

    // PATCH keeps what it does not name.
    const patched = await send(
      'PATCH',
      `/api/v3/core/groups/${pk}/`,
      { attributes: { team: 'y' } },
      adminKey,
    );
    expect(patched.status).toBe(200);
    expect(patched.body).toEqual({ ...expected, attributes: { team: 'y' } });
    // PUT resets users and parents (default=list), keeps roles and attributes it does not name.
    const put = await send('PUT', `/api/v3/core/groups/${pk}/`, { name }, adminKey);
    expect(put.status).toBe(200);
    expect(put.body).toEqual({
      ...expected,
      attributes: { team: 'y' },
      parents: [],
      users: [],
      users_obj: [],
    });
    expect((await lastEvent('group', pk)).action).toBe('model_updated');

    const parentMember = await f.user();
    await t.dataSource.query('INSERT INTO user_groups (user_id, group_id) VALUES ($1, $2)', [
      parentMember.id,
      parentPk,
    ]);
    const gone = await request(t.app, 'DELETE', `/api/v3/core/groups/${parentPk}/`, bearer(adminKey));
    expect([gone.status, gone.text]).toEqual([204, '']);
    expect(await lastEvent('group', parentPk)).toMatchObject({
      action: 'model_deleted',
      context: { deleted: [{ model: 'authentik_core.user_groups', count: 1 }] },
    });
    expect((await get(`/api/v3/core/groups/${parentPk}/`, adminKey)).body).toEqual(NO_GROUP);
  });

  it('refuses two parents, a cycle and a self-parent (Grantry has one parent per group)', async () => {
    const a = await f.group();
    const b = await f.group({ parent: a.name });
    const c = await f.group({ parent: b.name });
    expect(
      (await send('POST', '/api/v3/core/groups/', { name: unique('g'), parents: [a.id, b.id] }, adminKey))
        .body,
    ).toEqual({
      parents: ['Grantry groups have a single parent: give at most one group (a list of zero or one UUID).'],
    });
    const cycle = await send('PATCH', `/api/v3/core/groups/${a.id}/`, { parents: [c.id] }, adminKey);
    expect([cycle.status, cycle.body]).toEqual([
      400,
      { parents: ['A group cannot be its own parent or an ancestor of its parent.'] },
    ]);
    const self = await send('PATCH', `/api/v3/core/groups/${a.id}/`, { parents: [a.id] }, adminKey);
    expect(self.body).toEqual({
      parents: ['A group cannot be its own parent or an ancestor of its parent.'],
    });
    const missing = '00000000-0000-4000-8000-000000000000';
    expect(
      (await send('PATCH', `/api/v3/core/groups/${a.id}/`, { parents: [missing] }, adminKey)).body,
    ).toEqual({
      parents: [`Invalid pk "${missing}" - object does not exist.`],
    });
  });

  it('answers DRF field errors, unique names and the superuser gate', async () => {
    const existing = await f.group();
    expect((await send('POST', '/api/v3/core/groups/', {}, adminKey)).body).toEqual({
      name: ['This field is required.'],
    });
    // Every failing field at once, whether its check needs the database or not, as DRF reports them.
    expect(
      (
        await send(
          'POST',
          '/api/v3/core/groups/',
          { name: existing.name, attributes: [], users: [2147483000], roles: 'x' },
          adminKey,
        )
      ).body,
    ).toEqual({
      name: ['Group with this name already exists.'],
      attributes: ['Value must be a dictionary, and not have any duplicate keys.'],
      users: ['Invalid pk "2147483000" - object does not exist.'],
      roles: ['Expected a list of items but got type "str".'],
    });
    expect(
      (
        await send(
          'PUT',
          `/api/v3/core/groups/${existing.id}/`,
          { parents: [1], is_superuser: 'x' },
          adminKey,
        )
      ).body,
    ).toEqual({
      name: ['This field is required.'],
      parents: ['Incorrect type. Expected pk value, received int.'],
      is_superuser: ['Must be a valid boolean.'],
    });
    expect(
      (await send('POST', '/api/v3/core/groups/', { name: unique('g'), users: [2147483000] }, adminKey)).body,
    ).toEqual({
      users: ['Invalid pk "2147483000" - object does not exist.'],
    });
    expect(
      (await send('POST', '/api/v3/core/groups/', { name: unique('g'), users: 'x' }, adminKey)).body,
    ).toEqual({
      users: ['Expected a list of items but got type "str".'],
    });
    expect((await send('POST', '/api/v3/core/groups/', { name: 'x'.repeat(81) }, adminKey)).body).toEqual({
      name: ['Ensure this field has no more than 80 characters.'],
    });
    expect((await send('POST', '/api/v3/core/groups/', [], adminKey)).body).toEqual({
      non_field_errors: ['Invalid data. Expected a dictionary, but got list.'],
    });
    // Malformed JSON: a 400 (the foundation's filter words it "Bad request.", not DRF's "JSON parse error.").
    expect((await send('POST', '/api/v3/core/groups/', '{bad', adminKey)).status).toBe(400);

    const { key } = await keyWith([
      'authentik_core.add_group',
      'authentik_core.view_group',
      'authentik_core.change_group',
    ]);
    expect(
      (await send('POST', '/api/v3/core/groups/', { name: unique('g'), is_superuser: true }, key)).body,
    ).toEqual({
      is_superuser: ['User does not have permission to set superuser status to True.'],
    });
    // false on create needs nothing
    expect(
      (await send('POST', '/api/v3/core/groups/', { name: unique('g'), is_superuser: false }, key)).status,
    ).toBe(201);
    const su = await f.group({ isSuperuser: true });
    expect((await send('PATCH', `/api/v3/core/groups/${su.id}/`, { is_superuser: false }, key)).body).toEqual(
      {
        is_superuser: ['User does not have permission to set superuser status to False.'],
      },
    );
    // unchanged value needs nothing
    expect((await send('PATCH', `/api/v3/core/groups/${su.id}/`, { is_superuser: true }, key)).status).toBe(
      200,
    );
    const { key: enabler } = await keyWith([
      'authentik_core.add_group',
      'authentik_core.enable_group_superuser',
    ]);
    expect(
      (await send('POST', '/api/v3/core/groups/', { name: unique('g'), is_superuser: true }, enabler)).status,
    ).toBe(201);
  });

  it('filters, searches, orders and paginates', async () => {
    const tag = unique('flt');
    const u1 = await f.user();
    const g1 = await f.group({ name: `${tag}-b` });
    const g2 = await f.group({ name: `${tag}-a`, isSuperuser: true });
    await f.member(u1, g1);
    await t.dataSource.query(`UPDATE groups SET attributes = '{"team":{"x":1}}' WHERE id = $1`, [g2.id]);
    const names = async (query: string) =>
      (
        (await get(`/api/v3/core/groups/?search=${tag}&${query}`, adminKey)).body as {
          results: { name: string }[];
        }
      ).results.map((group) => group.name);
    expect(await names('')).toEqual([`${tag}-a`, `${tag}-b`]);
    expect(await names('ordering=-name')).toEqual([`${tag}-b`, `${tag}-a`]);
    expect(await names('ordering=nonsense')).toEqual([`${tag}-a`, `${tag}-b`]);
    expect(await names('is_superuser=true')).toEqual([`${tag}-a`]);
    expect(await names('is_superuser=False')).toEqual([`${tag}-b`]);
    expect(await names('is_superuser=maybe')).toEqual([`${tag}-a`, `${tag}-b`]);
    expect(await names(`members_by_pk=${u1.id}`)).toEqual([`${tag}-b`]);
    expect(await names(`members_by_username=${u1.username}`)).toEqual([`${tag}-b`]);
    expect(await names(`attributes=${encodeURIComponent('{"team__x":1}')}`)).toEqual([`${tag}-a`]);
    expect(await names(`name=${tag}-b`)).toEqual([`${tag}-b`]);
    // Only the first 10 terms count (as in every Grantry list): an 11th that matches nothing changes nothing.
    const tenTerms = Array.from({ length: 9 }, () => tag).join(' ');
    expect(await names(`search=${encodeURIComponent(`${tenTerms} -a`)}`)).toEqual([`${tag}-a`]);
    expect(await names(`search=${encodeURIComponent(`${tenTerms} ${tag} nothing-matches-this`)}`)).toEqual([
      `${tag}-a`,
      `${tag}-b`,
    ]);
    const page = await get(`/api/v3/core/groups/?search=${tag}&page_size=1&page=2`, adminKey);
    expect((page.body as { pagination: unknown }).pagination).toEqual({
      next: 0,
      previous: 1,
      count: 2,
      current: 2,
      total_pages: 2,
      start_index: 2,
      end_index: 2,
    });
    expect((await get('/api/v3/core/groups/?members_by_username=nobody-at-all', adminKey)).body).toEqual({
      members_by_username: ['Select a valid choice. nobody-at-all is not one of the available choices.'],
    });
    expect((await get('/api/v3/core/groups/?members_by_pk=2147483000', adminKey)).body).toEqual({
      members_by_pk: ['Select a valid choice. 2147483000 is not one of the available choices.'],
    });
    expect((await get('/api/v3/core/groups/?members_by_pk=abc', adminKey)).body).toEqual({
      members_by_pk: ['“abc” is not a valid value.'],
    });
    expect((await get('/api/v3/core/groups/?attributes=notjson', adminKey)).body).toEqual([
      'filter: failed to parse JSON',
    ]);
    expect((await get('/api/v3/core/groups/?attributes=[1]', adminKey)).body).toEqual([
      'filter: value must be key:value mapping',
    ]);
    expect((await get('/api/v3/core/groups/?page=0', adminKey)).body).toEqual({ detail: 'Invalid page.' });
    expect((await get(`/api/v3/core/groups/?search=%00${tag}-a`, adminKey)).status).toBe(200);
  });

  it('add_user and remove_user: 204, idempotent, an event only when something changes', async () => {
    const group = await f.group();
    const user = await f.user();
    const add = () => send('POST', `/api/v3/core/groups/${group.id}/add_user/`, { pk: user.id }, adminKey);
    const first = await add();
    expect([first.status, first.text]).toEqual([204, '']);
    expect(await lastEvent('group', group.id)).toMatchObject({
      action: 'model_updated',
      context: { add_user: { pk: user.id, username: user.username } },
    });
    expect((await add()).status).toBe(204);
    const [{ count }] = await t.dataSource.query(
      `SELECT count(*)::int AS count FROM audit_events WHERE context->'model'->>'pk' = $1`,
      [group.id.replaceAll('-', '')],
    );
    expect(count).toBe(1);
    const remove = await send(
      'POST',
      `/api/v3/core/groups/${group.id}/remove_user/`,
      { pk: user.id },
      adminKey,
    );
    expect(remove.status).toBe(204);
    expect(await lastEvent('group', group.id)).toMatchObject({ context: { remove_user: { pk: user.id } } });
    expect(
      (await send('POST', `/api/v3/core/groups/${group.id}/remove_user/`, { pk: user.id }, adminKey)).status,
    ).toBe(204);

    expect(
      (await send('POST', `/api/v3/core/groups/${group.id}/add_user/`, { pk: 2147483000 }, adminKey)).body,
    ).toEqual(NOT_FOUND);
    expect(
      (await send('POST', `/api/v3/core/groups/${group.id}/add_user/`, { pk: 99999999999 }, adminKey)).body,
    ).toEqual(NOT_FOUND);
    expect((await send('POST', `/api/v3/core/groups/${group.id}/add_user/`, {}, adminKey)).body).toEqual({
      pk: ['This field is required.'],
    });
    expect(
      (await send('POST', `/api/v3/core/groups/${group.id}/add_user/`, { pk: 'x' }, adminKey)).body,
    ).toEqual({
      pk: ['A valid integer is required.'],
    });
    const missing = '00000000-0000-4000-8000-000000000000';
    expect(
      (await send('POST', `/api/v3/core/groups/${missing}/add_user/`, { pk: user.id }, adminKey)).body,
    ).toEqual(NO_GROUP);
    expect(
      (await send('POST', '/api/v3/core/groups/nope/add_user/', { pk: user.id }, adminKey)).body,
    ).toEqual(NOT_FOUND);
    const wrong = await get(`/api/v3/core/groups/${group.id}/add_user/`, adminKey);
    expect([wrong.status, wrong.body]).toEqual([405, { detail: 'Method "GET" not allowed.' }]);

    // add_user_to_group without view_user: the user is not visible, so a bare 404.
    const { key } = await keyWith(['authentik_core.add_user_to_group']);
    expect(
      (await send('POST', `/api/v3/core/groups/${group.id}/add_user/`, { pk: user.id }, key)).body,
    ).toEqual(NOT_FOUND);
    const { key: both } = await keyWith(['authentik_core.add_user_to_group', 'authentik_core.view_user']);
    expect(
      (await send('POST', `/api/v3/core/groups/${group.id}/add_user/`, { pk: user.id }, both)).status,
    ).toBe(204);
    // permission before body
    const { key: none } = await keyWith([]);
    expect((await send('POST', `/api/v3/core/groups/${group.id}/add_user/`, {}, none)).body).toEqual(DENIED);
  });

  it('membership of a superuser group takes effect on the next request', async () => {
    const su = await f.group({ isSuperuser: true });
    const { user, key } = await keyWith([]);
    expect((await get('/api/v3/core/groups/', key)).status).toBe(403);
    await send('POST', `/api/v3/core/groups/${su.id}/add_user/`, { pk: user.id }, adminKey);
    expect((await get('/api/v3/core/groups/', key)).status).toBe(200);
    await send('PATCH', `/api/v3/core/groups/${su.id}/`, { is_superuser: false }, adminKey);
    expect((await get('/api/v3/core/groups/', key)).status).toBe(403);
  });

  it('concurrent creates of one name: one 201, one 400; concurrent add_user of one user: both 204, one row', async () => {
    const name = unique('race');
    const results = await Promise.all(
      [1, 2].map(() => send('POST', '/api/v3/core/groups/', { name }, adminKey)),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 400]);
    expect(results.find((r) => r.status === 400)?.body).toEqual({
      name: ['Group with this name already exists.'],
    });
    const group = await f.group();
    const user = await f.user();
    const adds = await Promise.all(
      [1, 2, 3].map(() =>
        send('POST', `/api/v3/core/groups/${group.id}/add_user/`, { pk: user.id }, adminKey),
      ),
    );
    expect(adds.map((r) => r.status)).toEqual([204, 204, 204]);
    const rows = await t.dataSource.query('SELECT 1 FROM user_groups WHERE group_id = $1', [group.id]);
    expect(rows).toHaveLength(1);
  });
});

describe('hostile input never gives a 500', () => {
  it('NUL characters, huge numbers, wrong JSON types', async () => {
    const nul = { name: ['Null characters are not allowed.'] };
    expect((await send('POST', '/api/v3/core/groups/', { name: 'a\u0000b' }, adminKey)).body).toEqual(nul);
    expect((await send('POST', '/api/v3/rbac/roles/', { name: 'a\u0000b' }, adminKey)).body).toEqual(nul);
    expect(
      (
        await send(
          'POST',
          '/api/v3/core/groups/',
          { name: unique('g'), attributes: { k: 'a\u0000' } },
          adminKey,
        )
      ).body,
    ).toEqual({
      attributes: ['Null characters are not allowed.'],
    });
    expect((await get('/api/v3/core/groups/?name=a%00b', adminKey)).body).toEqual(nul);
    expect((await get('/api/v3/rbac/roles/?name=a%00b', adminKey)).body).toEqual(nul);
    expect((await get('/api/v3/core/groups/?members_by_username=a%00b', adminKey)).body).toEqual({
      members_by_username: ['Null characters are not allowed.'],
    });
    expect(
      (await get(`/api/v3/core/groups/?attributes=${encodeURIComponent('{"a":"\\u0000"}')}`, adminKey)).body,
    ).toEqual({
      attributes: ['Null characters are not allowed.'],
    });
    expect((await get('/api/v3/rbac/permissions/?role=a%00b', adminKey)).body).toEqual({
      role: ['Null characters are not allowed.'],
    });
    expect((await get('/api/v3/rbac/roles/?users=99999999999999999999', adminKey)).body).toEqual({
      users: ['Enter a number.'],
    });
    expect((await get('/api/v3/rbac/roles/?users=9999999999', adminKey)).status).toBe(200);
    expect((await get('/api/v3/core/groups/?members_by_pk=99999999999', adminKey)).body).toEqual({
      members_by_pk: ['Select a valid choice. 99999999999 is not one of the available choices.'],
    });
    expect(
      (await send('POST', '/api/v3/core/groups/', { name: unique('g'), users: [1e30] }, adminKey)).status,
    ).toBe(400);
    expect(
      (await send('POST', '/api/v3/core/groups/', { name: unique('g'), users: [99999999999] }, adminKey))
        .body,
    ).toEqual({
      users: ['Invalid pk "99999999999" - object does not exist.'],
    });
    expect(
      (await send('POST', '/api/v3/core/groups/', { name: 5, is_superuser: 'yes', roles: [1] }, adminKey))
        .body,
    ).toEqual({
      is_superuser: ['Must be a valid boolean.'],
      roles: ['Incorrect type. Expected pk value, received int.'],
    });
    expect(
      (await send('POST', '/api/v3/core/groups/', { name: unique('g'), roles: ['not-a-uuid'] }, adminKey))
        .body,
    ).toEqual({
      roles: ['Invalid pk "not-a-uuid" - object does not exist.'],
    });
    const numeric = Math.floor(Math.random() * 1e9) + 1e9;
    const made = await send('POST', '/api/v3/rbac/roles/', { name: numeric }, adminKey);
    expect(made.body).toEqual({ pk: expect.any(String), name: String(numeric) });
    const role = await f.role([]);
    expect(
      (
        await send(
          'POST',
          `/api/v3/rbac/permissions/assigned_by_roles/${role.id}/assign/`,
          { permissions: 'x' },
          adminKey,
        )
      ).body,
    ).toEqual({
      permissions: ['Expected a list of items but got type "str".'],
    });
    expect(
      (
        await send(
          'POST',
          `/api/v3/rbac/permissions/assigned_by_roles/${role.id}/assign/`,
          { permissions: [''] },
          adminKey,
        )
      ).body,
    ).toEqual({
      permissions: ['This field may not be blank.'],
    });
    expect((await get(`/api/v3/core/groups/${'a'.repeat(150)}/`, adminKey)).body).toEqual(NOT_FOUND);
  });
});

describe('group permission matrix', () => {
  it.each([
    ['anonymous', null, { list: 403, retrieve: 403, create: 403, patch: 403, destroy: 403 }],
    ['plain user', [], { list: 403, retrieve: 403, create: 403, patch: 403, destroy: 403 }],
    [
      'view_group',
      ['authentik_core.view_group'],
      { list: 200, retrieve: 200, create: 403, patch: 403, destroy: 403 },
    ],
    [
      'add_group',
      ['authentik_core.add_group'],
      { list: 403, retrieve: 403, create: 201, patch: 403, destroy: 403 },
    ],
    [
      'view+change',
      ['authentik_core.view_group', 'authentik_core.change_group'],
      { list: 200, retrieve: 200, create: 403, patch: 200, destroy: 403 },
    ],
    [
      'view+delete',
      ['authentik_core.view_group', 'authentik_core.delete_group'],
      { list: 200, retrieve: 200, create: 403, patch: 403, destroy: 204 },
    ],
    ['superuser', 'admin', { list: 200, retrieve: 200, create: 201, patch: 200, destroy: 204 }],
  ] as const)('%s', async (_name, perms, expected) => {
    const key = perms === null ? null : perms === 'admin' ? adminKey : (await keyWith([...perms])).key;
    const headers = key === null ? {} : bearer(key);
    const group = await f.group();
    const got = {
      list: (await request(t.app, 'GET', '/api/v3/core/groups/', headers)).status,
      retrieve: (await request(t.app, 'GET', `/api/v3/core/groups/${group.id}/`, headers)).status,
      create: (await requestJson(t.app, 'POST', '/api/v3/core/groups/', { name: unique('m') }, headers))
        .status,
      patch: (
        await requestJson(t.app, 'PATCH', `/api/v3/core/groups/${group.id}/`, { attributes: {} }, headers)
      ).status,
      destroy: (await request(t.app, 'DELETE', `/api/v3/core/groups/${group.id}/`, headers)).status,
    };
    expect(got).toEqual(expected);
  });

  it('403 before 404 before 400; 405 on the list URL only for holders of the permission', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    const { key: none } = await keyWith([]);
    expect((await send('PATCH', `/api/v3/core/groups/${missing}/`, { name: '' }, none)).body).toEqual(DENIED);
    const { key: viewer } = await keyWith(['authentik_core.view_group']);
    expect((await send('PATCH', `/api/v3/core/groups/${missing}/`, { name: '' }, viewer)).body).toEqual(
      NO_GROUP,
    );
    expect((await get('/api/v3/core/groups/not-a-uuid/', viewer)).body).toEqual(NOT_FOUND);
    const group = await f.group();
    expect((await send('PATCH', `/api/v3/core/groups/${group.id}/`, { name: '' }, viewer)).body).toEqual(
      DENIED,
    );
    expect((await send('PATCH', `/api/v3/core/groups/${group.id}/`, { name: '' }, adminKey)).body).toEqual({
      name: ['This field may not be blank.'],
    });
    expect((await send('POST', '/api/v3/core/groups/', { name: '' }, none)).body).toEqual(DENIED);
    expect((await request(t.app, 'DELETE', '/api/v3/core/groups/', bearer(viewer))).body).toEqual(DENIED);
    const put = await send('PUT', '/api/v3/core/groups/', {}, adminKey);
    expect([put.status, put.body, put.headers.allow]).toEqual([
      405,
      { detail: 'Method "PUT" not allowed.' },
      'GET, POST, HEAD, OPTIONS',
    ]);
    expect((await send('POST', `/api/v3/core/groups/${group.id}/`, {}, adminKey)).status).toBe(405);
    expect((await request(t.app, 'GET', '/api/v3/core/groups/')).body).toEqual({
      detail: 'Authentication credentials were not provided.',
    });
  });
});

describe('roles and permissions over HTTP', () => {
  it('role CRUD with exact bodies, unique names and events', async () => {
    const name = unique('role');
    const created = await send('POST', '/api/v3/rbac/roles/', { name }, adminKey);
    expect(created.status).toBe(201);
    const pk = (created.body as { pk: string }).pk;
    expect(created.body).toEqual({ pk, name });
    expect(await lastEvent('role', pk)).toMatchObject({
      action: 'model_created',
      context: { model: { app: 'authentik_rbac', model_name: 'role', pk: pk.replaceAll('-', ''), name } },
    });
    expect((await send('POST', '/api/v3/rbac/roles/', { name }, adminKey)).body).toEqual({
      name: ['Role with this name already exists.'],
    });
    expect((await get(`/api/v3/rbac/roles/${pk}/`, adminKey)).body).toEqual({ pk, name });
    expect((await get(`/api/v3/rbac/roles/?name=${name}`, adminKey)).body).toEqual({
      pagination: {
        next: 0,
        previous: 0,
        count: 1,
        current: 1,
        total_pages: 1,
        start_index: 1,
        end_index: 1,
      },
      results: [{ pk, name }],
      autocomplete: {},
    });
    const renamed = `${name}-2`;
    expect((await send('PUT', `/api/v3/rbac/roles/${pk}/`, { name: renamed }, adminKey)).body).toEqual({
      pk,
      name: renamed,
    });
    expect((await send('PATCH', `/api/v3/rbac/roles/${pk}/`, {}, adminKey)).body).toEqual({
      pk,
      name: renamed,
    });
    expect((await send('PUT', `/api/v3/rbac/roles/${pk}/`, {}, adminKey)).body).toEqual({
      name: ['This field is required.'],
    });
    expect(
      (await send('PUT', `/api/v3/rbac/roles/${pk}/`, { name: 'x'.repeat(151) }, adminKey)).body,
    ).toEqual({
      name: ['Ensure this field has no more than 150 characters.'],
    });
    const holder = await f.user();
    await t.dataSource.query('INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2)', [holder.id, pk]);
    const del = await request(t.app, 'DELETE', `/api/v3/rbac/roles/${pk}/`, bearer(adminKey));
    expect(del.status).toBe(204);
    expect(await lastEvent('role', pk)).toMatchObject({
      action: 'model_deleted',
      context: {
        deleted: [
          { model: 'authentik_core.user_roles', count: 1 },
          { model: 'authentik_core.group_roles', count: 0 },
        ],
      },
    });
    expect((await get(`/api/v3/rbac/roles/${pk}/`, adminKey)).body).toEqual(NO_ROLE);
    expect((await get('/api/v3/rbac/roles/xyz/', adminKey)).body).toEqual(NOT_FOUND);
  });

  it('role filters: users, groups, inherited, managed, managed__isnull, search', async () => {
    const top = await f.group();
    const child = await f.group({ parent: top.name });
    const user = await f.user();
    await f.member(user, child);
    const direct = await f.role(['authentik_core.view_user'], { user });
    const viaChild = await f.role([], { group: child });
    const viaTop = await f.role([], { group: top });
    const pks = async (query: string) =>
      ((await get(`/api/v3/rbac/roles/?${query}`, adminKey)).body as { results: { pk: string }[] }).results
        .map((role) => role.pk)
        .sort();
    expect(await pks(`users=${user.id}`)).toEqual([direct.id]);
    expect(await pks(`users=${user.id}&inherited=true`)).toEqual([direct.id, viaChild.id, viaTop.id].sort());
    expect(await pks(`groups=${child.id}`)).toEqual([viaChild.id]);
    expect(await pks(`groups=${child.id}&inherited=true`)).toEqual([viaChild.id, viaTop.id].sort());
    expect(await pks(`users=2147483000`)).toEqual([]);
    expect(await pks(`search=${direct.name}&managed__isnull=true`)).toEqual([direct.id]);
    expect(await pks(`search=${direct.name}&managed__isnull=false`)).toEqual([]);
    expect((await get('/api/v3/rbac/roles/?managed=x', adminKey)).body).toEqual({
      managed: ['Select a valid choice. x is not one of the available choices.'],
    });
    expect((await get('/api/v3/rbac/roles/?users=abc', adminKey)).body).toEqual({
      users: ['Enter a number.'],
    });
    expect((await get('/api/v3/rbac/roles/?groups=abc', adminKey)).body).toEqual({
      groups: ['Enter a valid UUID.'],
    });
  });

  it('permission catalogue: any authenticated user, Django names, filters and the role filter', async () => {
    const { key } = await keyWith([]);
    const page = await get('/api/v3/rbac/permissions/?codename=view_user', key);
    expect(page.body).toEqual({
      pagination: {
        next: 0,
        previous: 0,
        count: 1,
        current: 1,
        total_pages: 1,
        start_index: 1,
        end_index: 1,
      },
      results: [
        {
          id: 4,
          name: 'Can view User',
          codename: 'view_user',
          model: 'user',
          app_label: 'authentik_core',
          app_label_verbose: 'authentik Core',
          model_verbose: 'User',
        },
      ],
      autocomplete: {},
    });
    const oauth = await get(
      '/api/v3/rbac/permissions/?content_type__app_label=authentik_providers_oauth2&content_type__model=accesstoken&ordering=codename',
      key,
    );
    expect(
      (oauth.body as { results: { codename: string; name: string }[] }).results.map((p) => [
        p.codename,
        p.name,
      ]),
    ).toEqual([
      ['add_accesstoken', 'Can add OAuth2 Access Token'],
      ['change_accesstoken', 'Can change OAuth2 Access Token'],
      ['delete_accesstoken', 'Can delete OAuth2 Access Token'],
      ['view_accesstoken', 'Can view OAuth2 Access Token'],
    ]);
    const all = (await get('/api/v3/rbac/permissions/?page_size=1000', key)).body as {
      pagination: { count: number };
      results: { app_label: string; codename: string }[];
    };
    const names = all.results.map((p) => `${p.app_label}.${p.codename}`);
    for (const expected of [
      'authentik_core.enable_group_superuser',
      'authentik_core.view_token_key',
      'authentik_rbac.assign_role_permissions',
      'authentik_rbac.access_admin_interface',
      'authentik_providers_oauth2.view_oauth2provider',
      'authentik_providers_oauth2.delete_devicetoken',
      'authentik_events.view_event',
    ]) {
      expect(names).toContain(expected);
    }
    expect(all.pagination.count).toBe(names.length);
    const role = await f.role(['authentik_core.view_user', 'authentik_events.view_event']);
    const held = await get(`/api/v3/rbac/permissions/?role=${role.id}&ordering=codename`, key);
    expect((held.body as { results: { codename: string }[] }).results.map((p) => p.codename)).toEqual([
      'view_event',
      'view_user',
    ]);
    const choice = { role: ['Select a valid choice. That choice is not one of the available choices.'] };
    expect(
      (await get('/api/v3/rbac/permissions/?role=00000000-0000-4000-8000-000000000000', key)).body,
    ).toEqual(choice);
    expect((await get('/api/v3/rbac/permissions/?role=nope', key)).body).toEqual(choice);
    expect(
      ((await get('/api/v3/rbac/permissions/?search=impersonate', key)).body as { results: unknown[] })
        .results,
    ).toHaveLength(1);
    expect((await request(t.app, 'GET', '/api/v3/rbac/permissions/')).status).toBe(403);
    expect((await send('POST', '/api/v3/rbac/permissions/', {}, key)).status).toBe(405);
  });

  it('assign and unassign: 200 [{id}] / 204, errors, events, and the effect on the next request', async () => {
    const { user, key } = await keyWith([]);
    const role = await f.role([], { user });
    const url = (action: string) => `/api/v3/rbac/permissions/assigned_by_roles/${role.id}/${action}/`;
    expect((await get('/api/v3/core/groups/', key)).status).toBe(403);
    const assigned = await send(
      'POST',
      url('assign'),
      { permissions: ['authentik_core.view_group'] },
      adminKey,
    );
    expect([assigned.status, assigned.body]).toEqual([200, [{ id: '12' }]]);
    expect(await lastEvent('role', role.id)).toMatchObject({
      action: 'model_updated',
      context: { permissions_assigned: ['authentik_core.view_group'] },
    });
    expect((await get('/api/v3/core/groups/', key)).status).toBe(200);
    const un = await send('PATCH', url('unassign'), { permissions: ['authentik_core.view_group'] }, adminKey);
    expect([un.status, un.text]).toEqual([204, '']);
    expect((await get('/api/v3/core/groups/', key)).status).toBe(403);

    expect((await send('POST', url('assign'), {}, adminKey)).body).toEqual({
      permissions: ['This field is required.'],
    });
    expect((await send('POST', url('assign'), { permissions: ['view_group'] }, adminKey)).body).toEqual({
      permissions: ['When assigning global permissions, codename must be given as app_label.codename'],
    });
    expect(
      (await send('POST', url('assign'), { permissions: ['authentik_core.fly'] }, adminKey)).body,
    ).toEqual({
      permissions: [
        'Unknown permission: "authentik_core.fly". GET /api/v3/rbac/permissions/ lists those Grantry knows.',
      ],
    });
    expect(
      (await send('POST', url('assign'), { permissions: [], model: 'authentik_core.user' }, adminKey)).body,
    ).toEqual({
      non_field_errors: ['The fields model, object_pk must be used together.'],
    });
    expect(
      (
        await send(
          'POST',
          url('assign'),
          { permissions: ['authentik_core.view_user'], model: 'authentik_core.user', object_pk: '1' },
          adminKey,
        )
      ).body,
    ).toEqual({
      object_pk: [
        'Grantry has no object-level permissions: roles hold global permissions only. Omit model and object_pk to assign the permissions globally.',
      ],
    });
    expect(
      (await send('POST', url('assign'), { permissions: [], model: 'nope', object_pk: '1' }, adminKey)).body,
    ).toEqual({
      model: ['"nope" is not a valid choice.'],
    });
    const missing = '00000000-0000-4000-8000-000000000000';
    expect(
      (await send('POST', `/api/v3/rbac/permissions/assigned_by_roles/${missing}/assign/`, {}, adminKey))
        .body,
    ).toEqual(NO_ROLE);
    expect(
      (await send('POST', '/api/v3/rbac/permissions/assigned_by_roles/zzz/assign/', {}, adminKey)).body,
    ).toEqual(NOT_FOUND);
    expect((await send('POST', url('assign'), {}, key)).body).toEqual(DENIED);
    const { key: assigner } = await keyWith(['authentik_rbac.assign_role_permissions']);
    expect(
      (await send('POST', url('assign'), { permissions: ['authentik_core.view_user'] }, assigner)).status,
    ).toBe(200);
    expect(
      (await send('PATCH', url('unassign'), { permissions: ['authentik_core.view_user'] }, assigner)).body,
    ).toEqual(DENIED);
    expect((await get(url('assign'), adminKey)).status).toBe(405);
  });
});

describe('role permission matrix', () => {
  it.each([
    ['plain user', [], { list: 403, retrieve: 403, create: 403, patch: 403, destroy: 403 }],
    [
      'view_role',
      ['authentik_rbac.view_role'],
      { list: 200, retrieve: 200, create: 403, patch: 403, destroy: 403 },
    ],
    [
      'add_role',
      ['authentik_rbac.add_role'],
      { list: 403, retrieve: 403, create: 201, patch: 403, destroy: 403 },
    ],
    [
      'view+change',
      ['authentik_rbac.view_role', 'authentik_rbac.change_role'],
      { list: 200, retrieve: 200, create: 403, patch: 200, destroy: 403 },
    ],
    [
      'view+delete',
      ['authentik_rbac.view_role', 'authentik_rbac.delete_role'],
      { list: 200, retrieve: 200, create: 403, patch: 403, destroy: 204 },
    ],
    ['superuser', 'admin', { list: 200, retrieve: 200, create: 201, patch: 200, destroy: 204 }],
  ] as const)('%s', async (_name, perms, expected) => {
    const key = perms === 'admin' ? adminKey : (await keyWith([...perms])).key;
    const role = await f.role([]);
    const got = {
      list: (await get('/api/v3/rbac/roles/', key)).status,
      retrieve: (await get(`/api/v3/rbac/roles/${role.id}/`, key)).status,
      create: (await send('POST', '/api/v3/rbac/roles/', { name: unique('r') }, key)).status,
      patch: (await send('PATCH', `/api/v3/rbac/roles/${role.id}/`, {}, key)).status,
      destroy: (await request(t.app, 'DELETE', `/api/v3/rbac/roles/${role.id}/`, bearer(key))).status,
    };
    expect(got).toEqual(expected);
  });

  it('concurrent creates of one role name: one 201, one 400', async () => {
    const name = unique('race-role');
    const results = await Promise.all(
      [1, 2].map(() => send('POST', '/api/v3/rbac/roles/', { name }, adminKey)),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 400]);
    expect(results.find((r) => r.status === 400)?.body).toEqual({
      name: ['Role with this name already exists.'],
    });
  });
});

describe('@goauthentik/api', () => {
  let core: CoreApi;
  let rbac: RbacApi;
  beforeAll(() => {
    const configuration = new Configuration({ basePath: baseUrl, accessToken: adminKey });
    core = new CoreApi(configuration);
    rbac = new RbacApi(configuration);
  });

  it('drives every group operation', async () => {
    const user = await f.user();
    const name = unique('client');
    const group = await core.coreGroupsCreate({
      groupRequest: { name, users: [user.id], attributes: { a: 1 } },
    });
    expect(group.name).toBe(name);
    expect(group.numPk).toBe(numPk(group.pk));
    expect(group.usersObj?.[0]?.username).toBe(user.username);
    const list = await core.coreGroupsList({ name, includeUsers: false, includeChildren: true });
    expect(list.results.map((g) => [g.pk, g.usersObj, g.childrenObj])).toEqual([[group.pk, null, []]]);
    expect((await core.coreGroupsList({ membersByPk: [user.id], search: name })).results).toHaveLength(1);
    expect((await core.coreGroupsRetrieve({ groupUuid: group.pk, includeParents: true })).parentsObj).toEqual(
      [],
    );
    const updated = await core.coreGroupsUpdate({ groupUuid: group.pk, groupRequest: { name: `${name}-u` } });
    expect([updated.name, updated.users]).toEqual([`${name}-u`, []]);
    const patched = await core.coreGroupsPartialUpdate({
      groupUuid: group.pk,
      patchedGroupRequest: { attributes: { b: 2 } },
    });
    expect(patched.attributes).toEqual({ b: 2 });
    await core.coreGroupsAddUserCreate({ groupUuid: group.pk, userAccountRequest: { pk: user.id } });
    expect((await core.coreGroupsRetrieve({ groupUuid: group.pk })).users).toEqual([user.id]);
    await core.coreGroupsRemoveUserCreate({ groupUuid: group.pk, userAccountRequest: { pk: user.id } });
    expect((await core.coreGroupsRetrieve({ groupUuid: group.pk })).users).toEqual([]);
    await core.coreGroupsDestroy({ groupUuid: group.pk });
    const error = (await core
      .coreGroupsRetrieve({ groupUuid: group.pk })
      .catch((e: unknown) => e)) as ResponseError;
    expect(error).toBeInstanceOf(ResponseError);
    expect(error.response.status).toBe(404);
  });

  it('drives every role and permission operation', async () => {
    const name = unique('client-role');
    const role = await rbac.rbacRolesCreate({ roleRequest: { name } });
    expect(role.name).toBe(name);
    expect((await rbac.rbacRolesList({ name })).results).toEqual([{ pk: role.pk, name }]);
    expect((await rbac.rbacRolesList({ search: name, managedIsnull: true })).results).toHaveLength(1);
    expect(await rbac.rbacRolesRetrieve({ uuid: role.pk })).toEqual({ pk: role.pk, name });
    expect((await rbac.rbacRolesUpdate({ uuid: role.pk, roleRequest: { name: `${name}-u` } })).name).toBe(
      `${name}-u`,
    );
    expect((await rbac.rbacRolesPartialUpdate({ uuid: role.pk, patchedRoleRequest: { name } })).name).toBe(
      name,
    );
    const result = await rbac.rbacPermissionsAssignedByRolesAssign({
      uuid: role.pk,
      permissionAssignRequest: { permissions: ['authentik_rbac.view_role', 'authentik_core.view_user'] },
    });
    expect(result).toHaveLength(2);
    const perms = await rbac.rbacPermissionsList({ role: role.pk, ordering: 'codename' });
    expect(perms.results.map((p) => p.codename)).toEqual(['view_role', 'view_user']);
    expect(perms.results[0]?.modelVerbose).toBe('Role');
    await rbac.rbacPermissionsAssignedByRolesUnassignPartialUpdate({
      uuid: role.pk,
      patchedPermissionAssignRequest: { permissions: ['authentik_rbac.view_role'] },
    });
    expect((await rbac.rbacPermissionsList({ role: role.pk })).results.map((p) => p.codename)).toEqual([
      'view_user',
    ]);
    expect(
      (
        await rbac.rbacPermissionsList({
          contentTypeAppLabel: 'authentik_events',
          contentTypeModel: 'event',
          codename: 'view_event',
        })
      ).results,
    ).toHaveLength(1);
    await rbac.rbacRolesDestroy({ uuid: role.pk });
    const error = (await rbac.rbacRolesRetrieve({ uuid: role.pk }).catch((e: unknown) => e)) as ResponseError;
    expect(error.response.status).toBe(404);
  });
});

describe('CLI on the bus', () => {
  it('group create / add-user and role create / assign validate like the API and leave events', async () => {
    const parent = unique('cli-p');
    const name = unique('cli-g');
    const user = await f.user();
    const top = await runCli(t.dataSource, groupCreate, ['--name', parent, '--superuser']);
    const made = await runCli(t.dataSource, groupCreate, ['--name', name, '--parent', parent]);
    expect(made).toEqual({ pk: expect.any(String), name, is_superuser: false, parent: top.pk });
    const [event] = await t.dataSource.query<{ actor_username: string; action: string }[]>(
      `SELECT actor_username, action FROM audit_events WHERE context->'model'->>'pk' = $1`,
      [String(made.pk).replaceAll('-', '')],
    );
    expect(event).toEqual({ actor_username: 'grantry-cli', action: 'model_created' });
    await expect(runCli(t.dataSource, groupCreate, ['--name', name])).rejects.toMatchObject({
      errors: { name: ['Group with this name already exists.'] },
    });
    await runCli(t.dataSource, groupAddUser, ['--group', name, '--user', user.username]);
    // A member of a group below a superuser group is a superuser.
    expect((await get('/api/v3/core/groups/', await f.apiKey(user))).status).toBe(200);
    expect(await lastEvent('group', String(made.pk))).toMatchObject({
      action: 'model_updated',
      context: { add_user: { pk: user.id, username: user.username } },
    });
    const roleName = unique('cli-r');
    const role = await runCli(t.dataSource, roleCreate, [
      '--name',
      roleName,
      '--permission',
      'authentik_core.view_group',
    ]);
    expect(await lastEvent('role', String(role.pk))).toMatchObject({
      action: 'model_created',
      context: { permissions: ['authentik_core.view_group'] },
    });
    await expect(
      runCli(t.dataSource, roleCreate, ['--name', unique('cli-r'), '--permission', 'authentik_core.fly']),
    ).rejects.toMatchObject({ errors: { permissions: [expect.stringContaining('"authentik_core.fly"')] } });
    // Another user (the first is a superuser now, through the parent group).
    const holder = await f.user();
    const key = await f.apiKey(holder);
    expect((await get('/api/v3/core/groups/', key)).status).toBe(403);
    await runCli(t.dataSource, roleAssign, ['--role', roleName, '--user', holder.username]);
    expect(await lastEvent('user', holder.id)).toMatchObject({
      action: 'model_updated',
      context: { add_role: { pk: String(role.pk).replaceAll('-', ''), name: roleName } },
    });
    // The role's permission reaches the user's next request.
    expect((await get('/api/v3/core/groups/', key)).status).toBe(200);
  });
});
