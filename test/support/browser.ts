import fs from 'node:fs';

import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium; CI installs it. Playwright's own browser downloads are not used (no internet). */
export const chromiumPath = '/usr/bin/chromium';

/** A headless Debian Chromium, quiet (no sync, updates or background traffic), for the browser tests. */
export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(chromiumPath)) {
    throw new Error(`the browser tests need Debian's Chromium at ${chromiumPath}: install it with \`apt-get install chromium\``);
  }
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * A Vietnamese browser context whose console errors, page errors and CSP violations are collected.
 * Chromium also logs a page's own 4xx status (a form sent back with its errors answers 400, a
 * refusal 403) as an error; that is the server speaking HTTP as meant and is not collected. A
 * sub-resource that fails is.
 */
export async function watchedContext(browser: Browser, viewport: { width: number; height: number }): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({ locale: 'vi-VN', viewport });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (message) => {
    const ownStatus = message.text().startsWith('Failed to load resource') && message.location().url === page.url();
    if (message.type() === 'error' && !ownStatus) errors.push(`${message.location().url || page.url()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`${page.url()}: ${error.message}`));
  return { context, page, errors };
}

/** Fills Mekong ID's own login page, in Vietnamese, and sends it. */
export async function signInOnPage(page: Page, credentials: { login: string; password: string }): Promise<void> {
  await page.getByLabel('Tên đăng nhập hoặc email', { exact: true }).fill(credentials.login);
  await page.getByLabel('Mật khẩu', { exact: true }).fill(credentials.password);
  await page.getByRole('button', { name: 'Đăng nhập', exact: true }).click();
}
