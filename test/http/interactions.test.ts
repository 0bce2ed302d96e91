import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';
import { formsOf, UserAgent } from '../support/user-agent.ts';
import { authorizationRequest, discoverRelyingParty } from '../support/relying-party.ts';
import { adminConsole, adminConsoleRedirectUri, apiResource } from '../support/admin-api.ts';

const redirectUri = 'http://localhost:8083/callback';
const password = 'mật khẩu của chị Hoa';

let server: TestServer;
let relyingParty: oidc.Configuration;
let firstParty: oidc.Configuration;

beforeAll(async () => {
  server = await startTestServer();
  await createUser(server, { username: 'hoa', password, fullName: 'Đặng Thị Hoa' });
  const client = await registerTestClient(server, { name: 'Ứng dụng <b>thử</b> & "kiểm tra"', redirectUris: [redirectUri] });
  relyingParty = await discoverRelyingParty(server.issuer, client.clientId, client.clientSecret);
  const own = await registerTestClient(server, { name: 'Cổng dịch vụ công', redirectUris: [redirectUri], firstParty: true });
  firstParty = await discoverRelyingParty(server.issuer, own.clientId, own.clientSecret);
});

afterAll(async () => {
  await server.stop();
});

async function openLoginPage(agent = new UserAgent(), params: Record<string, string> = {}, headers: Record<string, string> = {}) {
  const { url } = await authorizationRequest(relyingParty, redirectUri, { scope: 'openid profile', ...params });
  const page = await agent.follow(url.href, redirectUri, { headers });
  if (page.kind !== 'page') throw new Error('expected the login page');
  return { agent, page, form: formsOf(page.html, page.url)[0]! };
}

describe('CSRF protection on the sign-in forms', () => {
  it('refuses a login post without the CSRF token and does not sign the person in', async () => {
    const { agent, form } = await openLoginPage();
    const withoutToken = Object.fromEntries(Object.entries(form.fields).filter(([name]) => name !== '_csrf'));
    const result = await agent.follow(form.action, redirectUri, { form: { ...withoutToken, login: 'hoa', password } });
    expect(result.response.status).toBe(403);
    expect(result.kind === 'page' && result.html).toContain('csrf_failed');
  });

  it('refuses a CSRF token taken from another browser', async () => {
    const victim = await openLoginPage();
    const attacker = await openLoginPage();
    const result = await victim.agent.follow(victim.form.action, redirectUri, {
      form: { ...victim.form.fields, _csrf: attacker.form.fields['_csrf']!, login: 'hoa', password },
    });
    expect(result.response.status).toBe(403);
  });

  it('refuses a post to another interaction than the one the browser is in', async () => {
    const mine = await openLoginPage();
    const theirs = await openLoginPage();
    const result = await mine.agent.follow(theirs.form.action, redirectUri, { form: { ...mine.form.fields, login: 'hoa', password } });
    expect(result.response.status).toBe(400);
    expect(result.kind).toBe('page');
  });
});

describe('saying no', () => {
  it('returns access_denied to the app when the person cancels at the login page', async () => {
    const { agent, page } = await openLoginPage();
    const cancel = formsOf(page.html, page.url).find((form) => form.action.endsWith('/abort'))!;
    const result = await agent.follow(cancel.action, redirectUri, { form: cancel.fields });
    expect(result.kind).toBe('redirect');
    expect(new URL(result.url).searchParams.get('error')).toBe('access_denied');
  });

  it('lists what the app asks for on the consent page, and returns access_denied when refused', async () => {
    const { agent, form } = await openLoginPage();
    const consent = await agent.follow(form.action, redirectUri, { form: { ...form.fields, login: 'hoa', password } });
    if (consent.kind !== 'page') throw new Error('expected the consent page');
    expect(consent.html).toContain('Cấp quyền truy cập');
    expect(consent.html).toContain('Xem họ tên và tên đăng nhập của bạn');
    expect(consent.html).toContain('Đặng Thị Hoa');
    const deny = formsOf(consent.html, consent.url).find((candidate) => candidate.action.endsWith('/abort'))!;
    const result = await agent.follow(deny.action, redirectUri, { form: deny.fields });
    expect(result.kind).toBe('redirect');
    expect(new URL(result.url).searchParams.get('error')).toBe('access_denied');
  });
});

describe('consent for the province\u2019s own apps', () => {
  /** Posts the login form of a sign-in `params` start, and follows the browser until it leaves for the app or stops on a page. */
  async function signInTo(app: oidc.Configuration, params: Record<string, string>, login = 'hoa', appRedirectUri = redirectUri) {
    const agent = new UserAgent();
    const state = oidc.randomState();
    const { url, verifier } = await authorizationRequest(app, appRedirectUri, { state, ...params });
    const loginPage = await agent.follow(url.href, appRedirectUri);
    const [form] = loginPage.kind === 'page' ? formsOf(loginPage.html, loginPage.url) : [];
    if (!form) throw new Error('expected the login page');
    const after = await agent.follow(form.action, appRedirectUri, { form: { ...form.fields, login, password } });
    const interactionSteps = after.visited.filter((visited) => new URL(visited).pathname.startsWith('/interaction/')).length;
    return { after, interactionSteps, state, verifier };
  }

  it('is given with the login: the browser goes from the login form straight back to the app, refresh token included', async () => {
    const { after, interactionSteps, state, verifier } = await signInTo(firstParty, { scope: 'openid profile offline_access', prompt: 'consent' });
    expect(after.kind).toBe('redirect');
    // Only the login form's own post: no consent step in between.
    expect(interactionSteps).toBe(1);
    const tokens = await oidc.authorizationCodeGrant(firstParty, new URL(after.url), { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.refresh_token).toBeTruthy();
    expect(tokens.scope?.split(' ').sort()).toEqual(['offline_access', 'openid', 'profile']);
  });

  it('still passes the consent step, without a page, when the app asks for an API\u2019s scope', async () => {
    await createUser(server, { username: 'hoa.admin', password });
    const { after, interactionSteps } = await signInTo(await adminConsole(server), { scope: 'openid api', resource: apiResource(server) }, 'hoa.admin', adminConsoleRedirectUri);
    expect(after.kind).toBe('redirect');
    expect(new URL(after.url).searchParams.get('code')).toBeTruthy();
    expect(interactionSteps).toBe(2);
  });

  it('is never given with the login to another organisation\u2019s app, even with prompt=consent: its consent page shows', async () => {
    const { after } = await signInTo(relyingParty, { scope: 'openid offline_access', prompt: 'consent' });
    expect(after.kind === 'page' && after.html).toContain('Cấp quyền truy cập');
  });
});

describe('the login page', () => {
  it('escapes what it echoes: the typed login and the app name cannot inject markup', async () => {
    const { agent, page, form } = await openLoginPage();
    expect(page.html).toContain('Ứng dụng &lt;b&gt;thử&lt;/b&gt; &amp; &quot;kiểm tra&quot;');
    const hostile = '"><script>alert(1)</script>';
    const result = await agent.follow(form.action, redirectUri, { form: { ...form.fields, login: hostile, password: 'sai mật khẩu' } });
    const html = result.kind === 'page' ? result.html : '';
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).toContain('&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('speaks Vietnamese by default, and English when the app asks with ui_locales', async () => {
    const vietnamese = await openLoginPage();
    expect(vietnamese.page.html).toContain('<html lang="vi">');
    expect(vietnamese.page.html).toContain('Mật khẩu');
    const english = await openLoginPage(new UserAgent(), { ui_locales: 'en' });
    expect(english.page.html).toContain('<html lang="en">');
    expect(english.page.html).toContain('Password');
  });

  it('follows the browser\u2019s Accept-Language, and the language switch overrides it and is remembered', async () => {
    const agent = new UserAgent();
    const { page } = await openLoginPage(agent, {}, { 'accept-language': 'en-US,en;q=0.9' });
    expect(page.html).toContain('Sign in');
    const switchLink = /href="([^"]*lang=vi[^"]*)"/.exec(page.html)?.[1]?.replace(/&amp;/g, '&');
    expect(switchLink).toBeDefined();
    const switched = await agent.follow(new URL(switchLink!, page.url).href, redirectUri, { headers: { 'accept-language': 'en' } });
    expect(switched.kind === 'page' && switched.html).toContain('Đăng nhập');
    const later = await openLoginPage(agent, {}, { 'accept-language': 'en' });
    expect(later.page.html).toContain('<html lang="vi">');
  });

  it('is served with a strict content security policy and may not be framed', async () => {
    const agent = new UserAgent();
    const { url } = await authorizationRequest(relyingParty, redirectUri);
    const redirect = await agent.request(url.href);
    const loginPage = await agent.request(new URL(redirect.headers.get('location')!, url).href);
    const csp = loginPage.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(loginPage.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(loginPage.headers.get('referrer-policy')).toBe('no-referrer');
    expect(loginPage.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('shows a friendly page with the request id when the sign-in has expired', async () => {
    const response = await fetch(`${server.issuer}/interaction/does-not-exist`, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(400);
    const html = await response.text();
    expect(html).toContain('Phiên đăng nhập đã hết hạn');
    expect(html).toContain(response.headers.get('x-request-id'));
  });
});

describe('behind a TLS-terminating proxy', () => {
  it('marks the CSRF cookie __Host- and Secure, so a sibling subdomain cannot plant one', async () => {
    const proxied = await startTestServer({ TRUST_PROXY: 'true' });
    try {
      const client = await registerTestClient(proxied, { name: 'Qua proxy', redirectUris: [redirectUri] });
      const rp = await discoverRelyingParty(proxied.issuer, client.clientId, client.clientSecret);
      const { url } = await authorizationRequest(rp, redirectUri);
      // The proxy speaks https to the browser; the cookies it set are Secure, so carry them by hand.
      const https = { 'x-forwarded-proto': 'https' };
      const redirect = await fetch(url, { headers: https, redirect: 'manual' });
      const cookies = redirect.headers.getSetCookie().map((cookie) => cookie.split(';')[0]).join('; ');
      const loginPage = await fetch(new URL(redirect.headers.get('location')!, url), { headers: { ...https, cookie: cookies } });
      expect(loginPage.status).toBe(200);
      const csrfCookie = loginPage.headers.getSetCookie().find((cookie) => cookie.includes('mekong.csrf='));
      expect(csrfCookie).toMatch(/^__Host-mekong\.csrf=/);
      expect(csrfCookie).toMatch(/; path=\//);
      expect(csrfCookie).toMatch(/; secure/);
      expect(csrfCookie).toMatch(/; httponly/);
    } finally {
      await proxied.stop();
    }
  });
});

describe('operations endpoints', () => {
  it('reports liveness and readiness', async () => {
    expect(await (await fetch(`${server.issuer}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${server.issuer}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { database: true, migrations: true, keys: true } });
  });

  it('advertises exactly the flows that are enabled', async () => {
    const discovery = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(discovery['response_types_supported']).toEqual(['code']);
    expect(discovery['code_challenge_methods_supported']).toEqual(['S256']);
    expect(discovery['grant_types_supported']).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials']));
    expect(discovery['grant_types_supported']).not.toContain('implicit');
    expect(discovery['token_endpoint_auth_methods_supported']).toEqual(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none']);
    expect(discovery['backchannel_logout_supported']).toBe(true);
    // Client secrets are stored hashed, so nothing may use a secret as a key: no HS* anywhere,
    // no client_secret_jwt; request objects and client assertions are signed with the client's keys.
    // (test/oidc/discovery.test.ts checks the rest of the document.)
    const algorithms = Object.entries(discovery).filter(([name]) => name.endsWith('_alg_values_supported'));
    expect(algorithms.length).toBeGreaterThan(0);
    for (const [, values] of algorithms) expect((values as string[]).filter((alg) => alg.startsWith('HS'))).toEqual([]);
    expect(discovery['scopes_supported']).not.toContain('api');
  });
});
