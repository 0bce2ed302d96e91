import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { listAuditEvents } from '../../src/db/queries/audit-events.ts';
import { findUserById, insertUser } from '../../src/db/queries/users.ts';
import { issueActivationToken } from '../../src/domain/account-tokens.ts';
import { linkIn, startMailCatcher, type MailCatcher } from '../support/mail-catcher.ts';
import { authorizationRequest, discoverRelyingParty } from '../support/relying-party.ts';
import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';
import { formsOf, UserAgent } from '../support/user-agent.ts';

const redirectUri = 'http://localhost:8086/callback';
const oldPassword = 'mật khẩu cũ đã quên 2026';
const newPassword = 'con đò nhỏ qua sông Tiền';

let server: TestServer;
let mail: MailCatcher;
let app: oidc.Configuration;
let sequence = 0;

beforeAll(async () => {
  mail = await startMailCatcher();
  server = await startTestServer({ SMTP_URL: mail.url, MAIL_POLL_SECONDS: '0.2' });
  const client = await registerTestClient(server, { name: 'Cổng thông tin', redirectUris: [redirectUri], firstParty: true });
  app = await discoverRelyingParty(server.issuer, client.clientId, client.clientSecret);
});

afterAll(async () => {
  await server.stop();
  await mail.close();
});

async function person(options: { email?: string | null } = {}) {
  sequence += 1;
  const email = options.email === undefined ? `quenmatkhau${sequence}@tiengiang.gov.vn` : options.email;
  return createUser(server, { username: `quenmatkhau${sequence}`, password: oldPassword, fullName: `Phạm Thị Quên ${sequence}`, ...(email ? { email } : {}) });
}

/** Opens a page and submits its first form with these fields. */
async function submitFormOn(agent: UserAgent, url: string, fields: Record<string, string>) {
  const page = await agent.follow(url, redirectUri);
  if (page.kind !== 'page') throw new Error(`expected a page at ${url}`);
  const [form] = formsOf(page.html, page.url);
  return agent.follow(form!.action, redirectUri, { form: { ...form!.fields, ...fields } });
}

async function signIn(login: string, password: string, agent = new UserAgent()) {
  const state = oidc.randomState();
  const { url, verifier } = await authorizationRequest(app, redirectUri, { state, scope: 'openid offline_access', prompt: 'consent' });
  const result = await submitFormOn(agent, url.href, { login, password });
  if (result.kind !== 'redirect') return { signedIn: false as const, status: result.response.status };
  const tokens = await oidc.authorizationCodeGrant(app, new URL(result.url), { pkceCodeVerifier: verifier, expectedState: state });
  return { signedIn: true as const, tokens };
}

const htmlOf = (result: Awaited<ReturnType<UserAgent['follow']>>) => (result.kind === 'page' ? result.html : '');

describe('forgot password', () => {
  it('mails a single-use link that sets a new password and ends every earlier session', async () => {
    const user = await person();
    const before = await signIn(user.username, oldPassword);
    expect(before.signedIn).toBe(true);

    const answer = await submitFormOn(new UserAgent(), `${server.issuer}/account/forgot`, { login: user.username });
    expect(answer.response.status).toBe(200);
    const message = await mail.waitFor(user.email!);
    expect(message.subject).toBe('Đặt lại mật khẩu Mekong ID / Reset your Mekong ID password');
    expect(message.text).toContain('Kính gửi Phạm Thị Quên');
    expect(message.text).toContain('Dear Phạm Thị Quên');
    const link = linkIn(message, `${server.issuer}/account/reset?token=`);

    const agent = new UserAgent();
    const done = await submitFormOn(agent, link.href, { password: newPassword, confirm: newPassword });
    expect(done.response.status).toBe(200);
    expect(htmlOf(done)).toContain('Mật khẩu đã được đổi');

    // And the person is told, in case it was not them.
    expect((await mail.waitFor(user.email!, { after: 1 })).subject).toBe('Mật khẩu Mekong ID của bạn đã được đổi / Your Mekong ID password was changed');
    expect((await signIn(user.username, oldPassword)).signedIn).toBe(false);
    expect((await signIn(user.username, newPassword)).signedIn).toBe(true);
    // The refresh token from before the reset died with its session.
    if (before.signedIn) await expect(oidc.refreshTokenGrant(app, before.tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    const again = await agent.follow(link.href, redirectUri);
    expect(again.response.status).toBe(400);
    expect(htmlOf(again)).toContain('Liên kết không hợp lệ');
    const [event] = await listAuditEvents(server.database.db, { action: 'password.reset', targetId: user.id, subtrees: null, limit: 5 });
    expect(event).toMatchObject({ actor_id: user.id, outcome: 'success' });
  });

  it('keeps the link usable when the new password is refused, and says why in Vietnamese', async () => {
    const user = await person();
    await submitFormOn(new UserAgent(), `${server.issuer}/account/forgot`, { login: user.email! });
    const link = linkIn(await mail.waitFor(user.email!), `${server.issuer}/account/reset?token=`);
    const agent = new UserAgent();
    const weak = await submitFormOn(agent, link.href, { password: 'password123', confirm: 'password123' });
    expect(weak.response.status).toBe(400);
    expect(htmlOf(weak)).toContain('phổ biến nhất');
    const mismatch = await submitFormOn(agent, link.href, { password: newPassword, confirm: `${newPassword}!` });
    expect(htmlOf(mismatch)).toContain('Hai mật khẩu không giống nhau');
    const done = await submitFormOn(agent, link.href, { password: newPassword, confirm: newPassword });
    expect(done.response.status).toBe(200);
  });

  it('answers an unknown name exactly as a known one, and mails nobody', async () => {
    const queued = () => server.database.db.selectFrom('mail_outbox').select((eb) => eb.fn.countAll<string>().as('count')).executeTakeFirstOrThrow();
    const before = Number((await queued()).count);
    const known = await submitFormOn(new UserAgent(), `${server.issuer}/account/forgot`, { login: 'khong.ai.ten.nay' });
    const user = await person({ email: null });
    const withoutAddress = await submitFormOn(new UserAgent(), `${server.issuer}/account/forgot`, { login: user.username });
    const strip = (html: string) => html.replace(/name="_csrf" value="[^"]*"/g, '');
    expect(known.response.status).toBe(200);
    expect(strip(htmlOf(withoutAddress))).toBe(strip(htmlOf(known)));
    // The request is handled after the answer; give it time, then count what was queued.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(Number((await queued()).count)).toBe(before);
  });

  it('sends one link, not one per click, when asked again at once', async () => {
    const user = await person();
    for (let click = 0; click < 3; click += 1) await submitFormOn(new UserAgent(), `${server.issuer}/account/forgot`, { login: user.username });
    await mail.waitFor(user.email!);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(mail.to(user.email!)).toHaveLength(1);
  });

  it('refuses a forged or truncated token without revealing anything', async () => {
    for (const token of ['', 'x', 'A'.repeat(43), '../../etc/passwd']) {
      const page = await new UserAgent().follow(`${server.issuer}/account/reset?token=${encodeURIComponent(token)}`, redirectUri);
      expect(page.response.status).toBe(400);
    }
  });

  it('refuses the form without its CSRF token', async () => {
    const response = await new UserAgent().request(`${server.issuer}/account/forgot`, { form: { login: 'ai.do' } });
    expect(response.status).toBe(403);
  });
});

describe('activation by mail', () => {
  it('activates a new account, verifies its address and lets the person sign in', async () => {
    sequence += 1;
    const pending = await insertUser(server.database.db, {
      username: `kichhoat${sequence}`, full_name: 'Võ Minh Kích', email: `kichhoat${sequence}@tiengiang.gov.vn`, password_hash: null, status: 'pending_activation',
    });
    await issueActivationToken(server.database.db, pending, { masterKey: server.config.masterKey });
    const message = await mail.waitFor(pending.email!);
    expect(message.subject).toBe('Kích hoạt tài khoản Mekong ID / Activate your Mekong ID account');
    expect(message.text).toContain(pending.username);
    const link = linkIn(message, `${server.issuer}/account/activate?token=`);

    const form = await new UserAgent().follow(link.href, redirectUri);
    expect(htmlOf(form)).toContain(pending.username);
    const done = await submitFormOn(new UserAgent(), link.href, { password: newPassword, confirm: newPassword });
    expect(htmlOf(done)).toContain('Tài khoản đã được kích hoạt');
    const activated = await findUserById(server.database.db, pending.id);
    expect(activated).toMatchObject({ status: 'active', email_verified: true });
    expect((await signIn(pending.username, newPassword)).signedIn).toBe(true);
  });

  it('does not accept an activation link as a reset link, or the reverse', async () => {
    sequence += 1;
    const pending = await insertUser(server.database.db, {
      username: `kichhoat${sequence}`, full_name: 'Võ Minh Kích', email: `kichhoat${sequence}@tiengiang.gov.vn`, password_hash: null, status: 'pending_activation',
    });
    const token = await issueActivationToken(server.database.db, pending, { masterKey: server.config.masterKey });
    const page = await new UserAgent().follow(`${server.issuer}/account/reset?token=${token}`, redirectUri);
    expect(page.response.status).toBe(400);
  });
});
