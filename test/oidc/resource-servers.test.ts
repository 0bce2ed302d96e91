import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { beforeAll, describe, expect, it } from 'vitest';

import { listAuditEvents } from '../../src/db/queries/audit-events.ts';
import { registerClient, type ClientRegistration } from '../../src/domain/clients.ts';
import { expectApiError, expectAuditedRefusal, redeemCode, signInThroughPages, useProvinceServer, userCaller, type ApiCall, type UserCaller } from '../support/admin-api.ts';
import { authorizationRequest, discoverRelyingParty } from '../support/relying-party.ts';
import { createUser, registerTestClient } from '../support/server.ts';
import { formsOf, htmlOf, UserAgent } from '../support/user-agent.ts';

const world = useProvinceServer();
const inventoryApi = 'https://kho-thuoc.tiengiang.gov.vn/api';
const ledgerApi = 'https://so-cai.tiengiang.gov.vn/api';
const redirectUri = 'https://kho-thuoc.tiengiang.gov.vn/oidc/callback';
const nurse = { login: 'dieuduong.lan', password: 'điều dưỡng Lan 2026' };

interface App {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly configuration: oidc.Configuration;
}

let developer: UserCaller;
/** Serves the inventory API and the ledger API: it may introspect their tokens. */
let servingApp: App;
/** The developer's service app, a client of those APIs. */
let consumer: App;
/** Somebody else's service app: granted nothing. */
let stranger: App;
let inventory: { id: string };
let ledger: { id: string };

/** An app registered by the developer (pending, owned by them, as from the portal), approved by the province. */
async function developerApp(registration: ClientRegistration): Promise<App> {
  const registered = await registerClient(
    { db: world.server.database.db, validateMetadata: async (metadata) => { await world.server.oidc.current().Client.validate(metadata); } },
    registration, { owner: { userId: developer.user.id } },
  );
  expect((await world.superAdmin('POST', `/apps/${registered.clientId}/approval`, { decision: 'approve' })).status).toBe(200);
  return { clientId: registered.clientId, clientSecret: registered.clientSecret!, configuration: await discoverRelyingParty(world.server.issuer, registered.clientId, registered.clientSecret) };
}

/** Declared by the developer, approved by the province's super administrator. */
async function approvedApi(api: ApiCall, body: Record<string, unknown>): Promise<{ id: string }> {
  const declared = await api<{ id: string; status: string }>('POST', '/resource-servers', body);
  expect(declared.status, JSON.stringify(declared.body)).toBe(201);
  expect(declared.body.status).toBe('pending');
  expect((await world.superAdmin('POST', `/resource-servers/${declared.body.id}/approval`, { decision: 'approve' })).body).toEqual({ status: 'active' });
  return declared.body;
}

const scopes = [{ name: 'read', description: 'Xem tồn kho thuốc' }, { name: 'write', description: 'Nhập, xuất kho thuốc' }];

/** The error oidc-provider answers a client_credentials request with, as openid-client reports it. */
async function refusal(app: App, parameters: Record<string, string>): Promise<{ error?: string; error_description?: string }> {
  try {
    await oidc.clientCredentialsGrant(app.configuration, parameters);
  } catch (error) {
    return error as { error?: string; error_description?: string };
  }
  throw new Error('the token request was not refused');
}

function expectRefusal(refused: { error?: string; error_description?: string }, error: string, describing: string): void {
  expect(refused.error).toBe(error);
  expect(refused.error_description).toContain(describing);
}

beforeAll(async () => {
  developer = await userCaller(world.server, { username: 'laptrinhvien.kho', password: 'nhà phát triển kho 2026', role: 'developer', unit: null });
  servingApp = await developerApp({ name: 'Kho thuốc (máy chủ API)', kind: 'service' });
  consumer = await developerApp({ name: 'Đồng bộ tồn kho', kind: 'service' });
  const other = await registerTestClient(world.server, { name: 'Ứng dụng khác', kind: 'service' });
  stranger = { clientId: other.clientId, clientSecret: other.clientSecret!, configuration: await discoverRelyingParty(world.server.issuer, other.clientId, other.clientSecret) };
  inventory = await approvedApi(developer.api, { identifier: inventoryApi, name: 'API kho thuốc', owner_client_id: servingApp.clientId, scopes });
  expect((await developer.api('PUT', `/resource-servers/${inventory.id}/grants/${consumer.clientId}`, { scopes: ['read'] })).status).toBe(200);
  ledger = await approvedApi(developer.api, {
    identifier: ledgerApi, name: 'API sổ cái', owner_client_id: servingApp.clientId, scopes: [{ name: 'read', description: 'Xem sổ cái' }], access_token_format: 'opaque', access_token_seconds: 300,
  });
  expect((await developer.api('PUT', `/resource-servers/${ledger.id}/grants/${consumer.clientId}`, { scopes: ['read'] })).status).toBe(200);
  await createUser(world.server, { username: nurse.login, password: nurse.password, fullName: 'Trần Thị Lan' });
});

describe('client_credentials for a registered API', () => {
  it('gives the developer\u2019s service app an ES256 JWT for the API with the granted scope, verifiable against /jwks', async () => {
    const tokens = await oidc.clientCredentialsGrant(consumer.configuration, { resource: inventoryApi, scope: 'read' });
    expect(tokens.scope).toBe('read');
    expect(tokens.expires_in).toBe(600);
    expect(decodeProtectedHeader(tokens.access_token)).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    const keys = createRemoteJWKSet(new URL(`${world.server.issuer}/jwks`));
    const { payload } = await jwtVerify(tokens.access_token, keys, { issuer: world.server.issuer, audience: inventoryApi, typ: 'at+jwt' });
    expect(payload).toMatchObject({ aud: inventoryApi, scope: 'read', client_id: consumer.clientId, sub: consumer.clientId });
    // Asking for no scope gets a token for the API carrying none: an app names the scopes it needs.
    expect((await oidc.clientCredentialsGrant(consumer.configuration, { resource: inventoryApi })).scope).toBeUndefined();
    // The admin API would not take it: another audience.
    expect((await fetch(`${world.server.issuer}/api/v1/users`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status).toBe(401);
  });

  it('refuses a scope that was not granted, naming it, rather than quietly leaving it out', async () => {
    expectRefusal(await refusal(consumer, { resource: inventoryApi, scope: 'read write' }), 'invalid_scope', 'not granted to this client for https://kho-thuoc.tiengiang.gov.vn/api: write');
  });

  it('refuses an unknown API, a pending one, and an API the client was not granted, each saying so', async () => {
    expectRefusal(await refusal(consumer, { resource: 'https://khong-co.tiengiang.gov.vn/api', scope: 'read' }), 'invalid_target', 'no active API is registered');
    const pending = await developer.api<{ id: string }>('POST', '/resource-servers', {
      identifier: 'https://cho-duyet.tiengiang.gov.vn/api', name: 'API chờ duyệt', owner_client_id: servingApp.clientId, scopes,
    });
    expect((await developer.api('PUT', `/resource-servers/${pending.body.id}/grants/${consumer.clientId}`, { scopes: ['read'] })).status).toBe(200);
    expect(await refusal(consumer, { resource: 'https://cho-duyet.tiengiang.gov.vn/api', scope: 'read' })).toMatchObject({ error: 'invalid_target' });
    expectRefusal(await refusal(stranger, { resource: inventoryApi, scope: 'read' }), 'invalid_target', 'must grant it first');
    // Without a resource the request still means the admin API, which a developer's app may not call.
    expectRefusal(await refusal(consumer, { scope: 'read' }), 'invalid_target', 'admin API');
  });

  it('stops issuing tokens for an API a global administrator disables, and starts again when enabled; audited', async () => {
    expect((await world.superAdmin('PUT', `/resource-servers/${inventory.id}/status`, { status: 'disabled' })).status).toBe(200);
    expect(await refusal(consumer, { resource: inventoryApi, scope: 'read' })).toMatchObject({ error: 'invalid_target' });
    // The developer may not switch it back on.
    await expectAuditedRefusal(world.superAdmin, await developer.api('PUT', `/resource-servers/${inventory.id}/status`, { status: 'active' }), 'resource_server.status');
    expect((await world.superAdmin('PUT', `/resource-servers/${inventory.id}/status`, { status: 'active' })).status).toBe(200);
    expect((await oidc.clientCredentialsGrant(consumer.configuration, { resource: inventoryApi, scope: 'read' })).scope).toBe('read');
    const events = await listAuditEvents(world.server.database.db, { targetType: 'resource_server', targetId: inventory.id, subtrees: null, limit: 20 });
    expect(events.map((event) => event.action)).toEqual(expect.arrayContaining(['resource_server.declare', 'resource_server.approve', 'resource_server.grant', 'resource_server.disable', 'resource_server.enable']));
  });

  it('refuses the token once the grant is revoked', async () => {
    const extra = await developerApp({ name: 'Báo cáo kho', kind: 'service' });
    expect((await developer.api('PUT', `/resource-servers/${inventory.id}/grants/${extra.clientId}`, { scopes: ['read', 'write'] })).status).toBe(200);
    expect((await oidc.clientCredentialsGrant(extra.configuration, { resource: inventoryApi, scope: 'read write' })).scope).toBe('read write');
    expect((await developer.api('DELETE', `/resource-servers/${inventory.id}/grants/${extra.clientId}`)).status).toBe(204);
    expect(await refusal(extra, { resource: inventoryApi, scope: 'read' })).toMatchObject({ error: 'invalid_target' });
  });
});

describe('introspection by the app that serves the API', () => {
  it('answers the serving app for a token of its API, and a third app nothing', async () => {
    const tokens = await oidc.clientCredentialsGrant(consumer.configuration, { resource: ledgerApi, scope: 'read' });
    expect(tokens.expires_in).toBe(300);
    const introspected = await oidc.tokenIntrospection(servingApp.configuration, tokens.access_token);
    expect(introspected).toMatchObject({ active: true, aud: ledgerApi, scope: 'read', client_id: consumer.clientId });
    expect((await oidc.tokenIntrospection(stranger.configuration, tokens.access_token)).active).toBe(false);
    // The issuing app still reads its own token.
    expect((await oidc.tokenIntrospection(consumer.configuration, tokens.access_token)).active).toBe(true);
  });

  it('answers nothing for a token of another audience, nor once the API is disabled', async () => {
    // An API the consumer serves itself, granted to the stranger: none of the serving app's business.
    const archive = await approvedApi(developer.api, {
      identifier: 'https://luu-tru.tiengiang.gov.vn/api', name: 'API lưu trữ', owner_client_id: consumer.clientId, scopes, access_token_format: 'opaque',
    });
    await world.superAdmin('PUT', `/resource-servers/${archive.id}/grants/${stranger.clientId}`, { scopes: ['read'] });
    const other = await oidc.clientCredentialsGrant(stranger.configuration, { resource: 'https://luu-tru.tiengiang.gov.vn/api', scope: 'read' });
    expect((await oidc.tokenIntrospection(servingApp.configuration, other.access_token)).active).toBe(false);
    expect((await oidc.tokenIntrospection(consumer.configuration, other.access_token)).active).toBe(true);
    const tokens = await oidc.clientCredentialsGrant(consumer.configuration, { resource: ledgerApi, scope: 'read' });
    await world.superAdmin('PUT', `/resource-servers/${ledger.id}/status`, { status: 'disabled' });
    try {
      expect((await oidc.tokenIntrospection(servingApp.configuration, tokens.access_token)).active).toBe(false);
    } finally {
      await world.superAdmin('PUT', `/resource-servers/${ledger.id}/status`, { status: 'active' });
    }
  });
});

describe('a person signing in to an app granted the API', () => {
  it('gets a token for the API with the granted scope after consenting; an app not granted it hears invalid_target', async () => {
    const webApp = await developerApp({ name: 'Cổng kho thuốc', kind: 'web', redirectUris: [redirectUri] });
    expect((await developer.api('PUT', `/resource-servers/${inventory.id}/grants/${webApp.clientId}`, { scopes: ['read'] })).status).toBe(200);
    const agent = new UserAgent();
    const state = oidc.randomState();
    const { url, verifier } = await authorizationRequest(webApp.configuration, redirectUri, { scope: 'openid read write', resource: inventoryApi, state });
    const login = await agent.follow(url.href, redirectUri);
    const [loginForm] = formsOf(htmlOf(login), login.url);
    const consent = await agent.follow(loginForm!.action, redirectUri, { form: { ...loginForm!.fields, ...nurse } });
    // The consent page says what the API's owners wrote for the granted scope, and nothing of the ungranted one.
    expect(htmlOf(consent)).toContain('<li>Xem tồn kho thuốc (API kho thuốc)</li>');
    expect(htmlOf(consent)).not.toContain('Nhập, xuất kho thuốc');
    expect(htmlOf(consent)).not.toContain('write');
    const [allow] = formsOf(htmlOf(consent), consent.url);
    const callback = await agent.follow(allow!.action, redirectUri, { form: allow!.fields });
    const signIn = { callback: new URL(callback.url), verifier, state };
    expect(signIn.callback.searchParams.get('error')).toBeNull();
    const tokens = await redeemCode(webApp.configuration, signIn, { resource: inventoryApi });
    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(`${world.server.issuer}/jwks`)), { issuer: world.server.issuer, audience: inventoryApi });
    const person = await world.server.database.db.selectFrom('users').select('id').where('username', '=', nurse.login).executeTakeFirstOrThrow();
    // write was asked for but never granted to this app: it is not in the token.
    expect(payload).toMatchObject({ sub: person.id, scope: 'read', client_id: webApp.clientId });

    const ungranted = await developerApp({ name: 'Cổng khác', kind: 'web', redirectUris: [redirectUri] });
    const refused = await signInThroughPages(ungranted.configuration, redirectUri, nurse, { scope: 'openid read', resource: inventoryApi });
    expect(refused.callback.searchParams.get('error')).toBe('invalid_target');
  });
});

describe('who may declare, approve and grant', () => {
  it('lints the identifier like a redirect URI, and keeps Mekong ID\u2019s own address for its own APIs', async () => {
    const declare = (identifier: string) => developer.api('POST', '/resource-servers', { identifier, name: 'API', owner_client_id: servingApp.clientId, scopes });
    expectApiError(await declare('http://kho.tiengiang.gov.vn/api'), 400, 'invalid_input', 'must use https');
    expectApiError(await declare('https://kho.tiengiang.gov.vn/api#v1'), 400, 'invalid_input', 'must not have a fragment');
    expectApiError(await declare('kho-thuoc'), 400, 'invalid_input', 'is not an absolute URL');
    expectApiError(await declare(`${world.server.issuer}/api/v2`), 400, 'invalid_input', 'reserved for its own APIs');
    expectApiError(await declare(inventoryApi), 409, 'conflict', 'already registered');
    expect((await declare('http://127.0.0.1:8443/api')).status).toBe(201);
    expectApiError(await developer.api('POST', '/resource-servers', { identifier: 'https://x.example/api', name: 'API', owner_client_id: servingApp.clientId, scopes: [{ name: 'openid', description: 'x' }] }), 400, 'invalid_input', 'OpenID Connect');
  });

  it('refuses another developer the API, its grants and an API on someone else\u2019s app; audited', async () => {
    const other = await userCaller(world.server, { username: 'laptrinhvien.khac', password: 'nhà phát triển khác 2026', role: 'developer', unit: null });
    await expectAuditedRefusal(world.superAdmin, await other.api('GET', `/resource-servers/${inventory.id}`), 'resource_server.read');
    await expectAuditedRefusal(world.superAdmin, await other.api('PUT', `/resource-servers/${inventory.id}/grants/${stranger.clientId}`, { scopes: ['write'] }), 'resource_server.grant');
    await expectAuditedRefusal(world.superAdmin, await other.api('POST', '/resource-servers', {
      identifier: 'https://gia-mao.tiengiang.gov.vn/api', name: 'Giả mạo', owner_client_id: servingApp.clientId, scopes,
    }), 'resource_server.declare');
    expect((await other.api<{ items: unknown[] }>('GET', '/resource-servers')).body.items).toEqual([]);
    expect((await developer.api<{ items: { identifier: string }[] }>('GET', '/resource-servers')).body.items.map((item) => item.identifier)).toEqual(expect.arrayContaining([inventoryApi, ledgerApi]));
  });

  it('refuses to grant a scope the API does not define, or to a public app as the API\u2019s server', async () => {
    expectApiError(await developer.api('PUT', `/resource-servers/${inventory.id}/grants/${stranger.clientId}`, { scopes: ['delete'] }), 400, 'invalid_input', 'defines no scope delete');
    const spa = await registerClient(
      { db: world.server.database.db, validateMetadata: async (metadata) => { await world.server.oidc.current().Client.validate(metadata); } },
      { name: 'SPA', kind: 'spa', redirectUris: [redirectUri] }, { owner: { userId: developer.user.id } },
    );
    expectApiError(await developer.api('POST', '/resource-servers', { identifier: 'https://spa.tiengiang.gov.vn/api', name: 'API', owner_client_id: spa.clientId, scopes }), 400, 'invalid_input', 'must be confidential');
  });

  it('lets no one approve an API they declared, nor a developer approve at all', async () => {
    const itAdmin = await userCaller(world.server, { username: 'quantri.tinh', password: 'quản trị tỉnh 2026', role: 'super_admin', unit: null });
    const declared = await itAdmin.api<{ id: string }>('POST', '/resource-servers', {
      identifier: 'https://tu-duyet.tiengiang.gov.vn/api', name: 'Tự duyệt', owner_client_id: servingApp.clientId, scopes,
    });
    expect(declared.status).toBe(201);
    await expectAuditedRefusal(world.superAdmin, await itAdmin.api('POST', `/resource-servers/${declared.body.id}/approval`, { decision: 'approve' }), 'resource_server.approve');
    await expectAuditedRefusal(world.superAdmin, await developer.api('POST', `/resource-servers/${declared.body.id}/approval`, { decision: 'approve' }), 'resource_server.approve');
    expect((await world.superAdmin<{ status: string }>('GET', `/resource-servers/${declared.body.id}`)).body.status).toBe('pending');
  });

  it('changes the scopes, taking a dropped scope from every grant', async () => {
    const api = await approvedApi(developer.api, { identifier: 'https://doi-scope.tiengiang.gov.vn/api', name: 'Đổi scope', owner_client_id: servingApp.clientId, scopes });
    await developer.api('PUT', `/resource-servers/${api.id}/grants/${consumer.clientId}`, { scopes: ['read', 'write'] });
    const changed = await developer.api<{ scopes: { name: string }[] }>('PATCH', `/resource-servers/${api.id}`, { scopes: [{ name: 'read', description: 'Chỉ xem' }] });
    expect(changed.body.scopes).toEqual([{ name: 'read', description: 'Chỉ xem' }]);
    expect((await developer.api<{ items: { scopes: string[] }[] }>('GET', `/resource-servers/${api.id}/grants`)).body.items).toEqual([expect.objectContaining({ client_id: consumer.clientId, scopes: ['read'] })]);
  });
});
