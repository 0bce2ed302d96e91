import http from 'node:http';
import type { AddressInfo } from 'node:net';

import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { launchChromium } from '../support/browser.ts';
import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';
import { authorizationRequest, discoverRelyingParty } from '../support/relying-party.ts';

const login = 'lethihongnhung';
const password = 'mật khẩu của Nhung 2026';
const appName = 'Hệ thống điều hành tác nghiệp';

/** The relying party's callback: records the query string of every visit and shows a small page. */
interface CallbackReceiver {
  readonly redirectUri: string;
  readonly queries: string[];
  close(): Promise<void>;
}

async function startCallbackReceiver(): Promise<CallbackReceiver> {
  const queries: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/callback') {
      res.writeHead(404).end();
      return;
    }
    queries.push(url.search);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!DOCTYPE html><html lang="vi"><meta charset="utf-8"><title>Ứng dụng</title><h1>Ứng dụng đã nhận mã</h1></html>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    redirectUri: `http://127.0.0.1:${port}/callback`,
    queries,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let server: TestServer;
let receiver: CallbackReceiver;
let browser: Browser;
let relyingParty: oidc.Configuration;
let userId: string;

beforeAll(async () => {
  browser = await launchChromium();
  server = await startTestServer();
  receiver = await startCallbackReceiver();
  userId = (await createUser(server, { username: login, password, fullName: 'Lê Thị Hồng Nhung' })).id;
  const client = await registerTestClient(server, { name: appName, redirectUris: [receiver.redirectUri] });
  relyingParty = await discoverRelyingParty(server.issuer, client.clientId, client.clientSecret);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await receiver?.close();
});

/**
 * A fresh browser profile (no cookies) whose language is Vietnamese, as on the province's machines;
 * without it the page follows Chromium's default Accept-Language, en-US on a machine with no locale set.
 */
async function openVietnameseBrowser(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ locale: 'vi-VN' });
  return { context, page: await context.newPage() };
}

async function startSignIn(page: Page) {
  const state = oidc.randomState();
  const { url, verifier } = await authorizationRequest(relyingParty, receiver.redirectUri, { scope: 'openid profile', state });
  await page.goto(url.href);
  return { verifier, state };
}

const heading = (page: Page) => page.getByRole('heading', { level: 1 }).textContent();

describe('signing in with a real browser', () => {
  it('shows the Vietnamese login and consent pages and returns to the app with a code that redeems for an ID token naming the user', async () => {
    const { context, page } = await openVietnameseBrowser();
    try {
      const { verifier, state } = await startSignIn(page);

      expect(await heading(page)).toBe('Đăng nhập');
      expect(await page.locator('html').getAttribute('lang')).toBe('vi');
      expect(await page.locator('p.sub').textContent()).toBe(`để tiếp tục vào ${appName}`);
      await page.getByLabel('Tên đăng nhập hoặc email', { exact: true }).fill(login);
      await page.getByLabel('Mật khẩu', { exact: true }).fill(password);
      await page.getByRole('button', { name: 'Đăng nhập', exact: true }).click();

      await page.getByRole('heading', { level: 1, name: 'Cấp quyền truy cập' }).waitFor();
      expect(await page.getByText('Bạn đang đăng nhập với tài khoản').textContent()).toBe('Bạn đang đăng nhập với tài khoản Lê Thị Hồng Nhung.');
      await page.getByRole('button', { name: 'Cho phép', exact: true }).click();

      await page.waitForURL((url) => url.href.startsWith(receiver.redirectUri));
      expect(await heading(page)).toBe('Ứng dụng đã nhận mã');
      expect(receiver.queries).toHaveLength(1);
      const callback = new URL(`${receiver.redirectUri}${receiver.queries[0]!}`);
      expect(callback.searchParams.get('code')).toBeTruthy();

      const tokens = await oidc.authorizationCodeGrant(relyingParty, callback, { pkceCodeVerifier: verifier, expectedState: state });
      expect(tokens.claims()?.sub).toBe(userId);
      expect(tokens.claims()?.iss).toBe(server.issuer);
    } finally {
      await context.close();
    }
  });

  it('keeps a person who types a wrong password on the login page with the Vietnamese error, and sends the app nothing', async () => {
    const { context, page } = await openVietnameseBrowser();
    const callbacksBefore = receiver.queries.length;
    try {
      await startSignIn(page);
      await page.getByLabel('Tên đăng nhập hoặc email', { exact: true }).fill(login);
      await page.getByLabel('Mật khẩu', { exact: true }).fill('không phải mật khẩu này');
      await page.getByRole('button', { name: 'Đăng nhập', exact: true }).click();

      expect(await page.getByRole('alert').textContent()).toBe('Tên đăng nhập hoặc mật khẩu không đúng.');
      expect(await heading(page)).toBe('Đăng nhập');
      // The login name is kept so that only the password needs typing again; the password is not.
      expect(await page.getByLabel('Tên đăng nhập hoặc email', { exact: true }).inputValue()).toBe(login);
      expect(await page.getByLabel('Mật khẩu', { exact: true }).inputValue()).toBe('');
      expect(page.url().startsWith(server.issuer)).toBe(true);
      expect(receiver.queries).toHaveLength(callbacksBefore);
    } finally {
      await context.close();
    }
  });

  it('switches the login page to English with the language link, and remembers the choice on the next page', async () => {
    const { context, page } = await openVietnameseBrowser();
    try {
      await startSignIn(page);
      expect(await heading(page)).toBe('Đăng nhập');
      await page.getByRole('link', { name: 'English', exact: true }).click();

      await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
      expect(await page.locator('html').getAttribute('lang')).toBe('en');
      expect(await page.getByLabel('Username or email', { exact: true }).count()).toBe(1);
      expect(await page.getByLabel('Password', { exact: true }).count()).toBe(1);
      expect(await page.getByRole('link', { name: 'Tiếng Việt', exact: true }).count()).toBe(1);

      // The page after the form post follows the choice too, although the browser still prefers Vietnamese.
      await page.getByLabel('Username or email', { exact: true }).fill(login);
      await page.getByLabel('Password', { exact: true }).fill('not the password');
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      expect(await page.getByRole('alert').textContent()).toBe('The username or password is not correct.');
    } finally {
      await context.close();
    }
  });
});
