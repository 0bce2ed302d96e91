import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { listBackchannelLogouts } from '../../src/db/queries/backchannel-logouts.ts';
import { maxBackchannelLogoutAttempts } from '../../src/oidc/backchannel.ts';
import { startBackchannelReceiver } from '../support/backchannel-receiver.ts';
import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';
import { formsOf, UserAgent } from '../support/user-agent.ts';
import { authorizationRequest, discoverRelyingParty } from '../support/relying-party.ts';

const redirectUri = 'http://localhost:8081/callback';
const postLogoutRedirectUri = 'http://localhost:8081/signed-out';
const password = 'một mật khẩu rất dài';

let server: TestServer;
let receiver: Awaited<ReturnType<typeof startBackchannelReceiver>>;
let relyingParty: oidc.Configuration;
let userId: string;

beforeAll(async () => {
  server = await startTestServer();
  receiver = await startBackchannelReceiver();
  userId = (await createUser(server, { username: 'tranvanbinh', password, fullName: 'Trần Văn Bình' })).id;
  const client = await registerTestClient(server, {
    name: 'Hệ thống quản lý bệnh viện',
    redirectUris: [redirectUri],
    postLogoutRedirectUris: [postLogoutRedirectUri],
    backchannelLogoutUri: receiver.url,
    firstParty: true,
  });
  relyingParty = await discoverRelyingParty(server.issuer, client.clientId, client.clientSecret);
});

afterAll(async () => {
  await server.stop();
  await receiver.close();
});

async function signIn(agent: UserAgent) {
  const state = oidc.randomState();
  const { url, verifier } = await authorizationRequest(relyingParty, redirectUri, { scope: 'openid profile', state });
  const loginPage = await agent.follow(url.href, redirectUri);
  if (loginPage.kind !== 'page') throw new Error('expected the login page');
  const [form] = formsOf(loginPage.html, loginPage.url);
  // A first-party app skips the consent page: the login post lands straight on the callback.
  const callback = await agent.follow(form!.action, redirectUri, { form: { ...form!.fields, login: 'tranvanbinh', password } });
  expect(callback.kind).toBe('redirect');
  return oidc.authorizationCodeGrant(relyingParty, new URL(callback.url), { pkceCodeVerifier: verifier, expectedState: state });
}

/** A new authorization in the same browser: a redirect back to the app while the session lives, the login page once it ended. */
async function authorizeAgain(agent: UserAgent) {
  const { url } = await authorizationRequest(relyingParty, redirectUri);
  return agent.follow(url.href, redirectUri);
}

describe('RP-initiated logout with back-channel logout', () => {
  it('asks for confirmation, ends the session, returns to the app and tells the app over the back channel', async () => {
    const agent = new UserAgent();
    const tokens = await signIn(agent);
    const sid = tokens.claims()!['sid'];
    expect(sid).toBeTruthy();

    const endSession = oidc.buildEndSessionUrl(relyingParty, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: postLogoutRedirectUri,
      state: 'bye',
    });
    const confirmation = await agent.follow(endSession.href, postLogoutRedirectUri);
    if (confirmation.kind !== 'page') throw new Error('expected the logout confirmation page');
    expect(confirmation.html).toContain('Đăng xuất');
    const [form] = formsOf(confirmation.html, confirmation.url);
    const done = await agent.follow(form!.action, postLogoutRedirectUri, { form: { ...form!.fields, logout: 'yes' } });
    expect(done.kind).toBe('redirect');
    expect(new URL(done.url).searchParams.get('state')).toBe('bye');

    await expect.poll(() => receiver.tokens.length).toBe(1);
    const { payload } = await jwtVerify(receiver.tokens[0]!, createRemoteJWKSet(new URL(`${server.issuer}/jwks`)), {
      issuer: server.issuer,
      audience: relyingParty.clientMetadata().client_id,
      typ: 'logout+jwt',
    });
    expect(payload.sub).toBe(userId);
    expect(payload['sid']).toBe(sid);
    expect(payload['events']).toEqual({ 'http://schemas.openid.net/event/backchannel-logout': {} });
    // Sent through the queue, which keeps the call's record.
    await expect.poll(async () => (await listBackchannelLogouts(server.database.db, { accountId: userId }, maxBackchannelLogoutAttempts)).map((call) => [call.clientId, call.sid, call.status]))
      .toEqual([[relyingParty.clientMetadata().client_id, sid, 'sent']]);

    // The session is gone: the next authorization asks for the password again.
    const again = await authorizeAgain(agent);
    expect(again.kind).toBe('page');
    expect(again.kind === 'page' && again.html).toContain('name="password"');
  });

  it('signs out of the asking app only, keeping the single sign-on session, when the person chooses so', async () => {
    const agent = new UserAgent();
    const tokens = await signIn(agent);
    const before = receiver.tokens.length;
    const confirmation = await agent.follow(
      oidc.buildEndSessionUrl(relyingParty, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: postLogoutRedirectUri }).href,
      postLogoutRedirectUri,
    );
    if (confirmation.kind !== 'page') throw new Error('expected the logout confirmation page');
    const [form] = formsOf(confirmation.html, confirmation.url);
    await agent.follow(form!.action, postLogoutRedirectUri, { form: form!.fields });

    const again = await authorizeAgain(agent);
    expect(again.kind).toBe('redirect');
    // The app that asked is still told, over the back channel, that its session ended.
    await expect.poll(() => receiver.tokens.length).toBe(before + 1);
  });
});
