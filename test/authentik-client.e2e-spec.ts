/**
 * authentik's own generated TypeScript client (`@goauthentik/api`, as its web UI uses it) against a listening Grantry:
 * every operation of the three token types, with each list parameter, decoded by the client's models.
 */
import type { AddressInfo } from 'node:net';
import {
  Configuration,
  instanceOfExpiringBaseGrantModel,
  instanceOfPaginatedExpiringBaseGrantModelList,
  instanceOfPaginatedTokenModelList,
  instanceOfPagination,
  instanceOfPartialGroup,
  instanceOfProvider,
  instanceOfRole,
  instanceOfTokenModel,
  instanceOfUser,
  Oauth2Api,
  ResponseError,
  type ExpiringBaseGrantModel,
  type Pagination,
  type TokenModel,
} from '@goauthentik/api';
import type { UserEntity } from '../src/identity/user.entity';
import type { OAuth2ProviderEntity } from '../src/providers/oauth2-provider.entity';
import { createTestApp, type TestApp } from './support/app';
import { GrantFactories, type GrantType, unique } from './support/factories';

type Grant = TokenModel | ExpiringBaseGrantModel;

interface ListParams {
  ordering?: string;
  page?: number;
  pageSize?: number;
  provider?: number;
  search?: string;
  user?: number;
}

/** The client's four operations for one token type, under one shape. */
interface ClientOps {
  type: GrantType;
  isToken: boolean;
  list(params: ListParams): Promise<{ pagination: Pagination; results: Grant[]; autocomplete: object }>;
  retrieve(id: number): Promise<Grant>;
  usedBy(id: number): Promise<unknown[]>;
  destroy(id: number): Promise<void>;
  isPage(value: object): boolean;
  isItem(value: object): boolean;
}

function clientOps(api: Oauth2Api): ClientOps[] {
  return [
    {
      type: 'access',
      isToken: true,
      list: (params) => api.oauth2AccessTokensList(params),
      retrieve: (id) => api.oauth2AccessTokensRetrieve({ id }),
      usedBy: (id) => api.oauth2AccessTokensUsedByList({ id }),
      destroy: (id) => api.oauth2AccessTokensDestroy({ id }),
      isPage: instanceOfPaginatedTokenModelList,
      isItem: instanceOfTokenModel,
    },
    {
      type: 'refresh',
      isToken: true,
      list: (params) => api.oauth2RefreshTokensList(params),
      retrieve: (id) => api.oauth2RefreshTokensRetrieve({ id }),
      usedBy: (id) => api.oauth2RefreshTokensUsedByList({ id }),
      destroy: (id) => api.oauth2RefreshTokensDestroy({ id }),
      isPage: instanceOfPaginatedTokenModelList,
      isItem: instanceOfTokenModel,
    },
    {
      type: 'code',
      isToken: false,
      list: (params) => api.oauth2AuthorizationCodesList(params),
      retrieve: (id) => api.oauth2AuthorizationCodesRetrieve({ id }),
      usedBy: (id) => api.oauth2AuthorizationCodesUsedByList({ id }),
      destroy: (id) => api.oauth2AuthorizationCodesDestroy({ id }),
      isPage: instanceOfPaginatedExpiringBaseGrantModelList,
      isItem: instanceOfExpiringBaseGrantModel,
    },
  ];
}

/** Every Date the client's models produced, with its path, so an unparsable timestamp cannot hide. */
function dates(value: unknown, path = '$'): [string, Date][] {
  if (value instanceof Date) return [[path, value]];
  if (Array.isArray(value)) return value.flatMap((item, i) => dates(item, `${path}[${i}]`));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, item]) => dates(item, `${path}.${key}`));
  }
  return [];
}

/** Checks one decoded grant with the client's own model guards, nested models included. */
function expectDecoded(ops: ClientOps, item: Grant): void {
  expect(ops.isItem(item)).toBe(true);
  expect(instanceOfProvider(item.provider)).toBe(true);
  expect(instanceOfUser(item.user)).toBe(true);
  for (const group of item.user.groupsObj ?? []) expect(instanceOfPartialGroup(group)).toBe(true);
  for (const role of item.user.rolesObj ?? []) expect(instanceOfRole(role)).toBe(true);
  expect(Array.isArray(item.scope)).toBe(true);
  const invalid = dates(item).filter(([, date]) => Number.isNaN(date.getTime()));
  expect(invalid.map(([path]) => path)).toEqual([]);
  if (ops.isToken) {
    const token = item as TokenModel;
    expect(typeof token.idToken).toBe('string');
    expect(typeof token.revoked).toBe('boolean');
    expect(() => JSON.parse(token.idToken) as unknown).not.toThrow();
  }
}

let t: TestApp;
let f: GrantFactories;
let api: Oauth2Api;
let owner: UserEntity;
let provider: OAuth2ProviderEntity;
let otherProvider: OAuth2ProviderEntity;
let adminKey: string;
let ownerKey: string;
let baseUrl: string;
let teamName: string;
const rows: Record<GrantType, number[]> = { access: [], refresh: [], code: [] };
const EXPIRES = new Date('2032-01-02T03:04:05.678Z');

beforeAll(async () => {
  t = await createTestApp({}, true);
  const { port } = t.app.getHttpServer().address() as AddressInfo;
  baseUrl = `http://127.0.0.1:${port}/api/v3`;
  f = new GrantFactories(t.dataSource);

  const admins = await f.group({ isSuperuser: true });
  const admin = await f.user();
  await f.member(admin, admins);
  adminKey = await f.apiKey(admin);

  const parent = await f.group();
  const team = await f.group({ parent: parent.name });
  teamName = team.name;
  owner = await f.user({ name: 'Client Owner', email: 'client-owner@example.com' });
  await f.member(owner, team);
  await f.role(['authentik_providers_oauth2.view_accesstoken'], { group: parent });
  ownerKey = await f.apiKey(owner);

  provider = await f.provider(unique('client-provider'));
  await f.application({ providerId: provider.id, name: 'Client App' });
  otherProvider = await f.provider();
  for (const type of ['access', 'refresh', 'code'] as GrantType[]) {
    rows[type] = [
      (await f.grant(type, owner.id, provider.id, { expires: EXPIRES, scope: 'openid email' })).pk,
      (await f.grant(type, owner.id, provider.id, { expires: null, idToken: { sub: 'x', nonce: null } })).pk,
      (await f.grant(type, admin.id, otherProvider.id)).pk,
    ];
  }
  api = new Oauth2Api(new Configuration({ basePath: baseUrl, accessToken: adminKey }));
});
afterAll(() => t.close());

describe.each(['access', 'refresh', 'code'] as GrantType[])('@goauthentik/api, %s', (type) => {
  const ops = (): ClientOps => clientOps(api).find((candidate) => candidate.type === type) as ClientOps;

  it('lists with no parameters and decodes the page', async () => {
    const page = await ops().list({ provider: provider.id });
    expect(ops().isPage(page)).toBe(true);
    expect(instanceOfPagination(page.pagination)).toBe(true);
    expect(page.pagination).toEqual({
      next: 0,
      previous: 0,
      count: 2,
      current: 1,
      totalPages: 1,
      startIndex: 1,
      endIndex: 2,
    });
    expect(page.autocomplete).toEqual({});
    for (const item of page.results) expectDecoded(ops(), item);
    // default ordering provider,expires: NULL expiry last
    expect(page.results.map((item) => item.pk)).toEqual([rows[type][0], rows[type][1]]);
    const [first, second] = page.results;
    expect(first?.expires?.toISOString()).toBe(EXPIRES.toISOString());
    expect(first?.scope).toEqual(['openid', 'email']);
    expect(first?.isExpired).toBe(false);
    expect(second?.expires).toBeUndefined();
    expect(first?.provider.name).toBe(provider.name);
    expect(first?.provider.assignedApplicationName).toBe('Client App');
    expect(first?.user.username).toBe(owner.username);
    expect(first?.user.groupsObj?.map((group) => group.name)).toEqual([teamName]);
    expect(first?.user.rolesObj).toEqual([]);
  });

  it.each<[string, (ids: number[]) => ListParams, (ids: number[]) => number[]]>([
    ['ordering=-pk', () => ({ ordering: '-pk' }), (ids) => [ids[1], ids[0]] as number[]],
    ['ordering=expires', () => ({ ordering: 'expires' }), (ids) => [ids[0], ids[1]] as number[]],
    ['ordering=-expires', () => ({ ordering: '-expires' }), (ids) => [ids[1], ids[0]] as number[]],
    ['pageSize=1', () => ({ pageSize: 1, ordering: 'pk' }), (ids) => [ids[0]] as number[]],
    ['page=2&pageSize=1', () => ({ page: 2, pageSize: 1, ordering: 'pk' }), (ids) => [ids[1]] as number[]],
    ['search=client owner', () => ({ search: 'client owner' }), (ids) => [ids[0], ids[1]] as number[]],
    ['user', () => ({ user: owner.id }), (ids) => [ids[0], ids[1]] as number[]],
  ])('lists with %s', async (_, params, expected) => {
    const ids = rows[type];
    const page = await ops().list({ provider: provider.id, ...params(ids) });
    expect(ops().isPage(page)).toBe(true);
    for (const item of page.results) expectDecoded(ops(), item);
    expect(page.results.map((item) => item.pk)).toEqual(expected(ids));
  });

  it('lists by another provider', async () => {
    const page = await ops().list({ provider: otherProvider.id });
    expect(page.results.map((item) => item.pk)).toEqual([rows[type][2]]);
    expectDecoded(ops(), page.results[0] as Grant);
  });

  it('retrieves and decodes one row', async () => {
    const item = await ops().retrieve(rows[type][0] as number);
    expectDecoded(ops(), item);
    expect(item.pk).toBe(rows[type][0]);
    expect(item.user.email).toBe('client-owner@example.com');
    expect(item.user.uid).toMatch(/^[0-9a-f]{64}$/);
  });

  it('used_by decodes as an empty list', async () => {
    await expect(ops().usedBy(rows[type][0] as number)).resolves.toEqual([]);
  });

  it('surfaces errors as the client expects: 400 for a bad filter, 404 for a bad page', async () => {
    const error = await ops()
      .list({ user: 2_000_000_000 })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ResponseError);
    const response = (error as ResponseError).response;
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      user: ['Select a valid choice. That choice is not one of the available choices.'],
    });
    // The suite's own provider has a few rows: page 99 of it does not exist, whatever other suites inserted.
    const pageError = await ops()
      .list({ provider: provider.id, page: 99 })
      .catch((caught: unknown) => caught);
    expect(pageError).toBeInstanceOf(ResponseError);
    expect((pageError as ResponseError).response.status).toBe(404);
    expect(await (pageError as ResponseError).response.json()).toEqual({ detail: 'Invalid page.' });
  });

  it('destroys, after which retrieve answers 404', async () => {
    const { pk } = await f.grant(type, owner.id, provider.id);
    await expect(ops().destroy(pk)).resolves.toBeUndefined();
    const error = (await ops()
      .retrieve(pk)
      .catch((caught: unknown) => caught)) as ResponseError;
    expect(error).toBeInstanceOf(ResponseError);
    expect(error.response.status).toBe(404);
  });
});

describe('@goauthentik/api as a non-superuser', () => {
  it('an owner lists and revokes their own token with the same client', async () => {
    const ownerApi = new Oauth2Api(new Configuration({ basePath: baseUrl, accessToken: ownerKey }));
    const { pk } = await f.grant('refresh', owner.id, provider.id);
    const page = await ownerApi.oauth2RefreshTokensList({ provider: provider.id, ordering: '-pk' });
    expect(page.results[0]?.pk).toBe(pk);
    expect(page.results.every((item) => item.user.pk === owner.id)).toBe(true);
    await ownerApi.oauth2RefreshTokensDestroy({ id: pk });
    // a token of someone else: not visible, so 404 (refresh tokens: no view role held)
    const error = (await ownerApi
      .oauth2RefreshTokensRetrieve({ id: rows.refresh[2] as number })
      .catch((caught: unknown) => caught)) as ResponseError;
    expect(error.response.status).toBe(404);
    expect(await error.response.json()).toEqual({ detail: 'No RefreshToken matches the given query.' });
  });

  it('a view role through a parent group shows every access token to the same client', async () => {
    const ownerApi = new Oauth2Api(new Configuration({ basePath: baseUrl, accessToken: ownerKey }));
    const item = await ownerApi.oauth2AccessTokensRetrieve({ id: rows.access[2] as number });
    expect(item.pk).toBe(rows.access[2]);
    const error = (await ownerApi
      .oauth2AccessTokensDestroy({ id: rows.access[2] as number })
      .catch((caught: unknown) => caught)) as ResponseError;
    expect(error.response.status).toBe(403);
    expect(await error.response.json()).toEqual({
      detail: 'You do not have permission to perform this action.',
    });
  });
});
