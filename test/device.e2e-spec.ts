import { randomBytes } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Browser } from 'playwright-core';
import { sha256 } from '../src/common/crypto/secrets';
import { hashPassword } from '../src/identity/password';
import type { UserEntity } from '../src/identity/user.entity';
import { Sealer } from '../src/keys/sealing';
import { TOKEN_ERRORS } from './support/oauth-errors';
import { DeviceApprovals } from '../src/oauth2/issuance/device/device-approvals';
import { DeviceSweep } from '../src/oauth2/issuance/device/device-sweep';
import {
  DEVICE_CODE_FAILURE_LIMIT,
  DEVICE_CODE_FAILURE_WINDOW_SECONDS,
  DEVICE_REQUEST_WINDOW_SECONDS,
} from '../src/oauth2/issuance/device/device-throttle';
import { INVALID_CODE, THROTTLED_CODE } from './support/messages';
import { RequestDeviceAuthorizationHandler } from '../src/oauth2/issuance/device/request-device-authorization.command';
import { createApplication, createProvider, type CreateProviderInput } from '../src/providers/providers';
import type { OAuth2ProviderEntity } from '../src/providers/oauth2-provider.entity';
import { PAGE_CSP } from '../src/sessions/pages';
import { SessionService } from '../src/sessions/session.service';
import { FORM_EXPIRED } from './support/messages';
import { createTestApp, type TestApp } from './support/app';
import { collectViolations, focused, launchChromium } from './support/browser';
import { Factories, unique } from './support/factories';
import { formToken, WebClient, type WebResponse } from './support/web-client';

const PASSWORD = 'correct horse battery';

/** Screenshots for a person to look at (DEVICE_SCREENSHOTS=/some/dir); none by default. */
const SHOTS = process.env.DEVICE_SCREENSHOTS;
/** An application name that needs escaping everywhere it is shown. */
const APP_NAME = `Living <Room> "TV" & Ada's`;
const escaped = (text: string): string =>
  text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');

function listeningBase(app: NestFastifyApplication): string {
  const address = app.getHttpServer().address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

let addressCounter = 0;
/** A fresh client address (X-Forwarded-For, believed from loopback), so the throttle buckets of tests never meet. */
function freshAddress(): string {
  addressCounter += 1;
  return `203.0.${Math.floor(addressCounter / 250)}.${(addressCounter % 250) + 1}`;
}

interface DeviceRow {
  id: number;
  provider_id: number;
  user_id: number | null;
  device_code_hash: Buffer;
  user_code: string;
  scope: string;
  expires: Date;
  session_id: string | null;
  auth_time: Date | null;
  family_id: string | null;
  created: Date;
}

interface DeviceBody {
  device_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  user_code: string;
  expires_in: number;
  interval: number;
}

describe('the device flow: POST /application/o/device/ and the /device page', () => {
  let t: TestApp;
  let other: TestApp;
  let f: Factories;
  let base: string;
  /** A provider serving an application. */
  let provider: OAuth2ProviderEntity;

  beforeAll(async () => {
    t = await createTestApp({ TRUSTED_PROXIES: 'loopback' }, true);
    // A second instance on the same database: the throttle must count both.
    other = await createTestApp(
      { TRUSTED_PROXIES: 'loopback', PUBLIC_URL: 'https://id.example.com/sso' },
      true,
    );
    f = new Factories(t.dataSource);
    base = listeningBase(t.app);
    provider = await providerWithApplication(APP_NAME);
  });

  afterAll(async () => {
    await other?.close();
    await t?.close();
  });

  async function newProvider(input: Partial<CreateProviderInput> = {}): Promise<OAuth2ProviderEntity> {
    const created = await createProvider(
      t.dataSource.manager,
      { name: unique('device-provider'), ...input },
      t.app.get(Sealer),
    );
    return created.provider;
  }

  async function providerWithApplication(
    name: string,
    input: Partial<CreateProviderInput> = {},
  ): Promise<OAuth2ProviderEntity> {
    const created = await newProvider(input);
    await createApplication(t.dataSource.manager, {
      slug: unique('device-app').slice(0, 50),
      name,
      providerId: created.id,
    });
    return created;
  }

  async function userWithPassword(): Promise<UserEntity> {
    const user = await f.user({ name: 'Ada Lovelace' });
    await t.dataSource.query('UPDATE users SET password = $2 WHERE id = $1', [
      user.id,
      await hashPassword(PASSWORD),
    ]);
    return user;
  }

  function client(address = freshAddress(), on = base): WebClient {
    return new WebClient(on, { 'x-forwarded-for': address });
  }

  /** A browser signed in as a new user (or `user`), from a fresh address. */
  async function signedIn(
    user?: UserEntity,
    address = freshAddress(),
  ): Promise<{ c: WebClient; user: UserEntity }> {
    const who = user ?? (await userWithPassword());
    const c = client(address);
    const form = await c.get('/login/');
    const response = await c.post('/login/', {
      csrf_token: formToken(form.text),
      username: who.username,
      password: PASSWORD,
    });
    expect(response.status).toBe(303);
    return { c, user: who };
  }

  async function requestDevice(
    form: Record<string, string> | string,
    options: { address?: string; headers?: Record<string, string>; on?: string } = {},
  ): Promise<WebResponse & { json: unknown }> {
    const response = await client(options.address, options.on).post(
      '/application/o/device/',
      form,
      options.headers,
    );
    let json: unknown;
    try {
      json = JSON.parse(response.text);
    } catch {
      json = undefined;
    }
    return { ...response, json };
  }

  /** A new pending device authorization of `on` (default: the provider with the application). */
  async function pendingCode(
    on: OAuth2ProviderEntity = provider,
    scope = 'openid email',
  ): Promise<DeviceBody> {
    const response = await requestDevice({ client_id: on.clientId, scope });
    expect(response.status).toBe(200);
    return response.json as DeviceBody;
  }

  async function rowOf(userCode: string): Promise<DeviceRow | undefined> {
    const rows = await t.dataSource.query<DeviceRow[]>(
      'SELECT * FROM oauth2_device_tokens WHERE user_code = $1',
      [userCode],
    );
    return rows[0];
  }

  function tokenError(error: keyof typeof TOKEN_ERRORS, response: WebResponse): unknown {
    return {
      error,
      error_description: TOKEN_ERRORS[error],
      request_id: response.headers.get('x-request-id'),
    };
  }

  /** The device page's form, then a POST of it with `fields` (the form's CSRF token unless given). */
  async function submit(c: WebClient, fields: Record<string, string>): Promise<WebResponse> {
    const form = await c.get('/device');
    expect(form.status).toBe(200);
    return c.post('/device', { csrf_token: formToken(form.text), ...fields });
  }

  describe('POST /application/o/device/', () => {
    it("answers authentik's body for a form client_id; the row holds only the device code's SHA-256", async () => {
      const response = await requestDevice({ client_id: provider.clientId, scope: 'openid email' });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.headers.get('pragma')).toBe('no-cache');
      const body = response.json as DeviceBody;
      expect(body).toEqual({
        device_code: expect.stringMatching(/^[A-Za-z0-9._-]{128}$/),
        verification_uri: `${base}/device`,
        verification_uri_complete: `${base}/device?code=${body.user_code}`,
        user_code: expect.stringMatching(/^[0-9]{9}$/),
        expires_in: 60,
        interval: 5,
      });
      expect(Object.keys(body)).toEqual([
        'device_code',
        'verification_uri',
        'verification_uri_complete',
        'user_code',
        'expires_in',
        'interval',
      ]);
      const row = await rowOf(body.user_code);
      expect(row).toEqual({
        id: expect.any(Number),
        provider_id: provider.id,
        user_id: null,
        device_code_hash: sha256(body.device_code),
        user_code: body.user_code,
        scope: 'openid email',
        expires: expect.any(Date),
        session_id: null,
        auth_time: null,
        family_id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/),
        created: expect.any(Date),
      });
      const lifetime = (row?.expires.getTime() ?? 0) - (row?.created.getTime() ?? 0);
      expect({ lifetime, close: Math.abs(lifetime - 60_000) < 5_000 }).toEqual({ lifetime, close: true });
      // No column, in any form, holds the device code itself.
      const [text] = await t.dataSource.query<{ row: string }[]>(
        'SELECT row_to_json(d)::text AS row FROM oauth2_device_tokens d WHERE id = $1',
        [row?.id],
      );
      expect(text?.row).not.toContain(body.device_code);
      expect(text?.row).not.toContain(body.device_code.slice(0, 32));
      // Nor does any log line.
      expect(t.logs.text).not.toContain(body.device_code.slice(0, 32));
    });

    it('takes the client id from HTTP Basic, without checking the secret; each request gets its own codes', async () => {
      const basic = `Basic ${Buffer.from(`${provider.clientId}:not-the-secret`).toString('base64')}`;
      const first = await requestDevice('', { headers: { authorization: basic } });
      const second = await requestDevice({ client_id: provider.clientId, client_secret: 'wrong' });
      expect([first.status, second.status]).toEqual([200, 200]);
      const [a, b] = [first.json as DeviceBody, second.json as DeviceBody];
      expect(a.device_code).not.toBe(b.device_code);
      expect(a.user_code).not.toBe(b.user_code);
      expect((await rowOf(a.user_code))?.provider_id).toBe(provider.id);
      // Every mapped scope when none is asked for (authentik's check_scope on an empty request).
      expect((await rowOf(a.user_code))?.scope).toBe(
        'openid email profile entitlements offline_access goauthentik.io/api',
      );
      expect((await rowOf(a.user_code))?.family_id).not.toBe((await rowOf(b.user_code))?.family_id);
    });

    it('builds the verification URIs on PUBLIC_URL, else on the forwarded scheme and host of a trusted proxy', async () => {
      const configured = await requestDevice(
        { client_id: provider.clientId },
        { on: listeningBase(other.app), headers: { 'x-forwarded-host': 'evil.example' } },
      );
      expect(configured.status).toBe(200);
      const a = configured.json as DeviceBody;
      expect([a.verification_uri, a.verification_uri_complete]).toEqual([
        'https://id.example.com/sso/device',
        `https://id.example.com/sso/device?code=${a.user_code}`,
      ]);
      const forwarded = await requestDevice(
        { client_id: provider.clientId },
        { headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'tv.example.org' } },
      );
      const b = forwarded.json as DeviceBody;
      expect([b.verification_uri, b.verification_uri_complete]).toEqual([
        'https://tv.example.org/device',
        `https://tv.example.org/device?code=${b.user_code}`,
      ]);
    });

    it('a user code another row holds is drawn again (the unique index decides)', async () => {
      const taken = await pendingCode();
      const handler = t.app.get(RequestDeviceAuthorizationHandler);
      const original = handler.drawUserCode;
      const draw = jest
        .fn<string, []>()
        .mockReturnValueOnce(taken.user_code)
        .mockReturnValueOnce(taken.user_code)
        .mockImplementation(original);
      handler.drawUserCode = draw;
      try {
        const response = await requestDevice({ client_id: provider.clientId });
        expect(response.status).toBe(200);
        const body = response.json as DeviceBody;
        expect(draw).toHaveBeenCalledTimes(3);
        expect(body.user_code).not.toBe(taken.user_code);
        expect((await rowOf(body.user_code))?.device_code_hash).toEqual(sha256(body.device_code));
        // The row that held the code is untouched.
        expect((await rowOf(taken.user_code))?.device_code_hash).toEqual(sha256(taken.device_code));
      } finally {
        handler.drawUserCode = original;
      }
    });

    it("expires_in is the provider's access_code_validity in whole seconds", async () => {
      const slow = await providerWithApplication('Slow TV', {
        accessCodeValidity: 'minutes=10;seconds=30.9',
      });
      const response = await requestDevice({ client_id: slow.clientId });
      expect(response.status).toBe(200);
      const body = response.json as DeviceBody;
      expect(body.expires_in).toBe(630);
      const row = await rowOf(body.user_code);
      const lifetime = (row?.expires.getTime() ?? 0) - (row?.created.getTime() ?? 0);
      expect({ lifetime, close: Math.abs(lifetime - 630_900) < 5_000 }).toEqual({ lifetime, close: true });
    });

    it.each([
      ['openid email bogus  email', 'openid email'],
      ['profile\toffline_access goauthentik.io/api', 'profile offline_access goauthentik.io/api'],
      ['bogus other', ''],
    ])('keeps only mapped scopes of %j', async (scope, stored) => {
      const response = await requestDevice({ client_id: provider.clientId, scope });
      expect(response.status).toBe(200);
      expect((await rowOf((response.json as DeviceBody).user_code))?.scope).toBe(stored);
    });

    it.each([
      ['an unknown client', () => ({ client_id: 'no-such-client' })],
      ['no client id', () => ({ scope: 'openid' })],
      ['an empty client id', () => ({ client_id: '' })],
      ['a client id with a NUL byte', () => ({ client_id: `${provider.clientId}\0` })],
      ['a client id too long for the column', () => ({ client_id: 'x'.repeat(300) })],
    ])('400 invalid_client for %s, and no row', async (_what, form) => {
      const [before] = await t.dataSource.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM oauth2_device_tokens',
      );
      const response = await requestDevice(form());
      expect(response.status).toBe(400);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.json).toEqual(tokenError('invalid_client', response));
      const [after] = await t.dataSource.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM oauth2_device_tokens',
      );
      expect(after).toEqual(before);
    });

    it('400 invalid_client for a provider that serves no application, by form or Basic', async () => {
      const lonely = await newProvider();
      const byForm = await requestDevice({ client_id: lonely.clientId });
      expect(byForm.status).toBe(400);
      expect(byForm.json).toEqual(tokenError('invalid_client', byForm));
      const byBasic = await requestDevice('', {
        headers: { authorization: `Basic ${Buffer.from(`${lonely.clientId}:x`).toString('base64')}` },
      });
      expect(byBasic.status).toBe(400);
      expect(byBasic.json).toEqual(tokenError('invalid_client', byBasic));
      const [count] = await t.dataSource.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM oauth2_device_tokens WHERE provider_id = $1',
        [lonely.id],
      );
      expect(count).toEqual({ n: 0 });
    });

    it('a JSON body is not read: 400 invalid_client', async () => {
      const response = await client().post(
        '/application/o/device/',
        JSON.stringify({ client_id: provider.clientId }),
        { 'content-type': 'application/json' },
      );
      expect(response.status).toBe(400);
      expect(JSON.parse(response.text)).toEqual(tokenError('invalid_client', response));
    });

    it('20 requests an hour per address, counted across instances: the 21st is 429 slow_down with Retry-After', async () => {
      const address = freshAddress();
      const otherBase = listeningBase(other.app);
      const statuses: number[] = [];
      for (let i = 0; i < 20; i += 1) {
        // Alternating instances, and failed requests count as much as good ones (authentik counts every request).
        const form = i % 5 === 4 ? { client_id: 'no-such-client' } : { client_id: provider.clientId };
        statuses.push((await requestDevice(form, { address, on: i % 2 === 0 ? base : otherBase })).status);
      }
      expect(statuses).toEqual(Array.from({ length: 20 }, (_, i) => (i % 5 === 4 ? 400 : 200)));
      const [before] = await t.dataSource.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM oauth2_device_tokens',
      );
      for (const on of [base, otherBase]) {
        const refused = await requestDevice({ client_id: provider.clientId }, { address, on });
        expect(refused.status).toBe(429);
        expect(refused.headers.get('cache-control')).toBe('no-store');
        expect(refused.json).toEqual(tokenError('slow_down', refused));
        const retryAfter = Number(refused.headers.get('retry-after'));
        expect({
          retryAfter,
          inWindow: retryAfter >= 1 && retryAfter <= DEVICE_REQUEST_WINDOW_SECONDS,
        }).toEqual({
          retryAfter,
          inWindow: true,
        });
      }
      // An unknown client is refused the same way: the throttle comes first.
      const unknown = await requestDevice({ client_id: 'no-such-client' }, { address });
      expect(unknown.status).toBe(429);
      const [after] = await t.dataSource.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM oauth2_device_tokens',
      );
      expect(after).toEqual(before);
      // Another address is not affected.
      expect((await requestDevice({ client_id: provider.clientId })).status).toBe(200);
      // When the window has ended, the address may ask again.
      await t.dataSource.query(
        `UPDATE device_throttle SET window_end = now() - interval '1 second' WHERE bucket = $1`,
        [`request:${address}`],
      );
      expect((await requestDevice({ client_id: provider.clientId }, { address })).status).toBe(200);
    });
  });

  describe('the /device page', () => {
    it('without a session: 303 to the login page, which comes back with the code', async () => {
      const c = client();
      const bare = await c.get('/device');
      expect(bare.status).toBe(303);
      expect(bare.headers.get('location')).toBe('/login/?next=%2Fdevice');
      const withCode = await c.get('/device?code=123456789');
      expect(withCode.status).toBe(303);
      expect(withCode.headers.get('location')).toBe('/login/?next=%2Fdevice%3Fcode%3D123456789');

      const login = await c.get(withCode.headers.get('location') ?? '');
      expect(login.status).toBe(200);
      expect(login.text).toContain('<input type="hidden" name="next" value="/device?code=123456789">');
      const user = await userWithPassword();
      const signIn = await c.post('/login/', {
        csrf_token: formToken(login.text),
        username: user.username,
        password: PASSWORD,
        next: '/device?code=123456789',
      });
      expect(signIn.status).toBe(303);
      expect(signIn.headers.get('location')).toBe('/device?code=123456789');

      const form = await c.get('/device?code=123456789');
      expect(form.status).toBe(200);
      expect(form.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(form.headers.get('content-security-policy')).toBe(PAGE_CSP);
      expect(form.headers.get('cache-control')).toBe('no-store');
      expect(form.text).toContain('<title>Connect a device · Grantry</title>');
      expect(form.text).toContain('<label for="code">Code</label>');
      expect(form.text).toMatch(
        /<input id="code" name="code" type="text" inputmode="numeric"[^>]* autofocus value="123456789"/,
      );
      expect(form.text).toContain(
        `<p class="lead">Signed in as <strong>${escaped(user.username)}</strong>.</p>`,
      );
      expect(form.text).not.toMatch(/<script|javascript:|\son[a-z]+=|style=/i);
    });

    it('a POST without a session goes to the login page, keeping the code', async () => {
      const response = await client().post('/device', { code: '123456789', csrf_token: 'x'.repeat(43) });
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe('/login/?next=%2Fdevice%3Fcode%3D123456789');
    });

    it('a code from the URL is escaped into the form; one too long is dropped', async () => {
      const { c } = await signedIn();
      const hostile = await c.get(`/device?code=${encodeURIComponent('"><script>x</script>')}`);
      expect(hostile.status).toBe(200);
      expect(hostile.text).toContain('value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;"');
      expect(hostile.text).not.toContain('<script');
      const long = await c.get(`/device?code=${'1'.repeat(65)}`);
      expect(long.text).toContain('autofocus value=""');
    });

    it("no CSRF token, a wrong one, a login token or another session's: 403, and nothing changes", async () => {
      const device = await pendingCode();
      const { c } = await signedIn();
      const { c: someoneElse } = await signedIn();
      const theirs = formToken((await someoneElse.get('/device')).text);
      const loginToken = formToken((await client().get('/login/')).text);
      for (const csrf of [undefined, 'x'.repeat(43), '', loginToken, theirs]) {
        const response = await c.post('/device', {
          code: device.user_code,
          decision: 'allow',
          ...(csrf === undefined ? {} : { csrf_token: csrf }),
        });
        expect(response.status).toBe(403);
        expect(response.headers.get('content-security-policy')).toBe(PAGE_CSP);
        expect(response.text).toContain(escaped(FORM_EXPIRED));
      }
      expect(await rowOf(device.user_code)).toMatchObject({ user_id: null });
    });

    it('shows the application and the requested scopes, with Allow and Deny', async () => {
      const device = await pendingCode(provider, 'openid email offline_access');
      const { c, user } = await signedIn();
      // As a person might type it.
      const typed = `${device.user_code.slice(0, 3)} ${device.user_code.slice(3, 6)}-${device.user_code.slice(6)}`;
      const response = await submit(c, { code: typed });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-security-policy')).toBe(PAGE_CSP);
      expect(response.text).toContain(`<title>Connect ${escaped(APP_NAME)} · Grantry</title>`);
      expect(response.text).toContain(`<h1>Connect ${escaped(APP_NAME)} on your device?</h1>`);
      expect(response.text).toContain(
        `<p class="lead">You're about to sign into ${escaped(APP_NAME)} on a device, as <strong>${escaped(user.username)}</strong>.</p>`,
      );
      expect(response.text).toContain(
        `<h2 id="requested">${escaped(APP_NAME)} asks for</h2>
<ul class="scopes" aria-labelledby="requested">
<li><span class="scope-name"><code>openid</code></span></li>
<li><span class="scope-name">Email address<code class="scope-id">email</code></span></li>
<li><span class="scope-name">Access to request new tokens without interaction<code class="scope-id">offline_access</code></span></li>
</ul>`,
      );
      const grouped = `${device.user_code.slice(0, 3)} ${device.user_code.slice(3, 6)} ${device.user_code.slice(6)}`;
      expect(response.text).toContain(`<dt>Code</dt><dd>${grouped}</dd>`);
      expect(response.text).toContain(`<input type="hidden" name="code" value="${device.user_code}">`);
      expect(response.text).toContain(`<div class="actions">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
</div>`);
      expect(response.text).not.toMatch(/<script|javascript:|\son[a-z]+=|style=/i);
      // Looking changes nothing.
      expect(await rowOf(device.user_code)).toMatchObject({
        user_id: null,
        session_id: null,
        auth_time: null,
      });
    });

    it('a device that asked only for unknown scopes: the page says it gets nothing more', async () => {
      const device = await pendingCode(provider, 'bogus');
      const { c } = await signedIn();
      const response = await submit(c, { code: device.user_code });
      expect(response.status).toBe(200);
      expect(response.text).toContain(`<p>${escaped(APP_NAME)} asks only to know that you signed in.</p>`);
    });

    it('Allow: the row gets the user, the session and its sign-in time, with an audit event', async () => {
      const device = await pendingCode();
      const { c, user } = await signedIn();
      const response = await submit(c, { code: device.user_code, decision: 'allow' });
      expect(response.status).toBe(200);
      expect(response.text).toContain('<h1>Device connected</h1>');
      expect(response.text).toContain(
        `<p role="status">${escaped(APP_NAME)} is connected. You can return to your device.</p>`,
      );
      const [session] = await t.dataSource.query<{ id: string; created: Date }[]>(
        'SELECT id, created FROM sessions WHERE user_id = $1',
        [user.id],
      );
      const row = await rowOf(device.user_code);
      expect(row).toMatchObject({
        user_id: user.id,
        session_id: session?.id,
        auth_time: session?.created,
        device_code_hash: sha256(device.device_code),
      });
      expect(
        await t.dataSource.query(
          `SELECT action, actor_user_id, actor_username, model, object_pk, object_user_id, object_provider_id,
                  secret_hash_prefix
             FROM audit_events WHERE request_id = $1`,
          [response.headers.get('x-request-id')],
        ),
      ).toEqual([
        {
          action: 'authorization_granted',
          actor_user_id: user.id,
          actor_username: user.username,
          model: 'DeviceToken',
          object_pk: row?.id,
          object_user_id: user.id,
          object_provider_id: provider.id,
          secret_hash_prefix: null,
        },
      ]);
      // Approved: the code cannot be looked at, approved or denied again, by anyone.
      for (const decision of [undefined, 'allow', 'deny']) {
        const again = await submit(c, { code: device.user_code, ...(decision ? { decision } : {}) });
        expect(again.status).toBe(400);
        expect(again.text).toContain(escaped(INVALID_CODE));
      }
      expect((await rowOf(device.user_code))?.user_id).toBe(user.id);
    });

    it('Deny: the row is deleted (the device then gets invalid_grant), with an audit event', async () => {
      const device = await pendingCode();
      const { c, user } = await signedIn();
      const response = await submit(c, { code: device.user_code, decision: 'deny' });
      expect(response.status).toBe(200);
      expect(response.text).toContain('<h1>Device not connected</h1>');
      expect(response.text).toContain(
        `<p role="status">${escaped(APP_NAME)} was not given access. You can close this page.</p>`,
      );
      expect(await rowOf(device.user_code)).toBeUndefined();
      expect(
        await t.dataSource.query(
          `SELECT action, actor_user_id, model, object_user_id, object_provider_id
             FROM audit_events WHERE request_id = $1`,
          [response.headers.get('x-request-id')],
        ),
      ).toEqual([
        {
          action: 'authorization_denied',
          actor_user_id: user.id,
          model: 'DeviceToken',
          object_user_id: user.id,
          object_provider_id: provider.id,
        },
      ]);
    });

    it('unknown, expired, malformed codes and codes of a provider without application: 400, one message', async () => {
      const expired = await pendingCode();
      await t.dataSource.query(
        `UPDATE oauth2_device_tokens SET expires = now() - interval '1 second' WHERE user_code = $1`,
        [expired.user_code],
      );
      const orphanProvider = await providerWithApplication('Soon gone');
      const orphan = await pendingCode(orphanProvider);
      await t.dataSource.query('DELETE FROM applications WHERE provider_id = $1', [orphanProvider.id]);
      let unknown = '000000000';
      while (await rowOf(unknown)) unknown = String(Number(unknown) + 1).padStart(9, '0');

      const { c } = await signedIn();
      for (const code of [unknown, expired.user_code, orphan.user_code, '12345', 'abcdefghi', '']) {
        for (const decision of [undefined, 'allow', 'deny']) {
          const response = await submit(c, { code, ...(decision ? { decision } : {}) });
          expect({ code, decision, status: response.status }).toEqual({ code, decision, status: 400 });
          expect(response.text).toContain(
            `<p class="alert" role="alert" id="code-error">${escaped(INVALID_CODE)}</p>`,
          );
          expect(response.text).toContain('aria-describedby="code-error code-hint"');
          // What was typed stays in the field, to be corrected.
          expect(response.text).toContain(`autofocus value="${escaped(code)}"`);
        }
      }
      expect(await rowOf(expired.user_code)).toMatchObject({ user_id: null });
      expect(await rowOf(orphan.user_code)).toMatchObject({ user_id: null });
    });

    it(`${DEVICE_CODE_FAILURE_LIMIT} wrong codes from one address or one user: every code refused (429) until the window ends`, async () => {
      const device = await pendingCode();
      const user = await userWithPassword();
      const address = freshAddress();
      const { c } = await signedIn(user, address);
      // Text that cannot be a code is a typo, not a guess: it does not count.
      for (let i = 0; i < DEVICE_CODE_FAILURE_LIMIT + 2; i += 1) {
        expect((await submit(c, { code: 'not a code' })).status).toBe(400);
      }
      let wrong = 0;
      for (let guess = 1; wrong < DEVICE_CODE_FAILURE_LIMIT; guess += 1) {
        const code = String(guess).padStart(9, '0');
        if (await rowOf(code)) continue;
        expect((await submit(c, { code })).status).toBe(400);
        wrong += 1;
      }
      // The right code now gets the same refusal as any other: the throttle tells a guesser nothing.
      const blocked = await submit(c, { code: device.user_code });
      expect(blocked.status).toBe(429);
      expect(blocked.text).toContain(escaped(THROTTLED_CODE));
      const retryAfter = Number(blocked.headers.get('retry-after'));
      expect({
        retryAfter,
        inWindow: retryAfter >= 1 && retryAfter <= DEVICE_CODE_FAILURE_WINDOW_SECONDS,
      }).toEqual({
        retryAfter,
        inWindow: true,
      });
      expect((await submit(c, { code: device.user_code, decision: 'allow' })).status).toBe(429);
      // The same user from elsewhere, and someone else from the same address: refused too.
      expect((await submit((await signedIn(user)).c, { code: device.user_code })).status).toBe(429);
      expect((await submit((await signedIn(undefined, address)).c, { code: device.user_code })).status).toBe(
        429,
      );
      // Another user elsewhere is not affected.
      expect((await submit((await signedIn()).c, { code: device.user_code })).status).toBe(200);
      expect(await rowOf(device.user_code)).toMatchObject({ user_id: null });
      // When the windows have ended, the right code works again.
      await t.dataSource.query(
        `UPDATE device_throttle SET window_end = now() - interval '1 second' WHERE bucket = ANY($1)`,
        [[`code-addr:${address}`, `code-user:${user.id}`]],
      );
      expect((await submit(c, { code: device.user_code, decision: 'allow' })).status).toBe(200);
      expect(await rowOf(device.user_code)).toMatchObject({ user_id: user.id });
    });

    it('of 10 people approving one code at once, exactly one wins', async () => {
      const device = await pendingCode();
      const people = await Promise.all(Array.from({ length: 10 }, () => signedIn()));
      const forms = await Promise.all(people.map(({ c }) => c.get('/device')));
      const responses = await Promise.all(
        people.map(({ c }, i) =>
          c.post('/device', {
            csrf_token: formToken(forms[i]?.text ?? ''),
            code: device.user_code,
            decision: 'allow',
          }),
        ),
      );
      const statuses = responses.map((response) => response.status).sort();
      expect(statuses).toEqual([200, ...Array<number>(9).fill(400)]);
      const winner = people[responses.findIndex((response) => response.status === 200)];
      expect((await rowOf(device.user_code))?.user_id).toBe(winner?.user.id);
      const [events] = await t.dataSource.query<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM audit_events WHERE action = 'authorization_granted' AND request_id = ANY($1)`,
        [responses.map((response) => response.headers.get('x-request-id'))],
      );
      expect(events).toEqual({ n: 1 });
    });

    it('DeviceApprovals: of 20 concurrent approve() calls for one code, exactly one returns the application', async () => {
      const device = await pendingCode();
      const approvals = t.app.get(DeviceApprovals);
      const sessions = t.app.get(SessionService);
      const people = await Promise.all(Array.from({ length: 20 }, () => userWithPassword()));
      const signedInAs = await Promise.all(
        people.map(async (user) => {
          const started = await t.dataSource.transaction((manager) =>
            sessions.start(manager, user.id, { headers: {}, ip: '127.0.0.1' } as never),
          );
          return {
            token: started.token,
            session: started.session,
            user: {
              id: user.id,
              uuid: user.uuid,
              username: user.username,
              name: user.name,
              email: user.email,
            },
          };
        }),
      );
      const results = await Promise.all(
        signedInAs.map((who) =>
          approvals.approve(device.user_code, who, `req-${randomBytes(4).toString('hex')}`),
        ),
      );
      expect(results.filter((result) => result.kind !== 'not-pending')).toEqual([
        { kind: 'approved', applicationName: APP_NAME },
      ]);
    });

    it("an application bound to groups: others see the access-denied page and the code stays pending; a member's approval stores consent", async () => {
      const group = await f.group();
      const name = `Bound ${unique('app')}`;
      const bound = await newProvider({ consentMode: 'expiring' });
      const application = await t.dataSource.transaction((manager) =>
        createApplication(manager, {
          slug: unique('device-bound').slice(0, 50),
          name,
          providerId: bound.id,
          groups: [group.name],
        }),
      );
      const device = await pendingCode(bound, 'openid profile');
      const outsider = await signedIn();
      for (const decision of [undefined, 'allow']) {
        const denied = await submit(outsider.c, {
          code: device.user_code,
          ...(decision ? { decision } : {}),
        });
        expect({ decision, status: denied.status }).toEqual({ decision, status: 403 });
        expect(denied.text).toContain(escaped(name));
      }
      expect((await rowOf(device.user_code))?.user_id).toBeNull();
      const insider = await signedIn();
      await f.member(insider.user, group);
      expect((await submit(insider.c, { code: device.user_code, decision: 'allow' })).status).toBe(200);
      expect((await rowOf(device.user_code))?.user_id).toBe(insider.user.id);
      expect(
        await t.dataSource.query(
          'SELECT permissions, expires IS NOT NULL AS expiring FROM user_consents WHERE user_id = $1 AND application_id = $2',
          [insider.user.id, application.id],
        ),
      ).toEqual([{ permissions: 'openid profile', expiring: true }]);
    });
  });

  describe('with the token endpoint', () => {
    const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

    function poll(device: DeviceBody, clientId = provider.clientId): Promise<WebResponse> {
      return client().post('/application/o/token/', {
        grant_type: DEVICE_GRANT,
        device_code: device.device_code,
        client_id: clientId,
      });
    }

    it('authorization_pending until Allow; then tokens bound to the session, and the device row is gone', async () => {
      const device = await pendingCode(provider, 'openid profile offline_access');
      const pending = await poll(device);
      expect(pending.status).toBe(400);
      expect(JSON.parse(pending.text)).toEqual(tokenError('authorization_pending', pending));

      const { c, user } = await signedIn();
      expect((await submit(c, { code: device.user_code, decision: 'allow' })).status).toBe(200);
      const issued = await poll(device);
      expect(issued.status).toBe(200);
      expect(JSON.parse(issued.text)).toEqual({
        access_token: expect.any(String),
        token_type: 'Bearer',
        scope: 'openid profile offline_access',
        expires_in: 3600,
        id_token: expect.any(String),
        refresh_token: expect.any(String),
      });
      const [session] = await t.dataSource.query<{ id: string }[]>(
        'SELECT id FROM sessions WHERE user_id = $1',
        [user.id],
      );
      const tokens = await t.dataSource.query<{ user_id: number; session_id: string; provider_id: number }[]>(
        'SELECT user_id, session_id, provider_id FROM oauth2_access_tokens WHERE user_id = $1',
        [user.id],
      );
      expect(tokens).toEqual([{ user_id: user.id, session_id: session?.id, provider_id: provider.id }]);
      expect(await rowOf(device.user_code)).toBeUndefined();
      // The device code is spent.
      const again = await poll(device);
      expect(JSON.parse(again.text)).toEqual(tokenError('invalid_grant', again));
    });

    it('after Deny the device gets invalid_grant', async () => {
      const device = await pendingCode();
      const { c } = await signedIn();
      expect((await submit(c, { code: device.user_code, decision: 'deny' })).status).toBe(200);
      const denied = await poll(device);
      expect(denied.status).toBe(400);
      expect(JSON.parse(denied.text)).toEqual(tokenError('invalid_grant', denied));
    });
  });

  describe('the sweep', () => {
    it('deletes expired device rows and ended throttle windows, and nothing live', async () => {
      const live = await pendingCode();
      const expired = await pendingCode();
      await t.dataSource.query(
        `UPDATE oauth2_device_tokens SET expires = now() - interval '1 second' WHERE user_code = $1`,
        [expired.user_code],
      );
      await t.dataSource.query(
        `INSERT INTO device_throttle (bucket, window_end, hits) VALUES ($1, now() - interval '1 second', 3),
                                                                      ($2, now() + interval '1 hour', 3)`,
        [`request:${unique('ended')}`, `request:${unique('live')}`],
      );
      const result = await t.app.get(DeviceSweep).sweep();
      expect(result).toEqual({ deviceTokens: expect.any(Number), throttleWindows: expect.any(Number) });
      expect(result?.deviceTokens).toBeGreaterThanOrEqual(1);
      expect(result?.throttleWindows).toBeGreaterThanOrEqual(1);
      expect(await rowOf(expired.user_code)).toBeUndefined();
      expect(await rowOf(live.user_code)).toBeDefined();
      const [left] = await t.dataSource.query<{ ended: number; live: number }[]>(
        `SELECT count(*) FILTER (WHERE window_end <= now())::int AS ended,
                count(*) FILTER (WHERE window_end > now())::int AS live FROM device_throttle`,
      );
      expect(left?.ended).toBe(0);
      expect(left?.live).toBeGreaterThanOrEqual(1);
    });
  });

  describe('in headless Chromium', () => {
    let browser: Browser;

    beforeAll(async () => {
      browser = await launchChromium();
    });

    afterAll(async () => {
      await browser?.close();
    });

    it('signs in, takes the code from the keyboard, allows; no script, no CSP violation', async () => {
      const user = await userWithPassword();
      const device = await pendingCode();
      const page = await browser.newPage({ viewport: { width: 1024, height: 720 } });
      page.setDefaultTimeout(10_000);
      await collectViolations(page);
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(message.text());
      });

      await page.goto(`${base}/device`);
      expect(page.url()).toBe(`${base}/login/?next=%2Fdevice`);
      // Autofocus is applied after load; typing before it would lose the first characters.
      await page.waitForFunction("document.activeElement && document.activeElement.id === 'username'");
      await page.keyboard.type(user.username);
      await page.keyboard.press('Tab');
      await page.keyboard.type(PASSWORD);
      await page.keyboard.press('Enter');
      await page.waitForURL(`${base}/device`);
      expect(await page.title()).toBe('Connect a device · Grantry');
      await page.waitForFunction("document.activeElement && document.activeElement.id === 'code'");
      expect(await page.evaluate<number>('document.scripts.length')).toBe(0);
      expect(
        await page.evaluate<string>("getComputedStyle(document.querySelector('.card')).borderTopLeftRadius"),
      ).toBe('12px');
      expect(await page.evaluate<string>('getComputedStyle(document.activeElement).outlineStyle')).toBe(
        'solid',
      );
      // The field is labelled and described for a screen reader.
      expect(await page.getByLabel('Code').getAttribute('aria-describedby')).toBe('code-hint');

      if (SHOTS) await page.screenshot({ path: `${SHOTS}/device-code.png`, fullPage: true });
      await page.keyboard.type(device.user_code);
      await page.keyboard.press('Enter');
      await page.waitForSelector('h1 >> text=Connect');
      expect(await page.locator('h1').innerText()).toBe(`Connect ${APP_NAME} on your device?`);
      expect(await page.locator('.scopes li').allInnerTexts()).toEqual(['openid', 'Email address\nemail']);
      if (SHOTS) await page.screenshot({ path: `${SHOTS}/device-confirm.png`, fullPage: true });
      // Nothing is focused for the person: the first Tab reaches Allow, the second Deny.
      await page.keyboard.press('Tab');
      expect(await focused(page)).toBe('Allow');
      expect(await page.evaluate<string>('getComputedStyle(document.activeElement).outlineStyle')).toBe(
        'solid',
      );
      await page.keyboard.press('Tab');
      expect(await focused(page)).toBe('Deny');
      await page.keyboard.press('Shift+Tab');
      await page.keyboard.press('Enter');
      await page.waitForSelector('h1 >> text=Device connected');
      expect(await page.getByRole('status').innerText()).toBe(
        `${APP_NAME} is connected. You can return to your device.`,
      );
      expect(await page.evaluate<number>('document.scripts.length')).toBe(0);
      if (SHOTS) await page.screenshot({ path: `${SHOTS}/device-done.png`, fullPage: true });
      expect((await rowOf(device.user_code))?.user_id).toBe(user.id);

      expect(await page.evaluate<string[]>('window.cspViolations')).toEqual([]);
      expect(errors).toEqual([]);
      await page.close();
    });

    it('works with JavaScript switched off, from verification_uri_complete, at 320 px wide', async () => {
      const user = await userWithPassword();
      const device = await pendingCode();
      const context = await browser.newContext({
        javaScriptEnabled: false,
        viewport: { width: 320, height: 640 },
      });
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      await page.goto(device.verification_uri_complete);
      await page.fill('#username', user.username);
      await page.fill('#password', PASSWORD);
      await page.press('#password', 'Enter');
      await page.waitForURL(device.verification_uri_complete);
      expect(await page.inputValue('#code')).toBe(device.user_code);
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.waitForSelector('h1 >> text=Connect');
      await page.getByRole('button', { name: 'Allow' }).click();
      await page.waitForSelector('h1 >> text=Device connected');
      expect((await rowOf(device.user_code))?.user_id).toBe(user.id);
      await context.close();

      const narrow = await browser.newPage({ viewport: { width: 320, height: 640 } });
      const { c } = await signedIn(user);
      const cookie = [...c.cookies].map(([name, value]) => ({ name, value, url: base }));
      await narrow.context().addCookies(cookie);
      const second = await pendingCode(provider, 'openid email profile offline_access goauthentik.io/api');
      await narrow.goto(`${base}/device?code=${second.user_code}`);
      await narrow.getByRole('button', { name: 'Continue' }).click();
      await narrow.waitForSelector('h1 >> text=Connect');
      expect(await narrow.evaluate<boolean>('document.documentElement.scrollWidth <= 320')).toBe(true);
      if (SHOTS) await narrow.screenshot({ path: `${SHOTS}/device-confirm-320.png`, fullPage: true });
      await narrow.getByRole('button', { name: 'Deny' }).click();
      await narrow.waitForSelector('h1 >> text=Device not connected');
      expect(await rowOf(second.user_code)).toBeUndefined();
      await narrow.close();
    });
  });
});
