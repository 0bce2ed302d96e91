import type * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { sql } from 'kysely';

import { authorizationRequest, discoverRelyingParty } from '../support/relying-party.ts';
import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';
import { formsOf, UserAgent } from '../support/user-agent.ts';

const redirectUri = 'http://localhost:8088/callback';
const password = 'phiên đăng nhập có hạn 2026';

let server: TestServer;
let app: oidc.Configuration;

beforeAll(async () => {
  server = await startTestServer({ SESSION_IDLE_SECONDS: '120', SESSION_MAX_SECONDS: '300' });
  await createUser(server, { username: 'phienlamviec', password });
  const client = await registerTestClient(server, { name: 'Một ứng dụng', redirectUris: [redirectUri], firstParty: true });
  app = await discoverRelyingParty(server.issuer, client.clientId, client.clientSecret);
});

afterAll(async () => {
  await server.stop();
});

/** Signs in (ticking "remember me" or not); answers the agent and the Set-Cookie of the provider's session. */
async function signIn(remember: boolean, agent = new UserAgent()) {
  const { url } = await authorizationRequest(app, redirectUri);
  const page = await agent.follow(url.href, redirectUri);
  if (page.kind !== 'page') throw new Error('expected the login page');
  expect(page.html).toContain('name="remember"');
  const [form] = formsOf(page.html, page.url);
  const posted = await agent.request(form!.action, { form: { ...form!.fields, login: 'phienlamviec', password, ...(remember ? { remember: 'on' } : {}) } });
  expect(posted.status).toBe(303);
  // The provider opens the session where the authorization resumes, on its way back to the app.
  const resumed = await agent.request(new URL(posted.headers.get('location')!, server.issuer).href);
  const sessionCookie = resumed.headers.getSetCookie().find((cookie) => cookie.startsWith('_session='));
  // A first-party app's consent came with the login: the browser goes back to the app from here.
  expect(resumed.headers.get('location')?.startsWith(`${redirectUri}?`)).toBe(true);
  return { agent, sessionCookie: sessionCookie ?? '' };
}

/** Whether a new authorization request goes straight back to the app (single sign-on) or asks for the password. */
async function ssoStillWorks(agent: UserAgent): Promise<boolean> {
  const { url } = await authorizationRequest(app, redirectUri);
  const step = await agent.follow(url.href, redirectUri);
  if (step.kind === 'redirect') return true;
  expect(step.html).toContain('name="password"');
  return false;
}

const storedSession = async () =>
  server.database.db.selectFrom('oidc_payloads').select(['id', 'expires_at', 'payload']).where('model', '=', 'Session')
    .orderBy('expires_at', 'desc').executeTakeFirstOrThrow();

describe('session lifetime', () => {
  it('keeps the session cookie only until the browser closes unless "remember me" is ticked', async () => {
    const forgetful = await signIn(false);
    expect(forgetful.sessionCookie).not.toMatch(/expires=/i);
    const remembered = await signIn(true);
    const expires = /expires=([^;]+)/i.exec(remembered.sessionCookie)?.[1];
    expect(expires).toBeDefined();
    const seconds = (new Date(expires!).getTime() - Date.now()) / 1000;
    expect(seconds).toBeGreaterThan(60);
    expect(seconds).toBeLessThanOrEqual(121);
  });

  it('stores a session only as long as its idle timeout, and ends it when it goes idle', async () => {
    const { agent } = await signIn(true);
    const session = await storedSession();
    const lifetime = (session.expires_at!.getTime() - Date.now()) / 1000;
    expect(lifetime).toBeGreaterThan(60);
    expect(lifetime).toBeLessThanOrEqual(121);
    expect(await ssoStillWorks(agent)).toBe(true);

    await server.database.db.updateTable('oidc_payloads').set({ expires_at: new Date(Date.now() - 1000) }).where('model', '=', 'Session').where('id', '=', session.id).execute();
    expect(await ssoStillWorks(agent)).toBe(false);
  });

  it('asks for the password again once the session is older than its maximum, however busy it was', async () => {
    const { agent } = await signIn(true);
    const session = await storedSession();
    // The person signed in six minutes ago and kept using it: never idle, but past SESSION_MAX_SECONDS.
    await server.database.db.updateTable('oidc_payloads')
      .set({ payload: sql`jsonb_set(payload, '{loginTs}', to_jsonb(${Math.floor(Date.now() / 1000) - 360}::int))` })
      .where('model', '=', 'Session').where('id', '=', session.id).execute();
    expect(await ssoStillWorks(agent)).toBe(false);
  });
});
