import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { rotateSigningKeys } from '../../src/domain/signing-keys.ts';
import { registerTestClient, startTestServer, type TestServer } from '../support/server.ts';
import { discoverRelyingParty } from '../support/relying-party.ts';

let server: TestServer;
let service: oidc.Configuration;

beforeAll(async () => {
  server = await startTestServer();
  const client = await registerTestClient(server, { name: 'Đồng bộ', kind: 'service' });
  service = await discoverRelyingParty(server.issuer, client.clientId, client.clientSecret);
});

afterAll(async () => {
  await server.stop();
});

const publishedKids = async () =>
  ((await (await fetch(`${server.issuer}/jwks`)).json()) as { keys: { kid: string; alg: string; d?: string }[] }).keys;

const apiToken = async () => (await oidc.clientCredentialsGrant(service, { resource: `${server.issuer}/api/v1` })).access_token;

describe('signing key rotation on a running server', () => {
  it('publishes a new key before it signs, then signs with it while the old one still verifies', async () => {
    const before = await publishedKids();
    expect(before.map((key) => key.alg).sort()).toEqual(['ES256', 'RS256']);
    expect(before.every((key) => key.d === undefined)).toBe(true);
    const oldToken = await apiToken();
    const oldKid = decodeProtectedHeader(oldToken).kid;

    const added = await rotateSigningKeys(server.database.db, server.config.masterKey, { publishAheadSeconds: 3600 });
    // Told of the change through NOTIFY, the server reloads its keys by itself.
    await expect.poll(async () => (await publishedKids()).length).toBe(4);

    const published = await publishedKids();
    expect(published).toHaveLength(4);
    expect(published.map((key) => key.kid)).toEqual(expect.arrayContaining(added.map((key) => key.kid)));
    // Published ahead, but not yet signing.
    expect(decodeProtectedHeader(await apiToken()).kid).toBe(oldKid);

    const activation = new Date(Date.now() + 3601 * 1000);
    expect(await server.oidc.refresh(activation)).toBe(true);
    const newToken = await apiToken();
    const newEs256 = added.find((key) => key.alg === 'ES256')!;
    expect(decodeProtectedHeader(newToken).kid).toBe(newEs256.kid);

    const jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
    await expect(jwtVerify(oldToken, jwks, { issuer: server.issuer })).resolves.toBeTruthy();
    await expect(jwtVerify(newToken, jwks, { issuer: server.issuer })).resolves.toBeTruthy();
  });

  it('does not rebuild the provider when nothing changed', async () => {
    expect(await server.oidc.refresh(new Date(Date.now() + 3602 * 1000))).toBe(false);
  });
});
