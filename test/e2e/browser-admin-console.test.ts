import fs from 'node:fs';
import path from 'node:path';

import { type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { findUserById } from '../../src/db/queries/users.ts';
import type { User } from '../../src/db/schema.ts';
import { addPerson, caiBeAdminCredentials, useProvinceServer } from '../support/admin-api.ts';
import { launchChromium } from '../support/browser.ts';

/** Screenshots of each page, kept as test artifacts (test-results/ is not committed). */
const artifacts = path.resolve('test-results/admin-console');

const world = useProvinceServer();
let browser: Browser;
let person: User;

beforeAll(async () => {
  fs.mkdirSync(artifacts, { recursive: true });
  browser = await launchChromium();
  person = await addPerson(world.server, { fullName: 'Huỳnh Thị Ngọc Diễm', username: 'diemhtn', unit: world.tree.anHuuHealthStation, email: 'diemhtn@caibe.tiengiang.gov.vn' });
});

afterAll(async () => {
  await browser?.close();
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

      await page.getByRole('button', { name: 'Tạm ngừng' }).click();
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
});
