import type { UserEntity } from '../src/identity/user.entity';
import type { OAuth2ProviderEntity } from '../src/providers/oauth2-provider.entity';
import { createHash } from 'node:crypto';
import type { GroupEntity } from '../src/identity/group.entity';
import type { RoleEntity } from '../src/identity/role.entity';
import { bearer, createTestApp, request, type TestApp } from './support/app';
import { initialsAvatarOf } from './support/avatars';
import { GrantFactories, type GrantType } from './support/factories';

/**
 * The permission matrix of the token API: every principal against every route of every grant type, each with its
 * exact status and body. The policy is the POLICY grid below; everything else in this file only turns its cells into
 * requests and checks.
 *
 * Decisions the grid encodes (see README "The token API"; authentik's rules where it has them):
 * - Authentication failures are authentik's (authentik.api.authentication): 403 "Authentication credentials were not
 *   provided." when there is no bearer key at all ("Bearer" alone, another scheme), 403 "Token invalid/expired" for a
 *   key that does not authenticate, whatever the route and whether or not the row is the caller's.
 * - A row the caller may not see is a 404 "No <Model> matches the given query.", exactly like a row that does not
 *   exist (DRF's get_object filters the queryset first), for retrieve, used_by and delete alike.
 * - A row the caller may see but neither owns nor may delete: 403 "You do not have permission to perform this
 *   action." (DRF's DjangoObjectPermissions: 403 when the caller can read the object, 404 when it cannot).
 * - So a delete role without the view role deletes only what its holder can see: their own rows. Others' rows stay
 *   404, so a delete permission never reveals which ids exist.
 * - Roles are per grant type: view/delete of access tokens says nothing about refresh tokens or codes.
 */

interface Kind {
  type: GrantType;
  path: string;
  model: string;
  codename: string;
}

const KINDS: Kind[] = [
  { type: 'access', path: '/api/v3/oauth2/access_tokens/', model: 'AccessToken', codename: 'accesstoken' },
  {
    type: 'refresh',
    path: '/api/v3/oauth2/refresh_tokens/',
    model: 'RefreshToken',
    codename: 'refreshtoken',
  },
  {
    type: 'code',
    path: '/api/v3/oauth2/authorization_codes/',
    model: 'AuthorizationCode',
    codename: 'authorizationcode',
  },
];

/** What a request answers. */
enum Outcome {
  /** 403 {"detail": "Authentication credentials were not provided."} */
  NotProvided = 'NotProvided',
  /** 403 {"detail": "Token invalid/expired"} */
  Invalid = 'Invalid',
  /** 200, a page of exactly the caller's own rows */
  OwnRows = 'OwnRows',
  /** 200, a page of every row */
  AllRows = 'AllRows',
  /** 200, the row */
  Row = 'Row',
  /** 200 [] (used_by) */
  Unused = 'Unused',
  /** 404 {"detail": "No <Model> matches the given query."} */
  NoMatch = 'NoMatch',
  /** 403 {"detail": "You do not have permission to perform this action."} */
  Denied = 'Denied',
  /** 204, the row is gone and one audit event records who deleted it */
  Deleted = 'Deleted',
  /** The principal has no user, so it owns no rows: there is no "own" case. */
  NA = 'NA',
}

const { NotProvided: NP, Invalid: BAD, OwnRows: OWN, AllRows: ALL, Row: ROW, Unused: UNUSED } = Outcome;
const { NoMatch: NONE, Denied: DENY, Deleted: GONE, NA } = Outcome;

type Route = 'list' | 'retrieve' | 'used_by' | 'delete';
type Target = 'own' | 'other';

/** The grid's columns. `own`: a row of the principal's user; `other`: a row of a user who is none of the principals. */
const COLUMNS: readonly { route: Route; target?: Target }[] = [
  { route: 'list' },
  { route: 'retrieve', target: 'own' },
  { route: 'retrieve', target: 'other' },
  { route: 'used_by', target: 'own' },
  { route: 'used_by', target: 'other' },
  { route: 'delete', target: 'own' },
  { route: 'delete', target: 'other' },
];

/** Who calls. Each principal with a user owns one row of each grant type, as does the "other" user. */
const PRINCIPALS = [
  'no credentials',
  'header "Bearer" without a key',
  'header "Basic <credentials>"',
  'header "Bearer <valid key> <extra>"',
  'unknown key',
  'expired API token',
  'API token of an inactive user',
  'API token, intent app_password',
  'API token, intent recovery',
  'API token, intent verification',
  'OAuth2 token without goauthentik.io/api',
  'OAuth2 token with goauthentik.io/api',
  'OAuth2 token with the scope, expired',
  'OAuth2 token with the scope, revoked',
  'regular user',
  'view role held directly',
  'view role through a group',
  'view role through a parent group',
  'delete role (no view role)',
  'view + delete roles of this type',
  'view + delete roles of the other types',
  'superuser through a parent group',
] as const;
type Principal = (typeof PRINCIPALS)[number];

/** The policy, identical for access tokens, refresh tokens and authorization codes. */
// prettier-ignore
const POLICY: Record<Principal, readonly Outcome[]> = {
  //                                              list  GET own  GET other  used_by own  used_by other  DELETE own  DELETE other
  'no credentials':                              [NP,   NA,      NP,        NA,          NP,            NA,         NP  ],
  'header "Bearer" without a key':               [NP,   NA,      NP,        NA,          NP,            NA,         NP  ],
  'header "Basic <credentials>"':                [NP,   NA,      NP,        NA,          NP,            NA,         NP  ],
  'header "Bearer <valid key> <extra>"':         [BAD,  BAD,     BAD,       BAD,         BAD,           BAD,        BAD ],
  'unknown key':                                 [BAD,  NA,      BAD,       NA,          BAD,           NA,         BAD ],
  'expired API token':                           [BAD,  BAD,     BAD,       BAD,         BAD,           BAD,        BAD ],
  'API token of an inactive user':               [BAD,  BAD,     BAD,       BAD,         BAD,           BAD,        BAD ],
  'API token, intent app_password':              [BAD,  BAD,     BAD,       BAD,         BAD,           BAD,        BAD ],
  'API token, intent recovery':                  [BAD,  BAD,     BAD,       BAD,         BAD,           BAD,        BAD ],
  'API token, intent verification':              [BAD,  BAD,     BAD,       BAD,         BAD,           BAD,        BAD ],
  'OAuth2 token without goauthentik.io/api':     [BAD,  BAD,     BAD,       BAD,         BAD,           BAD,        BAD ],
  'OAuth2 token with goauthentik.io/api':        [OWN,  ROW,     NONE,      UNUSED,      NONE,          GONE,       NONE],
  'OAuth2 token with the scope, expired':        [BAD,  BAD,     BAD,       BAD,         BAD,           BAD,        BAD ],
  'OAuth2 token with the scope, revoked':        [BAD,  BAD,     BAD,       BAD,         BAD,           BAD,        BAD ],
  'regular user':                                [OWN,  ROW,     NONE,      UNUSED,      NONE,          GONE,       NONE],
  'view role held directly':                     [ALL,  ROW,     ROW,       UNUSED,      UNUSED,        GONE,       DENY],
  'view role through a group':                   [ALL,  ROW,     ROW,       UNUSED,      UNUSED,        GONE,       DENY],
  'view role through a parent group':            [ALL,  ROW,     ROW,       UNUSED,      UNUSED,        GONE,       DENY],
  'delete role (no view role)':                  [OWN,  ROW,     NONE,      UNUSED,      NONE,          GONE,       NONE],
  'view + delete roles of this type':            [ALL,  ROW,     ROW,       UNUSED,      UNUSED,        GONE,       GONE],
  'view + delete roles of the other types':      [OWN,  ROW,     NONE,      UNUSED,      NONE,          GONE,       NONE],
  'superuser through a parent group':            [ALL,  ROW,     ROW,       UNUSED,      UNUSED,        GONE,       GONE],
};

const HOUR = 3600_000;
const NOT_PROVIDED = { detail: 'Authentication credentials were not provided.' };
const INVALID = { detail: 'Token invalid/expired' };
const DENIED = { detail: 'You do not have permission to perform this action.' };

interface Resolved {
  headers: Record<string, string>;
  /** The user whose rows are the principal's own; none for keys that name no user. */
  user?: UserEntity;
}

interface Page {
  pagination: Record<string, number>;
  results: { pk: number; user: { pk: number }; provider: { pk: number } }[];
  autocomplete: Record<string, never>;
}

/** What the fixture gave an owner, for the row bodies written out below. */
interface Profile {
  user: UserEntity;
  uuid: string;
  groups: { group: GroupEntity; parent?: GroupEntity }[];
  roles: RoleEntity[];
  isSuperuser: boolean;
}

let t: TestApp;
let f: GrantFactories;
/** Every row the matrix reads lives on this provider; lists are filtered by it, so other suites' rows never count. */
let provider: OAuth2ProviderEntity;
/** The owner of the "other" rows: not one of the principals. */
let other: UserEntity;
/** principal -> grant type -> how it calls. */
const principals = new Map<Principal, Record<GrantType, Resolved>>();
/** grant type -> user id -> pk of that user's row on `provider` (replaced when a case deletes it). */
const rows: Record<GrantType, Map<number, number>> = {
  access: new Map(),
  refresh: new Map(),
  code: new Map(),
};
const owners: UserEntity[] = [];
const profiles = new Map<number, Profile>();
/** grant type -> pk -> the `expires` the row was given, as the API writes it. */
const expiries: Record<GrantType, Map<number, string>> = {
  access: new Map(),
  refresh: new Map(),
  code: new Map(),
};
let rowsMade = 0;
let installId: string;

const permission = (action: 'view' | 'delete', kind: Kind): string =>
  `authentik_providers_oauth2.${action}_${kind.codename}`;

/**
 * A user who owns one row of each grant type. Every owner has the same display name and fixed timestamps, so the
 * rows' bodies below are literals but for the ids, the username and the uuid the fixture made.
 */
async function owner(input: { isActive?: boolean } = {}): Promise<UserEntity> {
  const user = await f.user({ ...input, name: 'Matrix Owner', email: 'owner@matrix.example' });
  await t.dataSource.query(
    `UPDATE users SET date_joined = '2030-01-02T03:04:05.678901Z', password_change_date = '2030-01-02T03:04:05Z',
                      last_updated = '2030-02-03T04:05:06.5Z'
      WHERE id = $1`,
    [user.id],
  );
  const [row] = await t.dataSource.query<{ uuid: string }[]>('SELECT uuid FROM users WHERE id = $1', [
    user.id,
  ]);
  if (!row) throw new Error(`no user ${user.id}`);
  owners.push(user);
  profiles.set(user.id, { user, uuid: row.uuid, groups: [], roles: [], isSuperuser: false });
  return user;
}

function profile(user: UserEntity): Profile {
  const found = profiles.get(user.id);
  if (!found) throw new Error(`user ${user.username} is not an owner`);
  return found;
}

async function same(make: () => Promise<Resolved>): Promise<Record<GrantType, Resolved>> {
  const resolved = await make();
  return { access: resolved, refresh: resolved, code: resolved };
}

async function perKind(make: (kind: Kind) => Promise<Resolved>): Promise<Record<GrantType, Resolved>> {
  const [access, refresh, code] = await Promise.all(KINDS.map(make));
  if (!access || !refresh || !code) throw new Error('unreachable');
  return { access, refresh, code };
}

/** An API token of a new user, with the given roles held directly. */
async function userWithRoles(permissions: string[]): Promise<Resolved> {
  const user = await owner();
  if (permissions.length > 0) profile(user).roles.push(await f.role(permissions, { user }));
  return { headers: bearer(await f.apiKey(user)), user };
}

async function makePrincipal(
  name: Principal,
  authProvider: OAuth2ProviderEntity,
): Promise<Record<GrantType, Resolved>> {
  const oauth2 = async (options: { scope: string; expires?: Date; revoked?: boolean }): Promise<Resolved> => {
    const user = await owner();
    // The bearer token itself lives on another provider, so it is not one of the rows the matrix lists.
    return { headers: bearer(await f.accessToken(user, { ...options, provider: authProvider })), user };
  };
  const apiToken = async (
    options: Parameters<GrantFactories['apiKey']>[1],
    active = true,
  ): Promise<Resolved> => {
    const user = await owner({ isActive: active });
    return { headers: bearer(await f.apiKey(user, options)), user };
  };
  const viewAll = KINDS.map((kind) => permission('view', kind));
  switch (name) {
    case 'no credentials':
      return same(() => Promise.resolve({ headers: {} }));
    case 'header "Bearer" without a key':
      return same(() => Promise.resolve({ headers: { authorization: 'Bearer' } }));
    case 'header "Basic <credentials>"':
      return same(() => Promise.resolve({ headers: { authorization: 'Basic dXNlcjpwYXNz' } }));
    case 'header "Bearer <valid key> <extra>"':
      return same(async () => {
        const user = await owner();
        return { headers: { authorization: `Bearer ${await f.apiKey(user)} extra` }, user };
      });
    case 'unknown key':
      return same(() => Promise.resolve({ headers: bearer('this-key-was-never-issued') }));
    case 'expired API token':
      return same(() => apiToken({ expires: new Date(Date.now() - 1000) }));
    case 'API token of an inactive user':
      return same(() => apiToken({}, false));
    case 'API token, intent app_password':
      return same(() => apiToken({ intent: 'app_password' }));
    case 'API token, intent recovery':
      return same(() => apiToken({ intent: 'recovery' }));
    case 'API token, intent verification':
      return same(() => apiToken({ intent: 'verification' }));
    case 'OAuth2 token without goauthentik.io/api':
      return same(() => oauth2({ scope: 'openid profile email' }));
    case 'OAuth2 token with goauthentik.io/api':
      return same(() => oauth2({ scope: 'openid goauthentik.io/api' }));
    case 'OAuth2 token with the scope, expired':
      return same(() => oauth2({ scope: 'openid goauthentik.io/api', expires: new Date(Date.now() - HOUR) }));
    case 'OAuth2 token with the scope, revoked':
      return same(() => oauth2({ scope: 'openid goauthentik.io/api', revoked: true }));
    case 'regular user':
      return same(() => userWithRoles([]));
    case 'view role held directly':
      return same(() => userWithRoles(viewAll));
    case 'view role through a group':
      return same(async () => {
        const group = await f.group();
        await f.role(viewAll, { group });
        const user = await owner();
        await f.member(user, group);
        profile(user).groups.push({ group });
        return { headers: bearer(await f.apiKey(user)), user };
      });
    case 'view role through a parent group':
      return same(async () => {
        const parent = await f.group();
        await f.role(viewAll, { group: parent });
        const child = await f.group({ parent: parent.name });
        const user = await owner();
        await f.member(user, child);
        profile(user).groups.push({ group: child, parent });
        return { headers: bearer(await f.apiKey(user)), user };
      });
    case 'delete role (no view role)':
      return same(() => userWithRoles(KINDS.map((kind) => permission('delete', kind))));
    case 'view + delete roles of this type':
      return perKind((kind) => userWithRoles([permission('view', kind), permission('delete', kind)]));
    case 'view + delete roles of the other types':
      return perKind((kind) =>
        userWithRoles(
          KINDS.filter((k) => k !== kind).flatMap((k) => [permission('view', k), permission('delete', k)]),
        ),
      );
    case 'superuser through a parent group':
      return same(async () => {
        const root = await f.group({ isSuperuser: true });
        const child = await f.group({ parent: root.name });
        const user = await owner();
        await f.member(user, child);
        Object.assign(profile(user), { groups: [{ group: child, parent: root }], isSuperuser: true });
        return { headers: bearer(await f.apiKey(user)), user };
      });
  }
}

function resolve(name: Principal, kind: Kind): Resolved {
  const resolved = principals.get(name)?.[kind.type];
  if (!resolved) throw new Error(`principal ${name} was not set up`);
  return resolved;
}

function rowOf(kind: Kind, user: UserEntity): number {
  const pk = rows[kind.type].get(user.id);
  if (pk === undefined) throw new Error(`user ${user.username} owns no ${kind.type} row`);
  return pk;
}

async function newRow(kind: Kind, user: UserEntity): Promise<number> {
  // A minute apart and later for each new row (a replacement too), so that expiry order is pk order.
  rowsMade += 1;
  const expires = new Date(Date.UTC(2031, 0, 1, 0, 0, 0, 250) + rowsMade * 60_000);
  const { pk } = await f.grant(kind.type, user.id, provider.id, { expires });
  rows[kind.type].set(user.id, pk);
  expiries[kind.type].set(pk, expires.toISOString().replace(/\.250Z$/, '.250000Z'));
  return pk;
}

async function rowExists(kind: Kind, pk: number): Promise<boolean> {
  const table = {
    access: 'oauth2_access_tokens',
    refresh: 'oauth2_refresh_tokens',
    code: 'oauth2_authorization_codes',
  };
  const found = await t.dataSource.query<unknown[]>(`SELECT 1 FROM ${table[kind.type]} WHERE id = $1`, [pk]);
  return found.length === 1;
}

async function auditEvents(kind: Kind, pk: number): Promise<Record<string, unknown>[]> {
  return t.dataSource.query(
    `SELECT actor_user_id, object_user_id, object_provider_id FROM audit_events WHERE model = $1 AND object_pk = $2`,
    [kind.model, pk],
  );
}

const numPk = (uuid: string): number =>
  Number(
    BigInt(`0x${uuid.replace(/-/g, '')}`)
      .toString()
      .slice(0, 5),
  );

/**
 * The body of a row, written out for the fixture (the reference's shape, as test/grants.e2e-spec.ts checks field by
 * field): independent of what any principal reads, so a serializer that went wrong for everyone still fails here.
 */
function expectedRow(kind: Kind, pk: number): Record<string, unknown> {
  const ownerId = [...rows[kind.type]].find(([, rowPk]) => rowPk === pk)?.[0];
  const who = profiles.get(ownerId ?? -1);
  const expires = expiries[kind.type].get(pk);
  if (!who || !expires) throw new Error(`no ${kind.type} row ${pk} in the fixture`);
  return {
    pk,
    provider: {
      pk: provider.id,
      name: provider.name,
      authentication_flow: null,
      authorization_flow: provider.authorizationFlow,
      invalidation_flow: provider.invalidationFlow,
      property_mappings: [],
      component: 'ak-provider-oauth2-form',
      assigned_application_slug: null,
      assigned_application_name: null,
      assigned_backchannel_application_slug: null,
      assigned_backchannel_application_name: null,
      verbose_name: 'OAuth2/OpenID Provider',
      verbose_name_plural: 'OAuth2/OpenID Providers',
      meta_model_name: 'authentik_providers_oauth2.oauth2provider',
      client_type: 'confidential',
      client_id: provider.clientId,
      access_code_validity: 'minutes=1',
      access_token_validity: 'hours=1',
      refresh_token_validity: 'days=30',
      refresh_token_threshold: 'seconds=0',
      include_claims_in_id_token: true,
      signing_key: null,
      encryption_key: null,
      redirect_uris: [],
      logout_uri: '',
      logout_method: 'backchannel',
      sub_mode: 'hashed_user_id',
      issuer_mode: 'per_provider',
      jwt_federation_sources: [],
      jwt_federation_providers: [],
      grant_types: ['authorization_code', 'refresh_token'],
    },
    user: {
      pk: who.user.id,
      username: who.user.username,
      name: 'Matrix Owner',
      is_active: who.user.isActive,
      last_login: null,
      date_joined: '2030-01-02T03:04:05.678901Z',
      is_superuser: who.isSuperuser,
      groups: who.groups.map(({ group }) => group.id),
      groups_obj: who.groups.map(({ group, parent }) => ({
        pk: group.id,
        num_pk: numPk(group.id),
        name: group.name,
        is_superuser: false,
        parent: parent?.id ?? null,
        parent_name: parent?.name ?? null,
        attributes: {},
      })),
      roles: who.roles.map((role) => role.id),
      roles_obj: who.roles.map((role) => ({ pk: role.id, name: role.name })),
      email: 'owner@matrix.example',
      // sha256('Matrix Owner') starts 0xfa: 250 % 10 = 0, the first colour of the palette.
      avatar: initialsAvatarOf('MO', '#2563eb'),
      attributes: {},
      uid: createHash('sha256').update(`${who.user.id}-${installId}`).digest('hex'),
      path: 'users',
      type: 'internal',
      uuid: who.uuid,
      password_change_date: '2030-01-02T03:04:05Z',
      last_updated: '2030-02-03T04:05:06.500000Z',
    },
    is_expired: false,
    expires,
    scope: ['openid'],
    ...(kind.type === 'code'
      ? {}
      : { id_token: '{\n    "acr": "goauthentik.io/providers/oauth2/default"\n}', revoked: false }),
  };
}

function listPage(kind: Kind, pks: number[]): { status: number; body: unknown } {
  const count = pks.length;
  return {
    status: 200,
    body: {
      pagination: {
        next: 0,
        previous: 0,
        count,
        current: 1,
        total_pages: 1,
        start_index: count === 0 ? 0 : 1,
        end_index: count,
      },
      // Every row is on one provider and each new row expires later than those before it: pk order is expires order.
      results: [...pks].sort((a, b) => a - b).map((pk) => expectedRow(kind, pk)),
      autocomplete: {},
    },
  };
}

beforeAll(async () => {
  // The matrix presents ~150 failing keys from one address: the brute-force throttle (AUTH_FAILURE_LIMIT) would
  // turn the later ones into 429s and make each answer depend on the cases before it. It has its own tests.
  t = await createTestApp({ GRANT_COUNTS_FOLD_MS: '0', AUTH_FAILURE_LIMIT: '0' });
  f = new GrantFactories(t.dataSource);
  const [install] = await t.dataSource.query<{ install_id: string }[]>('SELECT install_id FROM install');
  installId = install?.install_id ?? '';
  provider = await f.provider();
  const authProvider = await f.provider();
  other = await owner();
  for (const name of PRINCIPALS) principals.set(name, await makePrincipal(name, authProvider));
  for (const kind of KINDS) for (const user of owners) await newRow(kind, user);
}, 60_000);
afterAll(() => t.close());

const CASES = PRINCIPALS.flatMap((principal) =>
  COLUMNS.flatMap((column, index) => {
    const outcome = POLICY[principal][index];
    if (outcome === undefined) throw new Error(`POLICY["${principal}"] has no column ${index}`);
    const label = `${column.route}${column.target ? ` ${column.target}` : ''}`;
    return outcome === NA ? [] : [{ principal, ...column, label, outcome }];
  }),
);

it('the grid has a cell for every principal and column, and "own" is n/a exactly for keys naming no user', () => {
  for (const principal of PRINCIPALS) expect(POLICY[principal]).toHaveLength(COLUMNS.length);
  expect(Object.keys(POLICY).sort()).toEqual([...PRINCIPALS].sort());
  for (const principal of PRINCIPALS) {
    const hasUser = KINDS.every((kind) => resolve(principal, kind).user !== undefined);
    const ownCells = COLUMNS.flatMap((column, index) =>
      column.target === 'own' ? [POLICY[principal][index]] : [],
    );
    expect({ principal, na: ownCells.every((cell) => cell === NA) }).toEqual({ principal, na: !hasUser });
  }
});

describe.each(KINDS)('$path', (kind) => {
  it.each(CASES)('$principal: $label -> $outcome', async ({ principal, route, target, outcome }) => {
    const { headers, user } = resolve(principal, kind);
    const targetUser = target === 'own' ? user : other;
    if (target && !targetUser) throw new Error('an "own" case for a principal without a user');
    const pk = targetUser ? rowOf(kind, targetUser) : 0;
    const noMatch = { detail: `No ${kind.model} matches the given query.` };

    const method = route === 'delete' ? 'DELETE' : 'GET';
    const url =
      route === 'list'
        ? `${kind.path}?provider=${provider.id}&page_size=100`
        : `${kind.path}${pk}/${route === 'used_by' ? 'used_by/' : ''}`;
    const response = await request(t.app, method, url, headers);
    const actual = { status: response.status, body: response.body };

    switch (outcome) {
      case Outcome.NotProvided:
        expect(actual).toEqual({ status: 403, body: NOT_PROVIDED });
        break;
      case Outcome.Invalid:
        expect(actual).toEqual({ status: 403, body: INVALID });
        break;
      case Outcome.Denied:
        expect(actual).toEqual({ status: 403, body: DENIED });
        break;
      case Outcome.NoMatch:
        expect(actual).toEqual({ status: 404, body: noMatch });
        break;
      case Outcome.Unused:
        expect(actual).toEqual({ status: 200, body: [] });
        break;
      case Outcome.Row: {
        expect(actual).toEqual({ status: 200, body: expectedRow(kind, pk) });
        const body = response.body as Page['results'][0];
        expect([body.pk, body.user.pk, body.provider.pk]).toEqual([pk, targetUser?.id, provider.id]);
        break;
      }
      case Outcome.OwnRows:
        expect(actual).toEqual(listPage(kind, user ? [rowOf(kind, user)] : []));
        expect((response.body as Page).results.map((row) => row.user.pk)).toEqual([user?.id]);
        break;
      case Outcome.AllRows:
        expect(actual).toEqual(listPage(kind, [...rows[kind.type].values()]));
        break;
      case Outcome.Deleted:
        expect({ status: actual.status, text: response.text }).toEqual({ status: 204, text: '' });
        break;
    }

    if (route === 'delete' && targetUser) {
      const deleted = outcome === Outcome.Deleted;
      expect(await rowExists(kind, pk)).toBe(!deleted);
      expect(await auditEvents(kind, pk)).toEqual(
        deleted
          ? [{ actor_user_id: user?.id, object_user_id: targetUser.id, object_provider_id: provider.id }]
          : [],
      );
      // Every case starts from the same rows, whatever ran before it and whether or not this one passed.
      if (!(await rowExists(kind, pk))) await newRow(kind, targetUser);
    }
  });
});

describe('beyond the grid', () => {
  it("an OAuth2 token may delete itself (it is its user's access token); it then no longer authenticates", async () => {
    const user = await f.user();
    const authProvider = await f.provider();
    const key = await f.accessToken(user, { scope: 'goauthentik.io/api', provider: authProvider });
    const kind = KINDS[0] as Kind;
    const list = await request(t.app, 'GET', `${kind.path}?provider=${authProvider.id}`, bearer(key));
    expect(list.status).toBe(200);
    const [own] = (list.body as Page).results;
    expect((list.body as Page).pagination.count).toBe(1);
    expect(own?.user.pk).toBe(user.id);
    const deleted = await request(t.app, 'DELETE', `${kind.path}${own?.pk}/`, bearer(key));
    expect(deleted.status).toBe(204);
    expect(await request(t.app, 'GET', `${kind.path}`, bearer(key))).toEqual(
      expect.objectContaining({ status: 403, body: INVALID }),
    );
  });

  it('a role removed from a group takes effect on the next request (nothing is cached)', async () => {
    const kind = KINDS[1] as Kind;
    const group = await f.group();
    const role = await f.role([permission('view', kind)], { group });
    const user = await f.user();
    await f.member(user, group);
    const key = await f.apiKey(user);
    const pk = rowOf(kind, other);
    expect((await request(t.app, 'GET', `${kind.path}${pk}/`, bearer(key))).status).toBe(200);
    await t.dataSource.query('DELETE FROM group_roles WHERE group_id = $1 AND role_id = $2', [
      group.id,
      role.id,
    ]);
    expect(await request(t.app, 'GET', `${kind.path}${pk}/`, bearer(key))).toEqual(
      expect.objectContaining({ status: 404, body: { detail: `No ${kind.model} matches the given query.` } }),
    );
  });
});
