import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { expireDeviceCode } from '../support/device-codes.ts';
import { discoverRelyingParty } from '../support/relying-party.ts';
import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';
import { continueSignIn, formsOf, UserAgent, type FollowResult } from '../support/user-agent.ts';

const person = { login: 'truongthihoa', password: 'mật khẩu đủ dài 2026' };
/** The flow never sends the browser back to the device: nothing to stop at. */
const nowhere = 'urn:mekong-id:test:nowhere';

let server: TestServer;
let personId: string;
let kiosk: oidc.Configuration;

beforeAll(async () => {
  server = await startTestServer();
  personId = (await createUser(server, { username: person.login, password: person.password, fullName: 'Trương Thị Hoa' })).id;
  const registered = await registerTestClient(server, { name: 'Màn hình khoa Khám bệnh', kind: 'device' });
  expect(registered.clientSecret).toBeNull();
  kiosk = await discoverRelyingParty(server.issuer, registered.clientId);
});

afterAll(async () => {
  await server.stop();
});

/** The shared screen asks for a code; polling starts at once (the server's interval is for real devices). */
async function startOnScreen() {
  const authorization = await oidc.initiateDeviceAuthorization(kiosk, { scope: 'openid profile' });
  return { authorization, poll: () => oidc.pollDeviceAuthorizationGrant(kiosk, { ...authorization, interval: 1 }) };
}

function pageOf(step: FollowResult): string {
  expect(step.kind, step.url).toBe('page');
  return step.kind === 'page' ? step.html : '';
}

/** A person at /device on their phone types the code (as they read it: lower case, no dash). */
async function typeCode(agent: UserAgent, userCode: string, headers: Record<string, string> = {}): Promise<FollowResult> {
  const page = await agent.follow(`${server.issuer}/device`, nowhere, { headers });
  const [form] = formsOf(pageOf(page), page.url);
  return agent.follow(form!.action, nowhere, { form: { ...form!.fields, user_code: userCode.replace('-', '').toLowerCase() }, headers });
}

describe('the device authorization grant (RFC 8628)', () => {
  it('gives the screen a code of eight consonants that are easy to read aloud, and a page to type it on', async () => {
    const { authorization } = await startOnScreen();
    expect(authorization.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    expect(authorization.verification_uri).toBe(`${server.issuer}/device`);
    expect(authorization.expires_in).toBe(600);
  });

  it('signs the screen in once the person types the code, confirms, and signs in on their phone', async () => {
    const { authorization, poll } = await startOnScreen();
    const agent = new UserAgent();
    const confirm = await typeCode(agent, authorization.user_code);
    const confirmation = pageOf(confirm);
    expect(confirmation).toContain('Xác nhận thiết bị');
    expect(confirmation).toContain('Màn hình khoa Khám bệnh');
    expect(confirmation).toContain(authorization.user_code);

    const [yes] = formsOf(confirmation, confirm.url);
    const done = await continueSignIn(agent, await agent.follow(yes!.action, nowhere, { form: yes!.fields }), nowhere, person);
    expect(pageOf(done)).toContain('Đã đăng nhập thiết bị');

    const tokens = await poll();
    expect(tokens.claims()?.sub).toBe(personId);
    await expect(oidc.fetchUserInfo(kiosk, tokens.access_token, personId)).resolves.toMatchObject({ name: 'Trương Thị Hoa' });
  });

  it('speaks English to a person who asks for it', async () => {
    const { authorization } = await startOnScreen();
    const confirm = await typeCode(new UserAgent(), authorization.user_code, { 'accept-language': 'en' });
    expect(pageOf(confirm)).toContain('Confirm the device');
  });

  it('says so when the code is wrong, and signs nothing in', async () => {
    const wrong = await typeCode(new UserAgent(), 'BBBB-BBBB');
    expect(pageOf(wrong)).toContain('Mã không đúng hoặc đã hết hạn');
  });

  it('refuses an expired code: the person is told, and the screen gets expired_token', async () => {
    const { authorization, poll } = await startOnScreen();
    await expireDeviceCode(server, authorization.user_code);
    const expired = await typeCode(new UserAgent(), authorization.user_code);
    expect(pageOf(expired)).toContain('Mã đã hết hạn');
    await expect(poll()).rejects.toMatchObject({ error: 'expired_token' });
  });

  it('tells the screen access_denied when the person cancels on the confirmation page', async () => {
    const { authorization, poll } = await startOnScreen();
    const agent = new UserAgent();
    const confirm = await typeCode(agent, authorization.user_code);
    const [, cancel] = formsOf(pageOf(confirm), confirm.url);
    expect(pageOf(await agent.follow(cancel!.action, nowhere, { form: cancel!.fields }))).toContain('Đã hủy đăng nhập trên thiết bị');
    await expect(poll()).rejects.toMatchObject({ error: 'access_denied' });
  });

  it('refuses a code typed a second time once it has signed a screen in', async () => {
    const { authorization, poll } = await startOnScreen();
    const agent = new UserAgent();
    const confirm = await typeCode(agent, authorization.user_code);
    const [yes] = formsOf(pageOf(confirm), confirm.url);
    await continueSignIn(agent, await agent.follow(yes!.action, nowhere, { form: yes!.fields }), nowhere, person);
    await poll();
    expect(pageOf(await typeCode(new UserAgent(), authorization.user_code))).toContain('Mã này đã được dùng');
  });

  it('tells the screen access_denied when the person cancels at the sign-in page', async () => {
    const { authorization, poll } = await startOnScreen();
    const agent = new UserAgent();
    const confirm = await typeCode(agent, authorization.user_code);
    const [yes] = formsOf(pageOf(confirm), confirm.url);
    const signIn = await agent.follow(yes!.action, nowhere, { form: yes!.fields });
    const cancel = formsOf(pageOf(signIn), signIn.url).find((form) => form.action.endsWith('/abort'))!;
    expect(pageOf(await agent.follow(cancel.action, nowhere, { form: cancel.fields }))).toContain('Đã hủy đăng nhập trên thiết bị');
    await expect(poll()).rejects.toMatchObject({ error: 'access_denied' });
  });

  it('sends a stale resume link or a code posted without a session back to the code page, not to a server error', async () => {
    for (const [method, path] of [['GET', '/device/auth'], ['GET', '/device/a-stale-uid'], ['POST', '/device']] as const) {
      const response = await new UserAgent().request(`${server.issuer}${path}`, { method, ...(method === 'POST' ? { form: { xsrf: 'x', user_code: 'BCDF-GHJK' } } : {}) });
      expect(response.status, path).toBe(303);
      expect(response.headers.get('location'), path).toBe(`${server.issuer}/device`);
    }
  });
});

