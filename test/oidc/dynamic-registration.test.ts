import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { listAuditEvents } from '../../src/db/queries/audit-events.ts';
import { findClient } from '../../src/db/queries/clients.ts';
import { issueInitialAccessToken } from '../../src/oidc/provider.ts';
import { redeemCode, signInThroughPages } from '../support/admin-api.ts';
import { discoverRelyingParty } from '../support/relying-party.ts';
import { createUser, startTestServer, type TestServer } from '../support/server.ts';

let server: TestServer;
const operator = { operator: { type: 'system' as const, id: null, name: 'dynamic registration test' } };
const redirectUri = 'https://tacnghiep.tiengiang.gov.vn/callback';
const person = { login: 'nguoidung', password: 'một mật khẩu đủ dài 2026' };

beforeAll(async () => {
  server = await startTestServer();
  await createUser(server, { username: person.login, password: person.password });
});

afterAll(async () => {
  await server?.stop();
});

const initialAccessToken = async (preApproved = false) => (await issueInitialAccessToken(server.oidc.current(), server.database.db, operator, { preApproved })).token;

async function register(body: Record<string, unknown>, token?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${server.issuer}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const webApp = { client_name: 'Hệ thống quản lý văn bản và điều hành', redirect_uris: [redirectUri], grant_types: ['authorization_code'], response_types: ['code'] };

describe('dynamic registration at /reg (RFC 7591)', () => {
  it('refuses a registration without an initial access token, or with a made-up one', async () => {
    expect(await register(webApp)).toMatchObject({ status: 401, body: { error: 'invalid_token' } });
    expect(await register(webApp, 'not-a-token')).toMatchObject({ status: 401, body: { error: 'invalid_token' } });
  });

  it('stores the client in the clients table, pending, with its secret hashed and shown once; audited', async () => {
    const token = await initialAccessToken();
    const registered = await register(webApp, token);
    expect(registered.status).toBe(201);
    const clientId = registered.body['client_id'] as string;
    const secret = registered.body['client_secret'] as string;
    expect(clientId).toMatch(/^[0-9a-f]{32}$/);
    expect(secret).toMatch(/^[\w-]{43}$/);
    const stored = await findClient(server.database.db, clientId);
    expect(stored).toMatchObject({ status: 'pending', first_party: false, admin_api_access: false });
    expect(stored?.metadata).toMatchObject({ client_name: webApp.client_name, redirect_uris: [redirectUri] });
    expect(stored?.metadata).not.toHaveProperty('client_secret');
    expect(stored?.client_secret_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(stored?.client_secret_hash).not.toBe(secret);
    const [event] = await listAuditEvents(server.database.db, { targetType: 'client', targetId: clientId, action: 'client.register', subtrees: null, limit: 1 });
    expect(event?.after).toMatchObject({ status: 'pending', redirect_uris: [redirectUri] });
    // The token is named by a fingerprint, the same as when it was issued; its value never reaches the audit log.
    const [issued] = await listAuditEvents(server.database.db, { action: 'client.initial_access_token', subtrees: null, limit: 1 });
    expect(event?.actor_name).toBe(`dynamic registration (token ${issued?.target_id ?? ''})`);
    const everything = await server.database.db.selectFrom('audit_events').selectAll().execute();
    expect(JSON.stringify(everything)).not.toContain(token);

    // Pending: the provider does not know it yet.
    const relyingParty = await discoverRelyingParty(server.issuer, clientId, secret);
    await expect(signInThroughPages(relyingParty, redirectUri, person)).rejects.toThrow();
  });

  it('lets a pre-approved token\u2019s client sign people in at once, with the secret it was given', async () => {
    const registered = await register(webApp, await initialAccessToken(true));
    const clientId = registered.body['client_id'] as string;
    expect((await findClient(server.database.db, clientId))?.status).toBe('active');
    const relyingParty = await discoverRelyingParty(server.issuer, clientId, registered.body['client_secret'] as string);
    const tokens = await redeemCode(relyingParty, await signInThroughPages(relyingParty, redirectUri, person));
    expect(tokens.claims()?.aud).toBe(clientId);
  });

  it('holds registrations to the same redirect URI lint as every other client', async () => {
    const token = await initialAccessToken();
    for (const uri of ['http://tacnghiep.example/cb', 'https://*.tiengiang.gov.vn/cb']) {
      const refused = await register({ ...webApp, redirect_uris: [uri] }, token);
      expect(refused.status, uri).toBe(400);
      expect(refused.body['error'], uri).toMatch(/^invalid_(redirect_uri|client_metadata)$/);
    }
    const logo = await register({ ...webApp, logo_uri: 'http://tacnghiep.example/logo.png' }, token);
    expect(logo).toMatchObject({ status: 400, body: { error: 'invalid_client_metadata' } });
    expect(String(logo.body['error_description'])).toContain('must be an https URL');
  });

  it('refuses what only an administrator sets: first-party (no consent), admin API access', async () => {
    const token = await initialAccessToken();
    for (const field of ['first_party', 'admin_api_access']) {
      const refused = await register({ ...webApp, [field]: true }, token);
      expect(refused, field).toMatchObject({ status: 400, body: { error: 'invalid_client_metadata' } });
    }
  });

  it('reads, updates and deletes a pending registration with its registration access token (RFC 7592), never showing the stored hash', async () => {
    const registered = await register(webApp, await initialAccessToken());
    const clientUri = registered.body['registration_client_uri'] as string;
    const clientId = registered.body['client_id'] as string;
    let accessToken = registered.body['registration_access_token'] as string;
    const hashBefore = (await findClient(server.database.db, clientId))?.client_secret_hash;
    const read = await fetch(clientUri, { headers: { authorization: `Bearer ${accessToken}` } });
    expect(read.status).toBe(200);
    const readBody = (await read.json()) as Record<string, unknown>;
    expect(readBody).toMatchObject({ client_id: clientId, redirect_uris: [redirectUri] });
    expect(readBody).not.toHaveProperty('client_secret');

    const moved = 'https://tacnghiep.tiengiang.gov.vn/v2/callback';
    const update = await fetch(clientUri, {
      method: 'PUT',
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...webApp, client_id: clientId, redirect_uris: [moved] }),
    });
    expect(update.status).toBe(200);
    const updated = (await update.json()) as Record<string, unknown>;
    expect(updated).not.toHaveProperty('client_secret');
    accessToken = updated['registration_access_token'] as string;
    const stored = await findClient(server.database.db, clientId);
    expect(stored).toMatchObject({ status: 'pending', client_secret_hash: hashBefore });
    expect(stored?.metadata['redirect_uris']).toEqual([moved]);

    const badUpdate = await fetch(clientUri, {
      method: 'PUT',
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...webApp, client_id: clientId, redirect_uris: ['https://tacnghiep.tiengiang.gov.vn/cb#x'] }),
    });
    expect(badUpdate.status).toBe(400);

    const removed = await fetch(clientUri, { method: 'DELETE', headers: { authorization: `Bearer ${accessToken}` } });
    expect(removed.status).toBe(204);
    expect((await findClient(server.database.db, clientId))?.status).toBe('disabled');
  });

  it('keeps the secret after an update: the app signs in with the one it was given at registration', async () => {
    const registered = await register(webApp, await initialAccessToken(true));
    const clientId = registered.body['client_id'] as string;
    const update = await fetch(registered.body['registration_client_uri'] as string, {
      method: 'PUT',
      headers: { authorization: `Bearer ${registered.body['registration_access_token'] as string}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...webApp, client_id: clientId, client_name: 'Văn bản điều hành (mới)' }),
    });
    expect(update.status).toBe(200);
    const relyingParty = await discoverRelyingParty(server.issuer, clientId, registered.body['client_secret'] as string);
    const tokens = await redeemCode(relyingParty, await signInThroughPages(relyingParty, redirectUri, person));
    expect(tokens.access_token).toBeTruthy();
  });
});
