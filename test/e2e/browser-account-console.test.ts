import fs from 'node:fs';
import path from 'node:path';

import * as OTPAuth from 'otpauth';
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { findConfirmedFactors } from '../../src/domain/second-factors.ts';
import { launchChromium } from '../support/browser.ts';
import { createUser, startTestServer, type TestServer } from '../support/server.ts';
import { formsOf, UserAgent } from '../support/user-agent.ts';

/** Screenshots of each step, kept as test artifacts (test-results/ is not committed). */
const artifacts = path.resolve('test-results/account-console');
const login = 'tranvankhoa';
const password = 'mật khẩu đầu tiên của Khoa';
const newPassword = 'cầu Mỹ Thuận lúc bình minh';

let server: TestServer;
let browser: Browser;
let userId: string;

beforeAll(async () => {
  fs.mkdirSync(artifacts, { recursive: true });
  browser = await launchChromium();
  server = await startTestServer();
  userId = (await createUser(server, { username: login, password, fullName: 'Trần Văn Khoa', email: 'khoa@tiengiang.gov.vn' })).id;
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

const heading = (page: Page) => page.getByRole('heading', { level: 1 }).textContent();
const screenshot = (page: Page, name: string) => page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });

/**
 * Another device: signs in to the console over plain HTTP, so that a second session exists. The
 * account has an authenticator by then; this device uses the next code, the browser used this one.
 */
async function signInElsewhere(totpKey: string): Promise<UserAgent> {
  const agent = new UserAgent();
  const page = await agent.follow(`${server.issuer}/account`, 'http://never/');
  const [form] = formsOf(page.kind === 'page' ? page.html : '', server.issuer);
  const factorPage = await agent.follow(form!.action, 'http://never/', { form: { ...form!.fields, login, password } });
  const [factorForm] = formsOf(factorPage.kind === 'page' ? factorPage.html : '', server.issuer);
  const code = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(totpKey) }).generate({ timestamp: Date.now() + 30_000 });
  const done = await agent.follow(factorForm!.action, 'http://never/', { form: { ...factorForm!.fields, code } });
  expect(done.kind === 'page' && new URL(done.url).pathname).toBe('/account');
  return agent;
}

describe('the account console in a real browser', () => {
  it('signs in, enrols an authenticator app, signs another device out and changes the password, with no CSP violation', async () => {
    const context = await browser.newContext({ locale: 'vi-VN', viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    const violations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    });
    try {
      // Signing in: the console sends the browser through the ordinary login page and back.
      await page.goto(`${server.issuer}/account`);
      expect(await heading(page)).toBe('Đăng nhập');
      await page.getByLabel('Tên đăng nhập hoặc email', { exact: true }).fill(login);
      await page.getByLabel('Mật khẩu', { exact: true }).fill(password);
      await page.getByRole('button', { name: 'Đăng nhập', exact: true }).click();
      await page.waitForURL(`${server.issuer}/account`);
      expect(await heading(page)).toBe('Tài khoản của tôi');
      expect(await page.getByText('Trần Văn Khoa').count()).toBeGreaterThan(0);
      await screenshot(page, '1-profile');

      // Enrolling an authenticator app: the QR code renders (a data: image the CSP allows), the key works.
      await page.getByRole('link', { name: 'Bảo mật' }).click();
      await page.getByLabel('Tên gợi nhớ (không bắt buộc)').fill('Điện thoại Oppo');
      await page.getByRole('button', { name: 'Thêm ứng dụng xác thực' }).click();
      expect(await heading(page)).toBe('Thiết lập xác minh hai bước');
      const qr = page.getByRole('img', { name: 'Mã QR để thêm tài khoản vào ứng dụng xác thực' });
      expect(await qr.evaluate((image) => { const loaded = image as unknown as { complete: boolean; naturalWidth: number }; return loaded.complete && loaded.naturalWidth > 0; })).toBe(true);
      await screenshot(page, '2-enrol-totp');
      const key = (await page.locator('code.key').textContent())!.replace(/\s/g, '');
      await page.getByLabel('Nhập mã 6 chữ số mà ứng dụng hiển thị:').fill(new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(key) }).generate());
      await page.getByRole('button', { name: 'Xác nhận' }).click();
      expect(await heading(page)).toBe('Mã khôi phục');
      expect(await page.locator('.codes li').count()).toBe(10);
      await screenshot(page, '3-recovery-codes');
      await page.getByRole('link', { name: 'Tôi đã lưu các mã, tiếp tục' }).click();
      expect(await page.getByText('Điện thoại Oppo').count()).toBe(1);
      expect(await findConfirmedFactors(server.database.db, userId)).toHaveLength(1);

      // Signing another device out.
      const otherDevice = await signInElsewhere(key);
      await page.getByRole('link', { name: 'Phiên và ứng dụng' }).click();
      const otherRow = page.locator('.items li').filter({ hasNot: page.getByText('thiết bị này') }).first();
      await otherRow.getByRole('button', { name: 'Đăng xuất' }).click();
      expect(await page.getByRole('status').textContent()).toBe('Đã đăng xuất phiên đó.');
      expect(await page.getByText('thiết bị này').count()).toBe(1);
      await screenshot(page, '4-sessions');
      expect((await otherDevice.request(`${server.issuer}/account`)).status).toBe(302);

      // Changing the password.
      await page.getByRole('link', { name: 'Bảo mật' }).click();
      await page.getByLabel('Mật khẩu hiện tại').fill(password);
      await page.getByLabel('Mật khẩu mới', { exact: true }).fill(newPassword);
      await page.getByLabel('Nhập lại mật khẩu mới').fill(newPassword);
      await page.getByRole('button', { name: 'Đổi mật khẩu' }).click();
      expect(await page.getByRole('status').textContent()).toBe('Đã đổi mật khẩu.');
      await screenshot(page, '5-password-changed');
      const verdict = await server.passwords.verify((await server.database.db.selectFrom('users').select('password_hash').where('id', '=', userId).executeTakeFirstOrThrow()).password_hash, newPassword);
      expect(verdict.ok).toBe(true);

      expect(violations).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
