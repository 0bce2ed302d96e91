import * as oidc from 'openid-client';
import * as OTPAuth from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { findUserById } from '../../src/db/queries/users.ts';
import type { User } from '../../src/db/schema.ts';
import { accountConsoleClientId } from '../../src/domain/built-in-clients.ts';
import { findConfirmedFactors } from '../../src/domain/second-factors.ts';
import { authorizationRequest, discoverRelyingParty } from '../support/relying-party.ts';
import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';
import { formsOf, UserAgent, type FollowResult } from '../support/user-agent.ts';

const appRedirectUri = 'http://localhost:8087/callback';
const password = 'mật khẩu bảng điều khiển 2026';

let server: TestServer;
let app: oidc.Configuration;
let sequence = 0;

beforeAll(async () => {
  server = await startTestServer();
  const client = await registerTestClient(server, { name: 'Hệ thống quản lý văn bản', redirectUris: [appRedirectUri] });
  app = await discoverRelyingParty(server.issuer, client.clientId, client.clientSecret);
});

afterAll(async () => {
  await server.stop();
});

async function person(): Promise<User> {
  sequence += 1;
  return createUser(server, { username: `taikhoan${sequence}`, password, fullName: `Huỳnh Thị Tài ${sequence}`, email: `taikhoan${sequence}@tiengiang.gov.vn` });
}

const html = (step: FollowResult) => (step.kind === 'page' ? step.html : '');

/** Opens the console as a browser would: redirected to sign in, the login form, back to the page asked for. */
async function openConsole(user: User, path = '/account', agent = new UserAgent()): Promise<{ agent: UserAgent; page: FollowResult }> {
  let step = await agent.follow(`${server.issuer}${path}`, 'http://never/');
  if (step.kind === 'page' && step.html.includes('name="password"')) {
    const [form] = formsOf(step.html, step.url);
    step = await agent.follow(form!.action, 'http://never/', { form: { ...form!.fields, login: user.username, password } });
  }
  expect(step.kind === 'page' && new URL(step.url).pathname).toBe(path);
  return { agent, page: step };
}

/** Posts the form on `page` whose action ends with `action`, following the redirect after it. */
async function post(agent: UserAgent, page: FollowResult, action: string, fields: Record<string, string> = {}): Promise<FollowResult> {
  const form = formsOf(html(page), server.issuer).find((candidate) => new URL(candidate.action).pathname.endsWith(action));
  expect(form, `a form posting to …${action}`).toBeDefined();
  return agent.follow(form!.action, 'http://never/', { form: { ...form!.fields, ...fields } });
}

/** Signs in to an ordinary app on another device, answering its refresh token. */
async function signInToApp(user: User): Promise<string> {
  const agent = new UserAgent();
  const state = oidc.randomState();
  const { url, verifier } = await authorizationRequest(app, appRedirectUri, { state, scope: 'openid offline_access', prompt: 'consent' });
  let step = await agent.follow(url.href, appRedirectUri);
  for (let pages = 0; step.kind === 'page' && pages < 3; pages += 1) {
    const [form] = formsOf(step.html, step.url);
    const fields = form!.action.endsWith('/login') ? { ...form!.fields, login: user.username, password } : form!.fields;
    step = await agent.follow(form!.action, appRedirectUri, { form: fields });
  }
  if (step.kind !== 'redirect') throw new Error('expected to reach the app');
  const tokens = await oidc.authorizationCodeGrant(app, new URL(step.url), { pkceCodeVerifier: verifier, expectedState: state });
  return tokens.refresh_token!;
}

describe('signing in to the account console', () => {
  it('sends a stranger through the ordinary login, then shows their own profile, with the read-only fields marked', async () => {
    const user = await person();
    const first = await new UserAgent().request(`${server.issuer}/account`);
    expect(first.status).toBe(302);
    const location = new URL(first.headers.get('location')!);
    expect(location.pathname).toBe('/auth');
    expect(location.searchParams.get('client_id')).toBe(accountConsoleClientId);
    expect(location.searchParams.get('code_challenge_method')).toBe('S256');

    const { page } = await openConsole(user);
    expect(html(page)).toContain('Huỳnh Thị Tài');
    expect(html(page)).toContain(user.username);
    expect(html(page)).toContain('do quản trị viên đơn vị quản lý');
  });

  it('refuses a callback whose state did not start in this browser', async () => {
    const user = await person();
    const victim = new UserAgent();
    const start = await victim.request(`${server.issuer}/account`);
    const attacker = new UserAgent();
    await openConsole(user, '/account', attacker);
    const forged = await attacker.follow(`${server.issuer}/account/callback?code=whatever&state=${new URL(start.headers.get('location')!).searchParams.get('state')}`, 'http://never/');
    expect(forged.response.status).toBe(400);
    expect(html(forged)).toContain('sign_in_failed');
  });

  it('refuses a code issued to another app, even with a matching state', async () => {
    const user = await person();
    const agent = new UserAgent();
    const start = await agent.request(`${server.issuer}/account`);
    const state = new URL(start.headers.get('location')!).searchParams.get('state')!;
    // A code the ordinary app obtained for the same person, replayed at the console's callback.
    const appAgent = new UserAgent();
    const { url } = await authorizationRequest(app, appRedirectUri, { scope: 'openid', prompt: 'consent' });
    let step = await appAgent.follow(url.href, appRedirectUri);
    while (step.kind === 'page') {
      const [form] = formsOf(step.html, step.url);
      step = await appAgent.follow(form!.action, appRedirectUri, { form: form!.action.endsWith('/login') ? { ...form!.fields, login: user.username, password } : form!.fields });
    }
    const code = new URL(step.url).searchParams.get('code')!;
    const replay = await agent.follow(`${server.issuer}/account/callback?code=${code}&state=${state}`, 'http://never/');
    expect(replay.response.status).toBe(400);
  });

  it('ends when the session it came from is signed out', async () => {
    const user = await person();
    const { agent, page } = await openConsole(user, '/account/sessions');
    const after = await post(agent, page, '/end');
    expect(after.kind === 'page' && after.html).toContain('name="password"');
    expect((await agent.request(`${server.issuer}/account`)).status).toBe(302);
  });
});

describe('the profile', () => {
  it('saves a phone number in E.164 and refuses one that does not exist', async () => {
    const user = await person();
    const { agent, page } = await openConsole(user);
    const saved = await post(agent, page, '/account/profile', { phone: '0912 345 678' });
    expect(html(saved)).toContain('Đã lưu số điện thoại');
    expect((await findUserById(server.database.db, user.id))?.phone).toBe('+84912345678');
    const refused = await post(agent, saved, '/account/profile', { phone: '12' });
    expect(refused.response.status).toBe(400);
    expect((await findUserById(server.database.db, user.id))?.phone).toBe('+84912345678');
  });

  it('refuses a post without the CSRF token', async () => {
    const user = await person();
    const { agent } = await openConsole(user);
    expect((await agent.request(`${server.issuer}/account/profile`, { form: { phone: '0912 345 678' } })).status).toBe(403);
  });
});

describe('changing the password', () => {
  it('asks for the current password, and can end every other session', async () => {
    const user = await person();
    const otherDevice = await signInToApp(user);
    const { agent, page } = await openConsole(user, '/account/security');

    const wrong = await post(agent, page, '/account/password', { current: 'not it at all', password: 'sông Tiền mùa nước nổi', confirm: 'sông Tiền mùa nước nổi' });
    expect(wrong.response.status).toBe(400);
    expect(html(wrong)).toContain('Mật khẩu hiện tại không đúng');

    const changed = await post(agent, page, '/account/password', {
      current: password, password: 'sông Tiền mùa nước nổi', confirm: 'sông Tiền mùa nước nổi', end_other_sessions: 'on',
    });
    expect(html(changed)).toContain('Đã đổi mật khẩu');
    const told = await server.database.db.selectFrom('mail_outbox').select('template').where('recipient', '=', user.email!).execute();
    expect(told.map((row) => row.template)).toContain('password_changed');
    await expect(oidc.refreshTokenGrant(app, otherDevice)).rejects.toMatchObject({ error: 'invalid_grant' });
    // This device stays signed in.
    expect((await agent.follow(`${server.issuer}/account/security`, 'http://never/')).response.status).toBe(200);
  });
});

describe('guessing the current password', () => {
  it('is throttled like guessing it at the login page: after three wrong tries even the right one waits', async () => {
    const user = await person();
    const { agent, page } = await openConsole(user, '/account/security');
    const attempt = (current: string) => post(agent, page, '/account/password', { current, password: 'sông Tiền mùa nước nổi', confirm: 'sông Tiền mùa nước nổi' });
    for (const guess of ['đoán một', 'đoán hai', 'đoán ba']) expect((await attempt(guess)).response.status).toBe(400);
    const waiting = await attempt(password);
    expect(waiting.response.status).toBe(429);
    expect(html(waiting)).toContain('Đã nhập sai mật khẩu hiện tại nhiều lần');
    expect((await server.passwords.verify((await findUserById(server.database.db, user.id))!.password_hash, password)).ok).toBe(true);
  });
});

describe('second factors in the console', () => {
  it('enrols an authenticator app, shows recovery codes once, lists the factor and removes it', async () => {
    const user = await person();
    const { agent, page } = await openConsole(user, '/account/security');
    const enrolPage = await post(agent, page, '/account/security/totp', { name: 'Điện thoại Samsung' });
    const key = /<code class="key">([A-Z2-7 ]+)<\/code>/.exec(html(enrolPage))?.[1];
    expect(key).toBeDefined();
    const code = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(key!.replace(/ /g, '')) }).generate();
    const codesPage = await post(agent, enrolPage, '/account/security/totp/confirm', { code });
    expect([...html(codesPage).matchAll(/<li><code>[A-Z0-9-]+<\/code><\/li>/g)]).toHaveLength(10);

    const security = await agent.follow(`${server.issuer}/account/security`, 'http://never/');
    expect(html(security)).toContain('Điện thoại Samsung');
    expect(html(security)).toContain('Còn 10 mã khôi phục');
    const removed = await post(agent, security, '/remove');
    expect(html(removed)).toContain('Đã gỡ bỏ');
    expect(await findConfirmedFactors(server.database.db, user.id)).toEqual([]);
  });
});

describe('sessions, apps and activity', () => {
  it('lists the sessions, marks this device, and signs another one out', async () => {
    const user = await person();
    const otherDevice = await signInToApp(user);
    const { agent, page } = await openConsole(user, '/account/sessions');
    expect(html(page)).toContain('thiết bị này');
    expect(html(page)).toContain('Hệ thống quản lý văn bản');
    // The other device's session is the one whose row names the app.
    const rows = html(page).split('<li>').filter((row) => row.includes('/end"'));
    const other = rows.find((row) => row.includes('Hệ thống quản lý văn bản'))!;
    const action = /action="([^"]+\/end)"/.exec(other)![1]!;
    const ended = await agent.follow(new URL(action, server.issuer).href, 'http://never/', { form: { _csrf: formsOf(html(page), server.issuer)[0]!.fields['_csrf']! } });
    expect(html(ended)).toContain('Đã đăng xuất phiên đó');
    await expect(oidc.refreshTokenGrant(app, otherDevice)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('revokes an app, ending its tokens', async () => {
    const user = await person();
    const refreshToken = await signInToApp(user);
    const { agent, page } = await openConsole(user, '/account/sessions');
    const revoked = await post(agent, page, '/revoke');
    expect(html(revoked)).toContain('Đã thu hồi quyền');
    await expect(oidc.refreshTokenGrant(app, refreshToken)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('shows the person their own sign-ins, failures included', async () => {
    const user = await person();
    const agent = new UserAgent();
    const login = await agent.follow(`${server.issuer}/account`, 'http://never/');
    const [form] = formsOf(html(login), server.issuer);
    await agent.follow(form!.action, 'http://never/', { form: { ...form!.fields, login: user.username, password: 'a wrong one this time' } });
    const { page } = await openConsole(user, '/account/activity', agent);
    expect(html(page)).toContain('Đăng nhập thành công');
    expect(html(page)).toContain('Đăng nhập không thành công');
  });
});
