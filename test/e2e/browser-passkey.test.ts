import fs from 'node:fs';
import path from 'node:path';

import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { listAuditEvents } from '../../src/db/queries/audit-events.ts';
import { findConfirmedFactors } from '../../src/domain/second-factors.ts';
import { launchChromium } from '../support/browser.ts';
import { createUser, startTestServer, type TestServer } from '../support/server.ts';

const artifacts = path.resolve('test-results/passkey');
const login = 'phamthikhoa';
const password = 'mật khẩu trước khi có khóa';

let server: TestServer;
let browser: Browser;
let userId: string;

beforeAll(async () => {
  fs.mkdirSync(artifacts, { recursive: true });
  browser = await launchChromium();
  // WebAuthn needs a host name for its relying party: localhost, not 127.0.0.1.
  server = await startTestServer({}, { issuerHost: 'localhost' });
  userId = (await createUser(server, { username: login, password, fullName: 'Phạm Thị Khóa' })).id;
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe('passkeys in a real browser', () => {
  it('registers a passkey in the console and uses it as the second factor at the next sign-in', async () => {
    const context = await browser.newContext({ locale: 'vi-VN' });
    const page = await context.newPage();
    // Chromium's virtual authenticator, a platform passkey that verifies its user, driven over CDP.
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    try {
      await page.goto(`${server.issuer}/account/security`);
      await page.getByLabel('Tên đăng nhập hoặc email', { exact: true }).fill(login);
      await page.getByLabel('Mật khẩu', { exact: true }).fill(password);
      await page.getByRole('button', { name: 'Đăng nhập', exact: true }).click();
      await page.waitForURL(`${server.issuer}/account/security`);

      // The passkey form is hidden without JavaScript; the script shows it where WebAuthn works.
      await page.getByLabel('Tên khóa truy cập (không bắt buộc)').fill('Máy tính văn phòng');
      await page.getByRole('button', { name: 'Thêm khóa truy cập (passkey)' }).click();
      await page.getByRole('heading', { level: 1, name: 'Mã khôi phục' }).waitFor();
      await page.screenshot({ path: path.join(artifacts, '1-registered.png'), fullPage: true });
      await page.getByRole('link', { name: 'Tôi đã lưu các mã, tiếp tục' }).click();
      expect(await page.getByText('Máy tính văn phòng').count()).toBe(1);
      expect((await findConfirmedFactors(server.database.db, userId)).map((factor) => factor.kind)).toEqual(['webauthn']);

      // Sign out everywhere, then sign in again: the password, then the passkey.
      await page.getByRole('navigation').getByRole('button', { name: 'Đăng xuất' }).click();
      await page.getByRole('button', { name: 'Đăng xuất khỏi mọi ứng dụng' }).click();
      await page.goto(`${server.issuer}/account`);
      await page.getByLabel('Tên đăng nhập hoặc email', { exact: true }).fill(login);
      await page.getByLabel('Mật khẩu', { exact: true }).fill(password);
      await page.getByRole('button', { name: 'Đăng nhập', exact: true }).click();
      expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Xác minh hai bước');
      await page.screenshot({ path: path.join(artifacts, '2-second-factor.png'), fullPage: true });
      await page.getByRole('button', { name: 'Dùng khóa truy cập (passkey)' }).click();
      await page.waitForURL(`${server.issuer}/account`);
      expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Tài khoản của tôi');

      const [signIn] = await listAuditEvents(server.database.db, { action: 'login.success', targetId: userId, subtrees: null, limit: 1 });
      expect(signIn?.details).toMatchObject({ second_factor: 'passkey', amr: ['pwd', 'pop', 'user', 'mfa'] });
    } finally {
      await context.close();
    }
  });
});
