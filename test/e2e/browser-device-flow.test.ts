import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { launchChromium } from '../support/browser.ts';
import { expireDeviceCode } from '../support/device-codes.ts';
import { discoverRelyingParty } from '../support/relying-party.ts';
import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';

const login = 'ngothikimyen';
const password = 'mật khẩu của Yến 2026';
const screenName = 'Màn hình tiếp đón khoa Nhi';

let server: TestServer;
let browser: Browser;
let kiosk: oidc.Configuration;
let userId: string;

beforeAll(async () => {
  browser = await launchChromium();
  server = await startTestServer();
  userId = (await createUser(server, { username: login, password, fullName: 'Ngô Thị Kim Yến' })).id;
  const registered = await registerTestClient(server, { name: screenName, kind: 'device' });
  kiosk = await discoverRelyingParty(server.issuer, registered.clientId);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/** A phone's browser in Vietnamese, noting every Content-Security-Policy violation the pages cause. */
async function openPhone(): Promise<{ context: BrowserContext; page: Page; violations: string[] }> {
  const context = await browser.newContext({ locale: 'vi-VN', viewport: { width: 390, height: 844 }, isMobile: true });
  const page = await context.newPage();
  const violations: string[] = [];
  page.on('console', (message) => {
    if (message.text().includes('Content Security Policy')) violations.push(message.text());
  });
  return { context, page, violations };
}

async function startOnScreen() {
  const authorization = await oidc.initiateDeviceAuthorization(kiosk, { scope: 'openid profile' });
  return { authorization, poll: () => oidc.pollDeviceAuthorizationGrant(kiosk, { ...authorization, interval: 1 }) };
}

describe('a shared screen signed in from a phone, in Chromium', { timeout: 60_000 }, () => {
  let phone: Awaited<ReturnType<typeof openPhone>>;

  beforeAll(async () => {
    phone = await openPhone();
  });

  afterAll(async () => {
    await phone?.context.close();
  });

  it('types the code the screen shows, confirms the app, signs in, and the screen gets its tokens', async () => {
    const { authorization, poll } = await startOnScreen();
    const { page, violations } = phone;
    await page.goto(authorization.verification_uri);
    await page.getByLabel('Mã thiết bị', { exact: true }).fill(authorization.user_code.toLowerCase().replace('-', ' '));
    await page.getByRole('button', { name: 'Tiếp tục', exact: true }).click();

    await expect.poll(() => page.locator('h1').textContent()).toBe('Xác nhận thiết bị');
    expect(await page.locator('main').textContent()).toContain(screenName);
    expect(await page.locator('.user-code code').textContent()).toBe(authorization.user_code);
    await page.getByRole('button', { name: 'Đúng, tiếp tục', exact: true }).click();

    await page.getByLabel('Tên đăng nhập hoặc email', { exact: true }).fill(login);
    await page.getByLabel('Mật khẩu', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Đăng nhập', exact: true }).click();
    await page.getByRole('button', { name: 'Cho phép', exact: true }).click();

    await expect.poll(() => page.locator('h1').textContent()).toBe('Đã đăng nhập thiết bị');
    expect(await page.locator('main').textContent()).toContain(`Thiết bị đã đăng nhập vào ${screenName}`);
    const tokens = await poll();
    expect(tokens.claims()?.sub).toBe(userId);
    expect(violations).toEqual([]);
  });

  it('already signed in on the phone, opens the link the screen shows as a QR code, confirms, and is not asked for a password', async () => {
    const { authorization, poll } = await startOnScreen();
    const { page, violations } = phone;
    // The link carries the code; oidc-provider posts it with a small script the CSP allows by its hash.
    await page.goto(authorization.verification_uri_complete!);
    await expect.poll(() => page.locator('h1').textContent()).toBe('Xác nhận thiết bị');
    await page.getByRole('button', { name: 'Đúng, tiếp tục', exact: true }).click();
    // Each screen signed in is a new authorization, so the person still allows it; no sign-in form.
    await expect.poll(() => page.locator('h1').textContent()).toBe('Cấp quyền truy cập');
    await page.getByRole('button', { name: 'Cho phép', exact: true }).click();
    await expect.poll(() => page.locator('h1').textContent()).toBe('Đã đăng nhập thiết bị');
    expect((await poll()).claims()?.sub).toBe(userId);
    expect(violations).toEqual([]);
  });

  it('shows that a code has expired, in English for an English browser', async () => {
    const { authorization } = await startOnScreen();
    await expireDeviceCode(server, authorization.user_code);

    const context = await browser.newContext({ locale: 'en-GB' });
    const page = await context.newPage();
    await page.goto(authorization.verification_uri);
    await page.getByLabel('Device code', { exact: true }).fill(authorization.user_code);
    await page.getByRole('button', { name: 'Continue', exact: true }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('That code has expired. Ask the device for a new one.');
    await context.close();
  });
});
