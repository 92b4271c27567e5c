import { createLocalJWKSet, decodeJwt, type JSONWebKeySet, jwtVerify } from 'jose';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { sha256 } from '../src/common/crypto/secrets';
import { hashPassword } from '../src/identity/password';
import type { UserEntity } from '../src/identity/user.entity';
import { Sealer } from '../src/keys/sealing';
import { AUTHORIZE_ERRORS, TOKEN_ERRORS } from './support/oauth-errors';
import { createApplication, createProvider } from '../src/providers/providers';
import type { ConsentMode } from '../src/providers/oauth2-provider.entity';
import { createTestApp, type TestApp } from './support/app';
import { Factories, unique } from './support/factories';
import { formToken, WebClient, type WebResponse } from './support/web-client';

const PASSWORD = 'correct horse battery';
const GRANT_DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
const REDIRECT = 'https://rp.example.com/callback';
const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-and-some-more-entropy';
/**
 * Its S256 challenge, base64url(SHA-256(VERIFIER)) written out (from `printf %s "$VERIFIER" | openssl dgst -sha256
 * -binary | base64`, made URL-safe and unpadded), not computed by the product's s256().
 */
const CHALLENGE = '0S9blIykOCks140bwoaeRwmYaIdqDAKJfLwFnO3r6t0';

function listeningBase(app: NestFastifyApplication): string {
  const address = app.getHttpServer().address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

interface Rp {
  providerId: number;
  clientId: string;
  clientSecret: string;
  slug: string;
  applicationId: string;
  name: string;
}

function tokenError(error: keyof typeof TOKEN_ERRORS, requestId: string): Record<string, string> {
  return { error, error_description: TOKEN_ERRORS[error], request_id: requestId };
}

/**
 * The authorize and token endpoints over real HTTP, as a relying party and a browser use them: sign-in, consent,
 * every grant, and the error cases issue 12 names, each with its exact status and body; rows checked in the
 * database the inventory reads.
 */
describe('issuing grants: authorize and token endpoints', () => {
  let t: TestApp;
  let f: Factories;
  let base: string;
  let rp: Rp;
  let user: UserEntity;
  let jwks: ReturnType<typeof createLocalJWKSet>;

  async function makeRp(
    options: {
      consentMode?: ConsentMode;
      clientType?: 'confidential' | 'public';
      groups?: string[];
      refreshTokenThreshold?: string;
      redirectUris?: string[];
    } = {},
  ): Promise<Rp> {
    const name = unique('rp');
    const sealer = t.app.get(Sealer);
    return t.dataSource.transaction(async (manager) => {
      const created = await createProvider(
        manager,
        {
          name,
          clientType: options.clientType ?? 'confidential',
          redirectUris: options.redirectUris ?? [REDIRECT],
          consentMode: options.consentMode ?? 'implicit',
        },
        sealer,
      );
      if (options.refreshTokenThreshold !== undefined) {
        await manager.query(`UPDATE oauth2_providers SET refresh_token_threshold = $2 WHERE id = $1`, [
          created.provider.id,
          options.refreshTokenThreshold,
        ]);
      }
      const slug = unique('app').slice(0, 50);
      const application = await createApplication(manager, {
        slug,
        name: `Application ${slug}`,
        providerId: created.provider.id,
        groups: options.groups,
      });
      return {
        providerId: created.provider.id,
        clientId: created.provider.clientId,
        clientSecret: created.clientSecret ?? '',
        slug,
        applicationId: application.id,
        name,
      };
    });
  }

  async function makeUser(): Promise<UserEntity> {
    const created = await f.user({ name: 'Ada Lovelace', email: `${unique('ada')}@example.com` });
    await t.dataSource.query('UPDATE users SET password = $2 WHERE id = $1', [
      created.id,
      await hashPassword(PASSWORD),
    ]);
    return created;
  }

  async function signedInBrowser(who: UserEntity = user): Promise<WebClient> {
    const browser = new WebClient(base);
    const form = await browser.get('/login/');
    const response = await browser.post('/login/', {
      csrf_token: formToken(form.text),
      username: who.username,
      password: PASSWORD,
    });
    expect(response.status).toBe(303);
    return browser;
  }

  function authorizePath(client: Rp, params: Record<string, string> = {}): string {
    const query = new URLSearchParams({
      client_id: client.clientId,
      redirect_uri: REDIRECT,
      response_type: 'code',
      scope: 'openid profile email offline_access',
      state: 'st-1',
      ...params,
    });
    return `/application/o/authorize/?${query.toString()}`;
  }

  /** The query (or fragment) fields of a redirect to the client. */
  function redirected(response: WebResponse, fragment = false): Record<string, string> {
    expect(response.status).toBe(302);
    const location = response.headers.get('location') ?? '';
    expect(location.startsWith(REDIRECT)).toBe(true);
    const url = new URL(location);
    return Object.fromEntries(new URLSearchParams(fragment ? url.hash.slice(1) : url.search));
  }

  async function code(
    client: Rp = rp,
    params: Record<string, string> = {},
    browser?: WebClient,
  ): Promise<string> {
    const b = browser ?? (await signedInBrowser());
    const fields = redirected(await b.get(authorizePath(client, params)));
    expect(fields.state).toBe(params.state ?? 'st-1');
    expect(fields.code).toMatch(/^[0-9a-f]{32}$/);
    return fields.code ?? '';
  }

  const backchannel = (): WebClient => new WebClient(base);

  async function exchange(
    form: Record<string, string>,
    headers: Record<string, string> = {},
  ): Promise<WebResponse> {
    return backchannel().post('/application/o/token/', form, headers);
  }

  function json(response: WebResponse): Record<string, unknown> {
    return JSON.parse(response.text) as Record<string, unknown>;
  }

  function requestIdOf(response: WebResponse): string {
    return String(json(response).request_id);
  }

  async function redeem(client: Rp, value: string, extra: Record<string, string> = {}): Promise<WebResponse> {
    return exchange({
      grant_type: 'authorization_code',
      code: value,
      redirect_uri: REDIRECT,
      client_id: client.clientId,
      client_secret: client.clientSecret,
      ...extra,
    });
  }

  beforeAll(async () => {
    t = await createTestApp({ PUBLIC_URL: 'https://id.example.com' }, true);
    f = new Factories(t.dataSource);
    base = listeningBase(t.app);
    user = await makeUser();
    rp = await makeRp();
    const keys = await backchannel().get(`/application/o/${rp.slug}/jwks/`);
    jwks = createLocalJWKSet(JSON.parse(keys.text) as JSONWebKeySet);
  });

  afterAll(async () => {
    await t?.close();
  });

  describe('authorize', () => {
    it('sends an anonymous browser to sign in, and back to authorize afterwards', async () => {
      const browser = new WebClient(base);
      const path = authorizePath(rp);
      const response = await browser.get(path);
      expect(response.status).toBe(302);
      const location = new URL(response.headers.get('location') ?? '', base);
      expect(location.pathname).toBe('/login/');
      expect(location.searchParams.get('next')).toBe(path);
      const form = await browser.get(`${location.pathname}${location.search}`);
      const login = await browser.post('/login/', {
        csrf_token: formToken(form.text),
        next: path,
        username: user.username,
        password: PASSWORD,
      });
      expect(login.status).toBe(303);
      expect(login.headers.get('location')).toBe(path);
      expect(redirected(await browser.get(path)).code).toMatch(/^[0-9a-f]{32}$/);
    });

    it('answers an unknown client and a bad redirect URI with an HTML page, never a redirect', async () => {
      const browser = await signedInBrowser();
      const unknown = await browser.get(authorizePath({ ...rp, clientId: 'nobody' }));
      expect(unknown.status).toBe(400);
      expect(unknown.headers.get('location')).toBeNull();
      expect(unknown.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(unknown.text).toContain('Client ID Error');
      for (const redirectUri of [
        'https://evil.example.com/callback',
        `${REDIRECT}/extra`,
        'javascript:alert(1)',
        '',
      ]) {
        const bad = await browser.get(authorizePath(rp, { redirect_uri: redirectUri }));
        expect(bad.status).toBe(400);
        expect(bad.headers.get('location')).toBeNull();
        expect(bad.text).toContain('Redirect URI Error');
      }
    });

    it('a provider without redirect URIs adopts the first one presented, as authentik does, and only that one', async () => {
      const bare = await makeRp({ redirectUris: [] });
      const browser = await signedInBrowser();
      expect(redirected(await browser.get(authorizePath(bare))).code).toMatch(/^[0-9a-f]{32}$/);
      const [row] = await t.dataSource.query<{ redirect_uris: unknown }[]>(
        'SELECT redirect_uris FROM oauth2_providers WHERE id = $1',
        [bare.providerId],
      );
      expect(row?.redirect_uris).toEqual([
        { matching_mode: 'strict', url: REDIRECT, redirect_uri_type: 'authorization' },
      ]);
      const other = await browser.get(authorizePath(bare, { redirect_uri: 'https://other.example.com/cb' }));
      expect(other.status).toBe(400);
      expect(other.text).toContain('Redirect URI Error');
    });

    it('answers an empty query with 404', async () => {
      const response = await (await signedInBrowser()).get('/application/o/authorize/');
      expect(response.status).toBe(404);
    });

    it('sends other errors back to the client with state', async () => {
      const browser = await signedInBrowser();
      expect(redirected(await browser.get(authorizePath(rp, { response_type: 'token' })))).toEqual({
        error: 'unsupported_response_type',
        error_description: AUTHORIZE_ERRORS.unsupported_response_type,
        state: 'st-1',
      });
      expect(
        redirected(
          await browser.get(authorizePath(rp, { code_challenge: 'abc', code_challenge_method: 'S512' })),
        ),
      ).toEqual({
        error: 'invalid_request',
        error_description: AUTHORIZE_ERRORS.invalid_request,
        state: 'st-1',
      });
      // Implicit without openid: invalid_scope, in the fragment.
      expect(
        redirected(
          await browser.get(authorizePath(rp, { response_type: 'id_token', scope: 'email', nonce: 'n' })),
          true,
        ),
      ).toEqual({ error: 'invalid_scope', error_description: AUTHORIZE_ERRORS.invalid_scope, state: 'st-1' });
      // Implicit without a nonce: invalid_request.
      expect(
        redirected(await browser.get(authorizePath(rp, { response_type: 'id_token token' })), true),
      ).toEqual({
        error: 'invalid_request',
        error_description: AUTHORIZE_ERRORS.invalid_request,
        state: 'st-1',
      });
    });

    it('prompt=none without a session: login_required to the client', async () => {
      const response = await new WebClient(base).get(authorizePath(rp, { prompt: 'none' }));
      expect(redirected(response)).toEqual({
        error: 'login_required',
        error_description: AUTHORIZE_ERRORS.login_required,
        state: 'st-1',
      });
    });

    it('always echoes state, empty when the client sent none', async () => {
      const browser = await signedInBrowser();
      const query = new URLSearchParams({
        client_id: rp.clientId,
        redirect_uri: REDIRECT,
        response_type: 'code',
      });
      const fields = redirected(await browser.get(`/application/o/authorize/?${query.toString()}`));
      expect(fields.state).toBe('');
      expect(Object.keys(fields).sort()).toEqual(['code', 'state']);
    });

    it('stores the code as a hash with scope, nonce, PKCE, auth_time, session and a family', async () => {
      const value = await code(rp, {
        nonce: 'nonce-1',
        code_challenge: CHALLENGE,
        code_challenge_method: 'S256',
      });
      const rows = await t.dataSource.query<Record<string, unknown>[]>(
        `SELECT user_id, scope, nonce, code_challenge, code_challenge_method, auth_time IS NOT NULL AS has_auth_time,
                session_id IS NOT NULL AS has_session, family_id IS NOT NULL AS has_family
           FROM oauth2_authorization_codes WHERE code_hash = $1`,
        [sha256(value)],
      );
      expect(rows).toEqual([
        {
          user_id: user.id,
          scope: 'openid profile email offline_access',
          nonce: 'nonce-1',
          code_challenge: CHALLENGE,
          code_challenge_method: 'S256',
          has_auth_time: true,
          has_session: true,
          has_family: true,
        },
      ]);
    });

    it('max_age exceeded and prompt=login ask for a fresh sign-in, then come back without prompt=login', async () => {
      const browser = await signedInBrowser();
      const login = await browser.get(authorizePath(rp, { prompt: 'login', login_hint: user.username }));
      expect(login.status).toBe(302);
      const location = new URL(login.headers.get('location') ?? '', base);
      expect(location.pathname).toBe('/login/');
      expect(location.searchParams.get('prompt')).toBe('login');
      expect(location.searchParams.get('next')).toBe(authorizePath(rp, { login_hint: user.username }));
      // The sign-in form is shown although a session exists, with the hint filled in.
      const form = await browser.get(`${location.pathname}${location.search}`);
      expect(form.status).toBe(200);
      expect(form.text).toContain(`value="${user.username}"`);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const stale = await browser.get(authorizePath(rp, { max_age: '0' }));
      expect(new URL(stale.headers.get('location') ?? '', base).searchParams.get('prompt')).toBe('login');
    });
  });

  describe('authorization_code grant', () => {
    it('exchanges a code for authentik-shaped tokens signed with the provider key', async () => {
      const value = await code(rp, { nonce: 'nonce-2' });
      const response = await redeem(rp, value);
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.headers.get('pragma')).toBe('no-cache');
      const body = json(response);
      expect(Object.keys(body).sort()).toEqual([
        'access_token',
        'expires_in',
        'id_token',
        'refresh_token',
        'scope',
        'token_type',
      ]);
      expect(body.token_type).toBe('Bearer');
      expect(body.expires_in).toBe(3600);
      expect(body.scope).toBe('openid profile email offline_access');
      expect(body.refresh_token).toMatch(/^[A-Za-z0-9]{128}$/);
      const issuer = `https://id.example.com/application/o/${rp.slug}/`;
      const { payload: id } = await jwtVerify(String(body.id_token), jwks, { issuer, audience: rp.clientId });
      expect(id.nonce).toBe('nonce-2');
      expect(id.acr).toBe('goauthentik.io/providers/oauth2/default');
      expect(id.amr).toEqual(['pwd']);
      expect(id.preferred_username).toBe(user.username);
      expect(id.email).toBe(user.email);
      expect(id.email_verified).toBe(false);
      expect(id.at_hash).toBe(sha256(String(body.access_token)).subarray(0, 16).toString('base64url'));
      const { payload: access } = await jwtVerify(String(body.access_token), jwks, { issuer });
      expect(access.azp).toBe(rp.clientId);
      expect(access.scope).toBe('openid profile email offline_access');
      expect(access.sub).toBe(id.sub);
      expect(access.sid).toBe(id.sid);
      // The inventory's rows: hashes only, with the ID token's claims, user, provider, scope, expiry and session.
      const [row] = await t.dataSource.query<Record<string, unknown>[]>(
        `SELECT user_id, provider_id, scope, revoked, session_id, id_token, expires FROM oauth2_access_tokens
          WHERE token_hash = $1`,
        [sha256(String(body.access_token))],
      );
      expect(row).toMatchObject({
        user_id: user.id,
        provider_id: rp.providerId,
        revoked: false,
        session_id: id.sid,
      });
      expect((row?.id_token as Record<string, unknown>).nonce).toBe('nonce-2');
      expect(Math.floor((row?.expires as Date).getTime() / 1000)).toBe(id.exp);
      const [refresh] = await t.dataSource.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM oauth2_refresh_tokens WHERE token_hash = $1 AND user_id = $2`,
        [sha256(String(body.refresh_token)), user.id],
      );
      expect(refresh?.n).toBe(1);
      // The code is gone.
      const [left] = await t.dataSource.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM oauth2_authorization_codes WHERE code_hash = $1`,
        [sha256(value)],
      );
      expect(left?.n).toBe(0);
    });

    it('gives no refresh token without offline_access', async () => {
      const value = await code(rp, { scope: 'openid email' });
      const body = json(await redeem(rp, value));
      expect(body.refresh_token).toBeUndefined();
      expect(body.scope).toBe('openid email');
    });

    it('refuses a replayed code and revokes every token issued from it', async () => {
      const value = await code(rp);
      const first = json(await redeem(rp, value));
      const replay = await redeem(rp, value);
      expect(replay.status).toBe(400);
      expect(json(replay)).toEqual(tokenError('invalid_grant', requestIdOf(replay)));
      const rows = await t.dataSource.query<{ revoked: boolean }[]>(
        `SELECT revoked FROM oauth2_access_tokens WHERE token_hash = $1
         UNION ALL SELECT revoked FROM oauth2_refresh_tokens WHERE token_hash = $2`,
        [sha256(String(first.access_token)), sha256(String(first.refresh_token))],
      );
      expect(rows).toEqual([{ revoked: true }, { revoked: true }]);
      const [event] = await t.dataSource.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM audit_events WHERE action = 'code_replayed' AND object_provider_id = $1`,
        [rp.providerId],
      );
      expect(event?.n).toBeGreaterThanOrEqual(1);
    });

    it('PKCE: a wrong or missing verifier is invalid_grant and leaves the code usable; the right one works', async () => {
      for (const method of ['S256', 'plain'] as const) {
        const challenge = method === 'S256' ? CHALLENGE : VERIFIER;
        const value = await code(rp, { code_challenge: challenge, code_challenge_method: method });
        for (const extra of [{ code_verifier: `${VERIFIER}x` }, {}, { code_verifier: '' }] as Record<
          string,
          string
        >[]) {
          const wrong = await redeem(rp, value, extra);
          expect(wrong.status).toBe(400);
          expect(json(wrong)).toEqual(tokenError('invalid_grant', requestIdOf(wrong)));
        }
        expect((await redeem(rp, value, { code_verifier: VERIFIER })).status).toBe(200);
      }
      // A challenge without a method is plain (authentik's default).
      const plain = await code(rp, { code_challenge: VERIFIER });
      expect((await redeem(rp, plain, { code_verifier: VERIFIER })).status).toBe(200);
      // A verifier for a code that had no challenge: invalid_grant.
      const none = await code(rp);
      expect((await redeem(rp, none, { code_verifier: VERIFIER })).status).toBe(400);
    });

    it('refuses an expired code', async () => {
      const value = await code(rp);
      await t.dataSource.query(
        `UPDATE oauth2_authorization_codes SET expires = now() - interval '1 second' WHERE code_hash = $1`,
        [sha256(value)],
      );
      const response = await redeem(rp, value);
      expect(response.status).toBe(400);
      expect(json(response)).toEqual(tokenError('invalid_grant', requestIdOf(response)));
    });

    it('client errors: unknown client, wrong secret, unregistered redirect URI, unsupported grant type', async () => {
      const value = await code(rp);
      const cases: [Record<string, string>, keyof typeof TOKEN_ERRORS][] = [
        [{ client_id: 'nobody' }, 'invalid_client'],
        [{ client_secret: 'wrong' }, 'invalid_client'],
        [{ client_secret: '' }, 'invalid_client'],
        [{ redirect_uri: 'https://evil.example.com/callback' }, 'invalid_client'],
        [{ grant_type: 'urn:example:unknown' }, 'unsupported_grant_type'],
        [{ grant_type: '' }, 'unsupported_grant_type'],
        [{ code: 'not-a-code' }, 'invalid_grant'],
        [{ code: '' }, 'invalid_grant'],
      ];
      for (const [extra, error] of cases) {
        const response = await redeem(rp, value, extra);
        expect({ extra, status: response.status }).toEqual({ extra, status: 400 });
        expect(json(response)).toEqual(tokenError(error, requestIdOf(response)));
        expect(response.headers.get('cache-control')).toBe('no-store');
      }
      // None of those consumed the code.
      expect((await redeem(rp, value)).status).toBe(200);
    });

    it('takes client credentials from HTTP Basic (percent-decoded), which wins over the form', async () => {
      const value = await code(rp);
      const basic = Buffer.from(
        `${encodeURIComponent(rp.clientId)}:${encodeURIComponent(rp.clientSecret)}`,
      ).toString('base64');
      const response = await exchange(
        { grant_type: 'authorization_code', code: value, redirect_uri: REDIRECT, client_secret: 'wrong' },
        { authorization: `Basic ${basic}` },
      );
      expect(response.status).toBe(200);
    });

    it('a public client needs no secret', async () => {
      const open = await makeRp({ clientType: 'public' });
      const value = await code(open);
      const response = await exchange({
        grant_type: 'authorization_code',
        code: value,
        redirect_uri: REDIRECT,
        client_id: open.clientId,
      });
      expect(response.status).toBe(200);
    });

    it('of 50 concurrent redemptions of one code exactly one succeeds, and its tokens end up revoked', async () => {
      const value = await code(rp);
      const responses = await Promise.all(Array.from({ length: 50 }, () => redeem(rp, value)));
      const statuses = responses.map((response) => response.status).sort();
      expect(statuses.filter((status) => status === 200)).toHaveLength(1);
      expect(statuses.filter((status) => status === 400)).toHaveLength(49);
      for (const response of responses.filter((r) => r.status === 400)) {
        expect(json(response)).toEqual(tokenError('invalid_grant', requestIdOf(response)));
      }
      const winner = json(responses.find((response) => response.status === 200) as WebResponse);
      const [row] = await t.dataSource.query<{ family_id: string }[]>(
        `SELECT family_id FROM oauth2_access_tokens WHERE token_hash = $1`,
        [sha256(String(winner.access_token))],
      );
      const family = await t.dataSource.query<{ kind: string; revoked: boolean }[]>(
        `SELECT 'access' AS kind, revoked FROM oauth2_access_tokens WHERE family_id = $1
         UNION ALL SELECT 'refresh', revoked FROM oauth2_refresh_tokens WHERE family_id = $1 ORDER BY 1`,
        [row?.family_id],
      );
      // The replays were detected: the one pair issued is revoked, and nothing else was issued.
      expect(family).toEqual([
        { kind: 'access', revoked: true },
        { kind: 'refresh', revoked: true },
      ]);
    });
  });

  describe('refresh_token grant', () => {
    async function tokens(
      client: Rp = rp,
      scope = 'openid profile offline_access',
    ): Promise<Record<string, unknown>> {
      const response = await redeem(client, await code(client, { scope }));
      expect(response.status).toBe(200);
      return json(response);
    }

    function refresh(client: Rp, token: string, extra: Record<string, string> = {}): Promise<WebResponse> {
      return exchange({
        grant_type: 'refresh_token',
        refresh_token: token,
        client_id: client.clientId,
        client_secret: client.clientSecret,
        ...extra,
      });
    }

    it('rotates: a new refresh token, the old one marked revoked, older access tokens still valid', async () => {
      const first = await tokens();
      const response = await refresh(rp, String(first.refresh_token));
      expect(response.status).toBe(200);
      const second = json(response);
      expect(second.refresh_token).toMatch(/^[A-Za-z0-9]{128}$/);
      expect(second.refresh_token).not.toBe(first.refresh_token);
      expect(second.scope).toBe('openid profile offline_access');
      const rows = await t.dataSource.query<{ revoked: boolean }[]>(
        `SELECT revoked FROM oauth2_refresh_tokens WHERE token_hash = $1
         UNION ALL SELECT revoked FROM oauth2_refresh_tokens WHERE token_hash = $2
         UNION ALL SELECT revoked FROM oauth2_access_tokens WHERE token_hash = $3`,
        [
          sha256(String(first.refresh_token)),
          sha256(String(second.refresh_token)),
          sha256(String(first.access_token)),
        ],
      );
      expect(rows).toEqual([{ revoked: true }, { revoked: false }, { revoked: false }]);
    });

    it('a reused refresh token is invalid_grant and revokes its whole family', async () => {
      const first = await tokens();
      const second = json(await refresh(rp, String(first.refresh_token)));
      const reuse = await refresh(rp, String(first.refresh_token));
      expect(reuse.status).toBe(400);
      expect(json(reuse)).toEqual(tokenError('invalid_grant', requestIdOf(reuse)));
      const rows = await t.dataSource.query<{ revoked: boolean }[]>(
        `SELECT revoked FROM oauth2_access_tokens WHERE token_hash IN ($1, $2)
         UNION ALL SELECT revoked FROM oauth2_refresh_tokens WHERE token_hash = $3`,
        [
          sha256(String(first.access_token)),
          sha256(String(second.access_token)),
          sha256(String(second.refresh_token)),
        ],
      );
      expect(rows).toEqual([{ revoked: true }, { revoked: true }, { revoked: true }]);
      expect((await refresh(rp, String(second.refresh_token))).status).toBe(400);
    });

    it('scope: a narrower one is granted; escalation or dropping offline_access is invalid_scope', async () => {
      const first = await tokens();
      const narrower = await refresh(rp, String(first.refresh_token), { scope: 'openid offline_access' });
      expect(narrower.status).toBe(200);
      expect(json(narrower).scope).toBe('openid offline_access');
      const current = String(json(narrower).refresh_token);
      for (const scope of ['openid profile email offline_access', 'openid profile']) {
        const response = await refresh(rp, current, { scope });
        expect(response.status).toBe(400);
        expect(json(response)).toEqual(tokenError('invalid_scope', requestIdOf(response)));
      }
    });

    it('refuses an unknown, expired or another provider’s refresh token, and a wrong secret', async () => {
      const first = await tokens();
      const other = await makeRp();
      const cases: [Rp, string, Record<string, string>, keyof typeof TOKEN_ERRORS][] = [
        [rp, 'x'.repeat(128), {}, 'invalid_grant'],
        [rp, '', {}, 'invalid_grant'],
        [other, String(first.refresh_token), {}, 'invalid_grant'],
        [rp, String(first.refresh_token), { client_secret: 'wrong' }, 'invalid_client'],
      ];
      for (const [client, token, extra, error] of cases) {
        const response = await refresh(client, token, extra);
        expect(response.status).toBe(400);
        expect(json(response)).toEqual(tokenError(error, requestIdOf(response)));
      }
      await t.dataSource.query(
        `UPDATE oauth2_refresh_tokens SET expires = now() - interval '1 second' WHERE token_hash = $1`,
        [sha256(String(first.refresh_token))],
      );
      const expired = await refresh(rp, String(first.refresh_token));
      expect(json(expired)).toEqual(tokenError('invalid_grant', requestIdOf(expired)));
    });

    it('below refresh_token_threshold it does not rotate: no refresh_token in the answer, the old one still works', async () => {
      const lenient = await makeRp({ refreshTokenThreshold: 'seconds=60' });
      const first = await tokens(lenient);
      const response = await refresh(lenient, String(first.refresh_token));
      expect(response.status).toBe(200);
      expect(json(response).refresh_token).toBeUndefined();
      expect((await refresh(lenient, String(first.refresh_token))).status).toBe(200);
    });

    it('of 50 concurrent refreshes of one token one rotates it; the rest are reuse, and the family is revoked', async () => {
      const first = await tokens();
      const responses = await Promise.all(
        Array.from({ length: 50 }, () => refresh(rp, String(first.refresh_token))),
      );
      expect(responses.filter((response) => response.status === 200)).toHaveLength(1);
      const refused = responses.filter((response) => response.status === 400);
      expect(refused).toHaveLength(49);
      for (const response of refused)
        expect(json(response)).toEqual(tokenError('invalid_grant', requestIdOf(response)));
      const [row] = await t.dataSource.query<{ family_id: string }[]>(
        `SELECT family_id FROM oauth2_refresh_tokens WHERE token_hash = $1`,
        [sha256(String(first.refresh_token))],
      );
      const counts = await t.dataSource.query<{ kind: string; total: number; live: number }[]>(
        `SELECT 'access' AS kind, count(*)::int AS total, count(*) FILTER (WHERE NOT revoked)::int AS live
           FROM oauth2_access_tokens WHERE family_id = $1
         UNION ALL
         SELECT 'refresh', count(*)::int, count(*) FILTER (WHERE NOT revoked)::int
           FROM oauth2_refresh_tokens WHERE family_id = $1 ORDER BY 1`,
        [row?.family_id],
      );
      // The code's pair and the winner's pair: two of each, none left alive.
      expect(counts).toEqual([
        { kind: 'access', total: 2, live: 0 },
        { kind: 'refresh', total: 2, live: 0 },
      ]);
    });

    it('without rotation, 50 concurrent refreshes all succeed', async () => {
      const lenient = await makeRp({ refreshTokenThreshold: 'seconds=60' });
      const first = await tokens(lenient);
      const responses = await Promise.all(
        Array.from({ length: 50 }, () => refresh(lenient, String(first.refresh_token))),
      );
      expect(responses.map((response) => response.status)).toEqual(Array.from({ length: 50 }, () => 200));
    });
  });

  describe('client_credentials and password grants', () => {
    it('the provider secret gets tokens for the service account ak-<provider>-client_credentials', async () => {
      const response = await exchange({
        grant_type: 'client_credentials',
        client_id: rp.clientId,
        client_secret: rp.clientSecret,
        scope: 'openid profile unknown-scope',
      });
      expect(response.status).toBe(200);
      const body = json(response);
      expect(Object.keys(body).sort()).toEqual([
        'access_token',
        'expires_in',
        'id_token',
        'scope',
        'token_type',
      ]);
      expect(body.scope).toBe('openid profile');
      const claims = decodeJwt(String(body.id_token));
      expect(claims.preferred_username).toBe(`ak-${rp.name}-client_credentials`);
      expect(claims.sid).toBeUndefined();
      const [account] = await t.dataSource.query<Record<string, unknown>[]>(
        `SELECT type, path, attributes FROM users WHERE username = $1`,
        [`ak-${rp.name}-client_credentials`],
      );
      expect(account).toEqual({
        type: 'service_account',
        path: `goauthentik.io/apps/${rp.slug}`,
        attributes: { 'goauthentik.io/user/generated': true },
      });
      // Again: the same account, not a second one.
      expect(
        (
          await exchange({
            grant_type: 'client_credentials',
            client_id: rp.clientId,
            client_secret: rp.clientSecret,
          })
        ).status,
      ).toBe(200);
      const [count] = await t.dataSource.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM users WHERE username = $1`,
        [`ak-${rp.name}-client_credentials`],
      );
      expect(count?.n).toBe(1);
    });

    it('never takes over an ordinary user who has the service account’s name', async () => {
      const squatted = await makeRp();
      await f.user({ username: `ak-${squatted.name}-client_credentials` });
      const response = await exchange({
        grant_type: 'client_credentials',
        client_id: squatted.clientId,
        client_secret: squatted.clientSecret,
      });
      expect(response.status).toBe(400);
      expect(json(response)).toEqual(tokenError('invalid_grant', requestIdOf(response)));
      expect(
        await t.dataSource.query(`SELECT type FROM users WHERE username = $1`, [
          `ak-${squatted.name}-client_credentials`,
        ]),
      ).toEqual([{ type: 'internal' }]);
    });

    it('20 concurrent first exchanges create one service account', async () => {
      const fresh = await makeRp();
      const responses = await Promise.all(
        Array.from({ length: 20 }, () =>
          exchange({
            grant_type: 'client_credentials',
            client_id: fresh.clientId,
            client_secret: fresh.clientSecret,
          }),
        ),
      );
      expect(responses.map((response) => response.status)).toEqual(Array.from({ length: 20 }, () => 200));
      expect(
        await t.dataSource.query(`SELECT count(*)::int AS n FROM users WHERE username = $1`, [
          `ak-${fresh.name}-client_credentials`,
        ]),
      ).toEqual([{ n: 1 }]);
    });

    it('a username with an app password; or the secret as base64 of username:app_password', async () => {
      const appPassword = await f.apiKey(user, { intent: 'app_password' });
      const withUsername = await exchange({
        grant_type: 'password',
        client_id: rp.clientId,
        username: user.username,
        password: appPassword,
        scope: 'openid',
      });
      expect(withUsername.status).toBe(200);
      expect(decodeJwt(String(json(withUsername).access_token)).preferred_username).toBeUndefined();
      const encoded = Buffer.from(`${user.username}:${appPassword}`).toString('base64');
      const asSecret = await exchange({
        grant_type: 'client_credentials',
        client_id: rp.clientId,
        client_secret: encoded,
      });
      expect(asSecret.status).toBe(200);
    });

    it('anything else is invalid_grant: wrong secret, API key as app password, another user’s app password', async () => {
      const apiKey = await f.apiKey(user);
      const other = await makeUser();
      const othersPassword = await f.apiKey(other, { intent: 'app_password' });
      const cases: Record<string, string>[] = [
        { client_secret: 'wrong' },
        { client_secret: '' },
        { username: user.username, password: apiKey },
        { username: user.username, password: othersPassword },
        { username: user.username, password: '' },
        {
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_secret: rp.clientSecret,
        },
      ];
      for (const extra of cases) {
        const response = await exchange({
          grant_type: 'client_credentials',
          client_id: rp.clientId,
          ...extra,
        });
        expect({ extra, status: response.status }).toEqual({ extra, status: 400 });
        expect(json(response)).toEqual(tokenError('invalid_grant', requestIdOf(response)));
      }
    });
  });

  describe('consent and access', () => {
    it('asks for consent, remembers it for the exact scope set, and prompt=consent asks again', async () => {
      const strict = await makeRp({ consentMode: 'expiring' });
      const browser = await signedInBrowser();
      const path = authorizePath(strict, { scope: 'openid email' });
      const page = await browser.get(path);
      expect(page.status).toBe(200);
      expect(page.text).toContain(`Application ${strict.slug}`);
      expect(page.text).toContain('Email address');
      const hidden = Object.fromEntries(
        [...page.text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [
          m[1] ?? '',
          (m[2] ?? '')
            .replace(/&amp;/g, '&')
            .replace(/&quot;/g, '"')
            .replace(/&#39;/g, "'"),
        ]),
      );
      const allow = await browser.post('/application/o/authorize/decision/', {
        ...hidden,
        decision: 'allow',
      });
      expect(redirected(allow).code).toMatch(/^[0-9a-f]{32}$/);
      // Remembered: the same scope set goes straight through; another set asks again; prompt=consent asks again.
      expect(redirected(await browser.get(path)).code).toMatch(/^[0-9a-f]{32}$/);
      expect((await browser.get(authorizePath(strict, { scope: 'openid' }))).status).toBe(200);
      expect(
        (await browser.get(authorizePath(strict, { scope: 'openid email', prompt: 'consent' }))).status,
      ).toBe(200);
      // prompt=none when consent is needed: consent_required.
      expect(
        redirected(await browser.get(authorizePath(strict, { scope: 'openid profile', prompt: 'none' }))),
      ).toEqual({
        error: 'consent_required',
        error_description: AUTHORIZE_ERRORS.consent_required,
        state: 'st-1',
      });
      // Deny: access_denied, and an audit event.
      const again = await browser.get(authorizePath(strict, { scope: 'openid profile' }));
      const token = formToken(again.text);
      const deny = await browser.post('/application/o/authorize/decision/', {
        ...hidden,
        scope: 'openid profile',
        csrf_token: token,
        decision: 'deny',
      });
      expect(redirected(deny)).toEqual({
        error: 'access_denied',
        error_description: AUTHORIZE_ERRORS.access_denied,
        state: 'st-1',
      });
      // A decision without the CSRF token: 403, nothing issued.
      const forged = await browser.post('/application/o/authorize/decision/', {
        ...hidden,
        csrf_token: 'x',
        decision: 'allow',
      });
      expect(forged.status).toBe(403);
    });

    it('an application bound to a group is open to its members (and sub-groups) only', async () => {
      const parent = await f.group();
      const child = await f.group({ parent: parent.name });
      const bound = await makeRp({ groups: [parent.name] });
      const outsider = await makeUser();
      const insider = await makeUser();
      await f.member(insider, child);
      const denied = await (await signedInBrowser(outsider)).get(authorizePath(bound));
      expect(denied.status).toBe(403);
      expect(denied.text).toContain(`Application ${bound.slug}`);
      expect(redirected(await (await signedInBrowser(insider)).get(authorizePath(bound))).code).toMatch(
        /^[0-9a-f]{32}$/,
      );
      // The service account of client_credentials is no member either.
      const response = await exchange({
        grant_type: 'client_credentials',
        client_id: bound.clientId,
        client_secret: bound.clientSecret,
      });
      expect(json(response)).toEqual(tokenError('invalid_grant', requestIdOf(response)));
    });
  });

  describe('implicit, hybrid and form_post', () => {
    it('implicit: tokens in the fragment with nonce and at_hash; no offline_access, no refresh token', async () => {
      const browser = await signedInBrowser();
      const fields = redirected(
        await browser.get(authorizePath(rp, { response_type: 'id_token token', nonce: 'n-3' })),
        true,
      );
      expect(Object.keys(fields).sort()).toEqual([
        'access_token',
        'expires_in',
        'id_token',
        'state',
        'token_type',
      ]);
      const { payload } = await jwtVerify(fields.id_token ?? '', jwks, { audience: rp.clientId });
      expect(payload.nonce).toBe('n-3');
      expect(payload.at_hash).toBe(
        sha256(fields.access_token ?? '')
          .subarray(0, 16)
          .toString('base64url'),
      );
      expect(decodeJwt(fields.access_token ?? '').scope).toBe('openid profile email');
    });

    it('hybrid: a code and an ID token with c_hash; the code still redeems', async () => {
      const browser = await signedInBrowser();
      const fields = redirected(
        await browser.get(authorizePath(rp, { response_type: 'code id_token', nonce: 'n-4' })),
        true,
      );
      expect(fields.access_token).toBeUndefined();
      const { payload } = await jwtVerify(fields.id_token ?? '', jwks, { audience: rp.clientId });
      expect(payload.c_hash).toBe(
        sha256(fields.code ?? '')
          .subarray(0, 16)
          .toString('base64url'),
      );
      expect((await redeem(rp, fields.code ?? '')).status).toBe(200);
    });

    it('form_post: a page whose form posts the response to the redirect URI, under a CSP naming its origin', async () => {
      const browser = await signedInBrowser();
      const response = await browser.get(authorizePath(rp, { response_mode: 'form_post' }));
      expect(response.status).toBe(200);
      expect(response.headers.get('content-security-policy')).toContain('form-action https://rp.example.com');
      expect(response.text).toContain(`action="${REDIRECT}"`);
      expect(response.text).toMatch(/<input type="hidden" name="code" value="[0-9a-f]{32}">/);
      expect(response.text).toContain('<input type="hidden" name="state" value="st-1">');
    });
  });

  describe('hostile input', () => {
    it('a NUL byte or an oversized value is an OAuth2 error, never a 500', async () => {
      const browser = await signedInBrowser();
      for (const name of ['nonce', 'code_challenge', 'scope', 'state', 'login_hint', 'max_age', 'prompt']) {
        const response = await browser.get(authorizePath(rp, { [name]: 'a\u0000b' }));
        expect({ name, status: response.status }).toEqual({ name, status: 302 });
        expect(redirected(response).error).toBe('invalid_request');
      }
      const huge = await browser.get(authorizePath(rp, { nonce: 'n'.repeat(5000) }));
      expect(redirected(huge).error).toBe('invalid_request');
      const value = await code(rp);
      for (const field of [
        'code',
        'redirect_uri',
        'code_verifier',
        'refresh_token',
        'username',
        'password',
        'scope',
      ]) {
        for (const grantType of ['authorization_code', 'refresh_token', 'password', GRANT_DEVICE]) {
          // With a wrong secret every grant fails; the NUL must make none of them a 500.
          const response = await redeem(rp, value, {
            grant_type: grantType,
            client_secret: 'wrong',
            [field]: 'x\u0000y',
          });
          expect({ field, grantType, status: response.status }).toEqual({ field, grantType, status: 400 });
          expect(Object.keys(json(response)).sort()).toEqual(['error', 'error_description', 'request_id']);
        }
      }
      // A JSON body is not a token request: no client id, so invalid_client.
      const asJson = await backchannel().send('POST', '/application/o/token/', {
        body: JSON.stringify({ grant_type: 'client_credentials', client_id: rp.clientId }),
        headers: { 'content-type': 'application/json' },
      });
      expect(asJson.status).toBe(400);
      expect(json(asJson)).toEqual(tokenError('invalid_client', requestIdOf(asJson)));
      // The code survived all of it.
      expect((await redeem(rp, value)).status).toBe(200);
    });
  });

  describe('the issued access token is the inventory’s row', () => {
    it('authenticates to the API with goauthentik.io/api until the inventory deletes it', async () => {
      const admin = await f.user();
      const root = await f.group({ isSuperuser: true });
      await f.member(admin, root);
      const adminKey = await f.apiKey(admin);
      const body = json(await redeem(rp, await code(rp, { scope: 'openid goauthentik.io/api' })));
      const api = backchannel();
      const whoami = await api.get('/api/v3/oauth2/access_tokens/?page_size=1', {
        authorization: `Bearer ${String(body.access_token)}`,
      });
      expect(whoami.status).toBe(200);
      const [row] = await t.dataSource.query<{ id: number }[]>(
        `SELECT id FROM oauth2_access_tokens WHERE token_hash = $1`,
        [sha256(String(body.access_token))],
      );
      const listed = await api.get(`/api/v3/oauth2/access_tokens/${row?.id}/`, {
        authorization: `Bearer ${adminKey}`,
      });
      expect(listed.status).toBe(200);
      expect(json(listed).scope).toEqual(['openid', 'goauthentik.io/api']);
      const deleted = await fetch(`${base}/api/v3/oauth2/access_tokens/${row?.id}/`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${adminKey}` },
      });
      expect(deleted.status).toBe(204);
      const after = await api.get('/api/v3/oauth2/access_tokens/?page_size=1', {
        authorization: `Bearer ${String(body.access_token)}`,
      });
      expect(after.status).toBe(403);
    });
  });
});
