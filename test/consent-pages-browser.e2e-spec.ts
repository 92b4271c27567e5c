import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import {
  accessDeniedPage,
  authorizeErrorPage,
  consentPage,
  formPostCsp,
  formPostPage,
} from '../src/oauth2/issuance/pages';
import { SCOPE_DESCRIPTIONS } from '../src/oauth2/issuance/scope-descriptions';
import { PAGE_CSP } from '../src/sessions/pages';
import { createTestApp, type TestApp } from './support/app';
import { collectViolations, focused, launchChromium } from './support/browser';

/** Screenshots for a person to look at (CONSENT_SCREENSHOTS=/some/dir); none by default. */
const SHOTS = process.env.CONSENT_SCREENSHOTS;

/** What the pretend client (another origin) received at its redirect URI. */
interface Received {
  method: string;
  path: string;
  body: string;
}

/**
 * The authorize endpoint's pages in Debian's headless Chromium, served by page.route under the CSP they are meant to
 * be served with, from the Grantry origin (whose /static/ files they load): no CSP violation, no inline script,
 * keyboard reachable, and the form_post page posting to a client on another origin with JavaScript off (a click) and
 * on (by itself).
 */
describe('the authorize pages in headless Chromium', () => {
  let t: TestApp;
  let browser: Browser;
  let base: string;
  let client: http.Server;
  let clientBase: string;
  const received: Received[] = [];

  beforeAll(async () => {
    t = await createTestApp({}, true);
    const address = t.app.getHttpServer().address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    client = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        if (request.method === 'POST') {
          received.push({
            method: request.method,
            path: request.url ?? '',
            body: Buffer.concat(chunks).toString('utf8'),
          });
          // As clients do: on to a page of their own (the same origin, which form-action allows).
          response.writeHead(303, { location: '/done' }).end();
          return;
        }
        response
          .writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
          .end('<!doctype html><title>Client</title><p>done</p>');
      });
    });
    await new Promise<void>((resolve) => client.listen(0, '127.0.0.1', resolve));
    clientBase = `http://127.0.0.1:${(client.address() as AddressInfo).port}`;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => (client ? client.close(resolve) : resolve(undefined)));
    await t?.close();
  });

  beforeEach(() => {
    received.length = 0;
  });

  /** Serves `body` at `path` on the Grantry origin with `csp`, as the authorize endpoint will. */
  async function serve(target: Page | BrowserContext, path: string, body: string, csp: string) {
    await target.route(`${base}${path}`, (route) =>
      route.fulfill({
        status: 200,
        headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': csp },
        body,
      }),
    );
  }

  /** CSP violations, from both the DOM event (JS on) and Chromium's console report (JS on or off). */
  async function watch(page: Page): Promise<{ violations: () => Promise<string[]>; console: string[] }> {
    const console: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') console.push(message.text());
    });
    page.on('pageerror', (error) => console.push(error.message));
    await collectViolations(page);
    return { violations: () => page.evaluate<string[]>('window.cspViolations'), console };
  }

  /** Visible form controls without a label or an accessible name: none expected. */
  const unlabelled = (page: Page): Promise<string[]> =>
    page.evaluate<string[]>(`[...document.querySelectorAll('input, select, textarea, button')]
      .filter((e) => e.type !== 'hidden')
      .filter((e) => !(e.labels && e.labels.length > 0) && !e.getAttribute('aria-label') &&
        !(e.tagName === 'BUTTON' && e.textContent.trim() !== ''))
      .map((e) => e.outerHTML)`);

  it('the CSP is enforced on routed pages: an inline script is reported (so "no violation" below means something)', async () => {
    const page = await browser.newPage();
    const { violations } = await watch(page);
    await serve(page, '/__test/inline', '<!doctype html><title>x</title><script>1</script>', PAGE_CSP);
    await page.goto(`${base}/__test/inline`);
    expect(await violations()).toEqual(['script-src-elem inline']);
    await page.close();
  });

  function consent(alreadyConsented: string[] = []): string {
    return consentPage({
      applicationName: 'Grafana <Ops>',
      username: 'ada',
      scopes: ['openid', 'email', 'profile', 'offline_access'].map((name) => ({
        name,
        description: SCOPE_DESCRIPTIONS[name] ?? '',
      })),
      alreadyConsented,
      csrf: 'csrf-value',
      hidden: {
        client_id: 'abc',
        state: '"><script>alert(1)</script>',
        decision: 'allow',
        csrf_token: 'smuggled',
      },
      action: '/__test/consent',
    });
  }

  async function submittedConsent(page: Page): Promise<() => URLSearchParams | undefined> {
    let body: string | undefined;
    await page.route(`${base}/__test/consent`, (route) => {
      body = route.request().postData() ?? '';
      return route.fulfill({ status: 200, contentType: 'text/html', body: '<title>posted</title>' });
    });
    return () => (body === undefined ? undefined : new URLSearchParams(body));
  }

  for (const [button, tabs] of [
    ['deny', 2],
    ['allow', 1],
  ] as const) {
    it(`consent: keyboard only, ${button} reached by Tab ×${tabs}; no script, no CSP violation, smuggled fields dropped`, async () => {
      const page = await browser.newPage({ viewport: { width: 1024, height: 800 } });
      page.setDefaultTimeout(10_000);
      const { violations, console } = await watch(page);
      await serve(page, '/__test/page', consent(['openid', 'email']), PAGE_CSP);
      const body = await submittedConsent(page);
      await page.goto(`${base}/__test/page`);

      expect(await page.title()).toBe('Allow access · Grantry');
      expect(await page.locator('h1').innerText()).toBe('Allow Grafana <Ops> to use your account?');
      expect(await page.locator('h2').innerText()).toBe('Grafana <Ops> asks for');
      expect(await page.locator('.lead').innerText()).toBe('Signed in as ada.');
      expect(await page.locator('ul.scopes li').allInnerTexts()).toEqual([
        'openid',
        'Email address\nemail',
        'General Profile Information\nprofile\nNew',
        'Access to request new tokens without interaction\noffline_access\nNew',
      ]);
      expect(await page.evaluate<number>('document.scripts.length')).toBe(0);
      expect(await unlabelled(page)).toEqual([]);
      // The stylesheet applied: the card's radius and the action row.
      expect(
        await page.evaluate<string>("getComputedStyle(document.querySelector('.card')).borderTopLeftRadius"),
      ).toBe('12px');
      if (SHOTS) await page.screenshot({ path: `${SHOTS}/consent.png`, fullPage: true });

      await page.keyboard.press('Tab');
      expect(await focused(page)).toBe('Allow');
      expect(await page.evaluate<string>('getComputedStyle(document.activeElement).outlineStyle')).toBe(
        'solid',
      );
      if (tabs === 2) {
        await page.keyboard.press('Tab');
        expect(await focused(page)).toBe('Deny');
      }
      await page.keyboard.press('Enter');
      await page.waitForURL(`${base}/__test/consent`);
      const sent = body();
      expect(sent === undefined ? undefined : [...sent]).toEqual([
        ['client_id', 'abc'],
        ['state', '"><script>alert(1)</script>'],
        ['csrf_token', 'csrf-value'],
        ['decision', button],
      ]);
      expect(await violations()).toEqual([]);
      expect(console).toEqual([]);
      await page.close();
    });
  }

  it('consent: no "New" marks on a first consent; fits 320 px without horizontal scrolling', async () => {
    const page = await browser.newPage({ viewport: { width: 320, height: 640 } });
    const { violations } = await watch(page);
    await serve(page, '/__test/page', consent(), PAGE_CSP);
    await page.goto(`${base}/__test/page`);
    expect(await page.locator('.badge').count()).toBe(0);
    expect(await page.locator('.notice').count()).toBe(0);
    expect(await page.evaluate<boolean>('document.documentElement.scrollWidth <= 320')).toBe(true);
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/consent-320.png`, fullPage: true });
    expect(await violations()).toEqual([]);
    await page.close();
  });

  it('access denied and the authorize error page: headings, an announced message, no script', async () => {
    const page = await browser.newPage();
    const { violations, console } = await watch(page);
    await serve(page, '/__test/denied', accessDeniedPage({ applicationName: 'Grafana' }), PAGE_CSP);
    await page.goto(`${base}/__test/denied`);
    expect(await page.title()).toBe('Access denied · Grantry');
    expect(await page.locator('h1').innerText()).toBe('Access denied');
    expect(await page.getByRole('alert').innerText()).toBe('You do not have access to Grafana.');
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('Your account');
    expect(await page.evaluate<number>('document.scripts.length')).toBe(0);
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/access-denied.png`, fullPage: true });

    await serve(
      page,
      '/__test/error',
      authorizeErrorPage({
        title: 'Redirect URI Error',
        message:
          'The request fails due to a missing, invalid, or mismatching redirection URI (redirect_uri).',
      }),
      PAGE_CSP,
    );
    await page.goto(`${base}/__test/error`);
    expect(await page.title()).toBe('Redirect URI Error · Grantry');
    expect(await page.locator('h1').innerText()).toBe('Redirect URI Error');
    expect(await page.getByRole('alert').innerText()).toBe(
      'The request fails due to a missing, invalid, or mismatching redirection URI (redirect_uri).',
    );
    expect(await violations()).toEqual([]);
    expect(console).toEqual([]);
    await page.close();
  });

  /** Fields a form_post response carries, plus a "submit" field that would shadow form.submit(). */
  const FIELDS = { code: 'c0de', state: 'a "quoted" & <tagged> state', iss: 'https://issuer/', submit: 'x' };

  function expectReceived(): void {
    expect(received).toEqual([
      {
        method: 'POST',
        path: '/cb?tenant=1',
        body: new URLSearchParams(FIELDS).toString(),
      },
    ]);
  }

  it('form_post with JavaScript off: nothing runs, Continue (a real button) posts the fields to the client', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    const { console } = await watch(page);
    const action = `${clientBase}/cb?tenant=1`;
    await serve(page, '/__test/form-post', formPostPage({ action, fields: FIELDS }), formPostCsp(action));
    await page.goto(`${base}/__test/form-post`);
    expect(await page.title()).toBe('Continue · Grantry');
    expect(received).toEqual([]);
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/form-post.png`, fullPage: true });
    await page.keyboard.press('Tab');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(`${clientBase}/done`);
    expectReceived();
    expect(console).toEqual([]);
    await context.close();
  });

  it('form_post with JavaScript on: the page posts by itself, through its one external script, with no violation', async () => {
    const page = await browser.newPage();
    page.setDefaultTimeout(10_000);
    const { console } = await watch(page);
    const scripts: string[] = [];
    page.on('request', (request) => {
      if (request.resourceType() === 'script') scripts.push(request.url());
    });
    const action = `${clientBase}/cb?tenant=1`;
    await serve(page, '/__test/form-post', formPostPage({ action, fields: FIELDS }), formPostCsp(action));
    await page.goto(`${base}/__test/form-post`);
    await page.waitForURL(`${clientBase}/done`);
    expectReceived();
    expect(scripts).toEqual([`${base}/static/form-post.js`]);
    expect(console).toEqual([]);
    await page.close();
  });

  it('form_post: the CSP lets the form post to the redirect URI origin only', async () => {
    const page = await browser.newPage();
    page.setDefaultTimeout(10_000);
    const action = `${clientBase}/cb?tenant=1`;
    // The page's CSP names another origin: Chromium refuses to post, and says so.
    await serve(
      page,
      '/__test/form-post',
      formPostPage({ action, fields: FIELDS }),
      formPostCsp('http://127.0.0.1:9/cb'),
    );
    const refused = page.waitForEvent('console', {
      predicate: (message) => message.type() === 'error' && message.text().includes('form-action'),
    });
    await page.goto(`${base}/__test/form-post`, { waitUntil: 'commit' });
    expect((await refused).text()).toContain(`'${clientBase}/cb?tenant=1'`);
    expect(received).toEqual([]);
    expect(page.url()).toBe(`${base}/__test/form-post`);
    await page.close();
  });

  it('serves the form_post script from this origin, as JavaScript, under the pages CSP', async () => {
    const response = await fetch(`${base}/static/form-post.js`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(response.headers.get('content-security-policy')).toBe(PAGE_CSP);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await response.text()).toContain('HTMLFormElement.prototype.submit.call(form)');
  });

  it('formPostCsp: exactly one origin for form-action, script-src self, and refusals for what a CSP cannot name', () => {
    expect(formPostCsp('https://app.example.com:8443/cb?x=1')).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
        "form-action https://app.example.com:8443; frame-ancestors 'none'; base-uri 'none'",
    );
    expect(() => formPostCsp('http://a;b/cb')).toThrow(
      'redirect URI "http://a;b/cb" cannot be named in a Content-Security-Policy',
    );
    expect(() => formPostCsp('http://[::1]:8080/cb')).toThrow('cannot be named in a Content-Security-Policy');
    expect(() => formPostCsp('com.example.app:/cb')).toThrow('cannot be named in a Content-Security-Policy');
    expect(() => formPostCsp('/relative')).toThrow('redirect URI "/relative" is not an absolute URL');
  });
});
