import * as oidc from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { hashPassword } from '../src/identity/password';
import type { UserEntity } from '../src/identity/user.entity';
import { Sealer } from '../src/keys/sealing';
import { createApplication, createProvider } from '../src/providers/providers';
import { createTestApp, type TestApp } from './support/app';
import { launchChromium } from './support/browser';
import { Factories, unique } from './support/factories';
import { formToken, WebClient } from './support/web-client';

const PASSWORD = 'correct horse battery';
/** The relying party's callback: a host that does not resolve; the test reads the browser's request to it. */
const REDIRECT = 'http://rp.test/callback';

/**
 * Grantry as an OpenID provider for a certified relying party: openid-client 6 discovers it, runs the authorization
 * code flow with PKCE while headless Chromium signs in and consents on Grantry's pages, validates the ID token,
 * calls userinfo, refreshes, introspects, revokes, and uses client credentials; after each step the inventory API
 * shows the matching row, and deleting a token there is honoured at once by introspection and userinfo.
 */
describe('openid-client against Grantry', () => {
  let t: TestApp;
  let browser: Browser;
  let base: string;
  let user: UserEntity;
  let adminKey: string;
  let slug: string;
  let clientId: string;
  let clientSecret: string;
  let providerId: number;
  let config: oidc.Configuration;

  beforeAll(async () => {
    t = await createTestApp({}, true);
    const address = t.app.getHttpServer().address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const f = new Factories(t.dataSource);
    user = await f.user({ name: 'Grace Hopper', email: `${unique('grace')}@example.com` });
    await t.dataSource.query('UPDATE users SET password = $2 WHERE id = $1', [
      user.id,
      await hashPassword(PASSWORD),
    ]);
    const admin = await f.user();
    await f.member(admin, await f.group({ isSuperuser: true }));
    adminKey = await f.apiKey(admin);
    const sealer = t.app.get(Sealer);
    slug = unique('rp').slice(0, 50);
    await t.dataSource.transaction(async (manager) => {
      const created = await createProvider(
        manager,
        { name: unique('oidc'), redirectUris: [REDIRECT], consentMode: 'expiring' },
        sealer,
      );
      await createApplication(manager, { slug, name: 'Relying Party', providerId: created.provider.id });
      clientId = created.provider.clientId;
      clientSecret = created.clientSecret ?? '';
      providerId = created.provider.id;
    });
    config = await oidc.discovery(
      new URL(`${base}/application/o/${slug}/`),
      clientId,
      clientSecret,
      undefined,
      {
        execute: [oidc.allowInsecureRequests],
      },
    );
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  async function inventory(kind: 'access_tokens' | 'refresh_tokens'): Promise<Record<string, unknown>[]> {
    const response = await fetch(
      `${base}/api/v3/oauth2/${kind}/?user=${user.id}&ordering=-expires&page_size=100`,
      {
        headers: { authorization: `Bearer ${adminKey}` },
      },
    );
    expect(response.status).toBe(200);
    return ((await response.json()) as { results: Record<string, unknown>[] }).results;
  }

  /**
   * Signs in and (unless the provider's consent is implicit) consents in Chromium, keyboard only, JavaScript off;
   * answers the callback URL Grantry redirected to. Chromium checks form-action on every redirect a form submission
   * leads to, so this also shows the sign-in and consent pages' CSPs let the browser reach the client.
   */
  async function authorizeInBrowser(url: URL, consent = true): Promise<URL> {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page: Page = await context.newPage();
    page.setDefaultTimeout(15_000);
    // The browser's request to the client's callback (rp.test does not resolve; the request is what counts). A
    // form-action violation would block the redirect before any request is made.
    const reached = page.waitForRequest((request) => new URL(request.url()).host === 'rp.test');
    await page.goto(url.href);
    expect(await page.title()).toBe('Sign in · Grantry');
    await page.keyboard.type(user.username);
    await page.keyboard.press('Tab');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    if (consent) {
      await page.waitForURL((at) => at.pathname === '/application/o/authorize/');
      const shown = await page.content();
      expect(shown).toContain('Relying Party');
      expect(shown).toContain('Email address');
      await page.getByRole('button', { name: /allow/i }).click();
    }
    const callback = (await reached).url();
    await context.close();
    return new URL(callback);
  }

  it('discovers the provider: issuer, endpoints and keys', () => {
    const metadata = config.serverMetadata();
    expect(metadata.issuer).toBe(`${base}/application/o/${slug}/`);
    expect(metadata.token_endpoint).toBe(`${base}/application/o/token/`);
    expect(metadata.jwks_uri).toBe(`${base}/application/o/${slug}/jwks/`);
    expect(metadata.code_challenge_methods_supported).toEqual(['plain', 'S256']);
  });

  it('runs the authorization code flow with PKCE through the browser, then userinfo, refresh, introspection and revocation', async () => {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: 'openid profile email offline_access',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const callback = await authorizeInBrowser(url);
    const tokens = await oidc.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
    });
    const claims = tokens.claims();
    expect(claims?.preferred_username).toBe(user.username);
    expect(claims?.email).toBe(user.email);
    expect(claims?.nonce).toBe(nonce);
    // The ID token's signature, against the published JWKS.
    const keys = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri ?? ''));
    await jwtVerify(tokens.id_token ?? '', keys, {
      issuer: config.serverMetadata().issuer,
      audience: clientId,
    });
    await jwtVerify(tokens.access_token, keys, { issuer: config.serverMetadata().issuer });

    // The inventory lists the access and refresh tokens with the user, provider, scope and ID token.
    const [access] = await inventory('access_tokens');
    expect(access?.provider).toMatchObject({ pk: providerId, client_id: clientId });
    expect(access?.user).toMatchObject({ pk: user.id, username: user.username });
    expect(access?.scope).toEqual(['openid', 'profile', 'email', 'offline_access']);
    expect(access?.revoked).toBe(false);
    expect(JSON.parse(String(access?.id_token))).toMatchObject({ sub: claims?.sub, nonce, aud: clientId });
    expect(new Date(String(access?.expires)).getTime() / 1000).toBe(claims?.exp);
    const [refresh] = await inventory('refresh_tokens');
    expect(refresh?.revoked).toBe(false);

    const info = await oidc.fetchUserInfo(config, tokens.access_token, claims?.sub ?? '');
    expect(info).toMatchObject({ sub: claims?.sub, email: user.email, preferred_username: user.username });

    // Refresh rotates: the old refresh token shows revoked in the inventory.
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token ?? '');
    expect(refreshed.refresh_token).toBeDefined();
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    const refreshTokens = await inventory('refresh_tokens');
    expect(refreshTokens.map((row) => row.revoked).sort()).toEqual([false, true]);

    const introspected = await oidc.tokenIntrospection(config, refreshed.access_token);
    expect(introspected).toMatchObject({ active: true, client_id: clientId, sub: claims?.sub });

    // Revocation deletes the refresh token; introspection then knows nothing of it.
    await oidc.tokenRevocation(config, refreshed.refresh_token ?? '');
    expect(await oidc.tokenIntrospection(config, refreshed.refresh_token ?? '')).toEqual({ active: false });

    // Deleting the access token through the inventory: introspection inactive and userinfo 401, at once.
    const rows = await inventory('access_tokens');
    for (const row of rows) {
      const deleted = await fetch(`${base}/api/v3/oauth2/access_tokens/${String(row.pk)}/`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${adminKey}` },
      });
      expect(deleted.status).toBe(204);
    }
    expect(await oidc.tokenIntrospection(config, refreshed.access_token)).toEqual({ active: false });
    const refused = await oidc.fetchUserInfo(config, refreshed.access_token, claims?.sub ?? '').then(
      () => undefined,
      (error: unknown) => error as { message: string; cause?: Response },
    );
    expect(refused?.message).toBe('unexpected HTTP response status code');
    expect(refused?.cause?.status).toBe(401);
  });

  it('with implicit consent the sign-in form leads straight back to the client', async () => {
    const slugImplicit = unique('rp-implicit').slice(0, 50);
    const created = await t.dataSource.transaction(async (manager) => {
      const made = await createProvider(
        manager,
        { name: unique('oidc-implicit'), redirectUris: [REDIRECT], consentMode: 'implicit' },
        t.app.get(Sealer),
      );
      await createApplication(manager, {
        slug: slugImplicit,
        name: 'Implicit RP',
        providerId: made.provider.id,
      });
      return made;
    });
    const implicit = await oidc.discovery(
      new URL(`${base}/application/o/${slugImplicit}/`),
      created.provider.clientId,
      created.clientSecret ?? '',
      undefined,
      { execute: [oidc.allowInsecureRequests] },
    );
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const callback = await authorizeInBrowser(
      oidc.buildAuthorizationUrl(implicit, {
        redirect_uri: REDIRECT,
        scope: 'openid',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
      }),
      false,
    );
    const tokens = await oidc.authorizationCodeGrant(implicit, callback, {
      pkceCodeVerifier: verifier,
      expectedState: state,
    });
    expect(tokens.claims()?.aud).toBe(created.provider.clientId);
  });

  it('client credentials', async () => {
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'openid' });
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.refresh_token).toBeUndefined();
    expect(await oidc.tokenIntrospection(config, tokens.access_token)).toMatchObject({
      active: true,
      client_id: clientId,
    });
  });

  it('the device flow: the user approves on /device, the device polls its tokens', async () => {
    const device = await oidc.initiateDeviceAuthorization(config, { scope: 'openid profile' });
    expect(device.verification_uri).toBe(`${base}/device`);
    expect(device.user_code).toMatch(/^\d{9}$/);
    const web = new WebClient(base);
    const form = await web.get('/login/');
    expect(
      (
        await web.post('/login/', {
          csrf_token: formToken(form.text),
          username: user.username,
          password: PASSWORD,
        })
      ).status,
    ).toBe(303);
    const entry = await web.get(`/device?code=${device.user_code}`);
    expect(entry.status).toBe(200);
    let page = await web.post('/device', { csrf_token: formToken(entry.text), code: device.user_code });
    // A confirmation step, if the page has one: allow.
    if (/name="decision"/.test(page.text)) {
      const hidden = Object.fromEntries(
        [...page.text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [
          m[1] ?? '',
          m[2] ?? '',
        ]),
      );
      page = await web.post('/device', { ...hidden, decision: 'allow' });
    }
    expect(page.status).toBe(200);
    const tokens = await oidc.pollDeviceAuthorizationGrant(config, { ...device, interval: 0 });
    expect(tokens.claims()?.preferred_username).toBe(user.username);
  });
});
