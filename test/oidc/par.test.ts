import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { authorizationRequest, discoverRelyingParty } from '../support/relying-party.ts';
import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';
import { signInAt, UserAgent } from '../support/user-agent.ts';

const redirectUri = 'http://localhost:8080/callback';
const credentials = { login: 'tranvanbinh', password: 'mật khẩu đủ dài 2026' };

let server: TestServer;
let parRequired: oidc.Configuration;
let ordinary: oidc.Configuration;

beforeAll(async () => {
  server = await startTestServer();
  await createUser(server, { username: credentials.login, password: credentials.password, fullName: 'Trần Văn Bình' });
  const hospital = await registerTestClient(server, { name: 'Hệ thống quản lý bệnh viện', redirectUris: [redirectUri], firstParty: true, requirePar: true });
  parRequired = await discoverRelyingParty(server.issuer, hospital.clientId, hospital.clientSecret);
  const portal = await registerTestClient(server, { name: 'Cổng dịch vụ công', redirectUris: [redirectUri], firstParty: true });
  ordinary = await discoverRelyingParty(server.issuer, portal.clientId, portal.clientSecret);
});

afterAll(async () => {
  await server.stop();
});

async function pushedRequest(relyingParty: oidc.Configuration) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = await oidc.buildAuthorizationUrlWithPAR(relyingParty, {
    redirect_uri: redirectUri,
    scope: 'openid profile',
    state,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  return { url, verifier, state };
}

describe('pushed authorization requests (RFC 9126)', () => {
  it('refuses a client that requires PAR a plain authorization request, and issues no code', async () => {
    const { url } = await authorizationRequest(parRequired, redirectUri, { state: oidc.randomState() });
    const response = await new UserAgent().request(url.href);
    const refusal = new URL(response.headers.get('location') ?? '', server.issuer);
    expect(refusal.href.startsWith(redirectUri)).toBe(true);
    expect(refusal.searchParams.get('error')).toBe('invalid_request');
    expect(refusal.searchParams.get('error_description')).toBe('Pushed Authorization Request must be used');
    expect(refusal.searchParams.has('code')).toBe(false);
  });

  it('signs the person in through a pushed request, and the callback names the issuer (RFC 9207)', async () => {
    const { url, verifier, state } = await pushedRequest(parRequired);
    expect([...url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
    const step = await signInAt(new UserAgent(), url.href, redirectUri, credentials);
    expect(step.kind).toBe('redirect');
    const callback = new URL(step.url);
    expect(callback.searchParams.get('iss')).toBe(server.issuer);
    const tokens = await oidc.authorizationCodeGrant(parRequired, callback, { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.claims()?.iss).toBe(server.issuer);
  });

  it('spends a pushed request once: its request_uri cannot start a second sign-in', async () => {
    const { url } = await pushedRequest(parRequired);
    const agent = new UserAgent();
    expect((await signInAt(agent, url.href, redirectUri, credentials)).kind).toBe('redirect');
    const again = await agent.follow(url.href, redirectUri);
    expect(again.kind).toBe('page');
    expect(again.kind === 'page' && again.response.status).toBe(400);
    expect(again.kind === 'page' && again.html).toContain('invalid_request_uri');
  });

  it('is open to a client that does not require it, which may still send plain requests', async () => {
    const { url, verifier, state } = await pushedRequest(ordinary);
    const step = await signInAt(new UserAgent(), url.href, redirectUri, credentials);
    expect(step.kind).toBe('redirect');
    await expect(oidc.authorizationCodeGrant(ordinary, new URL(step.url), { pkceCodeVerifier: verifier, expectedState: state })).resolves.toHaveProperty('access_token');

    const plain = await authorizationRequest(ordinary, redirectUri, { state: oidc.randomState() });
    expect((await signInAt(new UserAgent(), plain.url.href, redirectUri, credentials)).kind).toBe('redirect');
  });

  it('refuses to push a request for a client that does not authenticate', async () => {
    const response = await fetch(`${server.issuer}/request`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: parRequired.clientMetadata().client_id, redirect_uri: redirectUri, response_type: 'code', scope: 'openid' }),
    });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: string }).error).toBe('invalid_client');
  });
});
