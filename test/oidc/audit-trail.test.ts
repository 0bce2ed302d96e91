import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { listAuditEvents } from '../../src/db/queries/audit-events.ts';
import type { AuditEvent } from '../../src/db/schema.ts';
import { verifyAuditChain } from '../../src/domain/audit.ts';
import { authorizationRequest, discoverRelyingParty } from '../support/relying-party.ts';
import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';
import { formsOf, UserAgent } from '../support/user-agent.ts';

const redirectUri = 'http://localhost:8082/callback';
const postLogoutRedirectUri = 'http://localhost:8082/signed-out';
const password = 'mật khẩu của chị Hoa, đủ dài';

let server: TestServer;
let relyingParty: oidc.Configuration;
let clientId: string;
let clientSecret: string;
let userId: string;

beforeAll(async () => {
  server = await startTestServer();
  userId = (await createUser(server, { username: 'nguyenthihoa', password, fullName: 'Nguyễn Thị Hoa' })).id;
  await createUser(server, { username: 'lethiha', password, fullName: 'Lê Thị Hà', status: 'suspended' });
  const client = await registerTestClient(server, {
    name: 'Cổng dịch vụ công',
    redirectUris: [redirectUri],
    postLogoutRedirectUris: [postLogoutRedirectUri],
    firstParty: true,
  });
  clientId = client.clientId;
  clientSecret = client.clientSecret!;
  relyingParty = await discoverRelyingParty(server.issuer, clientId, clientSecret);
});

afterAll(async () => {
  await server.stop();
});

/** Submits the login form; returns where the browser went. */
async function submitLogin(agent: UserAgent, login: string, secret: string, scope = 'openid') {
  const state = oidc.randomState();
  const { url, verifier } = await authorizationRequest(relyingParty, redirectUri, { scope, state });
  const page = await agent.follow(url.href, redirectUri);
  if (page.kind !== 'page') throw new Error('expected the login page');
  const [form] = formsOf(page.html, page.url);
  const result = await agent.follow(form!.action, redirectUri, { form: { ...form!.fields, login, password: secret } });
  return { result, verifier, state };
}

const eventsFor = (action: string): Promise<AuditEvent[]> =>
  listAuditEvents(server.database.db, { action, subtrees: null, limit: 100 });

describe('the audit trail of authentication', () => {
  it('records a successful login with the person, the app, the address and the request id', async () => {
    const { result } = await submitLogin(new UserAgent(), 'nguyenthihoa', password);
    expect(result.kind).toBe('redirect');
    const [event] = await eventsFor('login.success');
    expect(event).toMatchObject({
      actor_type: 'user', actor_id: userId, actor_name: 'nguyenthihoa', outcome: 'success',
      target_type: 'user', target_id: userId, details: { client_id: clientId, method: 'password' },
    });
    expect(event!.ip).toMatch(/127\.0\.0\.1/);
    expect(event!.request_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(event!.user_agent).toBeTruthy();
  });

  it('records a wrong password against the account, and an unknown login by a hint of what was typed, never the password', async () => {
    await submitLogin(new UserAgent(), 'nguyenthihoa', 'not her password at all');
    await submitLogin(new UserAgent(), 'khongtontai', 'whatever was typed here');
    const failures = await eventsFor('login.failure');
    expect(failures.map((event) => [event.actor_type, event.actor_id ?? event.actor_name, event.details?.['reason']])).toEqual(
      expect.arrayContaining([
        ['user', userId, 'invalid_credentials'],
        ['anonymous', 'kho… (11 characters)', 'invalid_credentials'],
      ]),
    );
    const everything = JSON.stringify(await listAuditEvents(server.database.db, { subtrees: null, limit: 1000 }));
    expect(everything).not.toContain('not her password at all');
    expect(everything).not.toContain('whatever was typed here');
  });

  it('records the refusal of a suspended account as a failure with its status as the reason', async () => {
    await submitLogin(new UserAgent(), 'lethiha', password);
    const failures = await eventsFor('login.failure');
    expect(failures.find((event) => event.actor_name === 'lethiha')).toMatchObject({ outcome: 'failure', details: { reason: 'suspended' } });
  });

  it('records a logout at the end-session endpoint', async () => {
    const agent = new UserAgent();
    const { result, verifier, state } = await submitLogin(agent, 'nguyenthihoa', password);
    const tokens = await oidc.authorizationCodeGrant(relyingParty, new URL(result.url), { pkceCodeVerifier: verifier, expectedState: state });
    const confirmation = await agent.follow(
      oidc.buildEndSessionUrl(relyingParty, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: postLogoutRedirectUri }).href,
      postLogoutRedirectUri,
    );
    if (confirmation.kind !== 'page') throw new Error('expected the logout confirmation page');
    const [form] = formsOf(confirmation.html, confirmation.url);
    await agent.follow(form!.action, postLogoutRedirectUri, { form: { ...form!.fields, logout: 'yes' } });
    await expect.poll(async () => (await eventsFor('logout')).length).toBe(1);
    expect((await eventsFor('logout'))[0]).toMatchObject({ actor_type: 'user', actor_id: userId, details: { client_id: clientId } });
  });

  it('records a token revocation by the app, and the whole chain still verifies', async () => {
    const { result, verifier, state } = await submitLogin(new UserAgent(), 'nguyenthihoa', password, 'openid offline_access');
    const tokens = await oidc.authorizationCodeGrant(relyingParty, new URL(result.url), { pkceCodeVerifier: verifier, expectedState: state });
    await oidc.tokenRevocation(relyingParty, tokens.refresh_token ?? tokens.access_token);
    await expect.poll(async () => (await eventsFor('token.revoke')).length).toBe(1);
    expect((await eventsFor('token.revoke'))[0]).toMatchObject({ actor_type: 'client', actor_id: clientId, target_id: userId });
    expect(await verifyAuditChain(server.database.db)).toMatchObject({ ok: true });
  });
});
