import fs from 'node:fs';
import path from 'node:path';

import * as oidc from 'openid-client';
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { findClient } from '../../src/db/queries/clients.ts';
import type { User } from '../../src/db/schema.ts';
import { addPerson, grantDirectly, redeemCode, signInThroughPages, useProvinceServer } from '../support/admin-api.ts';
import { expectAccessible } from '../support/accessibility.ts';
import { launchChromium, signInOnPage as signIn, watchedContext } from '../support/browser.ts';
import { authorizationRequest, discoverRelyingParty } from '../support/relying-party.ts';
import { createUser } from '../support/server.ts';

/** Screenshots of each page, kept as test artifacts (test-results/ is not committed). */
const artifacts = path.resolve('test-results/developer-portal');
/** The app's callback on the developer's own machine; the browser's request to it is answered by the test. */
const redirectUri = 'http://localhost:47011/callback';

const world = useProvinceServer();
const developer = { login: 'hoangminhtri', password: 'nhà phát triển bệnh viện 2026' };
const itAdmin = { login: 'vothanhtam', password: 'quản trị viên tỉnh Tiền Giang 2026' };
let browser: Browser;
let aPerson: User;

beforeAll(async () => {
  fs.mkdirSync(artifacts, { recursive: true });
  browser = await launchChromium();
  const dev = await createUser(world.server, { username: developer.login, password: developer.password, fullName: 'Hoàng Minh Trí' });
  await grantDirectly(world.server, { userId: dev.id }, 'developer', null);
  const admin = await createUser(world.server, { username: itAdmin.login, password: itAdmin.password, fullName: 'Võ Thành Tâm' });
  await grantDirectly(world.server, { userId: admin.id }, 'super_admin', null);
  aPerson = await addPerson(world.server, { fullName: 'Lê Thị Hồng Nhung', username: 'nhunglth', unit: world.tree.anHuu });
});

afterAll(async () => {
  await browser?.close();
});

const heading = (page: Page) => page.getByRole('heading', { level: 1 }).textContent();
const screenshot = (page: Page, name: string) => page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });

/** A real token request with this secret, after a sign-in through the provider's pages. */
async function signsInWith(clientId: string, secret: string): Promise<boolean> {
  const relyingParty = await discoverRelyingParty(world.server.issuer, clientId, secret);
  const signIn = await signInThroughPages(relyingParty, redirectUri, developer);
  return redeemCode(relyingParty, signIn).then(() => true, () => false);
}

describe('the developer portal in a real browser', () => {
  it('a developer registers an app; an admin approves it; openid-client signs in with it; the rotated and the old secret both work', async () => {
    // The developer, on a phone-sized screen.
    const dev = await watchedContext(browser, { width: 390, height: 844 });
    const admin = await watchedContext(browser, { width: 1280, height: 900 });
    try {
      const { page } = dev;
      await page.goto(`${world.server.issuer}/developers`);
      await signIn(page, developer);
      await page.waitForURL(`${world.server.issuer}/developers`);
      expect(await heading(page)).toBe('Ứng dụng của tôi');
      await expectAccessible(page);

      await page.getByRole('link', { name: 'Đăng ký ứng dụng mới' }).first().click();
      await page.getByLabel('Tên ứng dụng').fill('Sổ khám bệnh điện tử');
      await page.getByLabel('Địa chỉ chuyển hướng (redirect URI)').fill('http://sokhambenh.example/callback');
      await page.getByRole('button', { name: 'Đăng ký', exact: true }).click();
      await expect.poll(() => page.locator('#redirect_uris-error').textContent()).toContain('phải dùng https');
      await screenshot(page, '1-lint-error');
      await expectAccessible(page);

      await page.getByLabel('Địa chỉ chuyển hướng (redirect URI)').fill(redirectUri);
      await page.getByRole('button', { name: 'Đăng ký', exact: true }).click();
      expect(await heading(page)).toBe('Đã đăng ký ứng dụng');
      const clientId = (await page.locator('#client-id').textContent()) ?? '';
      const firstSecret = (await page.locator('#client-secret').textContent()) ?? '';
      expect(clientId).toMatch(/^[0-9a-f]{32}$/);
      await screenshot(page, '2-secret-once');
      await expectAccessible(page);
      expect((await findClient(world.server.database.db, clientId))?.status).toBe('pending');

      // The provincial IT admin approves it from the queue, and looks around the console.
      await admin.page.goto(`${world.server.issuer}/admin/clients`);
      await signIn(admin.page, itAdmin);
      await admin.page.waitForURL(`${world.server.issuer}/admin/clients`);
      await expectAccessible(admin.page);
      await admin.page.getByRole('button', { name: 'Phê duyệt: Sổ khám bệnh điện tử' }).click();
      await expect.poll(() => admin.page.getByRole('status').textContent()).toContain('Đã phê duyệt ứng dụng');
      await screenshot(admin.page, '3-approved');
      expect((await findClient(world.server.database.db, clientId))?.status).toBe('active');
      for (const consolePath of ['/admin', '/admin/users', `/admin/users/${aPerson.id}`, '/admin/org-units', `/admin/clients/${clientId}`]) {
        await admin.page.goto(`${world.server.issuer}${consolePath}`);
        await expectAccessible(admin.page);
      }

      // openid-client signs the developer in to the app, in the same browser.
      const relyingParty = await discoverRelyingParty(world.server.issuer, clientId, firstSecret);
      const state = oidc.randomState();
      const request = await authorizationRequest(relyingParty, redirectUri, { state, scope: 'openid profile' });
      const isCallback = (url: URL) => url.href.startsWith(redirectUri);
      await dev.context.route(isCallback, (route) => route.fulfill({ status: 200, contentType: 'text/plain', body: 'signed in' }));
      // Already signed in to Mekong ID (the portal): only the consent step for this new app is left.
      await page.goto(request.url.href);
      expect(await heading(page)).toBe('Cấp quyền truy cập');
      await expectAccessible(page);
      await page.getByRole('button', { name: 'Cho phép' }).click();
      await page.waitForURL(isCallback);
      const tokens = await redeemCode(relyingParty, { callback: new URL(page.url()), verifier: request.verifier, state });
      expect(tokens.claims()?.aud).toBe(clientId);

      // The developer rotates the secret with a day's overlap: both secrets work meanwhile.
      await page.goto(`${world.server.issuer}/developers/apps/${clientId}`);
      expect(await page.locator('.tag.status-active').textContent()).toBe('đang hoạt động');
      await expectAccessible(page);
      await page.getByLabel('Mật khẩu cũ còn dùng được trong (giờ)').fill('24');
      await page.getByRole('button', { name: 'Tạo mật khẩu mới' }).click();
      expect(await heading(page)).toBe('Đã tạo mật khẩu mới');
      const secondSecret = (await page.locator('#client-secret').textContent()) ?? '';
      expect(secondSecret).not.toBe(firstSecret);
      await screenshot(page, '4-rotated');
      expect(await signsInWith(clientId, firstSecret)).toBe(true);
      expect(await signsInWith(clientId, secondSecret)).toBe(true);

      await page.goto(`${world.server.issuer}/developers/apps/${clientId}/integration`);
      expect(await page.locator('#discovery-url').textContent()).toBe(`${world.server.issuer}/.well-known/openid-configuration`);
      await screenshot(page, '5-integration');
      await expectAccessible(page);

      // The app serves an API: the developer declares it, the IT admin approves it from its queue.
      await page.goto(`${world.server.issuer}/developers/apis/new`);
      await expectAccessible(page);
      await page.getByLabel('Tên API').fill('API lịch khám');
      await page.getByLabel('Định danh (resource indicator)').fill('https://sokhambenh.tiengiang.gov.vn/api');
      await page.getByLabel('Phạm vi (scope) của API').fill('lich.doc: Xem lịch khám');
      await page.getByRole('button', { name: 'Khai báo', exact: true }).click();
      expect(await heading(page)).toBe('API lịch khám');
      expect(await page.locator('#api-identifier').textContent()).toBe('https://sokhambenh.tiengiang.gov.vn/api');
      await screenshot(page, '6-api-declared');
      await expectAccessible(page);
      await page.getByRole('link', { name: 'API của tôi' }).first().click();
      await expectAccessible(page);
      await admin.page.goto(`${world.server.issuer}/admin/resource-servers`);
      await expectAccessible(admin.page);
      await admin.page.getByRole('button', { name: 'Phê duyệt: API lịch khám' }).click();
      await expect.poll(() => admin.page.getByRole('status').textContent()).toContain('Đã phê duyệt API.');
      await screenshot(admin.page, '7-api-approved');
      await expectAccessible(admin.page);

      expect([...dev.errors, ...admin.errors]).toEqual([]);
    } finally {
      await dev.context.close();
      await admin.context.close();
    }
  }, 180_000);
});
