import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';

import { SignJWT } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { signInThroughPages } from '../support/admin-api.ts';
import { clientKeys, discoverKeyedRelyingParty } from '../support/relying-party.ts';
import { createUser, registerTestClient, startTestServer, type TestServer } from '../support/server.ts';

const redirectUri = 'http://localhost:8080/callback';
const person = { login: 'huynhvanlong', password: 'mật khẩu đủ dài 2026' };

let server: TestServer;
let clientId: string;
let keys: Awaited<ReturnType<typeof clientKeys>>;
let relyingParty: oidc.Configuration;

beforeAll(async () => {
  server = await startTestServer();
  await createUser(server, { username: person.login, password: person.password, fullName: 'Huỳnh Văn Long' });
  keys = await clientKeys('ES256');
  const registered = await registerTestClient(server, {
    name: 'Hệ thống chỉ đạo điều hành', redirectUris: [redirectUri], firstParty: true, authMethod: 'private_key_jwt', jwks: keys.jwks,
  });
  expect(registered.clientSecret).toBeNull();
  clientId = registered.clientId;
  relyingParty = await discoverKeyedRelyingParty(server.issuer, clientId, keys.privateKey);
});

afterAll(async () => {
  await server.stop();
});

/** A client assertion (RFC 7523) as openid-client makes one, or with the changes a test needs. */
function assertion(signingKey: oidc.CryptoKey, claims: { jti?: string; aud?: string } = {}) {
  return new SignJWT({ jti: claims.jti ?? randomUUID() })
    .setProtectedHeader({ alg: 'ES256' })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(claims.aud ?? server.issuer)
    .setIssuedAt()
    .setExpirationTime('1m')
    .sign(signingKey);
}

/** Introspection authenticates the client like the token endpoint does, and has no other effect. */
function introspect(clientAssertion: string) {
  return fetch(`${server.issuer}/token/introspection`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      token: 'not-a-token',
      client_id: clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: clientAssertion,
    }),
  });
}

describe('client authentication with private_key_jwt (RFC 7523)', () => {
  it('lets a client with registered keys and no secret redeem a code and refresh, driven by openid-client', async () => {
    const signIn = await signInThroughPages(relyingParty, redirectUri, person, { scope: 'openid offline_access', prompt: 'consent' });
    const tokens = await oidc.authorizationCodeGrant(relyingParty, signIn.callback, { pkceCodeVerifier: signIn.verifier, expectedState: signIn.state });
    expect(tokens.access_token).toBeTruthy();
    const refreshed = await oidc.refreshTokenGrant(relyingParty, tokens.refresh_token!);
    expect(refreshed.access_token).not.toBe(tokens.access_token);
  });

  it('refuses a client assertion used a second time (same jti)', async () => {
    const once = await assertion(keys.privateKey);
    expect((await introspect(once)).status).toBe(200);
    const replay = await introspect(once);
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({ error: 'invalid_client' });
  });

  it('refuses a second assertion that reuses the jti of the first, though signed anew', async () => {
    const jti = randomUUID();
    expect((await introspect(await assertion(keys.privateKey, { jti }))).status).toBe(200);
    expect((await introspect(await assertion(keys.privateKey, { jti }))).status).toBe(401);
  });

  it('refuses an assertion signed by a key the client did not register', async () => {
    const stranger = await clientKeys('ES256');
    expect((await introspect(await assertion(stranger.privateKey))).status).toBe(401);
  });

  it('refuses an assertion for another audience', async () => {
    expect((await introspect(await assertion(keys.privateKey, { aud: 'https://elsewhere.example/token' }))).status).toBe(401);
  });

  it('refuses a client secret for a client that authenticates with its key', async () => {
    const response = await fetch(`${server.issuer}/token/introspection`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:guessed`).toString('base64')}` },
      body: new URLSearchParams({ token: 'not-a-token' }),
    });
    expect(response.status).toBe(401);
  });

  it('reads the keys of a client that registered a jwks_uri, fetched through the outbound guard', async () => {
    const published = await clientKeys('PS256');
    const jwksServer = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(published.jwks)));
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    try {
      const jwksUri = `http://localhost:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
      const registered = await registerTestClient(server, {
        name: 'Hệ thống quản lý văn bản', redirectUris: [redirectUri], firstParty: true, authMethod: 'private_key_jwt', jwksUri,
      });
      const keyed = await discoverKeyedRelyingParty(server.issuer, registered.clientId, published.privateKey);
      const signIn = await signInThroughPages(keyed, redirectUri, person);
      await expect(oidc.authorizationCodeGrant(keyed, signIn.callback, { pkceCodeVerifier: signIn.verifier, expectedState: signIn.state }))
        .resolves.toHaveProperty('access_token');
    } finally {
      await new Promise((resolve) => jwksServer.close(resolve));
    }
  });

  it('refuses to register private_key_jwt without keys', async () => {
    await expect(registerTestClient(server, { name: 'Không có khóa', redirectUris: [redirectUri], authMethod: 'private_key_jwt' }))
      .rejects.toThrow(/needs the client's public keys/);
  });
});
