import type { Browser, Page } from 'playwright-core';
import { parse } from 'yaml';
import { createTestApp, request, type TestApp } from './support/app';
import { launchChromium } from './support/browser';
import { Factories, unique } from './support/factories';

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

  /** Opens the docs page and authorizes with `bearerKey`; collects page errors. */
  async function openDocs(bearerKey: string): Promise<{ page: Page; pageErrors: string[] }> {
    const address = t.app.getHttpServer().address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const page = await browser.newPage();
    page.setDefaultTimeout(10_000);
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`http://127.0.0.1:${port}/api/v3/docs/`);
    await page.getByRole('button', { name: 'Authorize' }).first().click();
    await page.locator('.modal-ux input#auth-bearer-value').fill(bearerKey);
    await page.locator('.modal-ux button.authorize').click();
    await page.locator('.modal-ux button.btn-done').click();
    return { page, pageErrors };
  }

  /** The live response's status and body after "Execute" in the operation block `block`. */
  async function execute(block: ReturnType<Page['locator']>): Promise<{ status: string; body: string }> {
    await block.getByRole('button', { name: 'Execute' }).click();
    const status = block.locator('.live-responses-table .response .response-col_status').first();
    await status.waitFor({ timeout: 10_000 });
    const body = block.locator('.live-responses-table .response-col_description pre').first();
    return {
      status: (await status.innerText()).trim(),
      body: (await body.count()) > 0 ? await body.innerText() : '',
    };
  }

  it('loads, authorizes with a bearer key and performs an authorised call with "Try it out"', async () => {
    const { page, pageErrors } = await openDocs(key);

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

  it('shows every operation of the document, grouped by tag', async () => {
    const document = parse((await request(t.app, 'GET', '/api/v3/schema/')).text) as {
      paths: Record<string, Record<string, { operationId: string; tags: string[] }>>;
    };
    const operations = Object.values(document.paths).flatMap((item) => Object.values(item));
    const tags = [...new Set(operations.flatMap((operation) => operation.tags))].sort();
    const { page, pageErrors } = await openDocs(key);
    const shownTags = await page
      .locator('.opblock-tag-section h3 .opblock-tag, .opblock-tag-section h3')
      .evaluateAll((nodes: { getAttribute(name: string): string | null }[]) =>
        nodes.map((node) => node.getAttribute('data-tag')).filter((tag): tag is string => tag !== null),
      );
    expect([...new Set(shownTags)].sort()).toEqual(tags);
    // Swagger UI renders every tag's operations when the tag is expanded (docExpansion 'list', the default).
    const shownIds = await page
      .locator('.opblock .opblock-summary-operation-id')
      .evaluateAll((nodes: { textContent: string | null }[]) =>
        nodes.map((node) => node.textContent?.trim() ?? ''),
      );
    expect(shownIds.sort()).toEqual(operations.map((operation) => operation.operationId).sort());
    expect(pageErrors).toEqual([]);
  });

  it('creates and deletes a role with "Try it out" (request body and path parameter)', async () => {
    const f = new Factories(t.dataSource);
    const admin = await f.user();
    await f.member(admin, await f.group({ isSuperuser: true }));
    const adminKey = await f.apiKey(admin);
    const { page, pageErrors } = await openDocs(adminKey);
    const name = unique('swagger-role');

    const create = page.locator('.opblock', {
      has: page.locator('.opblock-summary-operation-id', { hasText: /^rbac_roles_create$/ }),
    });
    await create.locator('.opblock-summary').click();
    await create.getByRole('button', { name: 'Try it out' }).click();
    await create.locator('textarea.body-param__text').fill(JSON.stringify({ name }));
    const created = await execute(create);
    expect(created.status).toBe('201');
    const role = JSON.parse(created.body) as { pk: string; name: string };
    expect(role).toEqual({ pk: expect.any(String), name });
    const [row] = await t.dataSource.query<{ name: string }[]>('SELECT name FROM roles WHERE id = $1', [
      role.pk,
    ]);
    expect(row).toEqual({ name });

    const destroy = page.locator('.opblock', {
      has: page.locator('.opblock-summary-operation-id', { hasText: /^rbac_roles_destroy$/ }),
    });
    await destroy.locator('.opblock-summary').click();
    await destroy.getByRole('button', { name: 'Try it out' }).click();
    await destroy.locator('input[placeholder="uuid"]').fill(role.pk);
    const deleted = await execute(destroy);
    expect(deleted.status).toBe('204');
    expect(await t.dataSource.query('SELECT 1 FROM roles WHERE id = $1', [role.pk])).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
