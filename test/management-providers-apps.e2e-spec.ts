/**
 * authentik's /api/v3/providers/oauth2/ and /api/v3/core/applications/ (reference §5, §6): every operation through
 * raw HTTP and through authentik's generated client, exact bodies, each 400/403/404/405, the permission matrix, the
 * cascades of a provider's deletion, and a provider made through the API that then issues a token.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import {
  CoreApi,
  Configuration,
  ProvidersApi,
  ResponseError,
  ClientTypeEnum,
  MatchingModeEnum,
  SubModeEnum,
} from '@goauthentik/api';
import { sha256 } from '../src/common/crypto/secrets';
import type { UserEntity } from '../src/identity/user.entity';
import { runCli } from './support/cli';
import { providerRotateSecret, providerCreate } from '../src/cli/commands/provider';
import { appCreate } from '../src/cli/commands/app';
import { bearer, createTestApp, request, requestJson, type TestApp } from './support/app';
import { GrantFactories, unique } from './support/factories';

const P = '/api/v3/providers/oauth2/';
const A = '/api/v3/core/applications/';
const DENIED = { detail: 'You do not have permission to perform this action.' };
const ANONYMOUS = { detail: 'Authentication credentials were not provided.' };
const NO_PROVIDER = { detail: 'No OAuth2Provider matches the given query.' };
const NO_APP = { detail: 'No Application matches the given query.' };
const NOT_FOUND = { detail: 'Not found.' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const FLOW_A = '5d1b4e4a-8f71-4c53-9d0e-0c6a3e1f7b21';
const FLOW_B = '0a9c2e7d-3b64-4f18-a5c2-7e8d9f0b1c34';

let t: TestApp;
let f: GrantFactories;
let baseUrl: string;
let admin: UserEntity;
let adminKey: string;
let plainKey: string;
let plain: UserEntity;
const keys: Record<string, string> = {};

/** The body a provider created with `fields` reads back as (built by hand, not from the code under test). */
function providerBody(fields: {
  pk: number;
  name: string;
  client_id: string;
  signing_key: string;
  client_secret?: string;
  redirect_uris?: unknown[];
  application?: { slug: string; name: string } | null;
  overrides?: Record<string, unknown>;
}): Record<string, unknown> {
  return {
    pk: fields.pk,
    name: fields.name,
    authentication_flow: null,
    authorization_flow: FLOW_A,
    invalidation_flow: FLOW_B,
    property_mappings: [],
    component: 'ak-provider-oauth2-form',
    assigned_application_slug: fields.application?.slug ?? null,
    assigned_application_name: fields.application?.name ?? null,
    assigned_backchannel_application_slug: null,
    assigned_backchannel_application_name: null,
    verbose_name: 'OAuth2/OpenID Provider',
    verbose_name_plural: 'OAuth2/OpenID Providers',
    meta_model_name: 'authentik_providers_oauth2.oauth2provider',
    client_type: 'confidential',
    client_id: fields.client_id,
    client_secret: fields.client_secret ?? '',
    access_code_validity: 'minutes=1',
    access_token_validity: 'hours=1',
    refresh_token_validity: 'days=30',
    refresh_token_threshold: 'seconds=0',
    include_claims_in_id_token: true,
    signing_key: fields.signing_key,
    encryption_key: null,
    redirect_uris: fields.redirect_uris ?? [],
    logout_uri: '',
    logout_method: 'backchannel',
    sub_mode: 'hashed_user_id',
    issuer_mode: 'per_provider',
    jwt_federation_sources: [],
    jwt_federation_providers: [],
    grant_types: ['authorization_code', 'refresh_token'],
    consent_mode: 'expiring',
    consent_expire_in: 'weeks=4',
    ...fields.overrides,
  };
}

async function createProvider(
  body: Record<string, unknown> = {},
  key = adminKey,
): Promise<
  Record<string, unknown> & {
    pk: number;
    name: string;
    client_id: string;
    client_secret: string;
    signing_key: string;
  }
> {
  const response = await requestJson(
    t.app,
    'POST',
    P,
    {
      name: unique('api-provider'),
      authorization_flow: FLOW_A,
      invalidation_flow: FLOW_B,
      redirect_uris: [],
      ...body,
    },
    bearer(key),
  );
  expect({ status: response.status, body: response.body }).toEqual({ status: 201, body: expect.any(Object) });
  return response.body as never;
}

async function events(
  model: string,
  pk: string | number,
): Promise<{ action: string; context: Record<string, unknown> }[]> {
  return t.dataSource.query(
    `SELECT action, context FROM audit_events
      WHERE context->'model'->>'model_name' = $1 AND context->'model'->>'pk' = $2 ORDER BY id`,
    [model, String(pk).replaceAll('-', '')],
  );
}

beforeAll(async () => {
  t = await createTestApp({}, true);
  f = new GrantFactories(t.dataSource);
  const { port } = t.app.getHttpServer().address() as AddressInfo;
  baseUrl = `http://127.0.0.1:${port}/api/v3`;
  admin = await f.user({ name: 'Provider Admin', email: 'provider-admin@example.com' });
  const root = await f.group({ isSuperuser: true });
  await f.member(admin, root);
  adminKey = await f.apiKey(admin);
  plain = await f.user({ name: 'Plain User', email: 'plain@example.com' });
  plainKey = await f.apiKey(plain);
  for (const codename of [
    'authentik_providers_oauth2.view_oauth2provider',
    'authentik_providers_oauth2.add_oauth2provider',
    'authentik_providers_oauth2.change_oauth2provider',
    'authentik_providers_oauth2.delete_oauth2provider',
    'authentik_core.view_application',
    'authentik_core.add_application',
    'authentik_core.change_application',
    'authentik_core.delete_application',
  ]) {
    const user = await f.user();
    await f.role([codename], { user });
    keys[codename.split('.')[1] ?? ''] = await f.apiKey(user);
  }
});
const extraApps: TestApp[] = [];
afterAll(async () => {
  for (const extra of extraApps) await extra.close();
  await t.close();
});

describe('providers: create and read', () => {
  it('POST makes a provider with generated client id, 128-character secret (shown once) and a signing key', async () => {
    const name = unique('api-provider');
    const response = await requestJson(
      t.app,
      'POST',
      P,
      {
        name,
        authorization_flow: FLOW_A,
        invalidation_flow: FLOW_B,
        redirect_uris: [{ matching_mode: 'strict', url: 'https://rp.example.com/cb' }],
      },
      bearer(adminKey),
    );
    expect(response.status).toBe(201);
    const body = response.body as Record<string, string | number>;
    expect(body.client_id).toMatch(/^[A-Za-z0-9]{40}$/);
    expect(body.client_secret).toMatch(/^[A-Za-z0-9]{128}$/);
    expect(body.signing_key).toMatch(UUID);
    const redirect = [
      { matching_mode: 'strict', url: 'https://rp.example.com/cb', redirect_uri_type: 'authorization' },
    ];
    expect(body).toEqual(
      providerBody({
        pk: body.pk as number,
        name,
        client_id: body.client_id as string,
        client_secret: body.client_secret as string,
        signing_key: body.signing_key as string,
        redirect_uris: redirect,
      }),
    );
    const [row] = await t.dataSource.query<
      { client_secret_hash: Buffer; key_name: string; algorithm: string }[]
    >(
      `SELECT p.client_secret_hash, k.name AS key_name, k.algorithm
         FROM oauth2_providers p JOIN signing_keys k ON k.kp_uuid = p.signing_key WHERE p.id = $1`,
      [body.pk],
    );
    expect(row?.client_secret_hash).toEqual(sha256(body.client_secret as string));
    expect(row?.key_name).toMatch(new RegExp(`^${name} signing key \\(`));
    expect(row?.algorithm).toBe('RS256');
    // Afterwards the secret reads as "".
    const read = await request(t.app, 'GET', `${P}${body.pk}/`, bearer(adminKey));
    expect(read.status).toBe(200);
    expect(read.body).toEqual({ ...body, client_secret: '' });
    expect(read.text).not.toContain(body.client_secret as string);
    expect(await events('oauth2provider', body.pk as number)).toEqual([
      {
        action: 'model_created',
        context: expect.objectContaining({
          model: { app: 'authentik_providers_oauth2', model_name: 'oauth2provider', pk: body.pk, name },
        }),
      },
    ]);
    const [event] = await t.dataSource.query<{ text: string }[]>(
      `SELECT context::text AS text FROM audit_events WHERE context->'model'->>'pk' = $1`,
      [String(body.pk)],
    );
    expect(event?.text).not.toContain(body.client_secret as string);
  });

  it('POST with every field stores and echoes them', async () => {
    const name = unique('api-full');
    const clientId = unique('client-id');
    const body = await createProvider({
      name,
      authentication_flow: FLOW_B,
      property_mappings: [],
      client_type: 'public',
      client_id: clientId,
      client_secret: '  my-own-secret  ',
      access_code_validity: 'minutes=2',
      access_token_validity: 'hours=2;minutes=30',
      refresh_token_validity: 'days=7',
      refresh_token_threshold: 'hours=1',
      include_claims_in_id_token: false,
      encryption_key: null,
      redirect_uris: [
        {
          matching_mode: 'regex',
          url: 'https://[a-z]+\\.example\\.com/cb',
          redirect_uri_type: 'authorization',
        },
        { matching_mode: 'strict', url: 'https://rp.example.com/bye', redirect_uri_type: 'logout' },
      ],
      logout_uri: 'https://rp.example.com/backchannel',
      logout_method: 'frontchannel',
      sub_mode: 'user_email',
      issuer_mode: 'global',
      jwt_federation_sources: [],
      jwt_federation_providers: [],
      consent_mode: 'implicit',
      consent_expire_in: 'days=1',
    });
    expect(body).toEqual(
      providerBody({
        pk: body.pk,
        name,
        client_id: clientId,
        client_secret: 'my-own-secret',
        signing_key: body.signing_key,
        redirect_uris: [
          {
            matching_mode: 'regex',
            url: 'https://[a-z]+\\.example\\.com/cb',
            redirect_uri_type: 'authorization',
          },
          { matching_mode: 'strict', url: 'https://rp.example.com/bye', redirect_uri_type: 'logout' },
        ],
        overrides: {
          authentication_flow: FLOW_B,
          client_type: 'public',
          access_code_validity: 'minutes=2',
          access_token_validity: 'hours=2;minutes=30',
          refresh_token_validity: 'days=7',
          refresh_token_threshold: 'hours=1',
          include_claims_in_id_token: false,
          logout_uri: 'https://rp.example.com/backchannel',
          logout_method: 'frontchannel',
          sub_mode: 'user_email',
          issuer_mode: 'global',
          consent_mode: 'implicit',
          consent_expire_in: 'days=1',
        },
      }),
    );
    const [row] = await t.dataSource.query<{ client_secret_hash: Buffer }[]>(
      'SELECT client_secret_hash FROM oauth2_providers WHERE id = $1',
      [body.pk],
    );
    expect(row?.client_secret_hash).toEqual(sha256('my-own-secret'));
  });

  it('POST with an existing signing key uses it; a public client without a secret reads ""', async () => {
    const first = await createProvider();
    const second = await createProvider({
      signing_key: first.signing_key.toUpperCase(),
      client_type: 'public',
    });
    expect(second.signing_key).toBe(first.signing_key);
    expect(second.client_secret).toBe('');
    const rows = await t.dataSource.query('SELECT client_secret_hash FROM oauth2_providers WHERE id = $1', [
      second.pk,
    ]);
    expect(rows).toEqual([{ client_secret_hash: null }]);
  });
});

describe('providers: validation', () => {
  const post = (body: unknown) => requestJson(t.app, 'POST', P, body, bearer(adminKey));
  const valid = (extra: Record<string, unknown> = {}) => ({
    name: unique('invalid'),
    authorization_flow: FLOW_A,
    invalidation_flow: FLOW_B,
    redirect_uris: [],
    ...extra,
  });

  it('required fields, wrong types and DRF messages', async () => {
    expect(await post({})).toMatchObject({
      status: 400,
      body: {
        name: ['This field is required.'],
        authorization_flow: ['This field is required.'],
        invalidation_flow: ['This field is required.'],
        redirect_uris: ['This field is required.'],
      },
    });
    const response = await post({
      name: '  ',
      authorization_flow: 'not-a-uuid',
      invalidation_flow: null,
      redirect_uris: 'https://x',
      client_type: 'secret',
      client_id: 'x'.repeat(256),
      include_claims_in_id_token: 'yes',
      sub_mode: 'user_shoe_size',
      issuer_mode: 7,
      logout_method: 'pigeon',
      logout_uri: 'ftp://example.com/x',
      jwt_federation_providers: ['a'],
    });
    expect(response).toMatchObject({ status: 400 });
    expect(response.body).toEqual({
      name: ['This field may not be blank.'],
      authorization_flow: ['Must be a valid UUID.'],
      invalidation_flow: ['This field may not be null.'],
      redirect_uris: ['Expected a list of items but got type "str".'],
      client_type: ['"secret" is not a valid choice.'],
      client_id: ['Ensure this field has no more than 255 characters.'],
      include_claims_in_id_token: ['Must be a valid boolean.'],
      sub_mode: ['"user_shoe_size" is not a valid choice.'],
      issuer_mode: ['"7" is not a valid choice.'],
      logout_method: ['"pigeon" is not a valid choice.'],
      logout_uri: ['Enter a valid URL.'],
      jwt_federation_providers: ['A valid integer is required.'],
    });
    expect(await post([])).toEqual(
      expect.objectContaining({
        status: 400,
        body: { non_field_errors: ['Invalid data. Expected a dictionary, but got list.'] },
      }),
    );
    expect((await post('{"name": ')).status).toBe(400);
  });

  it.each([
    ['hour=1', 'access_token_validity'],
    ['hours=1;', 'access_code_validity'],
    ['hours', 'refresh_token_validity'],
    ['hours=abc', 'refresh_token_threshold'],
    ['hours=1=2', 'access_token_validity'],
    ['hours=-1', 'access_token_validity'],
    ['days=9999999999', 'refresh_token_validity'],
    ['fortnight=1', 'consent_expire_in'],
  ])("validity %s in %s: authentik's message", async (value, fieldName) => {
    expect(await post(valid({ [fieldName]: value }))).toEqual(
      expect.objectContaining({
        status: 400,
        body: { [fieldName]: [`${value} is not in the correct format of 'hours=3;minutes=1'.`] },
      }),
    );
  });

  it('redirect_uris: per-item errors, then the regex and scheme checks', async () => {
    expect(
      await post(
        valid({
          redirect_uris: [
            { matching_mode: 'strict', url: 'https://ok.example.com/cb' },
            { matching_mode: 'fuzzy', url: '' },
            'https://x',
            { url: 'https://x', redirect_uri_type: 'elsewhere' },
          ],
        }),
      ),
    ).toEqual(
      expect.objectContaining({
        status: 400,
        body: {
          redirect_uris: [
            {},
            { matching_mode: ['"fuzzy" is not a valid choice.'], url: ['This field may not be blank.'] },
            { non_field_errors: ['Invalid data. Expected a dictionary, but got str.'] },
            {
              matching_mode: ['This field is required.'],
              redirect_uri_type: ['"elsewhere" is not a valid choice.'],
            },
          ],
        },
      }),
    );
    for (const pattern of ['https://(x', '(a+)+$', '(x|xx)*y', 'a'.repeat(1025)]) {
      expect(await post(valid({ redirect_uris: [{ matching_mode: 'regex', url: pattern }] }))).toEqual(
        expect.objectContaining({
          status: 400,
          body: { redirect_uris: [`Invalid Regex Pattern: ${pattern}`] },
        }),
      );
    }
    for (const url of ['javascript:alert(1)', ' DATA:text/html,x', 'vbscript:x']) {
      expect(await post(valid({ redirect_uris: [{ matching_mode: 'strict', url }] }))).toEqual(
        expect.objectContaining({
          status: 400,
          body: { redirect_uris: [`Redirect URI scheme is not allowed: ${url.trim()}`] },
        }),
      );
    }
  });

  it('what Grantry has none of: property mappings, federation sources and providers, encryption keys', async () => {
    const mapping = randomUUID();
    const response = await post(
      valid({
        property_mappings: [mapping],
        jwt_federation_sources: [FLOW_A],
        jwt_federation_providers: [1],
        encryption_key: FLOW_B,
        signing_key: FLOW_A,
      }),
    );
    expect(response.status).toBe(400);
    expect(response.body).toEqual({
      property_mappings: [`Invalid pk "${mapping}" - object does not exist.`],
      jwt_federation_sources: [`Invalid pk "${FLOW_A}" - object does not exist.`],
      jwt_federation_providers: ['Grantry does not accept JWTs of other providers (JWT federation).'],
      encryption_key: ['Grantry does not encrypt tokens (JWE): encryption_key must be null.'],
      signing_key: [`Invalid pk "${FLOW_A}" - object does not exist.`],
    });
  });

  it('unique name and client id, also when two writers race', async () => {
    const existing = await createProvider({ client_id: unique('cid') });
    expect(await post(valid({ name: existing.name, client_id: existing.client_id }))).toEqual(
      expect.objectContaining({
        status: 400,
        body: {
          name: ['provider with this name already exists.'],
          client_id: ['OAuth2/OpenID Provider with this Client ID already exists.'],
        },
      }),
    );
    const name = unique('race');
    const results = await Promise.all([post(valid({ name })), post(valid({ name }))]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 400]);
    expect(results.find((r) => r.status === 400)?.body).toEqual({
      name: ['provider with this name already exists.'],
    });
    expect(
      await t.dataSource.query('SELECT count(*)::int AS n FROM oauth2_providers WHERE name = $1', [name]),
    ).toEqual([{ n: 1 }]);
  });

  it('NUL bytes and huge values never make a 500', async () => {
    const nul = await post(valid({ name: 'a\u0000b', client_id: 'c\u0000' }));
    expect(nul.status).toBe(400);
    expect(nul.body).toEqual({
      name: ['Null characters are not allowed.'],
      client_id: ['Null characters are not allowed.'],
    });
    expect(
      (await post(valid({ redirect_uris: [{ matching_mode: 'strict', url: 'https://x/\u0000' }] }))).body,
    ).toEqual({ redirect_uris: [{ url: ['Null characters are not allowed.'] }] });
    const huge = await post(valid({ jwt_federation_providers: [1e300], name: 'x'.repeat(10_000) }));
    expect(huge.status).toBe(400);
    expect(huge.body).toEqual({ jwt_federation_providers: ['A valid integer is required.'] });
  });
});

describe('providers: list, update, setup URLs, preview', () => {
  let listed: { pk: number; name: string; client_id: string; signing_key: string }[];
  let prefix: string;
  let application: { id: string; slug: string; name: string };

  beforeAll(async () => {
    prefix = unique('lst');
    listed = [];
    listed.push(await createProvider({ name: `${prefix} beta`, client_type: 'public', sub_mode: 'user_id' }));
    listed.push(await createProvider({ name: `${prefix} alpha`, include_claims_in_id_token: false }));
    listed.push(
      await createProvider({
        name: `${prefix} gamma`,
        issuer_mode: 'global',
        access_token_validity: 'minutes=5',
      }),
    );
    application = await f.application({ providerId: listed[2]?.pk, name: 'Gamma App' });
  });

  const list = async (query: string, key = adminKey) => {
    const response = await request(
      t.app,
      'GET',
      `${P}?search=${encodeURIComponent(prefix)}&${query}`,
      bearer(key),
    );
    return {
      status: response.status,
      body: response.body as { results: { pk: number }[]; pagination: unknown },
    };
  };
  const pks = async (query: string): Promise<number[]> => (await list(query)).body.results.map((r) => r.pk);

  it('lists by name by default, paginated, each with the read shape', async () => {
    const { status, body } = await list('');
    expect(status).toBe(200);
    const [beta, alpha, gamma] = listed as [(typeof listed)[0], (typeof listed)[0], (typeof listed)[0]];
    expect(body).toEqual({
      pagination: {
        next: 0,
        previous: 0,
        count: 3,
        current: 1,
        total_pages: 1,
        start_index: 1,
        end_index: 3,
      },
      results: [
        providerBody({ ...alpha, client_secret: '', overrides: { include_claims_in_id_token: false } }),
        providerBody({
          ...beta,
          client_secret: '',
          overrides: { client_type: 'public', sub_mode: 'user_id' },
        }),
        providerBody({
          ...gamma,
          client_secret: '',
          application: { slug: application.slug, name: 'Gamma App' },
          overrides: { issuer_mode: 'global', access_token_validity: 'minutes=5' },
        }),
      ],
      autocomplete: {},
    });
    expect(await pks('ordering=-name')).toEqual([gamma.pk, beta.pk, alpha.pk]);
    expect(await pks('ordering=application__slug,pk')).toEqual([gamma.pk, beta.pk, alpha.pk]);
    expect(await pks('ordering=client_secret,nonsense')).toEqual([alpha.pk, beta.pk, gamma.pk]);
    expect(await pks('page_size=2&page=2')).toEqual([gamma.pk]);
    expect((await list('page=3')).status).toBe(404);
  });

  it('filters exactly, 400 on unknown choices and foreign keys', async () => {
    const [beta, alpha, gamma] = listed as [(typeof listed)[0], (typeof listed)[0], (typeof listed)[0]];
    expect(await pks('client_type=public')).toEqual([beta.pk]);
    expect(await pks('sub_mode=user_id')).toEqual([beta.pk]);
    expect(await pks('issuer_mode=global')).toEqual([gamma.pk]);
    expect(await pks('include_claims_in_id_token=FALSE')).toEqual([alpha.pk]);
    expect(await pks('include_claims_in_id_token=maybe')).toHaveLength(3);
    expect(await pks(`name=${encodeURIComponent(`${prefix} alpha`)}`)).toEqual([alpha.pk]);
    expect(await pks(`client_id=${beta.client_id}`)).toEqual([beta.pk]);
    expect(await pks('access_token_validity=minutes%3D5')).toEqual([gamma.pk]);
    expect(await pks(`application=${application.id}`)).toEqual([gamma.pk]);
    expect(await pks(`signing_key=${alpha.signing_key}`)).toEqual([alpha.pk]);
    expect(await pks(`authorization_flow=${FLOW_A}`)).toHaveLength(3);
    expect(await pks('name=%00')).toEqual([]);
    expect(
      await list(`client_type=secret&application=${FLOW_A}&signing_key=nope&property_mappings=${FLOW_B}`),
    ).toEqual({
      status: 400,
      body: {
        client_type: ['Select a valid choice. secret is not one of the available choices.'],
        application: ['Select a valid choice. That choice is not one of the available choices.'],
        signing_key: ['Select a valid choice. That choice is not one of the available choices.'],
        property_mappings: [`Select a valid choice. ${FLOW_B} is not one of the available choices.`],
      },
    });
  });

  it('PUT and PATCH: fields change, the secret only when given (and then shown once)', async () => {
    const provider = await createProvider();
    const url = `${P}${provider.pk}/`;
    const read = (await request(t.app, 'GET', url, bearer(adminKey))).body as Record<string, unknown>;
    // PUT back what was read: the secret slot is "" and keeps the secret.
    const put = await requestJson(
      t.app,
      'PUT',
      url,
      { ...read, name: `${provider.name} renamed` },
      bearer(adminKey),
    );
    expect(put.status).toBe(200);
    expect(put.body).toEqual({ ...read, name: `${provider.name} renamed` });
    const [row] = await t.dataSource.query<{ client_secret_hash: Buffer }[]>(
      'SELECT client_secret_hash FROM oauth2_providers WHERE id = $1',
      [provider.pk],
    );
    expect(row?.client_secret_hash).toEqual(sha256(provider.client_secret));
    const patch = await requestJson(
      t.app,
      'PATCH',
      url,
      {
        client_secret: 'rotated-by-hand',
        redirect_uris: [{ matching_mode: 'strict', url: 'https://new.example/cb' }],
      },
      bearer(adminKey),
    );
    expect(patch.status).toBe(200);
    expect(patch.body).toEqual({
      ...read,
      name: `${provider.name} renamed`,
      client_secret: 'rotated-by-hand',
      redirect_uris: [
        { matching_mode: 'strict', url: 'https://new.example/cb', redirect_uri_type: 'authorization' },
      ],
    });
    expect(
      ((await request(t.app, 'GET', url, bearer(adminKey))).body as Record<string, unknown>).client_secret,
    ).toBe('');
    // PUT validates fully; PATCH refuses null where not nullable.
    expect(await requestJson(t.app, 'PUT', url, { name: 'x' }, bearer(adminKey))).toMatchObject({
      status: 400,
      body: {
        authorization_flow: ['This field is required.'],
        invalidation_flow: ['This field is required.'],
        redirect_uris: ['This field is required.'],
      },
    });
    expect(await requestJson(t.app, 'PATCH', url, { name: null }, bearer(adminKey))).toMatchObject({
      status: 400,
      body: { name: ['This field may not be null.'] },
    });
    expect(await requestJson(t.app, 'PATCH', url, { signing_key: null }, bearer(adminKey))).toMatchObject({
      status: 400,
      body: { signing_key: ['Grantry signs every token with a key pair: signing_key may not be null.'] },
    });
    const other = await createProvider();
    expect(
      await requestJson(
        t.app,
        'PATCH',
        url,
        { name: other.name, client_id: other.client_id },
        bearer(adminKey),
      ),
    ).toMatchObject({
      status: 400,
      body: {
        name: ['provider with this name already exists.'],
        client_id: ['OAuth2/OpenID Provider with this Client ID already exists.'],
      },
    });
    // Its own name and client id are not a conflict.
    expect(
      (await requestJson(t.app, 'PATCH', url, { client_id: provider.client_id }, bearer(adminKey))).status,
    ).toBe(200);
    expect((await events('oauth2provider', provider.pk)).map((e) => e.action)).toEqual([
      'model_created',
      'model_updated',
      'model_updated',
      'model_updated',
    ]);
    // A public client made confidential without a secret gets one, shown once.
    const pub = await createProvider({ client_type: 'public' });
    const made = await requestJson(
      t.app,
      'PATCH',
      `${P}${pub.pk}/`,
      { client_type: 'confidential' },
      bearer(adminKey),
    );
    expect((made.body as Record<string, string>).client_secret).toMatch(/^[A-Za-z0-9]{128}$/);
  });

  it('404s: unknown, malformed and out-of-range ids', async () => {
    for (const method of ['GET', 'DELETE'] as const) {
      expect(await request(t.app, method, `${P}2147483000/`, bearer(adminKey))).toMatchObject({
        status: 404,
        body: NO_PROVIDER,
      });
      expect(await request(t.app, method, `${P}abc/`, bearer(adminKey))).toMatchObject({
        status: 404,
        body: NOT_FOUND,
      });
      expect(await request(t.app, method, `${P}99999999999999999999/`, bearer(adminKey))).toMatchObject({
        status: 404,
        body: NO_PROVIDER,
      });
    }
    const body = { name: 'x', authorization_flow: FLOW_A, invalidation_flow: FLOW_B, redirect_uris: [] };
    expect(await requestJson(t.app, 'PUT', `${P}2147483000/`, body, bearer(adminKey))).toMatchObject({
      status: 404,
      body: NO_PROVIDER,
    });
    expect(await requestJson(t.app, 'PATCH', `${P}2147483000/`, {}, bearer(adminKey))).toMatchObject({
      status: 404,
      body: NO_PROVIDER,
    });
    expect(await request(t.app, 'GET', `${P}2147483000/setup_urls/`, bearer(adminKey))).toMatchObject({
      status: 404,
      body: NO_PROVIDER,
    });
    expect(await request(t.app, 'GET', `${P}2147483000/preview_user/`, bearer(adminKey))).toMatchObject({
      status: 404,
      body: NO_PROVIDER,
    });
  });

  it('setup_urls: per application, global issuer, PUBLIC_URL', async () => {
    const [beta, , gamma] = listed as [(typeof listed)[0], (typeof listed)[0], (typeof listed)[0]];
    const o = 'http://localhost:80/application/o';
    expect(
      await request(t.app, 'GET', `${P}${beta.pk}/setup_urls/`, {
        ...bearer(adminKey),
        host: 'localhost:80',
      }),
    ).toMatchObject({
      status: 200,
      body: {
        issuer: null,
        authorize: `${o}/authorize/`,
        token: `${o}/token/`,
        user_info: `${o}/userinfo/`,
        provider_info: null,
        logout: null,
      },
    });
    const withApp = await request(t.app, 'GET', `${P}${gamma.pk}/setup_urls/`, {
      ...bearer(adminKey),
      host: 'localhost:80',
    });
    expect(withApp.body).toEqual({
      issuer: 'http://localhost:80/',
      authorize: `${o}/authorize/`,
      token: `${o}/token/`,
      user_info: `${o}/userinfo/`,
      provider_info: `${o}/${application.slug}/.well-known/openid-configuration`,
      logout: `${o}/${application.slug}/end-session/`,
      jwks: `${o}/${application.slug}/jwks/`,
    });
    // Closed with the suite: closing a second app mid-suite ends prepared statements the first one shares.
    const other = await createTestApp({ PUBLIC_URL: 'https://id.example.com/base' });
    extraApps.push(other);
    {
      const perProvider = await createProvider();
      const app = await f.application({ providerId: perProvider.pk });
      const response = await request(other.app, 'GET', `${P}${perProvider.pk}/setup_urls/`, bearer(adminKey));
      const base = 'https://id.example.com/base/application/o';
      expect(response.body).toEqual({
        issuer: `${base}/${app.slug}/`,
        authorize: `${base}/authorize/`,
        token: `${base}/token/`,
        user_info: `${base}/userinfo/`,
        provider_info: `${base}/${app.slug}/.well-known/openid-configuration`,
        logout: `${base}/${app.slug}/end-session/`,
        jwks: `${base}/${app.slug}/jwks/`,
      });
    }
  });

  it('preview_user: the ID token claims for the caller or, with preview_user, another user', async () => {
    const [beta, alpha] = listed as [(typeof listed)[0], (typeof listed)[0]];
    const before = Math.floor(Date.now() / 1000);
    const response = await request(t.app, 'GET', `${P}${beta.pk}/preview_user/`, {
      ...bearer(adminKey),
      host: 'localhost:80',
    });
    expect(response.status).toBe(200);
    const preview = (response.body as { preview: Record<string, number> }).preview;
    expect(preview).toEqual({
      iss: 'http://localhost:80/',
      sub: String(admin.id),
      aud: beta.client_id,
      exp: expect.any(Number),
      iat: expect.any(Number),
      auth_time: expect.any(Number),
      acr: 'goauthentik.io/providers/oauth2/default',
      email: 'provider-admin@example.com',
      email_verified: false,
      name: 'Provider Admin',
      given_name: 'Provider Admin',
      preferred_username: admin.username,
      nickname: admin.username,
      groups: [expect.any(String)],
      entitlements: [],
      roles: [],
    });
    expect(preview.iat).toBeGreaterThanOrEqual(before);
    expect((preview.exp ?? 0) - (preview.iat ?? 0)).toBe(3600);
    const forPlain = await request(
      t.app,
      'GET',
      `${P}${alpha.pk}/preview_user/?for_user=${plain.id}`,
      bearer(adminKey),
    );
    expect(forPlain.status).toBe(200);
    // include_claims_in_id_token false: registered claims only.
    expect(Object.keys((forPlain.body as { preview: object }).preview).sort()).toEqual([
      'acr',
      'aud',
      'auth_time',
      'exp',
      'iat',
      'iss',
      'sub',
    ]);
    const viewer = keys.view_oauth2provider ?? '';
    expect(
      await request(t.app, 'GET', `${P}${alpha.pk}/preview_user/?for_user=${plain.id}`, bearer(viewer)),
    ).toMatchObject({
      status: 400,
      body: { for_user: 'User not found' },
    });
    expect(
      await request(t.app, 'GET', `${P}${alpha.pk}/preview_user/?for_user=2147483000`, bearer(adminKey)),
    ).toMatchObject({
      status: 400,
      body: { for_user: 'User not found' },
    });
    expect(
      await request(t.app, 'GET', `${P}${alpha.pk}/preview_user/?for_user=me`, bearer(adminKey)),
    ).toMatchObject({
      status: 400,
      body: { for_user: 'input must be numerical' },
    });
    expect((await request(t.app, 'GET', `${P}${alpha.pk}/preview_user/`, bearer(viewer))).status).toBe(200);
  });
});

describe('providers: delete, end to end, permissions', () => {
  it('DELETE removes its grants, codes, device codes and consents; the application stays, without provider', async () => {
    const provider = await createProvider();
    const app = await f.application({ providerId: provider.pk, name: 'Doomed provider app' });
    const user = await f.user();
    const access = await f.grant('access', user.id, provider.pk);
    await f.grant('access', plain.id, provider.pk);
    await f.grant('refresh', user.id, provider.pk);
    await f.grant('code', user.id, provider.pk);
    await t.dataSource.query(
      `INSERT INTO oauth2_device_tokens (provider_id, device_code_hash, user_code, expires)
       VALUES ($1, $2, $3, now() + interval '10 minutes')`,
      [provider.pk, sha256(randomUUID()), unique('UC').slice(0, 16)],
    );
    await t.dataSource.query(
      `INSERT INTO user_consents (user_id, application_id, permissions, expires) VALUES ($1, $2, 'openid', NULL)`,
      [user.id, app.id],
    );
    const keep = await createProvider();
    await f.grant('access', user.id, keep.pk);
    const listed = await request(
      t.app,
      'GET',
      `/api/v3/oauth2/access_tokens/?user=${user.id}`,
      bearer(adminKey),
    );
    expect((listed.body as { pagination: { count: number } }).pagination.count).toBe(2);

    const response = await request(t.app, 'DELETE', `${P}${provider.pk}/`, bearer(adminKey));
    expect({ status: response.status, text: response.text }).toEqual({ status: 204, text: '' });
    const [counts] = await t.dataSource.query<Record<string, number>[]>(
      `SELECT (SELECT count(*)::int FROM oauth2_providers WHERE id = $1) AS providers,
              (SELECT count(*)::int FROM oauth2_access_tokens WHERE provider_id = $1) AS access,
              (SELECT count(*)::int FROM oauth2_refresh_tokens WHERE provider_id = $1) AS refresh,
              (SELECT count(*)::int FROM oauth2_authorization_codes WHERE provider_id = $1) AS codes,
              (SELECT count(*)::int FROM oauth2_device_tokens WHERE provider_id = $1) AS devices,
              (SELECT count(*)::int FROM user_consents WHERE application_id = $2) AS consents,
              (SELECT count(*)::int FROM oauth2_access_tokens WHERE provider_id = $3) AS kept`,
      [provider.pk, app.id, keep.pk],
    );
    expect(counts).toEqual({
      providers: 0,
      access: 0,
      refresh: 0,
      codes: 0,
      devices: 0,
      consents: 0,
      kept: 1,
    });
    expect(
      await t.dataSource.query('SELECT slug, provider_id FROM applications WHERE id = $1', [app.id]),
    ).toEqual([{ slug: app.slug, provider_id: null }]);
    // The token inventory no longer lists them.
    const after = await request(
      t.app,
      'GET',
      `/api/v3/oauth2/access_tokens/?user=${user.id}`,
      bearer(adminKey),
    );
    expect((after.body as { pagination: { count: number } }).pagination.count).toBe(1);
    expect(
      (await request(t.app, 'GET', `/api/v3/oauth2/access_tokens/${access.pk}/`, bearer(adminKey))).status,
    ).toBe(404);
    expect(await events('oauth2provider', provider.pk)).toEqual([
      expect.objectContaining({ action: 'model_created' }),
      {
        action: 'model_deleted',
        context: expect.objectContaining({
          model: {
            app: 'authentik_providers_oauth2',
            model_name: 'oauth2provider',
            pk: provider.pk,
            name: provider.name,
          },
          deleted: [
            { model: 'authentik_providers_oauth2.accesstoken', count: 2 },
            { model: 'authentik_providers_oauth2.refreshtoken', count: 1 },
            { model: 'authentik_providers_oauth2.authorizationcode', count: 1 },
            { model: 'authentik_providers_oauth2.devicetoken', count: 1 },
            { model: 'authentik_core.userconsent', count: 1 },
          ],
        }),
      },
    ]);
    expect(await request(t.app, 'DELETE', `${P}${provider.pk}/`, bearer(adminKey))).toMatchObject({
      status: 404,
      body: NO_PROVIDER,
    });
  });

  it('a provider and application made through the API issue a client_credentials token with the returned secret', async () => {
    const provider = await createProvider();
    const slug = unique('cc-app').slice(0, 50);
    const app = await requestJson(
      t.app,
      'POST',
      A,
      { name: 'CC App', slug, provider: provider.pk },
      bearer(adminKey),
    );
    expect(app.status).toBe(201);
    const token = (secret: string) =>
      t.app
        .getHttpAdapter()
        .getInstance()
        .inject({
          method: 'POST',
          url: '/application/o/token/',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams({
            grant_type: 'client_credentials',
            client_id: provider.client_id,
            client_secret: secret,
            scope: 'openid profile',
          }).toString(),
        });
    const ok = await token(provider.client_secret);
    expect(ok.statusCode).toBe(200);
    const body = JSON.parse(ok.body) as Record<string, unknown>;
    expect(body).toEqual(
      expect.objectContaining({ token_type: 'Bearer', access_token: expect.any(String), expires_in: 3600 }),
    );
    const claims = JSON.parse(
      Buffer.from(String(body.access_token).split('.')[1] ?? '', 'base64url').toString(),
    ) as Record<string, unknown>;
    expect(claims.iss).toBe(`http://localhost:80/application/o/${slug}/`);
    expect(claims.preferred_username).toBe(`ak-${provider.name}-client_credentials`);
    expect((await token('wrong')).statusCode).toBe(400);

    // rotate-secret (CLI, on the same bus): the old secret stops working, the new one works, an event says so.
    const rotated = await runCli(t.dataSource, providerRotateSecret, ['--id', String(provider.pk)]);
    expect(rotated).toEqual({
      pk: provider.pk,
      name: provider.name,
      client_id: provider.client_id,
      client_secret: expect.stringMatching(/^[A-Za-z0-9]{128}$/),
    });
    expect((await token(provider.client_secret)).statusCode).toBe(400);
    expect((await token(String(rotated.client_secret))).statusCode).toBe(200);
    const last = (await events('oauth2provider', provider.pk)).at(-1);
    expect(last?.action).toBe('secret_rotate');
    expect(JSON.stringify(last)).not.toContain(String(rotated.client_secret));
  });

  it('CLI provider create and app create dispatch the same commands (events, validation)', async () => {
    const name = unique('cli-bus');
    const created = await runCli(t.dataSource, providerCreate, ['--name', name]);
    expect((await events('oauth2provider', created.pk as number)).map((e) => e.action)).toEqual([
      'model_created',
    ]);
    const [event] = await t.dataSource.query<{ actor_username: string }[]>(
      `SELECT actor_username FROM audit_events WHERE context->'model'->>'pk' = $1`,
      [String(created.pk)],
    );
    expect(event?.actor_username).toBe('grantry-cli');
    const slug = unique('cli-bus-app').slice(0, 50);
    const app = await runCli(t.dataSource, appCreate, [
      '--slug',
      slug,
      '--name',
      'Bus',
      '--provider',
      String(created.pk),
    ]);
    expect((await events('application', app.pk as string)).map((e) => e.action)).toEqual(['model_created']);
    await expect(runCli(t.dataSource, providerCreate, ['--name', name])).rejects.toThrow(
      `a provider named "${name}" already exists`,
    );
  });

  describe('permission matrix', () => {
    const who = (): Record<string, string | undefined> => ({
      anonymous: undefined,
      plain: plainKey,
      view: keys.view_oauth2provider,
      add: keys.add_oauth2provider,
      change: keys.change_oauth2provider,
      delete: keys.delete_oauth2provider,
      superuser: adminKey,
    });
    const statuses = async (
      run: (key: string | undefined) => Promise<{ status: number; body: unknown }>,
    ): Promise<Record<string, number>> => {
      const out: Record<string, number> = {};
      for (const [name, key] of Object.entries(who())) {
        const { status, body } = await run(key);
        if (status === 403) expect(body).toEqual(key === undefined ? ANONYMOUS : DENIED);
        out[name] = status;
      }
      return out;
    };
    const auth = (key: string | undefined) => (key === undefined ? {} : bearer(key));

    it('list, retrieve, setup_urls, preview_user need view; create add; update change; delete delete', async () => {
      const provider = await createProvider();
      const all = (ok: number, allowed: string[]) =>
        Object.fromEntries(
          ['anonymous', 'plain', 'view', 'add', 'change', 'delete', 'superuser'].map((n) => [
            n,
            allowed.includes(n) ? ok : 403,
          ]),
        );
      for (const path of [
        P,
        `${P}${provider.pk}/`,
        `${P}${provider.pk}/setup_urls/`,
        `${P}${provider.pk}/preview_user/`,
      ]) {
        expect(await statuses((key) => request(t.app, 'GET', path, auth(key)))).toEqual(
          all(200, ['view', 'superuser']),
        );
      }
      const body = () => ({
        name: unique('perm'),
        authorization_flow: FLOW_A,
        invalidation_flow: FLOW_B,
        redirect_uris: [],
      });
      expect(await statuses((key) => requestJson(t.app, 'POST', P, body(), auth(key)))).toEqual(
        all(201, ['add', 'superuser']),
      );
      expect(
        await statuses((key) => requestJson(t.app, 'PATCH', `${P}${provider.pk}/`, {}, auth(key))),
      ).toEqual(all(200, ['change', 'superuser']));
      expect(
        await statuses((key) =>
          requestJson(t.app, 'PUT', `${P}${provider.pk}/`, { ...body(), name: provider.name }, auth(key)),
        ),
      ).toEqual(all(200, ['change', 'superuser']));
      const victims = [await createProvider(), await createProvider()];
      expect(
        await statuses((key) =>
          request(t.app, 'DELETE', `${P}${(key === adminKey ? victims[0] : victims[1])?.pk}/`, auth(key)),
        ),
      ).toEqual(all(204, ['delete', 'superuser']));
    });

    it('405 on the list URL for holders of the permission (else 403), and on detail URLs for anyone signed in', async () => {
      const provider = await createProvider();
      const response = await requestJson(t.app, 'PUT', P, {}, bearer(keys.change_oauth2provider ?? ''));
      expect(response).toMatchObject({ status: 405, body: { detail: 'Method "PUT" not allowed.' } });
      expect(response.headers.allow).toBe('GET, POST, HEAD, OPTIONS');
      expect(await requestJson(t.app, 'PATCH', P, {}, bearer(keys.view_oauth2provider ?? ''))).toMatchObject({
        status: 403,
        body: DENIED,
      });
      expect(await request(t.app, 'DELETE', P, bearer(keys.delete_oauth2provider ?? ''))).toMatchObject({
        status: 405,
        body: { detail: 'Method "DELETE" not allowed.' },
      });
      expect(await request(t.app, 'DELETE', P, bearer(plainKey))).toMatchObject({
        status: 403,
        body: DENIED,
      });
      expect(await request(t.app, 'DELETE', P)).toMatchObject({ status: 403, body: ANONYMOUS });
      const item = await requestJson(t.app, 'POST', `${P}${provider.pk}/`, {}, bearer(plainKey));
      expect(item).toMatchObject({ status: 405, body: { detail: 'Method "POST" not allowed.' } });
      expect(item.headers.allow).toBe('GET, PUT, PATCH, DELETE, HEAD, OPTIONS');
      const action = await requestJson(t.app, 'POST', `${P}${provider.pk}/setup_urls/`, {}, bearer(plainKey));
      expect(action).toMatchObject({ status: 405, body: { detail: 'Method "POST" not allowed.' } });
      expect(action.headers.allow).toBe('GET, HEAD, OPTIONS');
    });
  });
});

/** The body of an application (by hand). */
function appBody(fields: {
  pk: string;
  name: string;
  slug: string;
  provider?: { pk: number; name: string } | null;
  overrides?: Record<string, unknown>;
}): Record<string, unknown> {
  return {
    pk: fields.pk,
    name: fields.name,
    slug: fields.slug,
    provider: fields.provider?.pk ?? null,
    provider_obj: fields.provider
      ? {
          pk: fields.provider.pk,
          name: fields.provider.name,
          authentication_flow: null,
          authorization_flow: FLOW_A,
          invalidation_flow: FLOW_B,
          property_mappings: [],
          component: 'ak-provider-oauth2-form',
          assigned_application_slug: fields.slug,
          assigned_application_name: fields.name,
          assigned_backchannel_application_slug: null,
          assigned_backchannel_application_name: null,
          verbose_name: 'OAuth2/OpenID Provider',
          verbose_name_plural: 'OAuth2/OpenID Providers',
          meta_model_name: 'authentik_providers_oauth2.oauth2provider',
        }
      : null,
    backchannel_providers: [],
    backchannel_providers_obj: [],
    launch_url: null,
    open_in_new_tab: false,
    meta_launch_url: '',
    meta_icon: '',
    meta_icon_url: null,
    meta_icon_themed_urls: null,
    meta_description: '',
    meta_publisher: '',
    policy_engine_mode: 'any',
    group: '',
    ...fields.overrides,
  };
}

describe('applications', () => {
  const post = (body: unknown, key = adminKey) => requestJson(t.app, 'POST', A, body, bearer(key));

  it('POST makes an application; launch_url from the provider; the provider reads as assigned', async () => {
    const provider = await createProvider({
      redirect_uris: [
        // A logout URI is never the launch URL.
        { matching_mode: 'strict', url: 'https://bye.example.com/done', redirect_uri_type: 'logout' },
        { matching_mode: 'strict', url: 'https://rp.example.com/oauth/cb?x=1' },
        { matching_mode: 'strict', url: 'https://other.example.com/cb' },
      ],
    });
    const slug = unique('app-a').slice(0, 50);
    const response = await post({
      name: 'App A',
      slug,
      provider: provider.pk,
      meta_description: 'Described',
    });
    expect(response.status).toBe(201);
    const pk = (response.body as { pk: string }).pk;
    expect(pk).toMatch(UUID);
    const expected = appBody({
      pk,
      name: 'App A',
      slug,
      provider,
      overrides: { launch_url: 'https://rp.example.com?x=1', meta_description: 'Described' },
    });
    expect(response.body).toEqual(expected);
    expect((await request(t.app, 'GET', `${A}${slug}/`, bearer(adminKey))).body).toEqual(expected);
    expect(
      ((await request(t.app, 'GET', `${P}${provider.pk}/`, bearer(adminKey))).body as Record<string, unknown>)
        .assigned_application_slug,
    ).toBe(slug);
    expect(await events('application', pk)).toEqual([
      {
        action: 'model_created',
        context: expect.objectContaining({
          model: {
            app: 'authentik_core',
            model_name: 'application',
            pk: pk.replaceAll('-', ''),
            name: 'App A',
          },
        }),
      },
    ]);
  });

  it('every field, and a launch URL formatted with the caller', async () => {
    const slug = unique('app-full').slice(0, 50);
    const body = {
      name: 'Full',
      slug,
      provider: null,
      backchannel_providers: [],
      open_in_new_tab: true,
      meta_launch_url: 'https://%(username)s.example.com/home?u=%(id)s',
      meta_icon: 'https://cdn.example.com/icon.png',
      meta_description: 'd',
      meta_publisher: 'p',
      policy_engine_mode: 'all',
      group: 'Tools',
    };
    const response = await post(body);
    expect(response.status).toBe(201);
    const pk = (response.body as { pk: string }).pk;
    const expected = appBody({
      pk,
      name: 'Full',
      slug,
      overrides: {
        ...body,
        launch_url: `https://${admin.username}.example.com/home?u=${admin.id}`,
        meta_icon_url: 'https://cdn.example.com/icon.png',
      },
    });
    expect(response.body).toEqual(expected);
    // An unknown key: served unformatted, as authentik does when `%` formatting raises.
    const patched = await requestJson(
      t.app,
      'PATCH',
      `${A}${slug}/`,
      { meta_launch_url: 'https://%(nope)s.example.com/' },
      bearer(adminKey),
    );
    expect((patched.body as Record<string, unknown>).launch_url).toBe('https://%(nope)s.example.com/');
  });

  it('validation: slug, reserved slugs, unique slug and provider, provider must exist, URLs, backchannel providers', async () => {
    expect(await post({})).toMatchObject({
      status: 400,
      body: { name: ['This field is required.'], slug: ['This field is required.'] },
    });
    expect(
      await post({
        name: '',
        slug: 'bad slug',
        provider: 'abc',
        meta_launch_url: 'ftp://files.example.com/',
        policy_engine_mode: 'some',
        open_in_new_tab: 'no',
        backchannel_providers: 'x',
      }),
    ).toMatchObject({
      status: 400,
      body: {
        name: ['This field may not be blank.'],
        slug: ['Enter a valid \u201cslug\u201d consisting of letters, numbers, underscores or hyphens.'],
        provider: ['Incorrect type. Expected pk value, received str.'],
        meta_launch_url: ['Enter a valid URL.'],
        policy_engine_mode: ['"some" is not a valid choice.'],
        open_in_new_tab: ['Must be a valid boolean.'],
        backchannel_providers: ['Expected a list of items but got type "str".'],
      },
    });
    expect(await post({ name: 'x', slug: 'a'.repeat(51) })).toMatchObject({
      status: 400,
      body: { slug: ['Ensure this field has no more than 50 characters.'] },
    });
    for (const slug of ['authorize', 'token', 'device', 'userinfo', 'introspect', 'revoke']) {
      expect(await post({ name: 'x', slug })).toMatchObject({
        status: 400,
        body: { slug: [`The slug '${slug}' is reserved and cannot be used for applications.`] },
      });
    }
    const provider = await createProvider();
    const taken = unique('taken').slice(0, 50);
    expect((await post({ name: 'x', slug: taken, provider: provider.pk })).status).toBe(201);
    expect(
      await post({ name: 'y', slug: taken, provider: provider.pk, backchannel_providers: [provider.pk] }),
    ).toMatchObject({
      status: 400,
      body: {
        slug: ['Application with this slug already exists.'],
        provider: ['Application with this provider already exists.'],
        backchannel_providers: [
          'Grantry has no backchannel providers (SCIM, RAC, ...): backchannel_providers must be empty.',
        ],
      },
    });
    expect(await post({ name: 'y', slug: unique('ghost').slice(0, 50), provider: 2147483000 })).toMatchObject(
      {
        status: 400,
        body: { provider: ['Invalid pk "2147483000" - object does not exist.'] },
      },
    );
    for (const url of [
      'https://%(username)s/',
      'ssh://host',
      'blank://blank',
      'http://localhost:8080/x',
      '',
    ]) {
      expect(
        (await post({ name: 'ok', slug: unique('url').slice(0, 50), meta_launch_url: url })).status,
      ).toBe(201);
    }
    expect(await post({ name: 'n\u0000', slug: unique('nul').slice(0, 50) })).toMatchObject({
      status: 400,
      body: { name: ['Null characters are not allowed.'] },
    });
    // Two writers racing for one slug: one 201, one 400.
    const slug = unique('race-app').slice(0, 50);
    const results = await Promise.all([post({ name: 'a', slug }), post({ name: 'b', slug })]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 400]);
    expect(results.find((r) => r.status === 400)?.body).toEqual({
      slug: ['Application with this slug already exists.'],
    });
  });

  it('update, partial update and delete by slug; 404s; the provider survives its application', async () => {
    const provider = await createProvider();
    const slug = unique('upd').slice(0, 50);
    const pk = ((await post({ name: 'Before', slug, provider: provider.pk })).body as { pk: string }).pk;
    const newSlug = unique('upd2').slice(0, 50);
    const put = await requestJson(
      t.app,
      'PUT',
      `${A}${slug}/`,
      { name: 'After', slug: newSlug, group: 'G' },
      bearer(adminKey),
    );
    expect(put.status).toBe(200);
    // PUT leaves omitted optional fields as they were (no default=list fields here), so the provider stays.
    expect(put.body).toEqual(
      appBody({ pk, name: 'After', slug: newSlug, provider, overrides: { group: 'G' } }),
    );
    expect(await request(t.app, 'GET', `${A}${slug}/`, bearer(adminKey))).toMatchObject({
      status: 404,
      body: NO_APP,
    });
    const patch = await requestJson(t.app, 'PATCH', `${A}${newSlug}/`, { provider: null }, bearer(adminKey));
    expect(patch.body).toEqual(appBody({ pk, name: 'After', slug: newSlug, overrides: { group: 'G' } }));
    expect(await requestJson(t.app, 'PUT', `${A}${newSlug}/`, { name: 'x' }, bearer(adminKey))).toMatchObject(
      {
        status: 400,
        body: { slug: ['This field is required.'] },
      },
    );
    const user = await f.user();
    await t.dataSource.query(
      `INSERT INTO user_consents (user_id, application_id, permissions, expires) VALUES ($1, $2, 'openid', NULL)`,
      [user.id, pk],
    );
    expect((await request(t.app, 'DELETE', `${A}${newSlug}/`, bearer(adminKey))).status).toBe(204);
    expect(await t.dataSource.query('SELECT 1 FROM applications WHERE id = $1', [pk])).toEqual([]);
    expect(await t.dataSource.query('SELECT 1 FROM user_consents WHERE application_id = $1', [pk])).toEqual(
      [],
    );
    expect((await request(t.app, 'GET', `${P}${provider.pk}/`, bearer(adminKey))).status).toBe(200);
    expect((await events('application', pk)).map((e) => [e.action, e.context.deleted])).toEqual([
      ['model_created', undefined],
      ['model_updated', undefined],
      ['model_updated', undefined],
      [
        'model_deleted',
        [
          { model: 'authentik_core.userconsent', count: 1 },
          { model: 'authentik_core.application_groups', count: 0 },
        ],
      ],
    ]);
    for (const method of ['GET', 'DELETE'] as const) {
      expect(await request(t.app, method, `${A}${newSlug}/`, bearer(adminKey))).toMatchObject({
        status: 404,
        body: NO_APP,
      });
      expect(await request(t.app, method, `${A}a.b/`, bearer(adminKey))).toMatchObject({
        status: 404,
        body: NOT_FOUND,
      });
      expect(await request(t.app, method, `${A}a%00b/`, bearer(adminKey))).toMatchObject({
        status: 404,
        body: NO_APP,
      });
    }
    expect(await requestJson(t.app, 'PATCH', `${A}${newSlug}/`, {}, bearer(adminKey))).toMatchObject({
      status: 404,
      body: NO_APP,
    });
  });

  describe('list', () => {
    let prefix: string;
    let open: { id: string; slug: string };
    let bound: { id: string; slug: string };
    let launch: { id: string; slug: string };
    let member: UserEntity;
    let memberKey: string;

    beforeAll(async () => {
      prefix = unique('lib');
      open = await f.application({ slug: `${prefix}-b`.slice(0, 50), name: `${prefix} b open` });
      bound = await f.application({ slug: `${prefix}-a`.slice(0, 50), name: `${prefix} a bound` });
      const provider = await createProvider({
        redirect_uris: [{ matching_mode: 'strict', url: 'https://l.example.com/cb' }],
      });
      launch = await f.application({
        slug: `${prefix}-c`.slice(0, 50),
        name: `${prefix} c launch`,
        providerId: provider.pk,
      });
      const parent = await f.group();
      const child = await f.group({ parent: parent.name });
      await t.dataSource.query('INSERT INTO application_groups (application_id, group_id) VALUES ($1, $2)', [
        bound.id,
        parent.id,
      ]);
      member = await f.user();
      await f.member(member, child);
      memberKey = await f.apiKey(member);
    });

    const slugs = async (query: string, key: string) => {
      const response = await request(
        t.app,
        'GET',
        `${A}?search=${encodeURIComponent(prefix)}&${query}`,
        bearer(key),
      );
      expect(response.status).toBe(200);
      const body = response.body as { results: { slug: string }[]; pagination: { count: number } };
      return { slugs: body.results.map((r) => r.slug), count: body.pagination.count };
    };

    it('everyone signed in lists what they may use: unbound apps, and bound ones through (parent) groups', async () => {
      expect(await slugs('', plainKey)).toEqual({ slugs: [open.slug, launch.slug], count: 2 });
      expect(await slugs('', memberKey)).toEqual({ slugs: [bound.slug, open.slug, launch.slug], count: 3 });
      expect(await slugs('', adminKey)).toEqual({ slugs: [bound.slug, open.slug, launch.slug], count: 3 });
      expect(await slugs('superuser_full_list=true', adminKey)).toEqual({
        slugs: [bound.slug, open.slug, launch.slug],
        count: 3,
      });
      expect(await slugs('superuser_full_list=true', plainKey)).toEqual({
        slugs: [open.slug, launch.slug],
        count: 2,
      });
      expect(await slugs('only_with_launch_url=true', plainKey)).toEqual({ slugs: [launch.slug], count: 2 });
      expect(await slugs('ordering=-slug', memberKey)).toEqual({
        slugs: [launch.slug, open.slug, bound.slug],
        count: 3,
      });
      expect(await slugs(`slug=${open.slug}`, plainKey)).toEqual({ slugs: [open.slug], count: 1 });
      expect(await slugs(`name=${encodeURIComponent(`${prefix} c launch`)}`, plainKey)).toEqual({
        slugs: [launch.slug],
        count: 1,
      });
      expect(await slugs('page_size=1&page=2', memberKey)).toEqual({ slugs: [open.slug], count: 3 });
      expect((await request(t.app, 'GET', A)).body).toEqual(ANONYMOUS);
      const listed = await request(t.app, 'GET', `${A}?slug=${launch.slug}`, bearer(plainKey));
      expect((listed.body as { results: { launch_url: string }[] }).results[0]?.launch_url).toBe(
        'https://l.example.com',
      );
    });

    it('for_user: as another user, with view_user_applications', async () => {
      expect(await slugs(`for_user=${member.id}`, adminKey)).toEqual({
        slugs: [bound.slug, open.slug, launch.slug],
        count: 3,
      });
      expect(await slugs(`for_user=${plain.id}`, adminKey)).toEqual({
        slugs: [open.slug, launch.slug],
        count: 2,
      });
      expect(await request(t.app, 'GET', `${A}?for_user=${member.id}`, bearer(plainKey))).toMatchObject({
        status: 400,
        body: { for_user: 'User not found' },
      });
      expect(await request(t.app, 'GET', `${A}?for_user=2147483000`, bearer(adminKey))).toMatchObject({
        status: 400,
        body: { for_user: 'User not found' },
      });
      expect(await request(t.app, 'GET', `${A}?for_user=abc`, bearer(adminKey))).toMatchObject({
        status: 400,
        body: ['Invalid input.'],
      });
      const viewer = await f.user();
      await f.role(['authentik_core.view_user_applications'], { user: viewer });
      expect(await slugs(`for_user=${member.id}`, await f.apiKey(viewer))).toEqual({
        slugs: [bound.slug, open.slug, launch.slug],
        count: 3,
      });
    });
  });

  it('permission matrix: retrieve view, create add, update change, delete delete; 405s', async () => {
    const slug = unique('perm-app').slice(0, 50);
    expect((await post({ name: 'Perm', slug })).status).toBe(201);
    const who: Record<string, string> = {
      plain: plainKey,
      view: keys.view_application ?? '',
      add: keys.add_application ?? '',
      change: keys.change_application ?? '',
      delete: keys.delete_application ?? '',
      superuser: adminKey,
    };
    const matrix = async (run: (key: string, name: string) => Promise<{ status: number; body: unknown }>) => {
      const out: Record<string, number> = {};
      for (const [name, key] of Object.entries(who)) {
        const { status, body } = await run(key, name);
        if (status === 403) expect(body).toEqual(DENIED);
        out[name] = status;
      }
      const anonymous = await run('', 'anonymous');
      expect(anonymous).toMatchObject({ status: 403, body: ANONYMOUS });
      return out;
    };
    const auth = (key: string) => (key === '' ? {} : bearer(key));
    const only = (ok: number, allowed: string[]) =>
      Object.fromEntries(Object.keys(who).map((name) => [name, allowed.includes(name) ? ok : 403]));
    expect(await matrix((key) => request(t.app, 'GET', A, auth(key)))).toEqual(only(200, Object.keys(who)));
    expect(await matrix((key) => request(t.app, 'GET', `${A}${slug}/`, auth(key)))).toEqual(
      only(200, ['view', 'superuser']),
    );
    expect(
      await matrix((key) =>
        requestJson(t.app, 'POST', A, { name: 'n', slug: unique('perm-new').slice(0, 50) }, auth(key)),
      ),
    ).toEqual(only(201, ['add', 'superuser']));
    expect(
      await matrix((key) => requestJson(t.app, 'PATCH', `${A}${slug}/`, { name: 'Renamed' }, auth(key))),
    ).toEqual(only(200, ['change', 'superuser']));
    expect(
      await matrix((key) => requestJson(t.app, 'PUT', `${A}${slug}/`, { name: 'Again', slug }, auth(key))),
    ).toEqual(only(200, ['change', 'superuser']));
    const victims: Record<string, string> = {};
    for (const name of Object.keys(who)) {
      victims[name] = unique(`victim-${name}`).slice(0, 50);
      await post({ name: 'v', slug: victims[name] });
    }
    expect(
      await matrix((key, name) => request(t.app, 'DELETE', `${A}${victims[name] ?? 'none'}/`, auth(key))),
    ).toEqual(only(204, ['delete', 'superuser']));
    const put = await requestJson(t.app, 'PUT', A, {}, bearer(keys.change_application ?? ''));
    expect(put).toMatchObject({ status: 405, body: { detail: 'Method "PUT" not allowed.' } });
    expect(put.headers.allow).toBe('GET, POST, HEAD, OPTIONS');
    expect(await request(t.app, 'DELETE', A, bearer(keys.delete_application ?? ''))).toMatchObject({
      status: 405,
    });
    expect(await request(t.app, 'DELETE', A, bearer(plainKey))).toMatchObject({ status: 403, body: DENIED });
    const item = await requestJson(t.app, 'POST', `${A}${slug}/`, {}, bearer(plainKey));
    expect(item).toMatchObject({ status: 405, body: { detail: 'Method "POST" not allowed.' } });
    expect(item.headers.allow).toBe('GET, PUT, PATCH, DELETE, HEAD, OPTIONS');
  });
});

describe('@goauthentik/api', () => {
  let providers: ProvidersApi;
  let core: CoreApi;

  beforeAll(() => {
    const configuration = new Configuration({ basePath: baseUrl, accessToken: adminKey });
    providers = new ProvidersApi(configuration);
    core = new CoreApi(configuration);
  });

  it('ProvidersApi: create, retrieve, list, update, partial update, setup URLs, preview, destroy', async () => {
    const name = unique('client-provider');
    const created = await providers.providersOauth2Create({
      oAuth2ProviderRequest: {
        name,
        authorizationFlow: FLOW_A,
        invalidationFlow: FLOW_B,
        clientType: ClientTypeEnum.Confidential,
        subMode: SubModeEnum.UserUsername,
        redirectUris: [{ matchingMode: MatchingModeEnum.Strict, url: 'https://client.example.com/cb' }],
      },
    });
    expect(created.pk).toEqual(expect.any(Number));
    expect(created.name).toBe(name);
    expect(created.clientSecret).toMatch(/^[A-Za-z0-9]{128}$/);
    expect(created.subMode).toBe('user_username');
    expect(created.redirectUris).toEqual([
      { matchingMode: 'strict', url: 'https://client.example.com/cb', redirectUriType: 'authorization' },
    ]);
    const read = await providers.providersOauth2Retrieve({ id: created.pk });
    expect({ ...read, clientSecret: created.clientSecret }).toEqual(created);
    expect(read.clientSecret).toBe('');
    const page = await providers.providersOauth2List({
      name,
      subMode: SubModeEnum.UserUsername,
      ordering: '-pk',
    });
    expect(page.pagination.count).toBe(1);
    expect(page.results.map((p) => p.pk)).toEqual([created.pk]);
    const updated = await providers.providersOauth2Update({
      id: created.pk,
      oAuth2ProviderRequest: {
        name: `${name} v2`,
        authorizationFlow: FLOW_A,
        invalidationFlow: FLOW_B,
        redirectUris: [],
        accessTokenValidity: 'minutes=10',
      },
    });
    expect(updated).toEqual(
      expect.objectContaining({ name: `${name} v2`, accessTokenValidity: 'minutes=10', clientSecret: '' }),
    );
    const patched = await providers.providersOauth2PartialUpdate({
      id: created.pk,
      patchedOAuth2ProviderRequest: { includeClaimsInIdToken: false },
    });
    expect(patched.includeClaimsInIdToken).toBe(false);
    const urls = await providers.providersOauth2SetupUrlsRetrieveRaw({ id: created.pk });
    expect(await urls.raw.json()).toEqual({
      issuer: null,
      authorize: expect.stringMatching(/\/application\/o\/authorize\/$/),
      token: expect.stringMatching(/\/application\/o\/token\/$/),
      user_info: expect.stringMatching(/\/application\/o\/userinfo\/$/),
      provider_info: null,
      logout: null,
    });
    const preview = await providers.providersOauth2PreviewUserRetrieve({ id: created.pk, forUser: plain.id });
    expect(preview.preview).toEqual(expect.objectContaining({ sub: plain.username, aud: created.clientId }));
    await expect(
      providers.providersOauth2Create({
        oAuth2ProviderRequest: {
          name: `${name} v2`,
          authorizationFlow: FLOW_A,
          invalidationFlow: FLOW_B,
          redirectUris: [],
        },
      }),
    ).rejects.toBeInstanceOf(ResponseError);
    await providers.providersOauth2Destroy({ id: created.pk });
    const gone = await providers.providersOauth2Retrieve({ id: created.pk }).catch((error: unknown) => error);
    expect(gone).toBeInstanceOf(ResponseError);
    expect((gone as ResponseError).response.status).toBe(404);
    expect(await (gone as ResponseError).response.json()).toEqual(NO_PROVIDER);
  });

  it('CoreApi: create, retrieve, list, update, partial update, destroy', async () => {
    const provider = await createProvider({
      redirect_uris: [{ matching_mode: 'strict', url: 'https://core.example.com/cb' }],
    });
    const slug = unique('client-app').slice(0, 50);
    const created = await core.coreApplicationsCreate({
      applicationRequest: { name: 'Client App', slug, provider: provider.pk, metaPublisher: 'Grantry' },
    });
    expect(created).toEqual(
      expect.objectContaining({
        pk: expect.stringMatching(UUID),
        name: 'Client App',
        slug,
        provider: provider.pk,
        launchUrl: 'https://core.example.com',
        metaPublisher: 'Grantry',
        policyEngineMode: 'any',
        backchannelProvidersObj: [],
      }),
    );
    expect(created.providerObj?.assignedApplicationSlug).toBe(slug);
    expect(await core.coreApplicationsRetrieve({ slug })).toEqual(created);
    const page = await core.coreApplicationsList({ slug, onlyWithLaunchUrl: true, superuserFullList: true });
    expect(page.results.map((a) => a.slug)).toEqual([slug]);
    const forUser = await core.coreApplicationsList({ slug, forUser: plain.id });
    expect(forUser.pagination.count).toBe(1);
    const updated = await core.coreApplicationsUpdate({
      slug,
      applicationRequest: { name: 'Renamed', slug },
    });
    expect(updated.name).toBe('Renamed');
    const patched = await core.coreApplicationsPartialUpdate({
      slug,
      patchedApplicationRequest: { metaLaunchUrl: 'https://launch.example.com/' },
    });
    expect(patched.launchUrl).toBe('https://launch.example.com/');
    const bad = await core
      .coreApplicationsCreate({ applicationRequest: { name: 'x', slug: 'token' } })
      .catch((error: unknown) => error);
    expect(bad).toBeInstanceOf(ResponseError);
    expect(await (bad as ResponseError).response.json()).toEqual({
      slug: ["The slug 'token' is reserved and cannot be used for applications."],
    });
    await core.coreApplicationsDestroy({ slug });
    const gone = await core.coreApplicationsRetrieve({ slug }).catch((error: unknown) => error);
    expect((gone as ResponseError).response.status).toBe(404);
    expect(await (gone as ResponseError).response.json()).toEqual(NO_APP);
  });
});
