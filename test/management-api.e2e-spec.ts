/**
 * What the whole management API shares, checked on every write route at once: a body that is not JSON is answered
 * only after authentication and the permission check (DRF parses lazily: 403 before 400), a caller without the
 * permission never learns which fields were wrong, hostile bodies (deep nesting, non-objects) are 400s and never
 * 500s, and each write shows up in the event log through /api/v3/events/events/.
 */
import type { UserEntity } from '../src/identity/user.entity';
import { bearer, createTestApp, request, requestJson, type TestApp } from './support/app';
import { Factories, unique } from './support/factories';

const ANONYMOUS = { detail: 'Authentication credentials were not provided.' };
const DENIED = { detail: 'You do not have permission to perform this action.' };
const PARSE_ERROR = { detail: 'JSON parse error.' };

/** Every create route, and whether it needs a permission (tokens: any signed-in user may create their own). */
const CREATES: { path: string; needsPermission: boolean }[] = [
  { path: '/api/v3/core/users/', needsPermission: true },
  { path: '/api/v3/core/groups/', needsPermission: true },
  { path: '/api/v3/rbac/roles/', needsPermission: true },
  { path: '/api/v3/providers/oauth2/', needsPermission: true },
  { path: '/api/v3/core/applications/', needsPermission: true },
  { path: '/api/v3/events/events/', needsPermission: true },
  { path: '/api/v3/core/tokens/', needsPermission: false },
];

let t: TestApp;
let adminKey: string;
let plainKey: string;

beforeAll(async () => {
  t = await createTestApp();
  const f = new Factories(t.dataSource);
  const admin: UserEntity = await f.user();
  await f.member(admin, await f.group({ isSuperuser: true }));
  adminKey = await f.apiKey(admin);
  plainKey = await f.apiKey(await f.user());
});
afterAll(() => t.close());

describe.each(CREATES)('POST $path', ({ path, needsPermission }) => {
  it('answers a broken JSON body after authentication and the permission check', async () => {
    const broken = '{"name": ';
    expect(await requestJson(t.app, 'POST', path, broken)).toMatchObject({ status: 403, body: ANONYMOUS });
    expect(await requestJson(t.app, 'POST', path, broken, bearer(plainKey))).toMatchObject(
      needsPermission ? { status: 403, body: DENIED } : { status: 400, body: PARSE_ERROR },
    );
    expect(await requestJson(t.app, 'POST', path, broken, bearer(adminKey))).toMatchObject({
      status: 400,
      body: PARSE_ERROR,
    });
  });

  it('tells a caller without the permission nothing about the fields', async () => {
    const answer = await requestJson(
      t.app,
      'POST',
      path,
      { name: 42, slug: '???', identifier: '' },
      bearer(plainKey),
    );
    if (needsPermission) expect(answer).toMatchObject({ status: 403, body: DENIED });
    else expect(answer.status).toBe(400);
  });

  it('refuses a list, a string and JSON nested 5,000 levels deep with a 400', async () => {
    expect(await requestJson(t.app, 'POST', path, [], bearer(adminKey))).toMatchObject({
      status: 400,
      body: { non_field_errors: ['Invalid data. Expected a dictionary, but got list.'] },
    });
    expect(await requestJson(t.app, 'POST', path, '"text"', bearer(adminKey))).toMatchObject({
      status: 400,
      body: { non_field_errors: ['Invalid data. Expected a dictionary, but got str.'] },
    });
    const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
    expect(await requestJson(t.app, 'POST', path, deep, bearer(adminKey))).toMatchObject({
      status: 400,
      body: PARSE_ERROR,
    });
  });
});

it('lists each write of the API in the event log, with the actor and the request', async () => {
  const name = unique('evented-role');
  const created = await requestJson(
    t.app,
    'POST',
    '/api/v3/rbac/roles/',
    { name },
    {
      ...bearer(adminKey),
      'x-request-id': 'management-api-event-test',
      'user-agent': 'management-api-test',
    },
  );
  expect(created.status).toBe(201);
  const pk = (created.body as { pk: string }).pk;
  expect((await request(t.app, 'DELETE', `/api/v3/rbac/roles/${pk}/`, bearer(adminKey))).status).toBe(204);

  const hex = pk.replaceAll('-', '');
  const listed = await request(
    t.app,
    'GET',
    `/api/v3/events/events/?context_model_pk=${pk}&ordering=created`,
    bearer(adminKey),
  );
  expect(listed.status).toBe(200);
  const events = (listed.body as { results: Record<string, unknown>[] }).results;
  expect(events.map((event) => event.action)).toEqual(['model_created', 'model_deleted']);
  const [first] = events;
  expect(first).toMatchObject({
    app: 'authentik.events',
    client_ip: '127.0.0.1',
    context: {
      model: { app: 'authentik_rbac', model_name: 'role', pk: hex, name },
      http_request: {
        path: '/api/v3/rbac/roles/',
        method: 'POST',
        args: {},
        user_agent: 'management-api-test',
        request_id: 'management-api-event-test',
      },
    },
  });
  expect(Object.keys(first ?? {})).toEqual([
    'pk',
    'user',
    'action',
    'app',
    'context',
    'client_ip',
    'created',
    'expires',
    'brand',
  ]);
});
