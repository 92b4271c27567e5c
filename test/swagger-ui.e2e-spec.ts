import type { Browser } from 'playwright-core';
import { createTestApp, type TestApp } from './support/app';
import { launchChromium } from './support/browser';
import { Factories } from './support/factories';

/** Debian's Chromium (installed by .ci/run); a browser is never downloaded. */

describe('Swagger UI in headless Chromium', () => {
  let t: TestApp;
  let browser: Browser;
  let key: string;
  let username: string;

  beforeAll(async () => {
    t = await createTestApp({}, true);
    const f = new Factories(t.dataSource);
    const user = await f.user();
    username = user.username;
    key = await f.apiKey(user);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('loads, authorizes with a bearer key and performs an authorised call with "Try it out"', async () => {
    const address = t.app.getHttpServer().address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const page = await browser.newPage();
    page.setDefaultTimeout(10_000);
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));

    await page.goto(`http://127.0.0.1:${port}/api/v3/docs/`);
    await page.getByRole('button', { name: 'Authorize' }).first().click();
    await page.locator('.modal-ux input#auth-bearer-value').fill(key);
    await page.locator('.modal-ux button.authorize').click();
    await page.locator('.modal-ux button.btn-done').click();

    await page.locator('.opblock-summary', { hasText: '/grantry/whoami/' }).click();
    await page.getByRole('button', { name: 'Try it out' }).click();
    await page.getByRole('button', { name: 'Execute' }).click();

    const status = page.locator('.live-responses-table .response .response-col_status').first();
    await status.waitFor({ timeout: 10_000 });
    expect((await status.innerText()).trim()).toBe('200');
    const body = await page
      .locator('.live-responses-table .response-col_description pre')
      .first()
      .innerText();
    expect(JSON.parse(body)).toEqual(expect.objectContaining({ username, authenticated_via: 'api_token' }));
    if (process.env.SWAGGER_SCREENSHOT)
      await page.screenshot({ path: process.env.SWAGGER_SCREENSHOT, fullPage: true });
    expect(pageErrors).toEqual([]);
  });
});
