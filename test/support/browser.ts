import fs from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Debian's headless Chromium through playwright-core; a tool never downloads a browser of its own. */
export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: install it with "apt-get install -y chromium" (.ci/run does)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
}

/**
 * Records the page's CSP violations in `window.cspViolations` (read them with page.evaluate), from before any of its
 * scripts run. As source text: this project compiles without the DOM library; Playwright's init script is not the
 * page's own, so it is no violation itself.
 */
export async function collectViolations(page: Page): Promise<void> {
  await page.addInitScript({
    content: `window.cspViolations = [];
      document.addEventListener('securitypolicyviolation', (event) =>
        window.cspViolations.push(event.violatedDirective + ' ' + event.blockedURI));`,
  });
}

/** The focused element's id, or its text when it has none ("" when nothing is focused). */
export function focused(page: Page): Promise<string> {
  return page.evaluate<string>(
    'document.activeElement ? document.activeElement.id || document.activeElement.textContent.trim() : ""',
  );
}
