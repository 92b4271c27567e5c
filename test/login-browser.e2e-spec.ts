import type { Browser } from 'playwright-core';
import { hashPassword } from '../src/identity/password';
import { INVALID_LOGIN } from './support/messages';
import { createTestApp, type TestApp } from './support/app';
import { collectViolations, focused, launchChromium } from './support/browser';
import { Factories } from './support/factories';

const PASSWORD = 'correct horse battery';

/** Screenshots for a person to look at (LOGIN_SCREENSHOTS=/some/dir); none by default. */
const SHOTS = process.env.LOGIN_SCREENSHOTS;

/**
 * The login and account pages in Debian's headless Chromium: keyboard only, no JavaScript on the pages, no CSP
 * violation, and the whole flow working with JavaScript switched off.
 */
describe('the login pages in headless Chromium', () => {
  let t: TestApp;
  let browser: Browser;
  let base: string;
  let username: string;

  beforeAll(async () => {
    t = await createTestApp({}, true);
    const user = await new Factories(t.dataSource).user({ name: 'Ada Lovelace', email: 'ada@example.com' });
    await t.dataSource.query('UPDATE users SET password = $2 WHERE id = $1', [
      user.id,
      await hashPassword(PASSWORD),
    ]);
    username = user.username;
    const address = t.app.getHttpServer().address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('signs in and out with the keyboard alone; no script, no CSP violation, the stylesheet applied', async () => {
    const page = await browser.newPage({ viewport: { width: 1024, height: 720 } });
    page.setDefaultTimeout(10_000);
    await collectViolations(page);
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => {
      // The wrong password's page is answered 400 on purpose; Chromium reports every 4xx document.
      if (message.type() === 'error' && !message.text().includes('status of 400'))
        errors.push(message.text());
    });

    await page.goto(`${base}/login/?next=%2Faccount%2F`);
    expect(await page.title()).toBe('Sign in · Grantry');
    expect(await focused(page)).toBe('username');
    expect(await page.evaluate<number>('document.scripts.length')).toBe(0);
    // The stylesheet loaded under the CSP: the card has its border radius.
    expect(
      await page.evaluate<string>("getComputedStyle(document.querySelector('.card')).borderTopLeftRadius"),
    ).toBe('12px');
    // Visible focus: the focused field has an outline.
    expect(await page.evaluate<string>('getComputedStyle(document.activeElement).outlineStyle')).toBe(
      'solid',
    );
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/login.png`, fullPage: true });

    // A wrong password first: the error is announced (role=alert) and the name kept.
    await page.keyboard.type(username);
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('password');
    await page.keyboard.type('not the password');
    await page.keyboard.press('Enter');
    await page.waitForURL(`${base}/login/`);
    expect((await page.getByRole('alert').innerText()).trim()).toBe(INVALID_LOGIN);
    expect(await page.inputValue('#username')).toBe(username);
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/login-error.png`, fullPage: true });

    // The name is kept, so the password field has the focus; sign in.
    expect(await focused(page)).toBe('password');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${base}/account/`);
    expect(await page.title()).toBe('Your account · Grantry');
    expect(await page.locator('dd').first().innerText()).toBe(username);
    expect(await page.evaluate<number>('document.scripts.length')).toBe(0);
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/account.png`, fullPage: true });

    // Sign out: the button is the first thing Tab reaches.
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('Sign out');
    await page.keyboard.press('Enter');
    await page.waitForURL(`${base}/login/`);
    await page.goto(`${base}/account/`);
    expect(page.url()).toBe(`${base}/login/?next=%2Faccount%2F`);

    expect(await page.evaluate<string[]>('window.cspViolations')).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('works with JavaScript switched off, and at 320 px wide without horizontal scrolling', async () => {
    const context = await browser.newContext({
      javaScriptEnabled: false,
      viewport: { width: 320, height: 640 },
    });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${base}/login/`);
    await page.fill('#username', 'ADA@example.com');
    await page.fill('#password', PASSWORD);
    await page.press('#password', 'Enter');
    await page.waitForURL(`${base}/account/`);
    expect(await page.locator('dd').first().innerText()).toBe(username);
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/account-320.png`, fullPage: true });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${base}/login/`);
    await context.close();

    const narrow = await browser.newPage({ viewport: { width: 320, height: 640 } });
    await narrow.goto(`${base}/login/`);
    expect(await narrow.evaluate<boolean>('document.documentElement.scrollWidth <= 320')).toBe(true);
    if (SHOTS) await narrow.screenshot({ path: `${SHOTS}/login-320.png`, fullPage: true });
    await narrow.close();
  });
});
