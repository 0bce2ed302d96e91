import { randomUUID } from 'node:crypto';

import { SignJWT } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { authorizationRequest, clientKeys, discoverKeyedRelyingParty } from '../support/relying-party.ts';
import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';
import { signInAt, UserAgent } from '../support/user-agent.ts';

const redirectUri = 'https://benhvien.tiengiang.gov.vn/callback';
const person = { login: 'bacsinguyen', password: 'mật khẩu đủ dài 2026' };

let server: TestServer;
let clientId: string;
let keys: Awaited<ReturnType<typeof clientKeys>>;
let hospital: oidc.Configuration;
let dpopKey: oidc.CryptoKeyPair;

beforeAll(async () => {
  server = await startTestServer();
  await createUser(server, { username: person.login, password: person.password, fullName: 'Nguyễn Văn Hùng' });
  keys = await clientKeys('ES256');
  const registered = await registerTestClient(server, {
    name: 'Hệ thống quản lý bệnh viện', redirectUris: [redirectUri], firstParty: true, authMethod: 'private_key_jwt', jwks: keys.jwks, highSecurity: true,
  });
  clientId = registered.clientId;
  hospital = await discoverKeyedRelyingParty(server.issuer, clientId, keys.privateKey);
  dpopKey = await oidc.randomDPoPKeyPair('ES256');
});

afterAll(async () => {
  await server.stop();
});

/** The whole high-security flow as the hospital system runs it: PAR, PKCE, DPoP, private_key_jwt. */
async function signIn(options: { pkce?: boolean; dpopAtPar?: boolean } = {}) {
  const DPoP = oidc.getDPoPHandle(hospital, dpopKey);
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = await oidc.buildAuthorizationUrlWithPAR(hospital, {
    redirect_uri: redirectUri, scope: 'openid offline_access', prompt: 'consent', state,
    ...(options.pkce === false ? {} : { code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }),
  }, options.dpopAtPar === false ? {} : { DPoP });
  const step = await signInAt(new UserAgent(), url.href, redirectUri, person);
  if (step.kind !== 'redirect') throw new Error(`the sign-in stopped on ${step.url}: ${step.html.replace(/\s+/g, ' ').slice(0, 1500)}`);
  return { callback: new URL(step.url), verifier, state, DPoP };
}

function tokenRequest(body: Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(`${server.issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(body) });
}

function clientAssertion(claims: { aud?: string } = {}) {
  return new SignJWT({ jti: randomUUID() }).setProtectedHeader({ alg: 'ES256' }).setIssuer(clientId).setSubject(clientId)
    .setAudience(claims.aud ?? server.issuer).setIssuedAt().setExpirationTime('1m').sign(keys.privateKey);
}

describe('the high-security profile (FAPI 2.0 without mutual TLS)', () => {
  it('completes PAR, PKCE, private_key_jwt and DPoP, with iss in the response and short-lived, key-bound tokens', async () => {
    const { callback, verifier, state, DPoP } = await signIn();
    expect(callback.searchParams.get('iss')).toBe(server.issuer);
    const tokens = await oidc.authorizationCodeGrant(hospital, callback, { pkceCodeVerifier: verifier, expectedState: state }, undefined, { DPoP });
    expect(tokens.token_type).toBe('dpop');
    expect(tokens.expires_in).toBeLessThanOrEqual(5 * 60);
    await expect(oidc.fetchUserInfo(hospital, tokens.access_token, tokens.claims()!.sub, { DPoP })).resolves.toHaveProperty('sub');
    const bearer = await fetch(`${server.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(bearer.status).toBe(401);
  });

  it('refuses a plain authorization request: PAR is the only way in', async () => {
    const { url } = await authorizationRequest(hospital, redirectUri, { state: oidc.randomState() });
    const response = await new UserAgent().request(url.href);
    const callback = new URL(response.headers.get('location')!);
    expect(callback.searchParams.get('error')).toBe('invalid_request');
    expect(callback.searchParams.get('error_description')).toBe('Pushed Authorization Request must be used');
    expect(callback.searchParams.has('code')).toBe(false);
  });

  it('refuses a pushed request without PKCE', async () => {
    await expect(signIn({ pkce: false })).rejects.toMatchObject({ error: 'invalid_request', error_description: 'Authorization Server policy requires PKCE to be used for this request' });
  });

  it('refuses to redeem the code for a bearer token: without a DPoP proof there is no token', async () => {
    // The code is not bound to a key at PAR here, so what refuses the first redemption is the profile.
    const { callback, verifier, state, DPoP } = await signIn({ dpopAtPar: false });
    await expect(oidc.authorizationCodeGrant(hospital, callback, { pkceCodeVerifier: verifier, expectedState: state }))
      .rejects.toMatchObject({ error: 'invalid_grant' });
    // The same code with a proof: it was refused before it was spent, for want of the proof alone.
    const tokens = await oidc.authorizationCodeGrant(hospital, callback, { pkceCodeVerifier: verifier, expectedState: state }, undefined, { DPoP });
    expect(tokens.token_type).toBe('dpop');
  });

  it('rotates the refresh token, which needs a DPoP proof, and refuses the old one', async () => {
    const { callback, verifier, state, DPoP } = await signIn();
    const tokens = await oidc.authorizationCodeGrant(hospital, callback, { pkceCodeVerifier: verifier, expectedState: state }, undefined, { DPoP });
    await expect(oidc.refreshTokenGrant(hospital, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const refreshed = await oidc.refreshTokenGrant(hospital, tokens.refresh_token!, undefined, { DPoP });
    expect(refreshed.token_type).toBe('dpop');
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    await expect(oidc.refreshTokenGrant(hospital, tokens.refresh_token!, undefined, { DPoP })).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('binds the refresh token to the DPoP key too: a refresh with a proof of another key is refused', async () => {
    const { callback, verifier, state, DPoP } = await signIn();
    const tokens = await oidc.authorizationCodeGrant(hospital, callback, { pkceCodeVerifier: verifier, expectedState: state }, undefined, { DPoP });
    const otherKey = oidc.getDPoPHandle(hospital, await oidc.randomDPoPKeyPair('ES256'));
    await expect(oidc.refreshTokenGrant(hospital, tokens.refresh_token!, undefined, { DPoP: otherKey })).rejects.toMatchObject({ error: 'invalid_grant' });
    // Refused before it was spent: the right key still refreshes, and the rotated token stays bound.
    const refreshed = await oidc.refreshTokenGrant(hospital, tokens.refresh_token!, undefined, { DPoP });
    await expect(oidc.refreshTokenGrant(hospital, refreshed.refresh_token!, undefined, { DPoP: otherKey })).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(oidc.refreshTokenGrant(hospital, refreshed.refresh_token!, undefined, { DPoP })).resolves.toHaveProperty('access_token');
  });

  it('refuses a client assertion whose audience is not the issuer alone', async () => {
    const response = await tokenRequest({
      grant_type: 'refresh_token', refresh_token: 'irrelevant', client_id: clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await clientAssertion({ aud: `${server.issuer}/token` }),
    });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('refuses an RS256 client assertion (FAPI 2.0 allows PS256, ES256 and EdDSA)', async () => {
    const rsa = await clientKeys('RS256');
    const registered = await registerTestClient(server, {
      name: 'Hệ thống xét nghiệm', redirectUris: [redirectUri], authMethod: 'private_key_jwt', jwks: rsa.jwks, highSecurity: true,
    });
    const assertion = await new SignJWT({ jti: randomUUID() }).setProtectedHeader({ alg: 'RS256' }).setIssuer(registered.clientId).setSubject(registered.clientId)
      .setAudience(server.issuer).setIssuedAt().setExpirationTime('1m').sign(rsa.privateKey);
    const response = await tokenRequest({
      grant_type: 'refresh_token', refresh_token: 'irrelevant', client_id: registered.clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion,
    });
    expect(response.status).toBe(401);
  });

  it('cannot be given to a client that authenticates with a secret, or to a public client', async () => {
    await expect(registerTestClient(server, { name: 'Bí mật', redirectUris: [redirectUri], highSecurity: true })).rejects.toThrow(/private_key_jwt/);
    await expect(registerTestClient(server, { name: 'Di động', kind: 'native', redirectUris: ['http://127.0.0.1/cb'], highSecurity: true })).rejects.toThrow(/private_key_jwt/);
  });

  it('holds whatever the stored metadata says: PAR and DPoP stay required, other grants make the client invalid', async () => {
    const stored = await server.database.db.selectFrom('clients').select('metadata').where('client_id', '=', clientId).executeTakeFirstOrThrow();
    const loosened = { ...stored.metadata, require_pushed_authorization_requests: false, dpop_bound_access_tokens: false };
    await server.database.db.updateTable('clients').set({ metadata: loosened }).where('client_id', '=', clientId).execute();
    const client = await server.oidc.current().Client.find(clientId);
    expect(client?.metadata()).toMatchObject({ require_pushed_authorization_requests: true, dpop_bound_access_tokens: true });

    const widened = { ...stored.metadata, grant_types: ['authorization_code', 'client_credentials'] };
    await server.database.db.updateTable('clients').set({ metadata: widened }).where('client_id', '=', clientId).execute();
    const refusal: unknown = await server.oidc.current().Client.find(clientId).catch((error: unknown) => error);
    expect(refusal).toMatchObject({ error: 'invalid_client_metadata' });
    expect((refusal as { error_description: string }).error_description).toContain('code flow only');
    await server.database.db.updateTable('clients').set({ metadata: stored.metadata }).where('client_id', '=', clientId).execute();
  });
});
