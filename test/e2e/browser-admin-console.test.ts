import fs from 'node:fs';
import path from 'node:path';

import { createRemoteJWKSet, jwtVerify } from 'jose';
import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { findUserById } from '../../src/db/queries/users.ts';
import type { User } from '../../src/db/schema.ts';
import { addPerson, caiBeAdminCredentials, grantDirectly, redeemCode, signInThroughPages, useProvinceServer } from '../support/admin-api.ts';
import { expectAccessible } from '../support/accessibility.ts';
import { startBackchannelReceiver, type BackchannelReceiver } from '../support/backchannel-receiver.ts';
import { launchChromium, signInOnPage, watchedContext } from '../support/browser.ts';
import { discoverRelyingParty } from '../support/relying-party.ts';
import { createUser, registerTestClient } from '../support/server.ts';

/** Screenshots of each page, kept as test artifacts (test-results/ is not committed). */
const artifacts = path.resolve('test-results/admin-console');

const world = useProvinceServer();
const itAdmin = { login: 'dangvanhieu', password: 'quản trị viên Sở Thông tin 2026' };
/** A person who uses the hospital system; the IT admin disables them. */
const hospitalUser = { login: 'lethikimoanh', password: 'mật khẩu bệnh viện đủ dài 2026' };
const hospitalRedirectUri = 'http://localhost:8093/callback';
let browser: Browser;
let receiver: BackchannelReceiver;
let person: User;
let choGaoPerson: User;

beforeAll(async () => {
  fs.mkdirSync(artifacts, { recursive: true });
  browser = await launchChromium();
  receiver = await startBackchannelReceiver();
  person = await addPerson(world.server, { fullName: 'Huỳnh Thị Ngọc Diễm', username: 'diemhtn', unit: world.tree.anHuuHealthStation, email: 'diemhtn@caibe.tiengiang.gov.vn' });
  choGaoPerson = await addPerson(world.server, { fullName: 'Trần Thị Bích Ngọc', username: 'ngocttb', unit: world.tree.binhPhan });
  const admin = await createUser(world.server, { username: itAdmin.login, password: itAdmin.password, fullName: 'Đặng Văn Hiếu' });
  await grantDirectly(world.server, { userId: admin.id }, 'super_admin', null);
});

afterAll(async () => {
  await browser?.close();
  await receiver?.close();
});

const heading = (page: Page) => page.getByRole('heading', { level: 1 }).textContent();
const screenshot = (page: Page, name: string) => page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });

describe('the admin console in a real browser', () => {
  it('takes a unit admin from sign-in to the dashboard, finds a person without diacritics and suspends them, with no CSP violation', async () => {
    const context = await browser.newContext({ locale: 'vi-VN', viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const violations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    });
    try {
      await page.goto(`${world.server.issuer}/admin`);
      expect(await heading(page)).toBe('Đăng nhập');
      await page.getByLabel('Tên đăng nhập hoặc email', { exact: true }).fill(caiBeAdminCredentials.login);
      await page.getByLabel('Mật khẩu', { exact: true }).fill(caiBeAdminCredentials.password);
      await page.getByRole('button', { name: 'Đăng nhập', exact: true }).click();
      await page.waitForURL(`${world.server.issuer}/admin`);
      expect(await heading(page)).toBe('Tổng quan');
      expect(await page.locator('svg.chart rect').count()).toBe(60);
      await screenshot(page, '1-dashboard');

      await page.getByRole('link', { name: 'Người dùng', exact: true }).click();
      await page.getByLabel('Tìm (tên, tên đăng nhập, email, mã cán bộ)').fill('ngoc diem');
      await page.getByRole('button', { name: 'Lọc' }).click();
      await page.getByRole('link', { name: 'Huỳnh Thị Ngọc Diễm' }).click();
      expect(await heading(page)).toBe('Huỳnh Thị Ngọc Diễm');
      await screenshot(page, '2-person');

      await page.getByRole('button', { name: 'Tạm ngừng', exact: true }).click();
      expect(await heading(page)).toBe('Tạm ngừng tài khoản');
      await page.getByRole('button', { name: 'Tạm ngừng Huỳnh Thị Ngọc Diễm' }).click();
      await expect.poll(() => page.getByRole('status').textContent()).toContain('Đã tạm ngừng tài khoản');
      expect((await findUserById(world.server.database.db, person.id))?.status).toBe('suspended');
      await screenshot(page, '3-suspended');

      await page.getByRole('link', { name: 'Cơ cấu tổ chức' }).click();
      expect(await page.locator('details summary').first().textContent()).toContain('Ủy ban nhân dân huyện Cái Bè');
      await screenshot(page, '4-org-tree');
      expect(violations).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('takes an IT admin through creating a Vietnamese name, finding it without diacritics, importing a CSV with a bad row and disabling a signed-in person, whose app hears of it over the back channel', async () => {
    // The person to disable is signed in to the hospital system, which listens for back-channel logout.
    const hospitalUserId = (await createUser(world.server, { username: hospitalUser.login, password: hospitalUser.password, fullName: 'Lê Thị Kim Oanh' })).id;
    await world.server.database.db.updateTable('users').set({ primary_org_unit_id: world.tree.anHuu.id }).where('id', '=', hospitalUserId).execute();
    const hospital = await registerTestClient(world.server, {
      name: 'Hệ thống quản lý bệnh viện', redirectUris: [hospitalRedirectUri], backchannelLogoutUri: receiver.url, firstParty: true,
    });
    const hospitalApp = await discoverRelyingParty(world.server.issuer, hospital.clientId, hospital.clientSecret);
    const hospitalTokens = await redeemCode(hospitalApp, await signInThroughPages(hospitalApp, hospitalRedirectUri, hospitalUser));

    const { context, page, errors } = await watchedContext(browser, { width: 1280, height: 900 });
    try {
      await page.goto(`${world.server.issuer}/admin`);
      await signInOnPage(page, itAdmin);
      await page.waitForURL(`${world.server.issuer}/admin`);
      expect(await heading(page)).toBe('Tổng quan');

      // A new person, typed with every diacritic, in a commune.
      await page.getByRole('link', { name: 'Người dùng', exact: true }).click();
      await page.getByRole('link', { name: 'Thêm người dùng' }).click();
      expect(await heading(page)).toBe('Thêm người dùng');
      await expectAccessible(page);
      await page.getByLabel('Họ và tên').fill('Nguyễn Thị Hồng Nhung');
      await page.getByLabel('Email').fill('nhungnth@anhuu.tiengiang.gov.vn');
      await page.getByLabel('Đơn vị chính').selectOption(world.tree.anHuu.id);
      await screenshot(page, 'it-1-new-person');
      await page.getByRole('button', { name: 'Tạo người dùng' }).click();
      expect(await heading(page)).toBe('Nguyễn Thị Hồng Nhung');
      await expect.poll(() => page.getByRole('status').textContent()).toContain('Đã tạo người dùng');
      await expectAccessible(page);

      // Found again without diacritics.
      await page.getByRole('link', { name: 'Người dùng', exact: true }).click();
      await page.getByLabel('Tìm (tên, tên đăng nhập, email, mã cán bộ)').fill('hong nhung');
      await page.getByRole('button', { name: 'Lọc' }).click();
      await expect.poll(() => page.getByRole('link', { name: 'Nguyễn Thị Hồng Nhung' }).count()).toBe(1);
      await screenshot(page, 'it-2-found-without-diacritics');

      // HR's file, one row of which names no unit that exists.
      await page.getByRole('link', { name: 'Nhập từ tệp' }).click();
      await expectAccessible(page);
      await page.getByLabel('Tệp CSV', { exact: true }).setInputFiles({
        name: 'nhan-su-an-huu.csv',
        mimeType: 'text/csv',
        buffer: Buffer.from(['Mã cán bộ;Họ và tên;Mã đơn vị;Email', 'AH001;Phan Văn Đức;TG.CAIBE.ANHUU;ducpv@anhuu.tiengiang.gov.vn', 'AH002;Trương Thị Lan;TG.KHONGCO;'].join('\n')),
      });
      await page.getByRole('button', { name: 'Kiểm tra tệp' }).click();
      const badRow = page.locator('tr.failure');
      await expect.poll(() => badRow.count()).toBe(1);
      expect(await badRow.locator('td').first().textContent()).toBe('3');
      expect(await badRow.locator('ul.problems code').textContent()).toBe('Mã đơn vị');
      await screenshot(page, 'it-3-import-dry-run');
      await expectAccessible(page);
      await page.getByRole('button', { name: 'Áp dụng' }).click();
      await expect.poll(() => page.getByRole('status').textContent()).toContain('Đã áp dụng tệp');
      const report = page.getByRole('link', { name: 'Tải báo cáo (CSV)' });
      expect(await report.getAttribute('href')).toMatch(/^\/admin\/import\/[0-9a-f-]+\/report\.csv$/);
      const download = await Promise.all([page.waitForEvent('download'), report.click()]).then(([started]) => started);
      const reportText = fs.readFileSync((await download.path())).toString('utf8');
      expect(reportText).toMatch(/^2,create,AH001,/m);
      expect(reportText).toMatch(/^3,error,AH002,.*Mã đơn vị/m);
      await screenshot(page, 'it-4-import-applied');
      await expectAccessible(page);
      expect(await world.server.database.db.selectFrom('users').select('full_name').where('employee_code', '=', 'AH001').executeTakeFirst()).toEqual({ full_name: 'Phan Văn Đức' });

      // Disabling asks first, and says what it will do; then the hospital system hears of it.
      await page.goto(`${world.server.issuer}/admin/users/${hospitalUserId}`);
      await page.getByRole('button', { name: 'Vô hiệu hóa' }).click();
      expect(await heading(page)).toBe('Vô hiệu hóa tài khoản');
      expect(await page.locator('#status-change-consequence').textContent()).toContain('Vô hiệu hóa Lê Thị Kim Oanh sẽ đăng xuất người này khỏi 1 ứng dụng');
      expect((await findUserById(world.server.database.db, hospitalUserId))?.status).toBe('active');
      await screenshot(page, 'it-5-disable-confirmation');
      await expectAccessible(page);
      const deliveredBefore = receiver.tokens.length;
      await page.getByRole('button', { name: 'Vô hiệu hóa Lê Thị Kim Oanh' }).click();
      await expect.poll(() => page.getByRole('status').textContent()).toContain('Đã vô hiệu hóa tài khoản');
      expect((await findUserById(world.server.database.db, hospitalUserId))?.status).toBe('disabled');
      await screenshot(page, 'it-6-disabled');
      await expect.poll(() => receiver.tokens.length).toBe(deliveredBefore + 1);
      const { payload } = await jwtVerify(receiver.tokens.at(-1)!, createRemoteJWKSet(new URL(`${world.server.issuer}/jwks`)), {
        issuer: world.server.issuer, audience: hospital.clientId, typ: 'logout+jwt',
      });
      expect(payload.sub).toBe(hospitalUserId);
      expect(payload['sid']).toBe(hospitalTokens.claims()!['sid']);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('shows a district admin only their district, and refuses another district\'s person with the reason on the page', async () => {
    const { context, page, errors } = await watchedContext(browser, { width: 390, height: 844 });
    try {
      await page.goto(`${world.server.issuer}/admin/users`);
      await signInOnPage(page, caiBeAdminCredentials);
      await page.waitForURL(`${world.server.issuer}/admin/users`);
      const names = await page.locator('table a').allTextContents();
      expect(names).toContain('Huỳnh Thị Ngọc Diễm');
      expect(names).not.toContain('Trần Thị Bích Ngọc');
      await screenshot(page, 'district-1-users');

      const refused = await page.goto(`${world.server.issuer}/admin/users/${choGaoPerson.id}`);
      expect(refused?.status()).toBe(403);
      expect(await page.locator('main').textContent()).toContain('Người này thuộc đơn vị nằm ngoài phạm vi bạn quản lý.');
      expect(await page.content()).not.toContain('Trần Thị Bích Ngọc');
      await screenshot(page, 'district-2-refused');
      await expectAccessible(page);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
