import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { formsOf, UserAgent } from '../support/user-agent.ts';
import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';
import { authorizationRequest, discoverRelyingParty } from '../support/relying-party.ts';

const redirectUri = 'http://localhost:8080/callback';
const password = 'mật khẩu đủ dài 2026';

let server: TestServer;
let relyingParty: oidc.Configuration;
let userId: string;

beforeAll(async () => {
  server = await startTestServer();
  const user = await createUser(server, { username: 'nguyenthianh', password, fullName: 'Nguyễn Thị Ánh', email: 'anh@tiengiang.gov.vn' });
  userId = user.id;
  const client = await registerTestClient(server, { name: 'Cổng thông tin điện tử', redirectUris: [redirectUri] });
  relyingParty = await discoverRelyingParty(server.issuer, client.clientId, client.clientSecret);
});

afterAll(async () => {
  await server.stop();
});

/**
 * Drives authorize (with PKCE and a state) -> login form -> consent -> callback as a person would,
 * and returns the callback URL with what the app kept for the token request.
 */
async function signIn(agent: UserAgent, params: Record<string, string>, credentials = { login: 'nguyenthianh', password }) {
  const state = oidc.randomState();
  const { url, verifier } = await authorizationRequest(relyingParty, redirectUri, { state, ...params });
  let step = await agent.follow(url.href, redirectUri);
  for (let pages = 0; step.kind === 'page' && pages < 3; pages += 1) {
    const [form] = formsOf(step.html, step.url);
    expect(form, `a form on ${step.url}`).toBeDefined();
    const fields = form!.action.endsWith('/login') ? { ...form!.fields, ...credentials } : form!.fields;
    step = await agent.follow(form!.action, redirectUri, { form: fields });
  }
  expect(step.kind).toBe('redirect');
  return { callback: new URL(step.url), verifier, state };
}

async function signInWithPkce(agent = new UserAgent(), scope = 'openid profile email offline_access') {
  const { callback, verifier, state } = await signIn(agent, { scope, prompt: 'consent' });
  const tokens = await oidc.authorizationCodeGrant(relyingParty, callback, { pkceCodeVerifier: verifier, expectedState: state });
  return { tokens, callback, verifier, state, agent };
}

describe('authorization code flow with PKCE, driven by openid-client', () => {
  it('issues an RS256 ID token that verifies against the published JWKS and names the user by id', async () => {
    const { tokens } = await signInWithPkce();
    const jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
    const { payload, protectedHeader } = await jwtVerify(tokens.id_token!, jwks, {
      issuer: server.issuer,
      audience: relyingParty.clientMetadata().client_id,
    });
    expect(protectedHeader.alg).toBe('RS256');
    expect(payload.sub).toBe(userId);
    expect(payload['amr']).toEqual(['pwd']);
    // With an access token issued, profile claims come from userinfo, not the ID token (OIDC Core 5.4).
    expect(payload).not.toHaveProperty('name');
  });

  it('answers userinfo with the standard claims the scopes allow', async () => {
    const { tokens } = await signInWithPkce();
    const claims = await oidc.fetchUserInfo(relyingParty, tokens.access_token, userId);
    expect(claims).toMatchObject({
      sub: userId,
      name: 'Nguyễn Thị Ánh',
      preferred_username: 'nguyenthianh',
      email: 'anh@tiengiang.gov.vn',
      email_verified: false,
    });
    expect(claims).not.toHaveProperty('phone_number');
  });

  it('rotates the refresh token, and a reused one is refused and ends the whole grant', async () => {
    const { tokens } = await signInWithPkce();
    const first = tokens.refresh_token!;
    const refreshed = await oidc.refreshTokenGrant(relyingParty, first);
    expect(refreshed.refresh_token).toBeDefined();
    expect(refreshed.refresh_token).not.toBe(first);
    expect((await oidc.fetchUserInfo(relyingParty, refreshed.access_token, userId)).sub).toBe(userId);

    await expect(oidc.refreshTokenGrant(relyingParty, first)).rejects.toMatchObject({ error: 'invalid_grant' });
    // Reuse means the token leaked: the rotated-in token dies with the grant.
    await expect(oidc.refreshTokenGrant(relyingParty, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('introspects an active token and, once revoked, reports it inactive and refuses it at userinfo', async () => {
    const { tokens } = await signInWithPkce();
    const active = await oidc.tokenIntrospection(relyingParty, tokens.access_token);
    expect(active).toMatchObject({ active: true, sub: userId, client_id: relyingParty.clientMetadata().client_id });

    await oidc.tokenRevocation(relyingParty, tokens.access_token);
    expect((await oidc.tokenIntrospection(relyingParty, tokens.access_token)).active).toBe(false);
    await expect(oidc.fetchUserInfo(relyingParty, tokens.access_token, userId)).rejects.toMatchObject({ status: 401 });
  });

  it('refuses a replayed authorization code', async () => {
    const { callback, verifier, state } = await signInWithPkce();
    await expect(
      oidc.authorizationCodeGrant(relyingParty, callback, { pkceCodeVerifier: verifier, expectedState: state }),
    ).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('redeems a code exactly once when the same code is sent many times at once', async () => {
    const { callback, verifier, state } = await signIn(new UserAgent(), { scope: 'openid offline_access', prompt: 'consent' });
    const attempts = await Promise.allSettled(
      Array.from({ length: 8 }, () => oidc.authorizationCodeGrant(relyingParty, callback, { pkceCodeVerifier: verifier, expectedState: state })),
    );
    const granted = attempts.filter((attempt) => attempt.status === 'fulfilled');
    expect(granted).toHaveLength(1);
    for (const attempt of attempts) {
      if (attempt.status === 'rejected') expect(attempt.reason).toMatchObject({ error: 'invalid_grant' });
    }
    // A replay revokes the grant: whatever the one winner got is dead too.
    for (const attempt of granted) {
      expect((await oidc.tokenIntrospection(relyingParty, attempt.value.access_token)).active).toBe(false);
    }
  });

  it('rotates a refresh token exactly once when it is sent many times at once, and then ends the grant', async () => {
    const { tokens } = await signInWithPkce();
    const attempts = await Promise.allSettled(Array.from({ length: 6 }, () => oidc.refreshTokenGrant(relyingParty, tokens.refresh_token!)));
    const rotated = attempts.filter((attempt) => attempt.status === 'fulfilled');
    expect(rotated).toHaveLength(1);
    for (const attempt of rotated) {
      await expect(oidc.refreshTokenGrant(relyingParty, attempt.value.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    }
  });

  it('refuses a code redeemed with the wrong PKCE verifier', async () => {
    const { callback, state } = await signIn(new UserAgent(), { scope: 'openid' });
    await expect(
      oidc.authorizationCodeGrant(relyingParty, callback, { pkceCodeVerifier: oidc.randomPKCECodeVerifier(), expectedState: state }),
    ).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('signs in again without a password while the session lives (single sign-on)', async () => {
    const { agent } = await signInWithPkce();
    const { url } = await authorizationRequest(relyingParty, redirectUri);
    const step = await agent.follow(url.href, redirectUri);
    expect(step.kind).toBe('redirect');
    expect(new URL(step.url).searchParams.get('code')).toBeTruthy();
  });
});

describe('client credentials for the admin API', () => {
  it('issues an ES256 JWT access token whose audience is the API', async () => {
    const service = await registerTestClient(server, { name: 'Đồng bộ nhân sự', kind: 'service' });
    const serviceConfig = await discoverRelyingParty(server.issuer, service.clientId, service.clientSecret);
    const api = `${server.issuer}/api/v1`;
    const tokens = await oidc.clientCredentialsGrant(serviceConfig, { resource: api, scope: 'api' });
    expect(decodeProtectedHeader(tokens.access_token).alg).toBe('ES256');
    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(`${server.issuer}/jwks`)), {
      issuer: server.issuer,
      audience: api,
    });
    expect(payload['client_id']).toBe(service.clientId);
    expect(payload['scope']).toBe('api');
  });

  it('refuses a wrong client secret', async () => {
    const service = await registerTestClient(server, { name: 'Kẻ mạo danh', kind: 'service' });
    const impostor = await discoverRelyingParty(server.issuer, service.clientId, 'not-the-secret');
    await expect(oidc.clientCredentialsGrant(impostor, { resource: `${server.issuer}/api/v1` })).rejects.toMatchObject({
      error: 'invalid_client',
    });
  });
});
