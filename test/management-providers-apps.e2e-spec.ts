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
  Record<string, unknown> & { pk: number; client_id: string; client_secret: string; signing_key: string }
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
afterAll(() => t.close());

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
