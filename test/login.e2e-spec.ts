import { createHmac } from 'node:crypto';
import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { sha256 } from '../src/common/crypto/secrets';
import { hashPassword } from '../src/identity/password';
import type { UserEntity } from '../src/identity/user.entity';
import { PAGE_CSP } from '../src/sessions/pages';
import { SessionService } from '../src/sessions/session.service';
import { FORM_EXPIRED, INVALID_LOGIN, THROTTLED_LOGIN } from './support/messages';
import { createTestApp, type TestApp } from './support/app';
import { Factories, unique } from './support/factories';
import { formToken, WebClient, type WebResponse } from './support/web-client';

const PASSWORD = 'correct horse battery';
const LIMIT = 3;
const WINDOW = 120;

function baseUrl(app: NestFastifyApplication): string {
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return `http://127.0.0.1:${port}`;
}

let addressCounter = 0;
/** A fresh client address (X-Forwarded-For, believed from loopback), so throttle buckets of tests never meet. */
function freshAddress(): string {
  addressCounter += 1;
  return `198.51.${Math.floor(addressCounter / 250)}.${(addressCounter % 250) + 1}`;
}

/** HTML entities as pages write them. */
const escaped = (text: string): string => text.replace(/'/g, '&#39;');

describe('signing in and out in the browser', () => {
  let t: TestApp;
  let other: TestApp;
  let f: Factories;
  let base: string;

  beforeAll(async () => {
    const env = {
      TRUSTED_PROXIES: 'loopback',
      LOGIN_FAILURE_LIMIT: String(LIMIT),
      LOGIN_FAILURE_WINDOW_SECONDS: String(WINDOW),
      MAX_BODY_BYTES: '2048',
    };
    t = await createTestApp(env, true);
    // A second instance on the same database, trusting no proxy.
    other = await createTestApp({ LOGIN_FAILURE_LIMIT: String(LIMIT) }, true);
    f = new Factories(t.dataSource);
    base = baseUrl(t.app);
  });

  afterAll(async () => {
    await other?.close();
    await t?.close();
  });

  async function userWithPassword(
    input: Partial<{ email: string; isActive: boolean }> = {},
  ): Promise<UserEntity> {
    const user = await f.user({ name: 'Ada Lovelace', ...input });
    await t.dataSource.query('UPDATE users SET password = $2 WHERE id = $1', [
      user.id,
      await hashPassword(PASSWORD),
    ]);
    return user;
  }

  function client(address = freshAddress(), extra: Record<string, string> = {}, on = base): WebClient {
    return new WebClient(on, { 'x-forwarded-for': address, ...extra });
  }

  async function signIn(
    c: WebClient,
    username: string,
    password = PASSWORD,
    next?: string,
  ): Promise<WebResponse> {
    const form = await c.get('/login/');
    expect(form.status).toBe(200);
    return c.post('/login/', {
      csrf_token: formToken(form.text),
      username,
      password,
      ...(next === undefined ? {} : { next }),
    });
  }

  async function auditOf(action: string, requestId: string | null): Promise<unknown[]> {
    return t.dataSource.query(
      `SELECT action, actor_user_id, actor_username, model, object_pk, object_user_id, secret_hash_prefix
         FROM audit_events WHERE action = $1 AND request_id = $2`,
      [action, requestId],
    );
  }

  describe('the login page', () => {
    it('is server-rendered, accessible HTML under the pages CSP, with no script, and sets the pre-session cookie', async () => {
      const c = client();
      const page = await c.get('/login/');
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(page.headers.get('content-security-policy')).toBe(PAGE_CSP);
      expect(page.headers.get('cache-control')).toBe('no-store');
      expect(page.headers.get('x-frame-options')).toBe('DENY');
      expect(page.setCookies).toEqual([
        expect.stringMatching(/^grantry_csrf=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/),
      ]);
      expect(page.text).toContain('<html lang="en">');
      expect(page.text).toContain('<title>Sign in · Grantry</title>');
      expect(page.text).toContain('<label for="username">Username or email</label>');
      expect(page.text).toContain('<label for="password">Password</label>');
      expect(page.text).toMatch(/<input id="username"[^>]* autofocus/);
      expect(page.text).toContain('<link rel="stylesheet" href="/static/grantry.css">');
      expect(page.text).not.toMatch(/<script|javascript:|\son[a-z]+=|style=/i);
      // The same pre-session cookie is kept on the next visit.
      const again = await c.get('/login/');
      expect(again.setCookies[0]?.split(';')[0]).toBe(page.setCookies[0]?.split(';')[0]);
      expect(formToken(again.text)).toBe(formToken(page.text));
    });

    it('serves its stylesheet from this origin, cacheable', async () => {
      const css = await client().get('/static/grantry.css');
      expect(css.status).toBe(200);
      expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
      expect(css.headers.get('cache-control')).toBe('public, max-age=3600');
      expect(css.text).toContain(':focus-visible');
    });

    it('is outside /api/v3: there it is the API 404', async () => {
      const response = await client().get('/api/v3/login/');
      expect(response.status).toBe(404);
      expect(JSON.parse(response.text)).toEqual({ detail: 'Not found.' });
    });
  });

  describe('signing in', () => {
    it('by username: 303 to the account page with an HttpOnly SameSite=Lax session cookie; the row holds only its hash', async () => {
      const user = await userWithPassword();
      const c = client();
      const response = await signIn(c, user.username);
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe('/account/');
      expect(response.setCookies).toEqual([
        expect.stringMatching(
          /^grantry_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax; Max-Age=86400$/,
        ),
      ]);
      const token = c.cookies.get('grantry_session') ?? '';
      const rows: { token_hash: Buffer; ip: string; ended: Date | null; life: number }[] =
        await t.dataSource.query(
          `SELECT token_hash, ip, ended, extract(epoch FROM expires - created)::int AS life
           FROM sessions WHERE user_id = $1`,
          [user.id],
        );
      expect(rows).toEqual([
        { token_hash: sha256(token), ip: c.headers['x-forwarded-for'], ended: null, life: 86400 },
      ]);
      const dump = JSON.stringify(
        await t.dataSource.query('SELECT * FROM sessions WHERE user_id = $1', [user.id]),
      );
      expect(dump).not.toContain(token);

      const account = await c.get('/account/');
      expect(account.status).toBe(200);
      expect(account.headers.get('content-security-policy')).toBe(PAGE_CSP);
      expect(account.text).toContain('<title>Your account · Grantry</title>');
      expect(account.text).toContain(`<dd>${user.username}</dd>`);
      expect(account.text).toContain('<dd>Ada Lovelace</dd>');
      expect(account.text).toContain('<form method="post" action="/logout/">');

      const [lastLogin] = await t.dataSource.query<{ set: boolean }[]>(
        'SELECT last_login IS NOT NULL AS set FROM users WHERE id = $1',
        [user.id],
      );
      expect(lastLogin).toEqual({ set: true });
      const [event] = await t.dataSource.query<unknown[]>(
        `SELECT action, actor_user_id, actor_username, model, object_pk, object_user_id FROM audit_events
          WHERE action = 'login' AND actor_user_id = $1`,
        [user.id],
      );
      expect(event).toEqual({
        action: 'login',
        actor_user_id: user.id,
        actor_username: user.username,
        model: 'user',
        object_pk: user.id,
        object_user_id: user.id,
      });
    });

    it('by e-mail address, whatever its case', async () => {
      const email = `${unique('Grace')}@Example.COM`;
      const user = await userWithPassword({ email });
      const response = await signIn(client(), email.toUpperCase());
      expect(response.status).toBe(303);
      const [row] = await t.dataSource.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM sessions WHERE user_id = $1',
        [user.id],
      );
      expect(row).toEqual({ n: 1 });
    });

    it('a signed-in visit to the login page goes on to next (or the account page)', async () => {
      const user = await userWithPassword();
      const c = client();
      await signIn(c, user.username);
      const response = await c.get('/login/?next=%2Fsomewhere%3Fa%3D1');
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe('/somewhere?a=1');
    });

    it('the account page without a session: 303 to the login page, coming back after', async () => {
      const response = await client().get('/account/');
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe('/login/?next=%2Faccount%2F');
    });
  });

  describe('refusals', () => {
    it('wrong password, unknown user, inactive user, user without a password: one identical 400 page', async () => {
      const active = await userWithPassword();
      const inactive = await userWithPassword({ isActive: false });
      const noPassword = await f.user();
      const attempts = [
        [active.username, 'wrong password!'],
        [unique('nobody'), PASSWORD],
        [inactive.username, PASSWORD],
        [noPassword.username, PASSWORD],
      ] as const;
      const pages: string[] = [];
      for (const [username, password] of attempts) {
        // One address each: four failures from one would pass the throttle's limit of three.
        const c = client();
        const form = await c.get('/login/');
        const response = await c.post('/login/', { csrf_token: formToken(form.text), username, password });
        expect({ status: response.status, cookies: response.setCookies }).toEqual({
          status: 400,
          cookies: [],
        });
        expect(response.headers.get('content-security-policy')).toBe(PAGE_CSP);
        expect(response.text).toContain(
          `<p class="alert" role="alert" id="login-error">${INVALID_LOGIN}</p>`,
        );
        // The name typed is kept in the form; apart from it the pages are the same, byte for byte.
        expect(response.text).toContain(`value="${username}"`);
        pages.push(response.text.replace(username, 'NAME').replace(formToken(response.text), 'TOKEN'));
        const id = response.headers.get('x-request-id');
        const events = await auditOf('login_failed', id);
        expect(events).toEqual([
          expect.objectContaining({ action: 'login_failed', actor_user_id: null, actor_username: username }),
        ]);
        expect(JSON.stringify(events)).not.toContain(password);
      }
      expect(new Set(pages).size).toBe(1);
      const [sessions] = await t.dataSource.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM sessions WHERE user_id = ANY($1)',
        [[active.id, inactive.id, noPassword.id]],
      );
      expect(sessions).toEqual({ n: 0 });
    });

    it("an unknown name costs a password hash too: its time is of the order of a wrong password's", async () => {
      const median = (values: number[]): number =>
        [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
      const timed = async (username: string): Promise<number> => {
        const c = client();
        const form = await c.get('/login/');
        const started = process.hrtime.bigint();
        const response = await c.post('/login/', {
          csrf_token: formToken(form.text),
          username,
          password: 'wrong password!',
        });
        const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
        expect(response.status).toBe(400);
        return elapsed;
      };
      const known: number[] = [];
      const unknown: number[] = [];
      // Interleaved, one user each (an account's own bucket would fill), so load on the machine hits both alike.
      for (let i = 0; i < 5; i += 1) {
        known.push(await timed((await userWithPassword()).username));
        unknown.push(await timed(unique('nobody')));
      }
      // Without the dummy hash an unknown name would answer in a small fraction of a hash's time.
      const ratio = median(unknown) / median(known);
      expect({ ratio: ratio > 0.5, known, unknown }).toEqual({ ratio: true, known, unknown });
    });

    it('no CSRF token, a wrong one, or no pre-session cookie: 403, and nobody is signed in', async () => {
      const user = await userWithPassword();
      const c = client();
      const form = await c.get('/login/');
      const token = formToken(form.text);
      const cases: [string, WebClient, Record<string, string>][] = [
        ['missing', c, { username: user.username, password: PASSWORD }],
        ['wrong', c, { csrf_token: 'A'.repeat(43), username: user.username, password: PASSWORD }],
        ['another browser', client(), { csrf_token: token, username: user.username, password: PASSWORD }],
      ];
      for (const [, who, body] of cases) {
        const response = await who.post('/login/', body);
        expect(response.status).toBe(403);
        expect(response.headers.get('content-security-policy')).toBe(PAGE_CSP);
        expect(response.text).toContain(`<p class="alert" role="alert">${escaped(FORM_EXPIRED)}</p>`);
        expect(response.setCookies).toEqual([]);
      }
      // A pre-session cookie of the attacker's choosing (planted by a sibling subdomain over http) and the token
      // computed from it without SECRET_KEY: refused.
      const planted = client();
      const cookie = 'p'.repeat(43);
      planted.cookies.set('grantry_csrf', cookie);
      const forged = createHmac('sha256', cookie).update('grantry-csrf:login').digest('base64url');
      for (const csrf_token of [
        forged,
        createHmac('sha256', cookie).update(`login\0${cookie}`).digest('base64url'),
      ]) {
        const response = await planted.post('/login/', {
          csrf_token,
          username: user.username,
          password: PASSWORD,
        });
        expect(response.status).toBe(403);
      }
      // Not a form at all.
      const json = await c.post('/login/', JSON.stringify({ csrf_token: token }), {
        'content-type': 'application/json',
      });
      expect(json.status).toBe(403);
      const [sessions] = await t.dataSource.query<{ n: number }[]>(
        'SELECT count(*)::int AS n FROM sessions WHERE user_id = $1',
        [user.id],
      );
      expect(sessions).toEqual({ n: 0 });
    });

    it('a form body over MAX_BODY_BYTES: 413', async () => {
      const c = client();
      const form = await c.get('/login/');
      const response = await c.post('/login/', {
        csrf_token: formToken(form.text),
        username: 'x',
        password: 'y'.repeat(4096),
      });
      expect(response.status).toBe(413);
    });
  });

  describe('throttling', () => {
    it(`per account: after ${LIMIT} failures from any addresses, 429 with Retry-After even for the right password`, async () => {
      const user = await userWithPassword();
      for (let i = 0; i < LIMIT; i += 1) {
        expect((await signIn(client(), user.username, 'wrong password!')).status).toBe(400);
      }
      const c = client();
      const response = await signIn(c, user.username);
      expect(response.status).toBe(429);
      const retryAfter = Number(response.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(WINDOW);
      expect(response.text).toContain(
        `<p class="alert" role="alert" id="login-error">${THROTTLED_LOGIN}</p>`,
      );
      expect(response.setCookies).toEqual([]);
      // Another account from the same address is not held back.
      const someoneElse = await userWithPassword();
      expect((await signIn(c, someoneElse.username)).status).toBe(303);
    });

    it(`per address: after ${LIMIT} failures from one address, 429 for any account from it, not from others`, async () => {
      const address = freshAddress();
      for (let i = 0; i < LIMIT; i += 1) {
        expect((await signIn(client(address), unique('guess'), 'wrong password!')).status).toBe(400);
      }
      const user = await userWithPassword();
      const blocked = await signIn(client(address), user.username);
      expect(blocked.status).toBe(429);
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect((await signIn(client(), user.username)).status).toBe(303);
    });

    it('once the window has passed, the account signs in again', async () => {
      const user = await userWithPassword();
      for (let i = 0; i < LIMIT; i += 1) await signIn(client(), user.username, 'wrong password!');
      expect((await signIn(client(), user.username)).status).toBe(429);
      // Age the windows instead of waiting for them.
      await t.dataSource.query(
        `UPDATE login_failures SET window_start = window_start - $1::int * interval '1 second'
          WHERE bucket = $2`,
        [WINDOW, `user:${user.id}`],
      );
      expect((await signIn(client(), user.username)).status).toBe(303);
    });
  });

  describe('next', () => {
    it('a same-origin path is followed after signing in', async () => {
      const user = await userWithPassword();
      const response = await signIn(
        client(),
        user.username,
        PASSWORD,
        '/application/o/authorize/?client_id=a',
      );
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe('/application/o/authorize/?client_id=a');
    });

    it.each([
      '//evil.example',
      'https://evil.example',
      '/\\evil.example',
      'javascript:alert(1)',
      '/\t/evil.example',
    ])('refuses %j: the account page instead, and the form does not carry it', async (next) => {
      const user = await userWithPassword();
      const c = client();
      const form = await c.get(`/login/?next=${encodeURIComponent(next)}`);
      expect(form.text).not.toContain('name="next"');
      const response = await c.post('/login/', {
        csrf_token: formToken(form.text),
        username: user.username,
        password: PASSWORD,
        next,
      });
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe('/account/');
    });
  });

  describe('cookies over https', () => {
    it('behind a trusted proxy saying https: __Host- names, Secure', async () => {
      const user = await userWithPassword();
      const c = client(freshAddress(), { 'x-forwarded-proto': 'https' });
      const form = await c.get('/login/');
      expect(form.setCookies).toEqual([
        expect.stringMatching(
          /^__Host-grantry_csrf=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax; Secure$/,
        ),
      ]);
      const response = await c.post('/login/', {
        csrf_token: formToken(form.text),
        username: user.username,
        password: PASSWORD,
      });
      expect(response.status).toBe(303);
      expect(response.setCookies).toEqual([
        expect.stringMatching(
          /^__Host-grantry_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax; Secure; Max-Age=86400$/,
        ),
      ]);
      expect((await c.get('/account/')).status).toBe(200);
      // The same cookie sent over plain http is not the session's (its name differs).
      const plain = new WebClient(base, { 'x-forwarded-for': freshAddress() });
      plain.cookies.set('grantry_session', c.cookies.get('__Host-grantry_session') ?? '');
      expect((await plain.get('/account/')).status).toBe(200);
    });

    it('from a peer that is not a trusted proxy, X-Forwarded-Proto is ignored: no Secure', async () => {
      const c = new WebClient(baseUrl(other.app), { 'x-forwarded-proto': 'https' });
      const form = await c.get('/login/');
      expect(form.setCookies).toEqual([
        expect.stringMatching(/^grantry_csrf=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/),
      ]);
    });
  });

  describe('sessions', () => {
    it('a session made by one instance is honoured by another on the same database, and ended by either', async () => {
      const user = await userWithPassword();
      const c = client();
      expect((await signIn(c, user.username)).status).toBe(303);
      const token = c.cookies.get('grantry_session') ?? '';
      c.base = baseUrl(other.app);
      const account = await c.get('/account/');
      expect(account.status).toBe(200);
      expect(account.text).toContain(`<dd>${user.username}</dd>`);
      // Signed out on the second instance, the first no longer knows the session either.
      expect((await c.post('/logout/', { csrf_token: formToken(account.text) })).status).toBe(303);
      const stale = client();
      stale.cookies.set('grantry_session', token);
      expect((await stale.get('/account/')).status).toBe(303);
    });

    it('an idle, expired or ended session, or a deactivated user, signs nobody in', async () => {
      const cases = [
        `UPDATE sessions SET last_seen = now() - interval '7201 seconds' WHERE user_id = $1`,
        `UPDATE sessions SET expires = now() - interval '1 second' WHERE user_id = $1`,
        `UPDATE sessions SET ended = now() WHERE user_id = $1`,
        `UPDATE users SET is_active = false WHERE id = $1`,
      ];
      for (const sql of cases) {
        const user = await userWithPassword();
        const c = client();
        expect((await signIn(c, user.username)).status).toBe(303);
        expect((await c.get('/account/')).status).toBe(200);
        await t.dataSource.query(sql, [user.id]);
        const response = await c.get('/account/');
        expect({ sql, status: response.status }).toEqual({ sql, status: 303 });
      }
    });
  });

  it('the sweep deletes sessions over for longer than SESSION_MAX_AGE_SECONDS, and keeps the rest', async () => {
    const user = await userWithPassword();
    const day = 86_400;
    const rows: [string, string][] = [
      ['live', `now() + interval '1 hour'`],
      ['recently over', `now() - interval '1 hour'`],
      ['long expired', `now() - ${day + 60} * interval '1 second'`],
    ];
    for (const [label, expires] of rows) {
      await t.dataSource.query(
        `INSERT INTO sessions (id, token_hash, user_id, expires, ip, user_agent) VALUES ($1, $2, $3, ${expires}, '::1', $4)`,
        [randomUUID(), sha256(randomUUID()), user.id, label],
      );
    }
    const ended = randomUUID();
    await t.dataSource.query(
      `INSERT INTO sessions (id, token_hash, user_id, expires, ip, user_agent, ended)
       VALUES ($1, $2, $3, now() + interval '1 hour', '::1', 'long ended', now() - ${day + 60} * interval '1 second')`,
      [ended, sha256(randomUUID()), user.id],
    );
    await t.dataSource.query(
      `INSERT INTO sessions (id, token_hash, user_id, expires, ip, user_agent, last_seen)
       VALUES ($1, $2, $3, now() + interval '1 hour', '::1', 'long idle', now() - ${day + 7200 + 60} * interval '1 second')`,
      [randomUUID(), sha256(randomUUID()), user.id],
    );
    expect(await t.app.get(SessionService).sweep()).toBeGreaterThanOrEqual(3);
    const left = await t.dataSource.query<{ user_agent: string }[]>(
      'SELECT user_agent FROM sessions WHERE user_id = $1 ORDER BY user_agent',
      [user.id],
    );
    expect(left.map((row) => row.user_agent)).toEqual(['live', 'recently over']);
  });

  describe('signing out', () => {
    async function tokenIn(user: UserEntity, sessionId: string | null): Promise<number> {
      const provider = await f.provider();
      const [row] = await t.dataSource.query<{ id: number }[]>(
        `INSERT INTO oauth2_access_tokens (provider_id, user_id, token_hash, expires, session_id)
         VALUES ($1, $2, $3, now() + interval '1 hour', $4) RETURNING id`,
        [provider.id, user.id, sha256(randomUUID()), sessionId],
      );
      return row?.id ?? 0;
    }

    it("ends the session (the cookie no longer works) and deletes that session's access tokens, only those", async () => {
      const user = await userWithPassword();
      const c = client();
      const c2 = client();
      await signIn(c, user.username);
      await signIn(c2, user.username);
      const sessions = await t.dataSource.query<{ id: string; token_hash: Buffer }[]>(
        'SELECT id, token_hash FROM sessions WHERE user_id = $1',
        [user.id],
      );
      const mine = sessions.find((s) => s.token_hash.equals(sha256(c.cookies.get('grantry_session') ?? '')));
      const theirs = sessions.find((s) => s !== mine);
      if (!mine || !theirs) throw new Error('two sessions expected');
      const doomed = [await tokenIn(user, mine.id), await tokenIn(user, mine.id)];
      const kept = [
        await tokenIn(user, theirs.id),
        await tokenIn(user, null),
        await tokenIn(user, randomUUID()),
      ];

      const account = await c.get('/account/');
      const response = await c.post('/logout/', { csrf_token: formToken(account.text) });
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe('/login/');
      expect(response.setCookies).toEqual(['grantry_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0']);

      expect((await c.get('/account/')).status).toBe(303);
      const left = await t.dataSource.query<{ id: number }[]>(
        'SELECT id FROM oauth2_access_tokens WHERE id = ANY($1) ORDER BY id',
        [[...doomed, ...kept]],
      );
      expect(left.map((row) => row.id)).toEqual(kept);
      const [ended] = await t.dataSource.query<{ ended: boolean }[]>(
        'SELECT ended IS NOT NULL AS ended FROM sessions WHERE id = $1',
        [mine.id],
      );
      expect(ended).toEqual({ ended: true });
      expect(await auditOf('logout', response.headers.get('x-request-id'))).toEqual([
        expect.objectContaining({ actor_user_id: user.id, actor_username: user.username }),
      ]);
      // The other session is untouched.
      expect((await c2.get('/account/')).status).toBe(200);
    });

    it('the ended session cookie, presented again, is no session', async () => {
      const user = await userWithPassword();
      const c = client();
      await signIn(c, user.username);
      const token = c.cookies.get('grantry_session') ?? '';
      const account = await c.get('/account/');
      expect((await c.post('/logout/', { csrf_token: formToken(account.text) })).status).toBe(303);
      const replay = client();
      replay.cookies.set('grantry_session', token);
      expect((await replay.get('/account/')).status).toBe(303);
    });

    it("without a CSRF token, or with the login form's: 403, and the session goes on", async () => {
      const user = await userWithPassword();
      const c = client();
      const loginForm = await c.get('/login/');
      await c.post('/login/', {
        csrf_token: formToken(loginForm.text),
        username: user.username,
        password: PASSWORD,
      });
      for (const body of [{}, { csrf_token: formToken(loginForm.text) }] as Record<string, string>[]) {
        const response = await c.post('/logout/', body);
        expect(response.status).toBe(403);
        expect(response.setCookies).toEqual([]);
      }
      expect((await c.get('/account/')).status).toBe(200);
    });

    it('with no session: 303 to the login page', async () => {
      const response = await client().post('/logout/', {});
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe('/login/');
    });
  });
});
