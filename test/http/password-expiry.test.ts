import type * as oidc from 'openid-client';
import * as OTPAuth from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { listAuditEvents } from '../../src/db/queries/audit-events.ts';
import { findFactor } from '../../src/db/queries/second-factors.ts';
import { findUserById } from '../../src/db/queries/users.ts';
import type { User } from '../../src/db/schema.ts';
import { startTotpEnrolment, verifyTotpCode } from '../../src/domain/second-factors.ts';
import { authorizationRequest, discoverRelyingParty } from '../support/relying-party.ts';
import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';
import { formsOf, UserAgent, type FollowResult } from '../support/user-agent.ts';

const redirectUri = 'http://localhost:8091/callback';
const password = 'mật khẩu đã dùng quá lâu';
const newPassword = 'mùa lúa chín trên đồng Tháp Mười';
const day = 24 * 60 * 60 * 1000;

let server: TestServer;
let app: oidc.Configuration;
let sequence = 0;

beforeAll(async () => {
  server = await startTestServer({ PASSWORD_MAX_AGE_DAYS: '90' });
  const client = await registerTestClient(server, { name: 'Ứng dụng', redirectUris: [redirectUri], firstParty: true });
  app = await discoverRelyingParty(server.issuer, client.clientId, client.clientSecret);
});

afterAll(async () => {
  await server.stop();
});

async function person(passwordAgeDays: number): Promise<User> {
  sequence += 1;
  const user = await createUser(server, { username: `doimatkhau${sequence}`, password, fullName: `Mai Thị Đổi ${sequence}` });
  return server.database.db.updateTable('users').set({ password_changed_at: new Date(Date.now() - passwordAgeDays * day) })
    .where('id', '=', user.id).returningAll().executeTakeFirstOrThrow();
}

const html = (step: FollowResult) => (step.kind === 'page' ? step.html : '');

async function submit(agent: UserAgent, step: FollowResult, action: string, fields: Record<string, string>): Promise<FollowResult> {
  const form = formsOf(html(step), server.issuer).find((candidate) => new URL(candidate.action).pathname.endsWith(action));
  expect(form, `a form posting to …${action}`).toBeDefined();
  return agent.follow(form!.action, redirectUri, { form: { ...form!.fields, ...fields } });
}

async function signIn(user: User) {
  const agent = new UserAgent();
  const { url } = await authorizationRequest(app, redirectUri);
  const login = await agent.follow(url.href, redirectUri);
  return { agent, step: await submit(agent, login, '/login', { login: user.username, password }) };
}

describe('the periodic password change (PASSWORD_MAX_AGE_DAYS)', () => {
  it('asks for a new password once the old one is past its age, then signs the person in', async () => {
    const user = await person(100);
    const { agent, step } = await signIn(user);
    expect(html(step)).toContain('Đã đến lúc đổi mật khẩu');
    expect(html(step)).toContain('90 ngày');

    const same = await submit(agent, step, '/change-password', { password, confirm: password });
    expect(same.response.status).toBe(400);
    expect(html(same)).toContain('Mật khẩu mới phải khác mật khẩu hiện tại');
    const weak = await submit(agent, same, '/change-password', { password: 'password', confirm: 'password' });
    expect(weak.response.status).toBe(400);

    const done = await submit(agent, weak, '/change-password', { password: newPassword, confirm: newPassword });
    expect(done.kind).toBe('redirect');
    const stored = await findUserById(server.database.db, user.id);
    expect(Date.now() - stored!.password_changed_at!.getTime()).toBeLessThan(60_000);
    expect((await server.passwords.verify(stored!.password_hash, newPassword)).ok).toBe(true);
    const [event] = await listAuditEvents(server.database.db, { action: 'password.change', targetId: user.id, subtrees: null, limit: 5 });
    expect(event?.details).toEqual({ reason: 'expired' });
  });

  it('lets a recent password through without asking', async () => {
    const user = await person(10);
    expect((await signIn(user)).step.kind).toBe('redirect');
  });

  it('asks for the second factor first, so the password alone cannot replace itself', async () => {
    const user = await person(200);
    const deps = { db: server.database.db, masterKey: server.config.masterKey };
    const enrolment = await startTotpEnrolment(deps, user, '');
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrolment.manualKey.replace(/ /g, '')) });
    await verifyTotpCode(deps, (await findFactor(deps.db, user.id, enrolment.factorId))!, totp.generate({ timestamp: Date.now() - 30_000 }));

    const { agent, step } = await signIn(user);
    expect(html(step)).toContain('name="code"');
    expect(html(step)).not.toContain('/change-password');
    const change = await submit(agent, step, '/second-factor', { code: totp.generate() });
    expect(html(change)).toContain('Đã đến lúc đổi mật khẩu');
    expect((await submit(agent, change, '/change-password', { password: newPassword, confirm: newPassword })).kind).toBe('redirect');
  });
});
