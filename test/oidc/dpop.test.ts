import { calculateJwkThumbprint, decodeJwt, exportJWK } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { adminConsole, adminConsoleRedirectUri, apiResource, grantDirectly, signInThroughPages } from '../support/admin-api.ts';
import { handMadeProof, recordDpopProofs } from '../support/dpop.ts';
import { discoverRelyingParty } from '../support/relying-party.ts';
import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';

const redirectUri = 'http://localhost:8080/callback';
const person = { login: 'lethimai', password: 'mật khẩu đủ dài 2026' };
const administrator = { login: 'vothanhtam', password: 'quản trị tỉnh Tiền Giang 2026' };

let server: TestServer;
let portal: oidc.Configuration;
let personId: string;
let key: oidc.CryptoKeyPair;
let otherKey: oidc.CryptoKeyPair;

beforeAll(async () => {
  server = await startTestServer();
  personId = (await createUser(server, { username: person.login, password: person.password, fullName: 'Lê Thị Mai' })).id;
  const admin = await createUser(server, { username: administrator.login, password: administrator.password, fullName: 'Võ Thành Tâm' });
  await grantDirectly(server, { userId: admin.id }, 'super_admin', null);
  const registered = await registerTestClient(server, { name: 'Cổng dịch vụ công', redirectUris: [redirectUri], firstParty: true });
  portal = await discoverRelyingParty(server.issuer, registered.clientId, registered.clientSecret);
  key = await oidc.randomDPoPKeyPair('ES256');
  otherKey = await oidc.randomDPoPKeyPair('ES256');
});

afterAll(async () => {
  await server.stop();
});

/** A sign-in whose code is redeemed with a DPoP proof of `keyPair`: the tokens are bound to that key. */
async function boundTokens(relyingParty: oidc.Configuration, callbackUri: string, credentials: typeof person, params: Record<string, string> = {}) {
  const signIn = await signInThroughPages(relyingParty, callbackUri, credentials, params);
  return oidc.authorizationCodeGrant(
    relyingParty, signIn.callback, { pkceCodeVerifier: signIn.verifier, expectedState: signIn.state }, params['resource'] ? { resource: params['resource'] } : undefined,
    { DPoP: oidc.getDPoPHandle(relyingParty, key) },
  );
}

const userinfo = () => `${server.issuer}/me`;

describe('DPoP-bound tokens at userinfo (RFC 9449)', () => {
  it('binds the access token to the key of the proof sent with the code, and userinfo answers with a proof of that key', async () => {
    const tokens = await boundTokens(portal, redirectUri, person, { scope: 'openid profile' });
    expect(tokens.token_type).toBe('dpop');
    const claims = await oidc.fetchUserInfo(portal, tokens.access_token, personId, { DPoP: oidc.getDPoPHandle(portal, key) });
    expect(claims).toMatchObject({ sub: personId, name: 'Lê Thị Mai' });
  });

  it('refuses the bound token without a proof, whether sent as DPoP or as a bearer token', async () => {
    const tokens = await boundTokens(portal, redirectUri, person);
    const asBearer = await fetch(userinfo(), { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(asBearer.status).toBe(401);
    expect(asBearer.headers.get('www-authenticate')).toContain('error="invalid_token"');
    const withoutProof = await fetch(userinfo(), { headers: { authorization: `DPoP ${tokens.access_token}` } });
    expect(withoutProof.status).toBe(400);
    expect(await withoutProof.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('refuses the bound token with a proof made by another key', async () => {
    const tokens = await boundTokens(portal, redirectUri, person);
    await expect(oidc.fetchUserInfo(portal, tokens.access_token, personId, { DPoP: oidc.getDPoPHandle(portal, otherKey) })).rejects.toMatchObject({ status: 401 });
  });

  it('refuses a proof replayed by someone who saw the request', async () => {
    const tokens = await boundTokens(portal, redirectUri, person);
    const proofs = recordDpopProofs(portal);
    await oidc.fetchUserInfo(portal, tokens.access_token, personId, { DPoP: oidc.getDPoPHandle(portal, key) });
    const replay = await fetch(userinfo(), { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: proofs.at(-1)! } });
    expect(replay.status).toBe(401);

    // The same proof is good the first time: what fails the second is the replay, nothing else.
    const proof = await handMadeProof(key, { htm: 'GET', htu: userinfo(), accessToken: tokens.access_token });
    const first = await fetch(userinfo(), { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: proof } });
    expect(first.status).toBe(200);
    const second = await fetch(userinfo(), { headers: { authorization: `DPoP ${tokens.access_token}`, dpop: proof } });
    expect(second.status).toBe(401);
  });
});

describe('DPoP-bound tokens at the admin API', () => {
  let consoleClient: oidc.Configuration;
  let accessToken: string;
  const users = () => `${server.issuer}/api/v1/users`;

  beforeAll(async () => {
    consoleClient = await adminConsole(server);
    const resource = apiResource(server);
    accessToken = (await boundTokens(consoleClient, adminConsoleRedirectUri, administrator, { scope: 'openid api', resource })).access_token;
  });

  const call = (headers: Record<string, string>) => fetch(`${users()}?limit=1`, { headers });

  it('issues the API token as a JWT naming its key (cnf.jkt), and the API answers with a fresh proof of that key', async () => {
    expect(decodeJwt(accessToken)['cnf']).toEqual({ jkt: await calculateJwkThumbprint(await exportJWK(key.publicKey)) });
    const response = await oidc.fetchProtectedResource(consoleClient, accessToken, new URL(`${users()}?limit=1`), 'GET', undefined, undefined, {
      DPoP: oidc.getDPoPHandle(consoleClient, key),
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { items: unknown[] }).items).toHaveLength(1);
  });

  it('refuses the bound token as a bearer token, and without a proof', async () => {
    const bearer = await call({ authorization: `Bearer ${accessToken}` });
    expect(bearer.status).toBe(401);
    expect(((await bearer.json()) as { message: string }).message).toContain('bound to a key');
    const noProof = await call({ authorization: `DPoP ${accessToken}` });
    expect(noProof.status).toBe(401);
    expect(noProof.headers.get('www-authenticate')).toContain('error="invalid_dpop_proof"');
  });

  it('refuses a proof made by another key', async () => {
    const proof = await handMadeProof(otherKey, { htm: 'GET', htu: users(), accessToken });
    const response = await call({ authorization: `DPoP ${accessToken}`, dpop: proof });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { message: string }).message).toContain('a key other than the one the token is bound to');
  });

  it('refuses a replayed proof: each proof is good for one request', async () => {
    const proof = await handMadeProof(key, { htm: 'GET', htu: users(), accessToken });
    expect((await call({ authorization: `DPoP ${accessToken}`, dpop: proof })).status).toBe(200);
    const replay = await call({ authorization: `DPoP ${accessToken}`, dpop: proof });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { message: string }).message).toContain('already used');
  });

  it('refuses a proof for another URL, another method, another token, or one made long ago', async () => {
    const cases = {
      'another URL': await handMadeProof(key, { htm: 'GET', htu: `${server.issuer}/api/v1/groups`, accessToken }),
      'another method': await handMadeProof(key, { htm: 'POST', htu: users(), accessToken }),
      'another token': await handMadeProof(key, { htm: 'GET', htu: users(), accessToken: `${accessToken}x` }),
      'no token named': await handMadeProof(key, { htm: 'GET', htu: users() }),
      'made long ago': await handMadeProof(key, { htm: 'GET', htu: users(), accessToken, iat: Math.floor(Date.now() / 1000) - 600 }),
    };
    for (const [what, proof] of Object.entries(cases)) {
      expect((await call({ authorization: `DPoP ${accessToken}`, dpop: proof })).status, what).toBe(401);
    }
  });

  it('refuses an unbound token sent with the DPoP scheme', async () => {
    const signIn = await signInThroughPages(consoleClient, adminConsoleRedirectUri, administrator, { scope: 'openid api', resource: apiResource(server) });
    const bearer = await oidc.authorizationCodeGrant(consoleClient, signIn.callback, { pkceCodeVerifier: signIn.verifier, expectedState: signIn.state }, { resource: apiResource(server) });
    const proof = await handMadeProof(key, { htm: 'GET', htu: users(), accessToken: bearer.access_token });
    expect((await call({ authorization: `DPoP ${bearer.access_token}`, dpop: proof })).status).toBe(401);
    expect((await call({ authorization: `Bearer ${bearer.access_token}` })).status).toBe(200);
  });
});
