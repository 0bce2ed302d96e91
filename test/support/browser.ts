import fs from 'node:fs';

import { chromium, type Browser } from 'playwright-core';

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
