import * as oidc from 'openid-client';
import * as OTPAuth from 'otpauth';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { findUserById } from '../../src/db/queries/users.ts';
import type { User } from '../../src/db/schema.ts';
import { accountConsole } from '../../src/domain/built-in-clients.ts';
import { findConfirmedFactors } from '../../src/domain/second-factors.ts';
import { listAuditEvents } from '../../src/db/queries/audit-events.ts';
import { authorizationRequest, discoverRelyingParty } from '../support/relying-party.ts';
import { codeIn, startSmsGateway } from '../support/sms-gateway.ts';
import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';
import { formsOf, UserAgent, type FollowResult } from '../support/user-agent.ts';

const appRedirectUri = 'http://localhost:8087/callback';
const password = 'mật khẩu bảng điều khiển 2026';

let server: TestServer;
let app: oidc.Configuration;
let gateway: Awaited<ReturnType<typeof startSmsGateway>>;
let sequence = 0;

beforeAll(async () => {
  gateway = await startSmsGateway();
  // No SMTP relay: mail lands in the development outbox, which the tests read at /dev/outbox.
  server = await startTestServer({ SMS_GATEWAY_URL: gateway.url, SMS_GATEWAY_TOKEN: 'gateway-secret', MAIL_POLL_SECONDS: '0.2' });
  const client = await registerTestClient(server, { name: 'Hệ thống quản lý văn bản', redirectUris: [appRedirectUri] });
  app = await discoverRelyingParty(server.issuer, client.clientId, client.clientSecret);
});

afterAll(async () => {
  await server.stop();
  await gateway.close();
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
    expect(location.searchParams.get('client_id')).toBe(accountConsole.clientId);
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

  it('signs out only with a post carrying the CSRF token, never through a link', async () => {
    const user = await person();
    const { agent, page } = await openConsole(user);
    expect((await agent.request(`${server.issuer}/account/logout`)).status).toBe(404);
    expect((await agent.request(`${server.issuer}/account/logout`, { form: {} })).status).toBe(403);
    expect((await agent.request(`${server.issuer}/account`)).status).toBe(200);
    const confirm = await post(agent, page, '/account/logout');
    // oidc-provider's own page asks to confirm ending the session everywhere.
    expect(confirm.kind === 'page' && new URL(confirm.url).pathname).toBe('/session/end');
    expect((await agent.request(`${server.issuer}/account`)).status).toBe(302);
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
  afterEach(() => {
    gateway.refuse = false;
    vi.useRealTimers();
  });

  const lastMessageTo = (phone: string) => gateway.messages.filter((message) => message.to === phone).at(-1);

  it('changes the phone number only once the code sent to it comes back, and marks it verified', async () => {
    const user = await person();
    const { agent, page } = await openConsole(user);
    const asked = await post(agent, page, '/account/phone', { phone: '0912 345 678' });
    const message = lastMessageTo('+84912345678');
    expect(message?.authorization).toBe('Bearer gateway-secret');
    expect(html(asked)).toContain('Đã gửi mã 6 chữ số tới +84912345678');
    expect((await findUserById(server.database.db, user.id))?.phone).toBeNull();

    const wrongCode = codeIn(message?.text) === '000000' ? '111111' : '000000';
    const wrong = await post(agent, asked, '/account/phone/confirm', { code: wrongCode });
    expect(wrong.response.status).toBe(400);
    expect(html(wrong)).toContain('Còn 4 lần thử');

    const confirmed = await post(agent, wrong, '/account/phone/confirm', { code: codeIn(message?.text) });
    expect(html(confirmed)).toContain('Đã lưu số điện thoại');
    const saved = await findUserById(server.database.db, user.id);
    expect(saved).toMatchObject({ phone: '+84912345678', phone_verified: true });
    const [event] = await listAuditEvents(server.database.db, { targetType: 'user', targetId: user.id, action: 'user.update', subtrees: null, limit: 1 });
    expect(event).toMatchObject({ after: { phone: '+84912345678', phone_verified: true }, details: { self_service: true, proof: 'sms_code' } });
  });

  it('gives up on a code after five wrong tries: even the right one no longer works', async () => {
    const user = await person();
    const { agent, page } = await openConsole(user);
    let step = await post(agent, page, '/account/phone', { phone: '0987 654 321' });
    const code = codeIn(lastMessageTo('+84987654321')?.text);
    const wrongCode = code === '000000' ? '111111' : '000000';
    for (let attempt = 1; attempt <= 4; attempt += 1) step = await post(agent, step, '/account/phone/confirm', { code: wrongCode });
    const last = await post(agent, step, '/account/phone/confirm', { code: wrongCode });
    expect(html(last)).toContain('Mã đã hết hạn hoặc đã nhập sai quá nhiều lần');
    expect(formsOf(html(last), server.issuer).some((form) => form.action.endsWith('/account/phone/confirm'))).toBe(false);
    const late = await agent.follow(`${server.issuer}/account/phone/confirm`, 'http://never/', { form: { _csrf: formsOf(html(last), server.issuer)[0]!.fields['_csrf']!, code } });
    expect(late.response.status).toBe(400);
    expect((await findUserById(server.database.db, user.id))?.phone).toBeNull();
  });

  it('refuses a number that does not exist, and sends nothing', async () => {
    const user = await person();
    const { agent, page } = await openConsole(user);
    const before = gateway.messages.length;
    const refused = await post(agent, page, '/account/phone', { phone: '12' });
    expect(refused.response.status).toBe(400);
    expect(html(refused)).toContain('Số điện thoại không hợp lệ');
    expect(gateway.messages.length).toBe(before);
  });

  it('sends one code a minute, and says how long to wait', async () => {
    const user = await person();
    const { agent, page } = await openConsole(user);
    const first = await post(agent, page, '/account/phone', { phone: '0903 111 222' });
    const second = await post(agent, first, '/account/phone', { phone: '0903 111 333' });
    expect(second.response.status).toBe(429);
    expect(second.response.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(gateway.messages.filter((message) => message.to === '+84903111333')).toHaveLength(0);
  });

  it('tells the person when the gateway refuses the message, and leaves no code waiting', async () => {
    const user = await person();
    const { agent, page } = await openConsole(user);
    gateway.refuse = true;
    const failed = await post(agent, page, '/account/phone', { phone: '0913 000 111' });
    expect(failed.response.status).toBe(503);
    expect(html(failed)).toContain('Không gửi được tin nhắn tới số này');
    expect(html(failed)).not.toContain('/account/phone/confirm');
  });

  it('takes a number off without a code', async () => {
    const user = await person();
    await server.database.db.updateTable('users').set({ phone: '+84912000111', phone_verified: true }).where('id', '=', user.id).execute();
    const { agent, page } = await openConsole(user);
    const removed = await post(agent, page, '/account/phone/remove');
    expect(html(removed)).toContain('Đã xóa số điện thoại');
    expect(await findUserById(server.database.db, user.id)).toMatchObject({ phone: null, phone_verified: false });
  });

  it('changes the email address only when the link mailed to the new one is followed, and tells the old one', async () => {
    const user = await person();
    const newAddress = `moi.${user.username}@soyte.tiengiang.gov.vn`;
    const { agent, page } = await openConsole(user);
    const requested = await post(agent, page, '/account/email', { email: newAddress.toUpperCase() });
    expect(html(requested)).toContain(`Đã gửi liên kết xác nhận tới ${newAddress}`);
    expect((await findUserById(server.database.db, user.id))?.email).toBe(user.email);

    const link = await mailedLink(newAddress, '/account/email/confirm');
    const notices = await server.database.db.selectFrom('mail_outbox').select(['template', 'secret_sealed']).where('recipient', '=', user.email!).execute();
    expect(notices).toContainEqual({ template: 'email_change_notice', secret_sealed: null });

    // Opening the link (as a mail scanner would) only asks.
    const opened = await new UserAgent().follow(link, 'http://never/');
    expect(html(opened)).toContain(`Dùng ${newAddress} làm địa chỉ email của tài khoản ${user.username}?`);
    expect((await findUserById(server.database.db, user.id))?.email).toBe(user.email);

    const confirmAgent = new UserAgent();
    const form = await confirmAgent.follow(link, 'http://never/');
    const confirmed = await post(confirmAgent, form, '/account/email/confirm');
    expect(html(confirmed)).toContain(`Từ bây giờ ${newAddress} là địa chỉ email của tài khoản bạn`);
    expect(await findUserById(server.database.db, user.id)).toMatchObject({ email: newAddress, email_verified: true });

    const again = await post(confirmAgent, form, '/account/email/confirm');
    expect(again.response.status).toBe(400);
    expect(html(again)).toContain('Liên kết này không còn hiệu lực');
  });

  it('refuses an address another account already has', async () => {
    const user = await person();
    const other = await person();
    const { agent, page } = await openConsole(user);
    const refused = await post(agent, page, '/account/email', { email: other.email! });
    expect(refused.response.status).toBe(400);
    expect(html(refused)).toContain('đã được dùng cho một tài khoản khác');
  });

  it('refuses to confirm an address someone else was given after the link was sent', async () => {
    const user = await person();
    const address = `tranh.chap.${user.username}@tiengiang.gov.vn`;
    const { agent, page } = await openConsole(user);
    await post(agent, page, '/account/email', { email: address });
    const link = await mailedLink(address, '/account/email/confirm');
    const other = await person();
    await server.database.db.updateTable('users').set({ email: address }).where('id', '=', other.id).execute();
    const confirmAgent = new UserAgent();
    const refused = await post(confirmAgent, await confirmAgent.follow(link, 'http://never/'), '/account/email/confirm');
    expect(refused.response.status).toBe(400);
    expect(html(refused)).toContain('vừa được dùng cho một tài khoản khác');
    expect((await findUserById(server.database.db, user.id))?.email).toBe(user.email);
  });

  it('asks for a fresh sign-in before changing the address a password reset would go to', async () => {
    const user = await person();
    const { agent, page } = await openConsole(user);
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 11 * 60 * 1000 });
    const form = formsOf(html(page), server.issuer).find((candidate) => candidate.action.endsWith('/account/email'))!;
    const response = await agent.request(form.action, { form: { ...form.fields, email: `som.${user.username}@tiengiang.gov.vn` } });
    expect(response.status).toBe(303);
    expect(new URL(response.headers.get('location')!).searchParams.get('prompt')).toBe('login');
    expect(await server.database.db.selectFrom('contact_changes').select('id').where('user_id', '=', user.id).execute()).toHaveLength(0);
  });

  it('refuses a post without the CSRF token', async () => {
    const user = await person();
    const { agent } = await openConsole(user);
    expect((await agent.request(`${server.issuer}/account/phone`, { form: { phone: '0912 345 678' } })).status).toBe(403);
    expect((await agent.request(`${server.issuer}/account/email`, { form: { email: 'ke.gian@example.com' } })).status).toBe(403);
  });
});

/** The link of the newest mail to `address`, read where a developer reads it: the development outbox at /dev/outbox. */
async function mailedLink(address: string, path: string): Promise<string> {
  const pattern = new RegExp(`${server.issuer.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}${path}\\?token=[A-Za-z0-9_%-]+`);
  await expect.poll(async () => {
    const outbox = await (await new UserAgent().request(`${server.issuer}/dev/outbox`)).text();
    return outbox.includes(address) && pattern.test(outbox);
  }, { timeout: 10_000, interval: 200 }).toBe(true);
  const outbox = await (await new UserAgent().request(`${server.issuer}/dev/outbox`)).text();
  // Newest first: the first link on the page is the latest one.
  return pattern.exec(outbox)![0].replaceAll('&amp;', '&');
}

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
