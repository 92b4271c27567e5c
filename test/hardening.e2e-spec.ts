import net from 'node:net';
import type { Browser } from 'playwright-core';
import { API_CSP, DOCS_CSP } from '../src/common/http/response-headers';
import { PAGE_CSP } from '../src/sessions/pages';
import { bearer, createTestApp, type InjectResult, type TestApp } from './support/app';
import { launchChromium } from './support/browser';
import { Factories } from './support/factories';
import { expectWithin, stopwatch } from './support/timing';

const WHOAMI = '/api/v3/grantry/whoami/';
const INVALID = { detail: 'Token invalid/expired' };
const NOT_PROVIDED = { detail: 'Authentication credentials were not provided.' };
const THROTTLED = { detail: 'Request was throttled.' };

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS';

/** Fastify inject from a given client address (the TCP peer). */
async function from(
  t: TestApp,
  remoteAddress: string,
  url: string,
  headers: Record<string, string> = {},
  method: Method = 'GET',
): Promise<InjectResult> {
  const response = await t.app.getHttpAdapter().getInstance().inject({ method, url, headers, remoteAddress });
  let body: unknown;
  try {
    body = response.body === '' ? undefined : JSON.parse(response.body);
  } catch {
    body = undefined;
  }
  return { status: response.statusCode, body, headers: response.headers, text: response.body };
}

const answer = (r: InjectResult) => ({ status: r.status, body: r.body });

/** AUTH_FAILURE_WINDOW_SECONDS of the throttle's apps (the default, given explicitly). */
const WINDOW_SECONDS = 60;

/**
 * Retry-After is what is left of a window that began `elapsedMs` ago at most: not more than the window, not less than
 * the window less the elapsed time (rounded up to whole seconds, and one more for the rounding of the header).
 */
function expectRetryAfter(retryAfter: number, windowSeconds: number, elapsedMs: number): void {
  const least = windowSeconds - Math.ceil(elapsedMs / 1000) - 1;
  expect({ retryAfter, elapsedMs, inWindow: retryAfter >= least && retryAfter <= windowSeconds }).toEqual({
    retryAfter,
    elapsedMs,
    inWindow: true,
  });
}

describe('failed-authentication throttle', () => {
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    t = await createTestApp({ AUTH_FAILURE_LIMIT: '3', AUTH_FAILURE_WINDOW_SECONDS: String(WINDOW_SECONDS) });
    const f = new Factories(t.dataSource);
    key = await f.apiKey(await f.user());
  });
  afterAll(() => t.close());

  /** Fails `times` times from `ip` (or through a proxy, with headers), each answered 403. */
  async function fail(
    ip: string,
    times: number,
    headers: Record<string, string> = {},
    app: TestApp = t,
  ): Promise<void> {
    for (let i = 0; i < times; i += 1) {
      expect(answer(await from(app, ip, WHOAMI, { ...headers, ...bearer(`wrong-${i}`) }))).toEqual({
        status: 403,
        body: INVALID,
      });
    }
  }

  it('answers 429 with Retry-After to the failures of an address past LIMIT; its valid key is still served', async () => {
    // An app of its own: Nest's Logger writes to the app created last in the process, and the other tests of this
    // describe create apps (they run in any order); its log must be this app's.
    const own = await createTestApp({ AUTH_FAILURE_LIMIT: '3', AUTH_FAILURE_WINDOW_SECONDS: '60' });
    try {
      await throttledOn(own);
    } finally {
      await own.close();
    }
  });

  async function throttledOn(t: TestApp): Promise<void> {
    const ip = '198.51.100.1';
    const elapsed = stopwatch();
    await fail(ip, 3, {}, t);
    const guess = await from(t, ip, WHOAMI, bearer('wrong-3'));
    expect(answer(guess)).toEqual({ status: 429, body: THROTTLED });
    // The window began with the first failure, moments ago: what is left of it, in whole seconds.
    expect(guess.headers['retry-after']).toMatch(/^\d+$/);
    expectRetryAfter(Number(guess.headers['retry-after']), WINDOW_SECONDS, elapsed());
    expect(guess.headers['www-authenticate']).toBeUndefined();

    // A valid key is never refused: sharing an address with a guesser (a NAT, an unlisted proxy) costs nothing.
    expect(answer(await from(t, ip, WHOAMI, bearer(key)))).toEqual({
      status: 200,
      body: expect.objectContaining({ authenticated_via: 'api_token' }),
    });
    expect(answer(await from(t, ip, '/api/v3/oauth2/access_tokens/', bearer(`${key}x`)))).toEqual({
      status: 429,
      body: THROTTLED,
    });
    // Requests that present no key are not guesses: they are answered as usual, as are public routes.
    expect(answer(await from(t, ip, WHOAMI))).toEqual({ status: 403, body: NOT_PROVIDED });
    expect((await from(t, ip, '/-/health/live/')).status).toBe(200);
    expect((await from(t, ip, '/api/v3/schema/')).status).toBe(200);
    expect(t.logs.text).toContain('client 198.51.100.1 throttled: 3 failed authentications within 60 s');
  }

  it("counts each address's failures apart", async () => {
    await fail('198.51.100.2', 3);
    expect((await from(t, '198.51.100.2', WHOAMI, bearer('wrong'))).status).toBe(429);
    await fail('198.51.100.3', 3);
    expect((await from(t, '198.51.100.3', WHOAMI, bearer('wrong'))).status).toBe(429);
  });

  it('neither counts nor forgives successful authentications', async () => {
    const ip = '198.51.100.4';
    await fail(ip, 2);
    for (let i = 0; i < 10; i += 1) expect((await from(t, ip, WHOAMI, bearer(key))).status).toBe(200);
    await fail(ip, 1);
    expect((await from(t, ip, WHOAMI, bearer('wrong'))).status).toBe(429);
    expect((await from(t, ip, WHOAMI, bearer(key))).status).toBe(200);
  });

  it('counts an IPv6 /64 as one client, but ::1 and :: each alone, and ::ffff:a.b.c.d as a.b.c.d', async () => {
    for (const ip of ['2001:db8:5:6::1', '2001:db8:5:6::2', '2001:db8:5:6:1:2:3:4']) {
      expect((await from(t, ip, WHOAMI, bearer('wrong'))).status).toBe(403);
    }
    expect((await from(t, '2001:db8:5:6::99', WHOAMI, bearer('wrong'))).status).toBe(429);
    expect((await from(t, '2001:db8:5:6::99', WHOAMI, bearer(key))).status).toBe(200);
    expect((await from(t, '2001:db8:5:7::1', WHOAMI, bearer('wrong'))).status).toBe(403);

    await fail('::1', 3);
    expect((await from(t, '::1', WHOAMI, bearer('wrong'))).status).toBe(429);
    expect((await from(t, '::', WHOAMI, bearer('wrong'))).status).toBe(403);
    expect((await from(t, '::ffff:198.51.100.9', WHOAMI, bearer('wrong'))).status).toBe(403);
    await fail('198.51.100.9', 2);
    expect((await from(t, '::ffff:198.51.100.9', WHOAMI, bearer('wrong'))).status).toBe(429);
  });

  it('Retry-After is truthful: once it has passed, the address fails with 403 again', async () => {
    const windowSeconds = 2;
    const short = await createTestApp({
      AUTH_FAILURE_LIMIT: '1',
      AUTH_FAILURE_WINDOW_SECONDS: String(windowSeconds),
    });
    try {
      const ip = '198.51.100.5';
      const elapsed = stopwatch();
      expect((await from(short, ip, WHOAMI, bearer('wrong'))).status).toBe(403);
      const throttled = await from(short, ip, WHOAMI, bearer('wrong'));
      expect(answer(throttled)).toEqual({ status: 429, body: THROTTLED });
      const wait = Number(throttled.headers['retry-after']);
      expectRetryAfter(wait, windowSeconds, elapsed());
      await new Promise((resolve) => setTimeout(resolve, wait * 1000 + 50));
      expect(answer(await from(short, ip, WHOAMI, bearer('wrong')))).toEqual({ status: 403, body: INVALID });
    } finally {
      await short.close();
    }
  });

  it('AUTH_FAILURE_LIMIT=0 turns it off, and writes nothing', async () => {
    const off = await createTestApp({ AUTH_FAILURE_LIMIT: '0' });
    try {
      for (let i = 0; i < 30; i += 1) {
        expect(answer(await from(off, '198.51.100.6', WHOAMI, bearer('wrong')))).toEqual({
          status: 403,
          body: INVALID,
        });
      }
      expect((await from(off, '198.51.100.6', WHOAMI, bearer(key))).status).toBe(200);
      expect(await off.dataSource.query('SELECT bucket FROM auth_failures')).toEqual([]);
    } finally {
      await off.close();
    }
  });

  it('a failure the database cannot count is still 403, not 500; valid keys never wait for the throttle', async () => {
    // Long enough that a valid key, served without the throttle's SQL, is answered well before it on a loaded
    // machine; each of the three failures below waits it out once.
    const statementTimeoutMs = 1000;
    const impatient = await createTestApp({
      AUTH_FAILURE_LIMIT: '1',
      DB_STATEMENT_TIMEOUT_MS: String(statementTimeoutMs),
    });
    const locker = impatient.dataSource.createQueryRunner();
    await locker.startTransaction();
    try {
      await locker.query('LOCK TABLE auth_failures IN ACCESS EXCLUSIVE MODE');
      for (let i = 0; i < 3; i += 1) {
        expect(answer(await from(impatient, '198.51.100.8', WHOAMI, bearer('wrong')))).toEqual({
          status: 403,
          body: INVALID,
        });
      }
      // The success path has no throttle SQL: it is served at once although the table is locked.
      const elapsed = stopwatch();
      expect((await from(impatient, '198.51.100.8', WHOAMI, bearer(key))).status).toBe(200);
      expectWithin(elapsed(), statementTimeoutMs, 'a valid key while the throttle table is locked');
    } finally {
      await locker.rollbackTransaction();
      await locker.release();
    }
    try {
      expect(impatient.logs.text).toContain(
        'failed authentication of 198.51.100.8 not counted (database unavailable)',
      );
      expect(impatient.logs.text).not.toContain('unhandled error');
      // Nothing was counted: the next failure is the first.
      expect((await from(impatient, '198.51.100.8', WHOAMI, bearer('wrong'))).status).toBe(403);
      expect((await from(impatient, '198.51.100.8', WHOAMI, bearer('wrong'))).status).toBe(429);
    } finally {
      await impatient.close();
    }
  });
});

describe('client address and X-Forwarded-For', () => {
  let key: string;
  const xff = (forwarded: string, extra: Record<string, string> = {}) => ({
    'x-forwarded-for': forwarded,
    ...extra,
  });

  it('without TRUSTED_PROXIES, X-Forwarded-For is ignored: the TCP peer is the client', async () => {
    const t = await createTestApp({ AUTH_FAILURE_LIMIT: '2' });
    try {
      const f = new Factories(t.dataSource);
      key = await f.apiKey(await f.user());
      // A guesser rotating X-Forwarded-For still fails as its own address.
      expect((await from(t, '192.0.2.10', WHOAMI, xff('203.0.113.1', bearer('wrong')))).status).toBe(403);
      expect((await from(t, '192.0.2.10', WHOAMI, xff('203.0.113.2', bearer('wrong')))).status).toBe(403);
      expect((await from(t, '192.0.2.10', WHOAMI, xff('203.0.113.3', bearer('wrong')))).status).toBe(429);
      // ...and cannot get another peer throttled by naming it.
      expect((await from(t, '192.0.2.11', WHOAMI, xff('192.0.2.10', bearer('wrong')))).status).toBe(403);
      expect(t.logs.text).toContain('"remoteAddress":"192.0.2.10"');
      expect(t.logs.text).not.toContain('"remoteAddress":"203.0.113.1"');
    } finally {
      await t.close();
    }
  });

  it('with TRUSTED_PROXIES, the right-most untrusted hop is the client, and only when the peer is trusted', async () => {
    const t = await createTestApp({ AUTH_FAILURE_LIMIT: '2', TRUSTED_PROXIES: '10.9.0.0/16, 192.0.2.99' });
    try {
      const proxy = '10.9.0.1';
      // A client prepending its own X-Forwarded-For cannot hide: the proxy appends the real peer, and that hop is
      // the right-most one not trusted.
      expect((await from(t, proxy, WHOAMI, xff('1.1.1.1, 203.0.113.7', bearer('wrong')))).status).toBe(403);
      // Through two trusted proxies.
      expect(
        (await from(t, '192.0.2.99', WHOAMI, xff('2.2.2.2, 203.0.113.7, 10.9.3.3', bearer('wrong')))).status,
      ).toBe(403);
      expect(answer(await from(t, '10.9.8.8', WHOAMI, xff('203.0.113.7', bearer('wrong'))))).toEqual({
        status: 429,
        body: THROTTLED,
      });
      // Other clients behind the same proxies are not affected.
      expect((await from(t, proxy, WHOAMI, xff('203.0.113.8', bearer('wrong')))).status).toBe(403);
      expect((await from(t, proxy, WHOAMI, xff('203.0.113.7, 203.0.113.8', bearer('wrong')))).status).toBe(
        403,
      );
      // The proxy itself, without the header, is its own client.
      expect((await from(t, proxy, WHOAMI, bearer('wrong'))).status).toBe(403);
      // An untrusted peer's X-Forwarded-For is ignored: naming the throttled client changes nothing.
      expect((await from(t, '192.0.2.50', WHOAMI, xff('203.0.113.7', bearer('wrong')))).status).toBe(403);
      expect(t.logs.text).toContain('"remoteAddress":"203.0.113.7"');
      expect(t.logs.text).toContain('"remoteAddress":"192.0.2.50"');
      expect(t.logs.text).not.toContain('"remoteAddress":"1.1.1.1"');
    } finally {
      await t.close();
    }
  });

  describe('hops that are not bare addresses (TRUSTED_PROXIES=loopback, 10.9.0.0/16)', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp({
        AUTH_FAILURE_LIMIT: '2',
        AUTH_FAILURE_WINDOW_SECONDS: String(WINDOW_SECONDS),
        TRUSTED_PROXIES: 'loopback, 10.9.0.0/16',
      });
      const f = new Factories(t.dataSource);
      key = await f.apiKey(await f.user());
    });
    afterAll(() => t.close());

    it('ip:port (a proxy that appends the port): one client whatever the port, not a bucket per connection', async () => {
      const elapsed = stopwatch();
      for (const port of [40001, 40002]) {
        expect(
          answer(await from(t, '10.9.0.1', WHOAMI, xff(`203.0.113.9:${port}`, bearer('wrong')))),
        ).toEqual({
          status: 403,
          body: INVALID,
        });
      }
      const throttled = await from(t, '127.0.0.1', WHOAMI, xff('203.0.113.9:40003', bearer('wrong')));
      expect(answer(throttled)).toEqual({ status: 429, body: THROTTLED });
      expectRetryAfter(Number(throttled.headers['retry-after']), WINDOW_SECONDS, elapsed());
      expect(answer(await from(t, '127.0.0.1', WHOAMI, xff('203.0.113.9', bearer('wrong'))))).toEqual({
        status: 429,
        body: THROTTLED,
      });
      expect((await from(t, '10.9.0.1', WHOAMI, xff('203.0.113.9:40004', bearer(key)))).status).toBe(200);
      expect(t.logs.text).toContain('"remoteAddress":"203.0.113.9"');
      expect(t.logs.text).not.toContain('203.0.113.9:4000');
    });

    it('[IPv6]:port and [IPv6] name the address; its /64 is one client', async () => {
      expect((await from(t, '10.9.0.1', WHOAMI, xff('[2001:db8:9::1]:443', bearer('wrong')))).status).toBe(
        403,
      );
      expect((await from(t, '10.9.0.1', WHOAMI, xff('[2001:DB8:9:0::2]', bearer('wrong')))).status).toBe(403);
      expect(answer(await from(t, '10.9.0.1', WHOAMI, xff('2001:db8:9:0:ffff::3', bearer('wrong'))))).toEqual(
        { status: 429, body: THROTTLED },
      );
      expect(t.logs.text).toContain('"remoteAddress":"2001:db8:9::1"');
      expect(t.logs.text).toContain('"remoteAddress":"2001:db8:9::2"');
    });

    it('a trusted proxy that appends its own port is still recognised as trusted', async () => {
      expect(
        (await from(t, '10.9.0.1', WHOAMI, xff('203.0.113.30, 10.9.0.2:5555', bearer('wrong')))).status,
      ).toBe(403);
      expect((await from(t, '10.9.0.1', WHOAMI, xff('203.0.113.30', bearer('wrong')))).status).toBe(403);
      expect((await from(t, '10.9.0.1', WHOAMI, xff('203.0.113.30', bearer('wrong')))).status).toBe(429);
    });

    it('garbage is no address: the TCP peer is the client, and the garbage is neither a key nor logged', async () => {
      const garbage = `g${'A'.repeat(7999)}`;
      for (let i = 0; i < 2; i += 1) {
        expect(answer(await from(t, '10.9.0.7', WHOAMI, xff(garbage, bearer('wrong'))))).toEqual({
          status: 403,
          body: INVALID,
        });
      }
      // Counted as the peer: the same proxy without any header is now throttled, and other peers are not.
      expect(answer(await from(t, '10.9.0.7', WHOAMI, bearer('wrong')))).toEqual({
        status: 429,
        body: THROTTLED,
      });
      expect(answer(await from(t, '10.9.0.8', WHOAMI, xff('not-an-ip', bearer('wrong'))))).toEqual({
        status: 403,
        body: INVALID,
      });
      expect(
        await t.dataSource.query('SELECT bucket, failures FROM auth_failures WHERE bucket LIKE $1', [
          '10.9.%',
        ]),
      ).toEqual(
        expect.arrayContaining([
          { bucket: '10.9.0.7', failures: 3 },
          { bucket: '10.9.0.8', failures: 1 },
        ]),
      );
      const [longest] = await t.dataSource.query<{ n: number }[]>(
        'SELECT max(char_length(bucket))::int AS n FROM auth_failures',
      );
      expect(longest?.n).toBeLessThanOrEqual(39);
      expect(t.logs.text).toContain('"remoteAddress":"10.9.0.7"');
      expect(t.logs.text).not.toContain('AAAAAAAAAA');
      expect(t.logs.text).not.toContain('not-an-ip');
    });
  });
});

describe('response headers', () => {
  let t: TestApp;
  let key: string;

  beforeAll(async () => {
    t = await createTestApp();
    const f = new Factories(t.dataSource);
    key = await f.apiKey(await f.user());
  });
  afterAll(() => t.close());

  const SECURITY = {
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
  };

  it.each<[string, Method, string, boolean, number]>([
    ['an API answer', 'GET', WHOAMI, true, 200],
    ['a token list', 'GET', '/api/v3/oauth2/access_tokens/', true, 200],
    ['an API error', 'GET', WHOAMI, false, 403],
    ['a 404', 'GET', '/api/v3/nothing-here/', true, 404],
    ['a 405', 'PATCH', '/api/v3/oauth2/access_tokens/', true, 405],
    ['liveness', 'GET', '/-/health/live/', false, 200],
    ['readiness', 'GET', '/-/health/ready/', false, 200],
    ['the schema', 'GET', '/api/v3/schema/', false, 200],
    ['the schema as JSON', 'GET', '/api/v3/schema/?format=json', false, 200],
  ])(
    '%s: strict CSP, no-store, nosniff, no framing, no referrer',
    async (_name, method, url, auth, status) => {
      const response = await from(t, '127.0.0.1', url, auth ? bearer(key) : {}, method);
      expect(response.status).toBe(status);
      expect(response.headers).toEqual(
        expect.objectContaining({
          ...SECURITY,
          'content-security-policy': API_CSP,
          'cache-control': 'no-store',
        }),
      );
      expect(response.headers['x-powered-by']).toBeUndefined();
      expect(response.headers['access-control-allow-origin']).toBeUndefined();
      expect(response.headers.vary).toBeUndefined();
    },
  );

  it.each([
    ['the Swagger UI page', '/api/v3/docs/', 'text/html'],
    ['its init script', '/api/v3/docs/swagger-ui-init.js', 'application/javascript'],
  ])('%s: the Swagger CSP, no-store', async (_name, url, type) => {
    const response = await from(t, '127.0.0.1', url);
    expect(response.status).toBe(200);
    expect(String(response.headers['content-type'])).toContain(type);
    expect(response.headers).toEqual(
      expect.objectContaining({
        ...SECURITY,
        'content-security-policy': DOCS_CSP,
        'cache-control': 'no-store',
      }),
    );
  });

  it.each<[string, Method, string, number]>([
    ['the login page', 'GET', '/login/', 200],
    ['the login page without its slash', 'GET', '/login', 200],
    ['a login without a CSRF token', 'POST', '/login/', 403],
    ['the account page, signed out', 'GET', '/account/', 303],
    ['a sign-out without a session', 'POST', '/logout/', 303],
  ])(
    '%s: the pages CSP (own stylesheet only, no script), no-store, nosniff, no framing',
    async (_n, method, url, status) => {
      const response = await from(t, '127.0.0.1', url, {}, method);
      expect(response.status).toBe(status);
      expect(response.headers).toEqual(
        expect.objectContaining({
          ...SECURITY,
          'content-security-policy': PAGE_CSP,
          'cache-control': 'no-store',
        }),
      );
      expect(response.headers['x-powered-by']).toBeUndefined();
    },
  );

  it('the pages stylesheet: the pages CSP, and its own caching', async () => {
    const response = await from(t, '127.0.0.1', '/static/grantry.css');
    expect(response.status).toBe(200);
    expect(response.headers).toEqual(
      expect.objectContaining({
        ...SECURITY,
        'content-security-policy': PAGE_CSP,
        'cache-control': 'public, max-age=3600',
      }),
    );
  });

  it("the pages CSP loads only this origin's stylesheet and images, posts forms only here, runs no script", () => {
    expect(PAGE_CSP).toBe(
      "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; " +
        "base-uri 'none'",
    );
  });

  it("the Swagger UI's static files: the Swagger CSP, and their own caching", async () => {
    const response = await from(t, '127.0.0.1', '/api/v3/docs/swagger-ui-bundle.js');
    expect(response.status).toBe(200);
    expect(response.headers).toEqual(
      expect.objectContaining({
        ...SECURITY,
        'content-security-policy': DOCS_CSP,
        'cache-control': 'public, max-age=0',
      }),
    );
  });

  it('the API CSP forbids everything; the Swagger one allows only this origin, and inline styles', () => {
    expect(API_CSP).toBe("default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
    expect(DOCS_CSP).toBe(
      "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
        "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; " +
        "frame-ancestors 'none'",
    );
  });

  describe('the Swagger UI under its CSP, in headless Chromium', () => {
    let listening: TestApp;
    let browser: Browser;

    beforeAll(async () => {
      listening = await createTestApp({}, true);
      browser = await launchChromium();
    });
    afterAll(async () => {
      await browser?.close();
      await listening?.close();
    });

    it('renders and runs "Try it out" without a single CSP violation; an injected inline script is refused', async () => {
      const address = listening.app.getHttpServer().address();
      const port = typeof address === 'object' && address ? address.port : 0;
      const page = await browser.newPage();
      page.setDefaultTimeout(10_000);
      // As source text: this project compiles without the DOM library.
      await page.addInitScript({
        content: `window.cspViolations = [];
          document.addEventListener('securitypolicyviolation', (event) =>
            window.cspViolations.push(event.violatedDirective + ' ' + event.blockedURI));`,
      });
      await page.goto(`http://127.0.0.1:${port}/api/v3/docs/`);
      await page.locator('.opblock-summary', { hasText: '/grantry/whoami/' }).click();
      await page.getByRole('button', { name: 'Try it out' }).click();
      await page.getByRole('button', { name: 'Execute' }).click();
      const status = page.locator('.live-responses-table .response .response-col_status').first();
      await status.waitFor();
      // Not authorized in this run: the API's own 403 proves the request was made and its answer rendered.
      expect((await status.innerText()).trim().split('\n')[0]).toBe('403');
      const violations = () => page.evaluate<string[]>('window.cspViolations');
      expect(await violations()).toEqual([]);

      await page.evaluate(`{
        const script = document.createElement('script');
        script.textContent = 'window.injected = true';
        document.body.appendChild(script);
      }`);
      await page.waitForFunction('window.cspViolations.length > 0');
      expect(await violations()).toEqual(['script-src-elem inline']);
      expect(await page.evaluate<boolean>('window.injected === true')).toBe(false);
    });
  });
});

describe('CORS', () => {
  /** What an OPTIONS request gets when CORS does not answer it: no route serves OPTIONS. */
  const NO_OPTIONS_ROUTE = { status: 404, body: { detail: 'Not found.' } };
  const ALLOWED = 'https://admin.example.com';
  const preflight = (origin: string) => ({
    origin,
    'access-control-request-method': 'DELETE',
    'access-control-request-headers': 'authorization',
  });

  describe('off (no CORS_ORIGINS)', () => {
    let t: TestApp;
    let key: string;
    beforeAll(async () => {
      t = await createTestApp();
      const f = new Factories(t.dataSource);
      key = await f.apiKey(await f.user());
    });
    afterAll(() => t.close());

    it('adds no CORS headers to answers, and answers no preflight', async () => {
      const response = await from(t, '127.0.0.1', WHOAMI, { origin: ALLOWED, ...bearer(key) });
      expect(response.status).toBe(200);
      expect(Object.keys(response.headers).filter((name) => name.startsWith('access-control-'))).toEqual([]);
      const pre = await from(
        t,
        '127.0.0.1',
        '/api/v3/oauth2/access_tokens/1/',
        preflight(ALLOWED),
        'OPTIONS',
      );
      expect(answer(pre)).toEqual(NO_OPTIONS_ROUTE);
      expect(Object.keys(pre.headers).filter((name) => name.startsWith('access-control-'))).toEqual([]);
    });
  });

  describe('on (CORS_ORIGINS lists origins)', () => {
    let t: TestApp;
    let key: string;
    beforeAll(async () => {
      t = await createTestApp({ CORS_ORIGINS: `${ALLOWED},http://localhost:3000` });
      const f = new Factories(t.dataSource);
      key = await f.apiKey(await f.user());
    });
    afterAll(() => t.close());

    it.each([ALLOWED, 'http://localhost:3000'])(
      'answers a preflight from %s without a key',
      async (origin) => {
        const response = await from(
          t,
          '127.0.0.1',
          '/api/v3/oauth2/access_tokens/1/',
          preflight(origin),
          'OPTIONS',
        );
        expect(response.status).toBe(204);
        expect(response.text).toBe('');
        expect(response.headers).toEqual(
          expect.objectContaining({
            'access-control-allow-origin': origin,
            'access-control-allow-methods': 'GET, HEAD, DELETE, OPTIONS',
            'access-control-allow-headers': 'Authorization, Content-Type, X-Request-Id',
            'access-control-max-age': '600',
            vary: 'Origin',
            'x-content-type-options': 'nosniff',
          }),
        );
        expect(response.headers['access-control-allow-credentials']).toBeUndefined();
      },
    );

    it('echoes a listed origin on answers, errors included, and exposes Retry-After and X-Request-Id', async () => {
      for (const [headers, status] of [
        [bearer(key), 200],
        [{}, 403],
      ] as const) {
        const response = await from(t, '127.0.0.1', WHOAMI, { origin: ALLOWED, ...headers });
        expect(response.status).toBe(status);
        expect(response.headers).toEqual(
          expect.objectContaining({
            'access-control-allow-origin': ALLOWED,
            'access-control-expose-headers': 'Allow, Retry-After, X-Request-Id',
            vary: 'Origin',
          }),
        );
        expect(response.headers['access-control-allow-credentials']).toBeUndefined();
      }
    });

    it.each([
      'https://evil.example.com',
      'https://admin.example.com.evil.example',
      'http://admin.example.com',
      'https://admin.example.com:8443',
      'https://ADMIN.example.com',
      'null',
      '*',
    ])('gives %s nothing: no CORS headers, and its preflight is not answered', async (origin) => {
      const response = await from(t, '127.0.0.1', WHOAMI, { origin, ...bearer(key) });
      expect(response.status).toBe(200);
      expect(Object.keys(response.headers).filter((name) => name.startsWith('access-control-'))).toEqual([]);
      expect(response.headers.vary).toBe('Origin');
      const pre = await from(t, '127.0.0.1', WHOAMI, preflight(origin), 'OPTIONS');
      expect(answer(pre)).toEqual(NO_OPTIONS_ROUTE);
      expect(Object.keys(pre.headers).filter((name) => name.startsWith('access-control-'))).toEqual([]);
    });

    it('without an Origin header, answers as usual (Vary: Origin for caches)', async () => {
      const response = await from(t, '127.0.0.1', WHOAMI, bearer(key));
      expect(response.status).toBe(200);
      expect(response.headers['access-control-allow-origin']).toBeUndefined();
      expect(response.headers.vary).toBe('Origin');
    });
  });
});

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Whether the server closed the connection (rather than the test giving up waiting). */
  closed: boolean;
  ms: number;
}

/** How long raw() waits for the server to close the connection before it gives up. */
const RAW_PATIENCE_MS = 3000;

/** Writes bytes to the server and reads until it closes the connection or `timeoutMs` passes. */
function raw(port: number, chunks: (string | Buffer)[], timeoutMs = RAW_PATIENCE_MS): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    let closed = false;
    const finish = (): void => {
      clearTimeout(timer);
      const [head = '', body = ''] = data.split('\r\n\r\n', 2) as [string?, string?];
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body, closed, ms: Date.now() - started });
    };
    const timer = setTimeout(() => {
      socket.destroy();
      finish();
    }, timeoutMs);
    socket.on('connect', () => {
      for (const chunk of chunks) socket.write(chunk);
    });
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // The server may close while we are still sending; what it answered before is what counts.
      if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') reject(error);
    });
    socket.on('close', () => {
      closed = true;
      finish();
    });
  });
}

describe('request size limits (real sockets)', () => {
  let t: TestApp;
  let port: number;
  let key: string;
  const HEADERS = 4096;
  const BODY = 2048;

  beforeAll(async () => {
    t = await createTestApp({ MAX_HEADER_BYTES: String(HEADERS), MAX_BODY_BYTES: String(BODY) }, true);
    const address = t.app.getHttpServer().address();
    port = typeof address === 'object' && address ? address.port : 0;
    const f = new Factories(t.dataSource);
    key = await f.apiKey(await f.user());
  });
  afterAll(() => t.close());

  const head = (method: string, path: string, headers: string[] = []) =>
    `${method} ${path} HTTP/1.1\r\nHost: localhost\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`;

  it('serves a request whose head is within MAX_HEADER_BYTES', async () => {
    const response = await raw(port, [
      head('GET', WHOAMI, [
        `Authorization: Bearer ${key}`,
        `X-Pad: ${'a'.repeat(HEADERS - 500)}`,
        'Connection: close',
      ]),
    ]);
    expect(response.status).toBe(200);
  });

  it.each([
    ['one huge header', [`X-Pad: ${'a'.repeat(HEADERS + 10)}`]],
    ['many headers', Array.from({ length: 100 }, (_, i) => `X-Pad-${i}: ${'b'.repeat(50)}`)],
  ])('431 for %s beyond MAX_HEADER_BYTES, in the API error shape', async (_name, headers) => {
    const response = await raw(port, [head('GET', WHOAMI, [`Authorization: Bearer ${key}`, ...headers])]);
    expect(response.status).toBe(431);
    expect(JSON.parse(response.body)).toEqual({ detail: 'Request header fields too large.' });
    expect(response.headers).toEqual(
      expect.objectContaining({
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(response.body)),
        connection: 'close',
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'content-security-policy': API_CSP,
      }),
    );
    expect(response.closed).toBe(true);
  });

  it.each([
    ['an empty JSON body', 'application/json', ''],
    ['a broken JSON body', 'application/json', '{"oops'],
    ['an odd content type', 'text/x-whatever', 'hello'],
  ])(
    'DELETE with %s ignores the body, as authentik does (404 for a row that does not exist)',
    async (_n, type, body) => {
      const response = await raw(port, [
        head('DELETE', '/api/v3/oauth2/access_tokens/2147483000/', [
          `Authorization: Bearer ${key}`,
          `Content-Type: ${type}`,
          `Content-Length: ${Buffer.byteLength(body)}`,
          'Connection: close',
        ]) + body,
      ]);
      expect({ status: response.status, body: JSON.parse(response.body) as unknown }).toEqual({
        status: 404,
        body: { detail: 'No AccessToken matches the given query.' },
      });
    },
  );

  it('431 to HEAD carries no content: the next bytes on the connection are not a body', async () => {
    const response = await raw(port, [head('HEAD', WHOAMI, [`X-Pad: ${'a'.repeat(HEADERS + 10)}`])]);
    expect(response.status).toBe(431);
    expect(response.body).toBe('');
    expect(response.closed).toBe(true);
  });

  it('serves a request with an Expect other than 100-continue, as authentik does (Node alone would answer 417)', async () => {
    const response = await raw(port, [
      head('GET', WHOAMI, [`Authorization: Bearer ${key}`, 'Expect: application/json', 'Connection: close']),
    ]);
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual(expect.objectContaining({ authenticated_via: 'api_token' }));
  });

  it.each([
    ['an id longer than the router takes', `/api/v3/oauth2/access_tokens/${'1'.repeat(256)}/`],
    ['malformed percent-encoding', '/api/v3/oauth2/access_tokens/%E0%A4%A/'],
  ])(
    '404 {"detail": "Not found."} for %s, with the common headers and without echoing the path',
    async (_n, path) => {
      const response = await raw(port, [
        head('GET', path, [`Authorization: Bearer ${key}`, 'Connection: close']),
      ]);
      expect({ status: response.status, body: JSON.parse(response.body) as unknown }).toEqual({
        status: 404,
        body: { detail: 'Not found.' },
      });
      expect(response.headers).toEqual(
        expect.objectContaining({
          'content-type': 'application/json; charset=utf-8',
          'referrer-policy': 'no-referrer',
          'x-frame-options': 'DENY',
          'cache-control': 'no-store',
          'x-content-type-options': 'nosniff',
          'content-security-policy': API_CSP,
        }),
      );
    },
  );

  it('never logs the key of a request whose head was too large', () => {
    expect(t.logs.text).not.toContain(key);
  });

  const TOO_LARGE = { detail: 'Request body too large.' };

  it.each([
    ['GET', WHOAMI],
    ['DELETE', '/api/v3/oauth2/access_tokens/1/'],
    ['HEAD', WHOAMI],
    ['POST', '/api/v3/oauth2/access_tokens/'],
  ])('413 at once for %s announcing a body beyond MAX_BODY_BYTES, then closes', async (method, path) => {
    // Only a little of the announced body is ever sent: the answer must not wait for the rest. The server has no
    // body timeout, so waiting would last until the client gives up (RAW_PATIENCE_MS): it must close before.
    const response = await raw(
      port,
      [head(method, path, [`Authorization: Bearer ${key}`, `Content-Length: ${BODY + 1}`]), 'x'.repeat(100)],
      RAW_PATIENCE_MS,
    );
    expect(response.status).toBe(413);
    if (method !== 'HEAD') expect(JSON.parse(response.body)).toEqual(TOO_LARGE);
    expect(response.headers).toEqual(
      expect.objectContaining({ connection: 'close', 'x-content-type-options': 'nosniff' }),
    );
    expect(response.closed).toBe(true);
    expectWithin(response.ms, RAW_PATIENCE_MS, `${method} announcing too large a body: answered and closed`);
  });

  it('413 for a chunked GET body once it passes the limit', async () => {
    const chunk = 'y'.repeat(1000);
    const response = await raw(port, [
      head('GET', WHOAMI, [`Authorization: Bearer ${key}`, 'Transfer-Encoding: chunked']),
      ...Array.from({ length: 3 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`),
    ]);
    expect(response.status).toBe(413);
    expect(JSON.parse(response.body)).toEqual(TOO_LARGE);
    expect(response.closed).toBe(true);
  });

  it('413 for a chunked JSON DELETE body once it passes the limit', async () => {
    const chunk = `"${'z'.repeat(998)}"`;
    const response = await raw(port, [
      head('DELETE', '/api/v3/oauth2/access_tokens/1/', [
        `Authorization: Bearer ${key}`,
        'Content-Type: application/json',
        'Transfer-Encoding: chunked',
      ]),
      ...Array.from({ length: 3 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`),
    ]);
    expect(response.status).toBe(413);
    expect(JSON.parse(response.body)).toEqual(TOO_LARGE);
  });

  it('serves a GET with a small body, chunked or not, as if it had none', async () => {
    const plain = await raw(port, [
      head('GET', WHOAMI, [`Authorization: Bearer ${key}`, 'Content-Length: 5', 'Connection: close']),
      'hello',
    ]);
    expect(plain.status).toBe(200);
    const chunked = await raw(port, [
      head('GET', WHOAMI, [
        `Authorization: Bearer ${key}`,
        'Transfer-Encoding: chunked',
        'Connection: close',
      ]),
      '5\r\nhello\r\n0\r\n\r\n',
    ]);
    expect(chunked.status).toBe(200);
    expect(JSON.parse(chunked.body)).toEqual(expect.objectContaining({ authenticated_via: 'api_token' }));
  });

  it('a POST body within the limit still gets the 405 it always got', async () => {
    const body = JSON.stringify({ pad: 'p'.repeat(BODY - 100) });
    const response = await raw(port, [
      head('POST', '/api/v3/oauth2/access_tokens/', [
        `Authorization: Bearer ${key}`,
        'Content-Type: application/json',
        `Content-Length: ${Buffer.byteLength(body)}`,
        'Connection: close',
      ]),
      body,
    ]);
    expect(response.status).toBe(405);
    expect(JSON.parse(response.body)).toEqual({ detail: 'Method "POST" not allowed.' });
  });
});
