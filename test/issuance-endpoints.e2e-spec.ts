/**
 * The OAuth2 / OpenID Connect endpoints around the token endpoint (issue 12): userinfo, introspection (RFC 7662),
 * revocation (RFC 7009), discovery (OpenID Connect Discovery and RFC 8414) and RP-initiated logout, each as
 * authentik answers (../shared/reference/authentik-issuance.md §1.5, §1.6). Tokens are minted with the app's own
 * TokenIssuer, as the token endpoint will.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from 'jose';
import { sha256 } from '../src/common/crypto/secrets';
import { hashPassword } from '../src/identity/password';
import type { UserEntity } from '../src/identity/user.entity';
import { Sealer } from '../src/keys/sealing';
import { Clients } from '../src/oauth2/issuance/core/clients';
import { TOKEN_ERRORS } from './support/oauth-errors';
import { type Issued, TokenIssuer } from '../src/oauth2/issuance/core/token-issuer';
import type { IssuerMode, RedirectUri } from '../src/providers/oauth2-provider.entity';
import { createApplication, createProvider } from '../src/providers/providers';
import { PAGE_CSP } from '../src/sessions/pages';
import { createTestApp, type TestApp } from './support/app';
import { Factories, unique } from './support/factories';

const NOT_FOUND = { detail: 'Not found.' };
const INVALID_TOKEN =
  'error="invalid_token", error_description="The access token provided is expired, revoked, malformed, or invalid ' +
  'for other reasons"';
const INSUFFICIENT_SCOPE =
  'error="insufficient_scope", error_description="The request requires higher privileges than provided by the ' +
  'access token"';
const PASSWORD = 'correct horse battery';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  text: string;
  body: unknown;
}

async function send(
  app: NestFastifyApplication,
  method: 'GET' | 'POST' | 'OPTIONS',
  url: string,
  options: { headers?: Record<string, string>; form?: Record<string, string> } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  let payload: string | undefined;
  if (options.form !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    payload = new URLSearchParams(options.form).toString();
  }
  const response = await app.getHttpAdapter().getInstance().inject({ method, url, headers, payload });
  let body: unknown;
  try {
    body = response.body === '' ? undefined : JSON.parse(response.body);
  } catch {
    body = undefined;
  }
  return { status: response.statusCode, headers: response.headers, text: response.body, body };
}

const basic = (id: string, secret: string): Record<string, string> => ({
  authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
});

/** OIDC at_hash, computed here independently of the code under test. */
const atHash = (token: string): string =>
  createHash('sha256').update(token).digest().subarray(0, 16).toString('base64url');

interface Setup {
  providerId: number;
  clientId: string;
  clientSecret: string | null;
  slug: string;
  name: string;
}

describe('issuance endpoints: userinfo, introspection, revocation, discovery, end-session', () => {
  let t: TestApp;
  let f: Factories;

  beforeAll(async () => {
    t = await createTestApp();
    f = new Factories(t.dataSource);
  });
  afterAll(() => t?.close());

  async function setup(
    options: {
      clientType?: 'confidential' | 'public';
      issuerMode?: IssuerMode;
      algorithm?: 'RS256' | 'ES256';
      redirectUris?: RedirectUri[];
      withApplication?: boolean;
      on?: TestApp;
    } = {},
  ): Promise<Setup> {
    const on = options.on ?? t;
    const name = unique('endpoints');
    const { provider, clientSecret } = await createProvider(
      on.dataSource.manager,
      {
        name,
        clientType: options.clientType,
        issuerMode: options.issuerMode,
        signingAlgorithm: options.algorithm ?? 'ES256',
      },
      on.app.get(Sealer),
    );
    if (options.redirectUris !== undefined) {
      await on.dataSource.query('UPDATE oauth2_providers SET redirect_uris = $2 WHERE id = $1', [
        provider.id,
        JSON.stringify(options.redirectUris),
      ]);
    }
    const slug = unique('app').slice(0, 50);
    const appName = `Wiki <${slug}>`;
    if (options.withApplication !== false) {
      await createApplication(on.dataSource.manager, { slug, name: appName, providerId: provider.id });
    }
    return { providerId: provider.id, clientId: provider.clientId, clientSecret, slug, name: appName };
  }

  async function mint(
    s: Setup,
    user: UserEntity,
    options: {
      scopes?: string[];
      sessionId?: string | null;
      nonce?: string | null;
      withRefreshToken?: boolean;
      base?: string;
    } = {},
  ): Promise<Issued> {
    const client = await t.app.get(Clients).find(s.clientId);
    if (!client) throw new Error(`no client ${s.clientId}`);
    const issuer = t.app.get(TokenIssuer);
    return t.dataSource.transaction(async (manager) => {
      const subject = await issuer.subject(manager, user.id);
      if (!subject) throw new Error(`no user ${user.id}`);
      return issuer.issue(manager, {
        client,
        subject,
        scopes: options.scopes ?? ['openid', 'email', 'profile', 'entitlements'],
        base: options.base ?? 'http://localhost:80',
        authTime: new Date(),
        sessionId: options.sessionId ?? null,
        nonce: options.nonce ?? null,
        familyId: issuer.newFamily(),
        amr: ['pwd'],
        withRefreshToken: options.withRefreshToken ?? false,
      });
    });
  }

  async function person(): Promise<UserEntity> {
    const user = await f.user({ name: 'Ada Lovelace', email: `${unique('ada')}@example.com` });
    const group = await f.group();
    await f.member(user, group);
    await f.role([], { user });
    return user;
  }

  async function groupsAndRoles(user: UserEntity): Promise<{ groups: string[]; roles: string[] }> {
    const [row] = await t.dataSource.query<{ groups: string[]; roles: string[] }[]>(
      `SELECT ARRAY(SELECT g.name FROM user_groups ug JOIN groups g ON g.id = ug.group_id WHERE ug.user_id = $1
                    ORDER BY g.name) AS groups,
              ARRAY(SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = $1
                    ORDER BY r.name) AS roles`,
      [user.id],
    );
    if (!row) throw new Error('no row');
    return row;
  }

  async function auditRows(requestId: string): Promise<Record<string, unknown>[]> {
    return t.dataSource.query(
      `SELECT action, actor_user_id, actor_username, model, object_pk, object_user_id, object_provider_id,
              secret_hash_prefix
         FROM audit_events WHERE request_id = $1 ORDER BY id`,
      [requestId],
    );
  }

  const prefix = (value: string): string => sha256(value).subarray(0, 4).toString('hex');

  async function rowExists(table: 'oauth2_access_tokens' | 'oauth2_refresh_tokens', id: number | undefined) {
    const rows = await t.dataSource.query<unknown[]>(`SELECT 1 FROM ${table} WHERE id = $1`, [id]);
    return rows.length === 1;
  }

  describe('userinfo', () => {
    let s: Setup;
    let user: UserEntity;
    let issued: Issued;
    let expected: Record<string, unknown>;

    beforeAll(async () => {
      s = await setup({
        redirectUris: [
          {
            matching_mode: 'strict',
            url: 'https://wiki.example.com/callback',
            redirect_uri_type: 'authorization',
          },
        ],
      });
      user = await person();
      issued = await mint(s, user, { nonce: 'n-0S6_WzA2Mj' });
      const { groups, roles } = await groupsAndRoles(user);
      expected = {
        sub: issued.idToken.sub,
        email: user.email,
        email_verified: false,
        entitlements: [],
        roles,
        name: 'Ada Lovelace',
        given_name: 'Ada Lovelace',
        preferred_username: user.username,
        nickname: user.username,
        groups,
        nonce: 'n-0S6_WzA2Mj',
      };
    });

    it('answers the claims of the token\'s scopes, in authentik\'s order, never cached, for "Bearer" and "bearer"', async () => {
      for (const scheme of ['Bearer', 'bearer']) {
        const response = await send(t.app, 'GET', '/application/o/userinfo/', {
          headers: { authorization: `${scheme} ${issued.body.access_token}` },
        });
        expect({ status: response.status, body: response.body }).toEqual({ status: 200, body: expected });
        expect(Object.keys(response.body as object)).toEqual(Object.keys(expected));
        expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
        expect(response.headers['cache-control']).toBe('no-store');
        expect(response.headers.pragma).toBe('no-cache');
      }
      expect((expected.groups as string[]).length).toBe(1);
      expect((expected.roles as string[]).length).toBe(1);
    });

    it('reads the token from the POST form, then from the query, on GET and POST alike', async () => {
      const token = issued.body.access_token;
      const byForm = await send(t.app, 'POST', '/application/o/userinfo/', { form: { access_token: token } });
      expect({ status: byForm.status, body: byForm.body }).toEqual({ status: 200, body: expected });
      const byQuery = await send(t.app, 'GET', `/application/o/userinfo/?access_token=${token}`);
      expect({ status: byQuery.status, body: byQuery.body }).toEqual({ status: 200, body: expected });
      const postWithQuery = await send(t.app, 'POST', `/application/o/userinfo?access_token=${token}`);
      expect({ status: postWithQuery.status, body: postWithQuery.body }).toEqual({
        status: 200,
        body: expected,
      });
      // The header comes first: a bad token there is not rescued by a good one in the query or the form.
      const headerFirst = await send(t.app, 'POST', `/application/o/userinfo/?access_token=${token}`, {
        headers: { authorization: 'Bearer not-a-token' },
        form: { access_token: token },
      });
      expect(headerFirst.status).toBe(401);
      // A token in the URL is redacted from the request log, whole and part by part.
      expect(t.logs.text).toContain('/application/o/userinfo/?access_token=');
      for (const part of [token, ...token.split('.')]) expect(t.logs.text).not.toContain(part);
      // A form field that is present wins over the query, even when empty.
      const emptyForm = await send(t.app, 'POST', `/application/o/userinfo/?access_token=${token}`, {
        form: { access_token: '' },
      });
      expect(emptyForm.status).toBe(401);
    });

    it('evaluates the claims at request time (a renamed user is seen at once) and leaves out an absent nonce', async () => {
      const renamed = await person();
      const own = await mint(s, renamed, { scopes: ['openid', 'profile'] });
      await t.dataSource.query(`UPDATE users SET name = 'Ada King' WHERE id = $1`, [renamed.id]);
      const response = await send(t.app, 'GET', '/application/o/userinfo/', {
        headers: { authorization: `Bearer ${own.body.access_token}` },
      });
      const { groups } = await groupsAndRoles(renamed);
      expect({ status: response.status, body: response.body }).toEqual({
        status: 200,
        body: {
          sub: own.idToken.sub,
          name: 'Ada King',
          given_name: 'Ada King',
          preferred_username: renamed.username,
          nickname: renamed.username,
          groups,
        },
      });
    });

    it.each([
      ['no token at all', {}],
      ['an empty query token', { query: '' }],
      ['an unknown token', { header: 'Bearer not-a-token' }],
      ['a Bearer header with no token', { header: 'Bearer ' }],
      ['another scheme', { header: `Token ${'x'.repeat(10)}` }],
    ])("answers 401 with an empty body and authentik's WWW-Authenticate for %s", async (_case, input) => {
      const { header, query } = input as { header?: string; query?: string };
      const response = await send(
        t.app,
        'GET',
        `/application/o/userinfo/${query === undefined ? '' : `?access_token=${query}`}`,
        { headers: header === undefined ? {} : { authorization: header } },
      );
      expect({
        status: response.status,
        text: response.text,
        auth: response.headers['www-authenticate'],
      }).toEqual({
        status: 401,
        text: '',
        auth: INVALID_TOKEN,
      });
    });

    it('answers 401 for an expired token and for a token of a deactivated user', async () => {
      const expiredUser = await person();
      const expired = await mint(s, expiredUser);
      await t.dataSource.query(
        `UPDATE oauth2_access_tokens SET expires = now() - interval '1 second' WHERE id = $1`,
        [expired.accessTokenId],
      );
      const inactiveUser = await person();
      const inactive = await mint(s, inactiveUser);
      await t.dataSource.query('UPDATE users SET is_active = false WHERE id = $1', [inactiveUser.id]);
      for (const token of [expired.body.access_token, inactive.body.access_token]) {
        const response = await send(t.app, 'GET', '/application/o/userinfo/', {
          headers: { authorization: `Bearer ${token}` },
        });
        expect({
          status: response.status,
          text: response.text,
          auth: response.headers['www-authenticate'],
        }).toEqual({ status: 401, text: '', auth: INVALID_TOKEN });
      }
    });

    it('answers 401 for a revoked token and records the use as a suspicious request', async () => {
      const holder = await person();
      const revoked = await mint(s, holder);
      await t.dataSource.query('UPDATE oauth2_access_tokens SET revoked = true WHERE id = $1', [
        revoked.accessTokenId,
      ]);
      const requestId = randomUUID();
      const response = await send(t.app, 'GET', '/application/o/userinfo/', {
        headers: { authorization: `Bearer ${revoked.body.access_token}`, 'x-request-id': requestId },
      });
      expect({
        status: response.status,
        text: response.text,
        auth: response.headers['www-authenticate'],
      }).toEqual({
        status: 401,
        text: '',
        auth: INVALID_TOKEN,
      });
      expect(await auditRows(requestId)).toEqual([
        {
          action: 'suspicious_request',
          actor_user_id: holder.id,
          actor_username: holder.username,
          model: 'AccessToken',
          object_pk: revoked.accessTokenId,
          object_user_id: holder.id,
          object_provider_id: s.providerId,
          secret_hash_prefix: prefix(revoked.body.access_token),
        },
      ]);
      // An unknown token is not an event.
      const unknownId = randomUUID();
      await send(t.app, 'GET', '/application/o/userinfo/', {
        headers: { authorization: 'Bearer nothing-like-it', 'x-request-id': unknownId },
      });
      expect(await auditRows(unknownId)).toEqual([]);
    });

    it('answers 403 insufficient_scope for a token without openid', async () => {
      const apiOnly = await mint(s, user, { scopes: ['email', 'goauthentik.io/api'] });
      const response = await send(t.app, 'GET', '/application/o/userinfo/', {
        headers: { authorization: `Bearer ${apiOnly.body.access_token}` },
      });
      expect({
        status: response.status,
        text: response.text,
        auth: response.headers['www-authenticate'],
      }).toEqual({
        status: 403,
        text: '',
        auth: INSUFFICIENT_SCOPE,
      });
    });

    it("allows CORS from the origin of one of the provider's redirect URIs only", async () => {
      const allowed = await send(t.app, 'GET', '/application/o/userinfo/', {
        headers: { authorization: `Bearer ${issued.body.access_token}`, origin: 'https://wiki.example.com' },
      });
      expect(allowed.status).toBe(200);
      expect(allowed.headers['access-control-allow-origin']).toBe('https://wiki.example.com');
      expect(allowed.headers['access-control-allow-credentials']).toBe('true');
      const refused = await send(t.app, 'GET', '/application/o/userinfo/', {
        headers: { authorization: `Bearer ${issued.body.access_token}`, origin: 'https://evil.example.com' },
      });
      expect(refused.status).toBe(200);
      expect(refused.headers['access-control-allow-origin']).toBeUndefined();
      const preflight = await send(t.app, 'OPTIONS', '/application/o/userinfo/', {
        headers: {
          origin: 'https://wiki.example.com',
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'authorization',
        },
      });
      expect({ status: preflight.status, body: preflight.body }).toEqual({ status: 200, body: {} });
      expect(preflight.headers['access-control-allow-origin']).toBe('https://wiki.example.com');
      expect(preflight.headers['access-control-allow-headers']).toBe('authorization');
      expect(preflight.headers['access-control-allow-methods']).toBe('GET, POST, OPTIONS');
    });
  });

  describe('introspection', () => {
    let s: Setup;
    let other: Setup;
    let pub: Setup;
    let user: UserEntity;

    beforeAll(async () => {
      [s, other, pub] = await Promise.all([setup(), setup(), setup({ clientType: 'public' })]);
      user = await person();
    });

    const introspect = (
      token: string,
      credentials: { basic?: [string, string]; form?: Record<string, string> },
      headers: Record<string, string> = {},
    ): Promise<Reply> =>
      send(t.app, 'POST', '/application/o/introspect/', {
        headers: { ...(credentials.basic ? basic(...credentials.basic) : {}), ...headers },
        form: { token, ...credentials.form },
      });

    it('describes a live access token: its stored claims, active, scope and client_id, never cached', async () => {
      const issued = await mint(s, user, { nonce: 'abc' });
      for (const credentials of [
        { basic: [s.clientId, s.clientSecret ?? ''] as [string, string] },
        { form: { client_id: s.clientId, client_secret: s.clientSecret ?? '' } },
      ]) {
        const response = await introspect(issued.body.access_token, credentials);
        expect({ status: response.status, body: response.body }).toEqual({
          status: 200,
          body: {
            ...issued.idToken,
            active: true,
            scope: 'openid email profile entitlements',
            client_id: s.clientId,
          },
        });
        expect(response.headers['cache-control']).toBe('no-store');
        expect(response.headers.pragma).toBe('no-cache');
      }
      expect(issued.idToken.nonce).toBe('abc');
    });

    it('describes a revoked access token with active false, and a live and a revoked refresh token', async () => {
      const issued = await mint(s, user, { scopes: ['openid', 'offline_access'], withRefreshToken: true });
      const refresh = issued.body.refresh_token ?? '';
      const creds = { basic: [s.clientId, s.clientSecret ?? ''] as [string, string] };
      const live = await introspect(refresh, creds);
      const claims = { ...issued.idToken, scope: 'openid offline_access', client_id: s.clientId };
      expect({ status: live.status, body: live.body }).toEqual({
        status: 200,
        body: { ...claims, active: true },
      });

      await t.dataSource.query('UPDATE oauth2_access_tokens SET revoked = true WHERE id = $1', [
        issued.accessTokenId,
      ]);
      await t.dataSource.query('UPDATE oauth2_refresh_tokens SET revoked = true WHERE id = $1', [
        issued.refreshTokenId,
      ]);
      for (const token of [issued.body.access_token, refresh]) {
        const response = await introspect(token, creds);
        expect({ status: response.status, body: response.body }).toEqual({
          status: 200,
          body: { ...claims, active: false },
        });
      }
    });

    it('answers {"active": false} for an expired or unknown token, a missing token, and a token of another provider', async () => {
      const creds = { basic: [s.clientId, s.clientSecret ?? ''] as [string, string] };
      const expired = await mint(s, user);
      await t.dataSource.query(
        `UPDATE oauth2_access_tokens SET expires = now() - interval '1 second' WHERE id = $1`,
        [expired.accessTokenId],
      );
      const foreign = await mint(other, user);
      for (const token of [expired.body.access_token, 'unknown-token', '', foreign.body.access_token]) {
        const response = await introspect(token, creds);
        expect({ token, status: response.status, body: response.body }).toEqual({
          token,
          status: 200,
          body: { active: false },
        });
      }
      // The other provider sees its own token.
      const own = await introspect(foreign.body.access_token, {
        basic: [other.clientId, other.clientSecret ?? ''],
      });
      expect((own.body as { active: boolean }).active).toBe(true);
    });

    it('answers {"active": false} to a public client, an unknown client, a wrong secret and no credentials; a wrong secret is audited', async () => {
      const issued = await mint(s, user);
      const pubToken = await mint(pub, user);
      const requestId = randomUUID();
      const cases: [
        string,
        { basic?: [string, string]; form?: Record<string, string> },
        Record<string, string>,
      ][] = [
        [pubToken.body.access_token, { form: { client_id: pub.clientId } }, {}],
        [pubToken.body.access_token, { basic: [pub.clientId, 'anything'] }, {}],
        [issued.body.access_token, { basic: ['no-such-client', s.clientSecret ?? ''] }, {}],
        [issued.body.access_token, { basic: [s.clientId, 'wrong'] }, { 'x-request-id': requestId }],
        [issued.body.access_token, { form: { client_id: s.clientId } }, {}],
        [issued.body.access_token, {}, {}],
      ];
      for (const [token, credentials, headers] of cases) {
        const response = await introspect(token, credentials, headers);
        expect({ credentials, status: response.status, body: response.body }).toEqual({
          credentials,
          status: 200,
          body: { active: false },
        });
      }
      expect(await auditRows(requestId)).toEqual([
        {
          action: 'client_auth_failed',
          actor_user_id: null,
          actor_username: s.clientId,
          model: 'OAuth2Provider',
          object_pk: s.providerId,
          object_user_id: null,
          object_provider_id: s.providerId,
          secret_hash_prefix: null,
        },
      ]);
    });
  });

  describe('revocation', () => {
    let s: Setup;
    let other: Setup;
    let pub: Setup;
    let user: UserEntity;

    beforeAll(async () => {
      [s, other, pub] = await Promise.all([setup(), setup(), setup({ clientType: 'public' })]);
      user = await person();
    });

    const revoke = (
      token: string,
      headers: Record<string, string>,
      form: Record<string, string> = {},
    ): Promise<Reply> => send(t.app, 'POST', '/application/o/revoke/', { headers, form: { token, ...form } });

    it('deletes an access token (200 {}, audited) after which introspection answers {"active": false}', async () => {
      const issued = await mint(s, user);
      const requestId = randomUUID();
      const response = await revoke(issued.body.access_token, {
        ...basic(s.clientId, s.clientSecret ?? ''),
        'x-request-id': requestId,
      });
      expect({ status: response.status, body: response.body }).toEqual({ status: 200, body: {} });
      expect(response.headers['cache-control']).toBe('no-store');
      expect(await rowExists('oauth2_access_tokens', issued.accessTokenId)).toBe(false);
      expect(await auditRows(requestId)).toEqual([
        {
          action: 'token_revoked',
          actor_user_id: null,
          actor_username: s.clientId,
          model: 'AccessToken',
          object_pk: issued.accessTokenId,
          object_user_id: user.id,
          object_provider_id: s.providerId,
          secret_hash_prefix: prefix(issued.body.access_token),
        },
      ]);
      const after = await send(t.app, 'POST', '/application/o/introspect/', {
        headers: basic(s.clientId, s.clientSecret ?? ''),
        form: { token: issued.body.access_token },
      });
      expect(after.body).toEqual({ active: false });
      const userinfo = await send(t.app, 'GET', '/application/o/userinfo/', {
        headers: { authorization: `Bearer ${issued.body.access_token}` },
      });
      expect(userinfo.status).toBe(401);
    });

    it('deletes a refresh token (form credentials) and leaves the access token issued with it valid', async () => {
      const issued = await mint(s, user, { scopes: ['openid', 'offline_access'], withRefreshToken: true });
      const refresh = issued.body.refresh_token ?? '';
      const requestId = randomUUID();
      const response = await revoke(
        refresh,
        { 'x-request-id': requestId },
        { client_id: s.clientId, client_secret: s.clientSecret ?? '', token_type_hint: 'access_token' },
      );
      expect({ status: response.status, body: response.body }).toEqual({ status: 200, body: {} });
      expect(await rowExists('oauth2_refresh_tokens', issued.refreshTokenId)).toBe(false);
      expect(await rowExists('oauth2_access_tokens', issued.accessTokenId)).toBe(true);
      expect(await auditRows(requestId)).toEqual([
        expect.objectContaining({
          action: 'token_revoked',
          model: 'RefreshToken',
          object_pk: issued.refreshTokenId,
        }),
      ]);
      const introspected = await send(t.app, 'POST', '/application/o/introspect/', {
        headers: basic(s.clientId, s.clientSecret ?? ''),
        form: { token: refresh },
      });
      expect(introspected.body).toEqual({ active: false });
      const userinfo = await send(t.app, 'GET', '/application/o/userinfo/', {
        headers: { authorization: `Bearer ${issued.body.access_token}` },
      });
      expect(userinfo.status).toBe(200);
    });

    it('answers 200 {} for an unknown token and for a token of another provider, which stays', async () => {
      const foreign = await mint(other, user);
      for (const token of ['no-such-token', '', foreign.body.access_token]) {
        const response = await revoke(token, basic(s.clientId, s.clientSecret ?? ''));
        expect({ token, status: response.status, body: response.body }).toEqual({
          token,
          status: 200,
          body: {},
        });
      }
      expect(await rowExists('oauth2_access_tokens', foreign.accessTokenId)).toBe(true);
    });

    it('identifies a public client by its client_id alone', async () => {
      const issued = await mint(pub, user);
      const response = await revoke(issued.body.access_token, {}, { client_id: pub.clientId });
      expect({ status: response.status, body: response.body }).toEqual({ status: 200, body: {} });
      expect(await rowExists('oauth2_access_tokens', issued.accessTokenId)).toBe(false);
    });

    it('answers 401 invalid_client to a confidential client without or with a wrong secret, and to an unknown client', async () => {
      const issued = await mint(s, user);
      const cases: [Record<string, string>, Record<string, string>][] = [
        [{}, { client_id: s.clientId }],
        [basic(s.clientId, 'wrong'), {}],
        [{}, { client_id: 'no-such-client', client_secret: 'x' }],
        [{}, {}],
      ];
      for (const [headers, form] of cases) {
        const requestId = randomUUID();
        const response = await revoke(
          issued.body.access_token,
          { ...headers, 'x-request-id': requestId },
          form,
        );
        expect({ form, status: response.status, body: response.body }).toEqual({
          form,
          status: 401,
          body: {
            error: 'invalid_client',
            error_description: TOKEN_ERRORS.invalid_client,
            request_id: requestId,
          },
        });
        expect(response.headers['cache-control']).toBe('no-store');
      }
      expect(await rowExists('oauth2_access_tokens', issued.accessTokenId)).toBe(true);
    });
  });

  describe('discovery', () => {
    const HOST = 'id.example.test';

    function document(base: string, issuer: string, slug: string, alg: string): Record<string, unknown> {
      return {
        issuer,
        authorization_endpoint: `${base}/application/o/authorize/`,
        token_endpoint: `${base}/application/o/token/`,
        userinfo_endpoint: `${base}/application/o/userinfo/`,
        end_session_endpoint: `${base}/application/o/${slug}/end-session/`,
        introspection_endpoint: `${base}/application/o/introspect/`,
        revocation_endpoint: `${base}/application/o/revoke/`,
        device_authorization_endpoint: `${base}/application/o/device/`,
        backchannel_logout_supported: false,
        backchannel_logout_session_supported: false,
        frontchannel_logout_supported: false,
        frontchannel_logout_session_supported: false,
        response_types_supported: [
          'code',
          'id_token',
          'id_token token',
          'code token',
          'code id_token',
          'code id_token token',
        ],
        response_modes_supported: ['query', 'fragment', 'form_post'],
        jwks_uri: `${base}/application/o/${slug}/jwks/`,
        grant_types_supported: [
          'authorization_code',
          'refresh_token',
          'implicit',
          'client_credentials',
          'password',
          'urn:ietf:params:oauth:grant-type:device_code',
        ],
        id_token_signing_alg_values_supported: [alg],
        subject_types_supported: ['public'],
        token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
        acr_values_supported: ['goauthentik.io/providers/oauth2/default'],
        scopes_supported: [
          'openid',
          'email',
          'profile',
          'entitlements',
          'offline_access',
          'goauthentik.io/api',
        ],
        request_parameter_supported: false,
        claims_supported: [
          'sub',
          'iss',
          'aud',
          'exp',
          'iat',
          'auth_time',
          'acr',
          'amr',
          'nonce',
          'email',
          'email_verified',
          'entitlements',
          'roles',
          'name',
          'given_name',
          'preferred_username',
          'nickname',
          'groups',
        ],
        claims_parameter_supported: false,
        code_challenge_methods_supported: ['plain', 'S256'],
      };
    }

    const paths = (slug: string): string[] => [
      `/application/o/${slug}/.well-known/openid-configuration`,
      `/.well-known/oauth-authorization-server/application/o/${slug}/`,
      `/.well-known/oauth-authorization-server/application/o/${slug}`,
    ];

    it("serves authentik's document, member for member and in order, at both paths, issuer per provider, from the Host header", async () => {
      const s = await setup({ algorithm: 'RS256' });
      const base = `http://${HOST}`;
      const expected = document(base, `${base}/application/o/${s.slug}/`, s.slug, 'RS256');
      for (const path of paths(s.slug)) {
        const response = await send(t.app, 'GET', path, { headers: { host: HOST } });
        expect({ path, status: response.status, body: response.body }).toEqual({
          path,
          status: 200,
          body: expected,
        });
        // The same bytes authentik's JsonResponse(indent=2) writes.
        expect(response.text).toBe(JSON.stringify(expected, null, 2));
        expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
        expect(response.headers['access-control-allow-origin']).toBe('*');
      }
    });

    it("names the global issuer for issuer_mode=global, and an ES256 key's algorithm", async () => {
      const s = await setup({ issuerMode: 'global', algorithm: 'ES256' });
      const response = await send(t.app, 'GET', paths(s.slug)[0] ?? '', {
        headers: { host: 'other.example.test:8443' },
      });
      const base = 'http://other.example.test:8443';
      expect({ status: response.status, body: response.body }).toEqual({
        status: 200,
        body: document(base, `${base}/`, s.slug, 'ES256'),
      });
    });

    it('redirects /application/o/<slug>/ to the discovery document', async () => {
      const s = await setup();
      for (const path of [`/application/o/${s.slug}/`, `/application/o/${s.slug}`]) {
        const response = await send(t.app, 'GET', path, { headers: { host: HOST } });
        expect({ status: response.status, location: response.headers.location, text: response.text }).toEqual(
          {
            status: 302,
            location: `/application/o/${s.slug}/.well-known/openid-configuration`,
            text: '',
          },
        );
      }
    });

    it('answers 405 to a GET of a shared endpoint that has none, instead of redirecting', async () => {
      for (const name of ['token', 'device', 'introspect', 'revoke']) {
        const response = await send(t.app, 'GET', `/application/o/${name}/`);
        expect({ name, status: response.status, body: response.body, allow: response.headers.allow }).toEqual(
          {
            name,
            status: 405,
            body: { detail: 'Method "GET" not allowed.' },
            allow: 'POST, OPTIONS',
          },
        );
      }
    });

    it('advertises no signing algorithm for a provider whose key pair is gone (Grantry never signs HS256)', async () => {
      const s = await setup();
      await t.dataSource.query('UPDATE oauth2_providers SET signing_key = NULL WHERE id = $1', [
        s.providerId,
      ]);
      const response = await send(t.app, 'GET', paths(s.slug)[0] ?? '', { headers: { host: HOST } });
      expect(response.status).toBe(200);
      expect((response.body as Record<string, unknown>).id_token_signing_alg_values_supported).toEqual([]);
    });

    it('answers 404 {"detail": "Not found."} for an unknown slug, an application without a provider, and a malformed slug', async () => {
      const bare = await setup();
      await t.dataSource.query('UPDATE applications SET provider_id = NULL WHERE slug = $1', [bare.slug]);
      for (const slug of ['no-such-application', bare.slug, 'bad%00slug', 'a.b']) {
        for (const path of paths(slug)) {
          const response = await send(t.app, 'GET', path);
          expect({ path, status: response.status, body: response.body }).toEqual({
            path,
            status: 404,
            body: NOT_FOUND,
          });
        }
      }
    });

    it('verifies an ID token and an access token against the JWKS with the discovered issuer: iss, aud, at_hash', async () => {
      for (const algorithm of ['RS256', 'ES256'] as const) {
        const s = await setup({ algorithm });
        const user = await person();
        const base = `http://${HOST}`;
        const issued = await mint(s, user, { base, nonce: 'nonce-1' });
        const discovery = (await send(t.app, 'GET', paths(s.slug)[0] ?? '', { headers: { host: HOST } }))
          .body as {
          issuer: string;
          jwks_uri: string;
        };
        const jwksPath = new URL(discovery.jwks_uri).pathname;
        const jwks = createLocalJWKSet((await send(t.app, 'GET', jwksPath)).body as JSONWebKeySet);
        const id = await jwtVerify(issued.body.id_token, jwks, {
          issuer: discovery.issuer,
          audience: s.clientId,
          algorithms: [algorithm],
        });
        expect(id.payload.iss).toBe(`${base}/application/o/${s.slug}/`);
        expect(id.payload.aud).toBe(s.clientId);
        expect(id.payload.nonce).toBe('nonce-1');
        expect(id.payload.at_hash).toBe(atHash(issued.body.access_token));
        expect(decodeProtectedHeader(issued.body.id_token).alg).toBe(algorithm);
        const access = await jwtVerify(issued.body.access_token, jwks, {
          issuer: discovery.issuer,
          audience: s.clientId,
          algorithms: [algorithm],
        });
        expect(access.payload).toEqual(
          expect.objectContaining({ azp: s.clientId, scope: 'openid email profile entitlements' }),
        );
        expect(access.payload.sub).toBe(id.payload.sub);
      }
    });
  });

  describe('discovery with PUBLIC_URL', () => {
    let pub: TestApp;

    beforeAll(async () => {
      pub = await createTestApp({ PUBLIC_URL: 'https://id.example.com/auth/' });
    });
    afterAll(() => pub?.close());

    it('builds issuer and endpoints on PUBLIC_URL whatever the Host header, and redirects under its path', async () => {
      const s = await setup({ on: pub });
      const g = await setup({ on: pub, issuerMode: 'global' });
      const base = 'https://id.example.com/auth';
      for (const [setupOf, issuer] of [
        [s, `${base}/application/o/${s.slug}/`],
        [g, `${base}/`],
      ] as const) {
        const response = await send(
          pub.app,
          'GET',
          `/application/o/${setupOf.slug}/.well-known/openid-configuration`,
          {
            headers: { host: 'forged.example.net' },
          },
        );
        expect(response.status).toBe(200);
        const body = response.body as Record<string, unknown>;
        expect({
          issuer: body.issuer,
          token_endpoint: body.token_endpoint,
          jwks_uri: body.jwks_uri,
          end_session_endpoint: body.end_session_endpoint,
        }).toEqual({
          issuer,
          token_endpoint: `${base}/application/o/token/`,
          jwks_uri: `${base}/application/o/${setupOf.slug}/jwks/`,
          end_session_endpoint: `${base}/application/o/${setupOf.slug}/end-session/`,
        });
      }
      const redirect = await send(pub.app, 'GET', `/application/o/${s.slug}/`, {
        headers: { host: 'forged.example.net' },
      });
      expect({ status: redirect.status, location: redirect.headers.location }).toEqual({
        status: 302,
        location: `/auth/application/o/${s.slug}/.well-known/openid-configuration`,
      });
    });
  });

  describe('end-session', () => {
    let s: Setup;
    let other: Setup;

    const LOGOUT = 'https://wiki.example.com/signed-out';
    const LOGOUT_WITH_QUERY = 'https://wiki.example.com/bye?from=grantry';

    beforeAll(async () => {
      const redirectUris: RedirectUri[] = [
        {
          matching_mode: 'strict',
          url: 'https://wiki.example.com/callback',
          redirect_uri_type: 'authorization',
        },
        { matching_mode: 'strict', url: LOGOUT, redirect_uri_type: 'logout' },
        { matching_mode: 'strict', url: LOGOUT_WITH_QUERY, redirect_uri_type: 'logout' },
        {
          matching_mode: 'regex',
          url: 'https://([a-z]+)\\.wiki\\.example\\.com/out',
          redirect_uri_type: 'logout',
        },
      ];
      [s, other] = await Promise.all([setup({ redirectUris }), setup({ redirectUris })]);
    });

    /** Signs in through the login form, as a browser does; answers the session cookie and the session's id. */
    async function signIn(user: UserEntity): Promise<{ cookie: string; sessionId: string }> {
      await t.dataSource.query('UPDATE users SET password = $2 WHERE id = $1', [
        user.id,
        await hashPassword(PASSWORD),
      ]);
      const form = await send(t.app, 'GET', '/login/');
      const csrfCookie = /^grantry_csrf=([^;]+)/.exec(String(form.headers['set-cookie']))?.[1] ?? '';
      const csrfToken = /name="csrf_token" value="([^"]+)"/.exec(form.text)?.[1] ?? '';
      const login = await send(t.app, 'POST', '/login/', {
        headers: { cookie: `grantry_csrf=${csrfCookie}` },
        form: { csrf_token: csrfToken, username: user.username, password: PASSWORD },
      });
      expect(login.status).toBe(303);
      const session = /^grantry_session=([^;]+)/.exec(String(login.headers['set-cookie']))?.[1] ?? '';
      const [row] = await t.dataSource.query<{ id: string }[]>(
        'SELECT id FROM sessions WHERE token_hash = $1',
        [sha256(session)],
      );
      if (!row) throw new Error('no session row');
      return { cookie: `grantry_session=${session}`, sessionId: row.id };
    }

    function expectSignedOutPage(response: Reply, name: string, stillSignedIn: boolean): void {
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(response.headers['content-security-policy']).toBe(PAGE_CSP);
      expect(response.text).toContain('<title>Signed out · Grantry</title>');
      expect(response.text).toContain(
        `<h1>You have signed out of ${name.replace('<', '&lt;').replace('>', '&gt;')}</h1>`,
      );
      expect(response.text).toContain(
        stillSignedIn
          ? '<p>You are still signed in to Grantry, and to your other applications.</p>'
          : '<p>You are not signed in to Grantry.</p>',
      );
      expect(response.text).toContain('<a href="/account/">Go to your account</a>');
      expect(response.text).not.toMatch(/<script/i);
    }

    it('without a session and without a post-logout URI: the signed-out page', async () => {
      for (const method of ['GET', 'POST'] as const) {
        const response = await send(t.app, method, `/application/o/${s.slug}/end-session/`, {
          ...(method === 'POST' ? { form: {} } : {}),
        });
        expectSignedOutPage(response, s.name, false);
      }
    });

    it('redirects to a registered logout URI with state appended (quoted as Python quote(safe="")), by GET or POST', async () => {
      const state = "a b/c?d&e=f~g_h.i-j!'()*é";
      const quoted = 'a%20b%2Fc%3Fd%26e%3Df~g_h.i-j%21%27%28%29%2A%C3%A9';
      const cases: [string, string, string][] = [
        [LOGOUT, state, `${LOGOUT}?state=${quoted}`],
        [LOGOUT_WITH_QUERY, state, `${LOGOUT_WITH_QUERY}&state=${quoted}`],
        [LOGOUT, '', LOGOUT],
        ['https://team.wiki.example.com/out', 'xyz', 'https://team.wiki.example.com/out?state=xyz'],
      ];
      for (const [uri, st, location] of cases) {
        const query = new URLSearchParams({
          post_logout_redirect_uri: uri,
          state: st,
          id_token_hint: 'ignored',
        });
        const get = await send(t.app, 'GET', `/application/o/${s.slug}/end-session/?${query.toString()}`);
        expect({ uri, status: get.status, location: get.headers.location }).toEqual({
          uri,
          status: 302,
          location,
        });
        const post = await send(t.app, 'POST', `/application/o/${s.slug}/end-session/`, {
          form: { post_logout_redirect_uri: uri, state: st },
        });
        expect({ uri, status: post.status, location: post.headers.location }).toEqual({
          uri,
          status: 302,
          location,
        });
      }
      // Without state, nothing is appended.
      const bare = await send(
        t.app,
        'GET',
        `/application/o/${s.slug}/end-session/?post_logout_redirect_uri=${LOGOUT}`,
      );
      expect({ status: bare.status, location: bare.headers.location }).toEqual({
        status: 302,
        location: LOGOUT,
      });
    });

    it('ignores an unregistered URI, an authorization-type URI and a POST parameter sent in the query', async () => {
      for (const uri of [
        'https://evil.example.com/',
        'https://wiki.example.com/callback',
        `${LOGOUT}/extra`,
        'https://a.b.wiki.example.com/out',
      ]) {
        const response = await send(
          t.app,
          'GET',
          `/application/o/${s.slug}/end-session/?${new URLSearchParams({ post_logout_redirect_uri: uri, state: 's' }).toString()}`,
        );
        expectSignedOutPage(response, s.name, false);
      }
      const postWithQuery = await send(
        t.app,
        'POST',
        `/application/o/${s.slug}/end-session/?post_logout_redirect_uri=${encodeURIComponent(LOGOUT)}`,
        { form: {} },
      );
      expectSignedOutPage(postWithQuery, s.name, false);
    });

    it('refuses a javascript:, data: or vbscript: post-logout URI with a 400 page', async () => {
      for (const uri of ['javascript:alert(1)', 'JavaScript:alert(1)', 'data:text/html,x', 'vbscript:x']) {
        const response = await send(
          t.app,
          'GET',
          `/application/o/${s.slug}/end-session/?post_logout_redirect_uri=${encodeURIComponent(uri)}`,
        );
        expect({ uri, status: response.status }).toEqual({ uri, status: 400 });
        expect(response.headers['content-security-policy']).toBe(PAGE_CSP);
        expect(response.text).toContain('Forbidden URI scheme in post_logout_redirect_uri');
      }
    });

    it('answers 404 for an unknown application', async () => {
      const response = await send(t.app, 'GET', '/application/o/no-such-application/end-session/');
      expect({ status: response.status, body: response.body }).toEqual({ status: 404, body: NOT_FOUND });
    });

    it("for a signed-in user deletes exactly that session's access tokens of this provider, audited; the session stays", async () => {
      const user = await person();
      const other_user = await person();
      const { cookie, sessionId } = await signIn(user);
      const elsewhere = randomUUID();
      const mine = await mint(s, user, {
        sessionId,
        scopes: ['openid', 'offline_access'],
        withRefreshToken: true,
      });
      const mineToo = await mint(s, user, { sessionId });
      const otherSession = await mint(s, user, { sessionId: elsewhere });
      const noSession = await mint(s, user, { sessionId: null });
      const otherProvider = await mint(other, user, { sessionId });
      const otherUser = await mint(s, other_user, { sessionId });
      const requestId = randomUUID();
      const query = new URLSearchParams({ post_logout_redirect_uri: LOGOUT, state: 'st' });
      const response = await send(t.app, 'GET', `/application/o/${s.slug}/end-session/?${query.toString()}`, {
        headers: { cookie, 'x-request-id': requestId },
      });
      expect({ status: response.status, location: response.headers.location }).toEqual({
        status: 302,
        location: `${LOGOUT}?state=st`,
      });
      expect(await rowExists('oauth2_access_tokens', mine.accessTokenId)).toBe(false);
      expect(await rowExists('oauth2_access_tokens', mineToo.accessTokenId)).toBe(false);
      for (const kept of [otherSession, noSession, otherProvider, otherUser]) {
        expect(await rowExists('oauth2_access_tokens', kept.accessTokenId)).toBe(true);
      }
      // Refresh tokens outlive the session, as authentik's do.
      expect(await rowExists('oauth2_refresh_tokens', mine.refreshTokenId)).toBe(true);
      const audit = await auditRows(requestId);
      expect(audit).toEqual(
        [mine, mineToo]
          .sort((a, b) => a.accessTokenId - b.accessTokenId)
          .map((issued) => ({
            action: 'token_revoked',
            actor_user_id: user.id,
            actor_username: user.username,
            model: 'AccessToken',
            object_pk: issued.accessTokenId,
            object_user_id: user.id,
            object_provider_id: s.providerId,
            secret_hash_prefix: prefix(issued.body.access_token),
          })),
      );
      // The Grantry session is still alive.
      const account = await send(t.app, 'GET', '/account/', { headers: { cookie } });
      expect(account.status).toBe(200);
      // Without a post-logout URI, a signed-in user sees the page saying they are still signed in to Grantry.
      const again = await mint(s, user, { sessionId });
      const page = await send(t.app, 'POST', `/application/o/${s.slug}/end-session/`, {
        headers: { cookie },
        form: {},
      });
      expectSignedOutPage(page, s.name, true);
      expect(await rowExists('oauth2_access_tokens', again.accessTokenId)).toBe(false);
    });
  });
});
