import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import * as oidc from 'openid-client';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { lifetimes } from '../../../src/oidc/provider.ts';
import {
  addPerson,
  adminConsole,
  apiClient,
  apiResource,
  caiBeAdminCredentials,
  redeemCode,
  serviceToken,
  signInThroughPages,
  userCaller,
  useProvinceServer,
  type UserCaller,
} from '../../support/admin-api.ts';
import { discoverRelyingParty } from '../../support/relying-party.ts';
import { createUser, registerTestClient } from '../../support/server.ts';

const password = 'mật khẩu quản trị đủ dài 2026';
const appRedirectUri = 'http://localhost:8091/callback';

const world = useProvinceServer();
let nobody: UserCaller;

beforeAll(async () => {
  nobody = await userCaller(world.server, { username: 'tranthikieu', fullName: 'Trần Thị Kiều', password, role: null, unit: null, homeUnit: world.tree.anHuu });
});

afterEach(() => {
  vi.useRealTimers();
});

const callWithAuthorization = (authorization: string | undefined) =>
  fetch(`${world.server.issuer}/api/v1/users`, { headers: authorization === undefined ? {} : { authorization } });

describe('bearer tokens', () => {
  it('answers a request without a token with 401, a Bearer and a DPoP challenge and a JSON error', async () => {
    const response = await callWithAuthorization(undefined);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="mekong-id", DPoP realm="mekong-id", algs="ES256 EdDSA"');
    const body = (await response.json()) as { error: string; message: string; request_id: string };
    expect(body).toEqual({ error: 'unauthorized', message: body.message, request_id: response.headers.get('x-request-id') });
    expect(body.message).toContain('"Bearer <token>"');
  });

  it('refuses a garbage token with 401 and error="invalid_token" in the challenge', async () => {
    for (const authorization of ['Bearer not-a-jwt', 'Bearer a.b.c', 'Basic dXNlcjpwYXNz', `Bearer ${world.caiBeAdmin.accessToken}x`]) {
      const response = await callWithAuthorization(authorization);
      expect(response.status, authorization).toBe(401);
      expect((await response.json() as { error: string }).error).toBe('unauthorized');
    }
    expect((await callWithAuthorization('Bearer a.b.c')).headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('accepts the admin console\'s access token: an ES256 at+jwt for the API, naming the person', async () => {
    expect(decodeProtectedHeader(world.caiBeAdmin.accessToken)).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    expect(decodeJwt(world.caiBeAdmin.accessToken)).toMatchObject({ sub: world.caiBeAdmin.user.id, aud: apiResource(world.server), scope: 'api' });
    const created = await world.caiBeAdmin.api<{ id: string }>('POST', '/groups', { org_unit_id: world.tree.caiBe.id, name: 'Tổ kiểm thử đăng nhập' });
    expect(created.status).toBe(201);
    // The API knows who acted: the person, by id and username.
    const [event] = (await world.superAdmin<{ items: { actor: unknown }[] }>('GET', `/audit-events?target_id=${created.body.id}`)).body.items;
    expect(event?.actor).toEqual({ type: 'user', id: world.caiBeAdmin.user.id, name: caiBeAdminCredentials.login });
  });

  it('refuses an ID token, though the same provider signed it, because its audience is the console and not the API', async () => {
    const consoleClientId = (await adminConsole(world.server)).clientMetadata().client_id;
    const { payload } = await jwtVerify(world.caiBeAdmin.idToken, createRemoteJWKSet(new URL(`${world.server.issuer}/jwks`)), {
      issuer: world.server.issuer,
      audience: consoleClientId,
    });
    expect(payload.sub).toBe(world.caiBeAdmin.user.id);
    const response = await callWithAuthorization(`Bearer ${world.caiBeAdmin.idToken}`);
    expect(response.status).toBe(401);
  });

  it('refuses a token forged with another key under the provider\'s key id', async () => {
    const { kid } = decodeProtectedHeader(world.caiBeAdmin.accessToken);
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT({ scope: 'api', client_id: decodeJwt(world.caiBeAdmin.accessToken)['client_id'] })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: kid! })
      .setIssuer(world.server.issuer).setAudience(apiResource(world.server)).setSubject(world.caiBeAdmin.user.id)
      .setIssuedAt().setExpirationTime('5m').sign(privateKey);
    expect((await callWithAuthorization(`Bearer ${forged}`)).status).toBe(401);
    // And an unsigned one, whatever it claims.
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url');
    const claims = Buffer.from(JSON.stringify({ iss: world.server.issuer, aud: apiResource(world.server), sub: world.caiBeAdmin.user.id, scope: 'api' })).toString('base64url');
    expect((await callWithAuthorization(`Bearer ${header}.${claims}.`)).status).toBe(401);
  });

  it('refuses an API token once it has expired', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + (lifetimes.apiAccessToken + 60) * 1000 });
    const response = await world.caiBeAdmin.api('GET', '/users');
    expect(response.status).toBe(401);
    expect(response.body).toMatchObject({ error: 'unauthorized', message: 'the access token has expired' });
  });

  it('refuses an ordinary app\'s access token: it is not a JWT for the API', async () => {
    const app = await registerTestClient(world.server, { name: 'Cổng dịch vụ công', redirectUris: [appRedirectUri], firstParty: true });
    const relyingParty = await discoverRelyingParty(world.server.issuer, app.clientId, app.clientSecret);
    const tokens = await redeemCode(relyingParty, await signInThroughPages(relyingParty, appRedirectUri, caiBeAdminCredentials));
    expect((await callWithAuthorization(`Bearer ${tokens.access_token}`)).status).toBe(401);
  });
});

describe('which clients may obtain a token for the API', () => {
  it('refuses an app without admin API access at the authorization endpoint, for a super administrator too', async () => {
    const app = await registerTestClient(world.server, { name: 'Hệ thống quản lý văn bản', redirectUris: [appRedirectUri], firstParty: true });
    const relyingParty = await discoverRelyingParty(world.server.issuer, app.clientId, app.clientSecret);
    await createUser(world.server, { username: 'lequanghuy', password, fullName: 'Lê Quang Huy' });
    const signIn = await signInThroughPages(relyingParty, appRedirectUri, { login: 'lequanghuy', password }, { scope: 'openid api', resource: apiResource(world.server) });
    expect(signIn.callback.searchParams.get('error')).toBe('invalid_target');
    expect(signIn.callback.searchParams.get('code')).toBeNull();
  });

  it('refuses an app without admin API access at the token endpoint', async () => {
    const app = await registerTestClient(world.server, { name: 'Hệ thống một cửa', redirectUris: [appRedirectUri], firstParty: true });
    const relyingParty = await discoverRelyingParty(world.server.issuer, app.clientId, app.clientSecret);
    const signIn = await signInThroughPages(relyingParty, appRedirectUri, caiBeAdminCredentials);
    await expect(redeemCode(relyingParty, signIn, { resource: apiResource(world.server) })).rejects.toMatchObject({ error: 'invalid_target' });
  });

  it('refuses a service client whose API access was withdrawn, both a new token and the one it holds', async () => {
    const service = await registerTestClient(world.server, { name: 'Đồng bộ nhân sự cũ', kind: 'service' });
    const token = await serviceToken(world.server, service.clientId, service.clientSecret!);
    await world.server.database.db.updateTable('clients').set({ admin_api_access: false }).where('client_id', '=', service.clientId).execute();
    await expect(serviceToken(world.server, service.clientId, service.clientSecret!)).rejects.toThrow(/invalid_target/);
    const response = await apiClient(world.server, token)('GET', '/users');
    expect(response.status).toBe(401);
    expect(response.body).toMatchObject({ message: 'the client this token was issued to may no longer call the API' });
  });

  it('lets openid-client obtain a service token that names the client as subject', async () => {
    const service = await registerTestClient(world.server, { name: 'Báo cáo nhân sự', kind: 'service' });
    const relyingParty = await discoverRelyingParty(world.server.issuer, service.clientId, service.clientSecret);
    const tokens = await oidc.clientCredentialsGrant(relyingParty, { resource: apiResource(world.server), scope: 'api' });
    expect(decodeJwt(tokens.access_token).sub).toBe(service.clientId);
    // It holds no role: it may call, and sees nothing.
    expect((await apiClient(world.server, tokens.access_token)('GET', '/users')).body).toEqual({ items: [], next: null });
  });
});

describe('a signed-in person who holds no admin role', () => {
  it('gets empty lists', async () => {
    for (const path of ['/users', '/org-units', '/groups', '/role-assignments']) {
      const response = await nobody.api('GET', path);
      expect(response.status, path).toBe(200);
      expect(response.body, path).toEqual({ items: [], next: null });
    }
  });

  it('gets 403 on every read, write and audit call, each refusal audited', async () => {
    const person = await addPerson(world.server, { fullName: 'Huỳnh Văn Tài', username: 'taihv', unit: world.tree.anHuu });
    const group = await world.superAdmin<{ id: string }>('POST', '/groups', { org_unit_id: world.tree.anHuu.id, name: 'Tổ công nghệ thông tin' });
    const calls: [string, string, unknown?][] = [
      ['GET', `/users/${person.id}`],
      ['PATCH', `/users/${person.id}`, { position: 'Chủ tịch' }],
      ['POST', `/users/${person.id}/disable`],
      ['POST', '/users', { full_name: 'Người Mới', org_unit_id: world.tree.anHuu.id }],
      ['GET', `/org-units/${world.tree.caiBe.id}`],
      ['POST', '/org-units', { code: 'TG.MOI', name: 'Đơn vị mới', kind: 'unit', parent_id: world.tree.province.id }],
      ['POST', '/org-units', { code: 'MOI', name: 'Tỉnh mới', kind: 'province', parent_id: null }],
      ['PATCH', `/org-units/${world.tree.anHuu.id}`, { name: 'Xã An Hữu mới' }],
      ['DELETE', `/org-units/${world.tree.anHuuHealthStation.id}`],
      ['GET', `/groups/${group.body.id}`],
      ['POST', '/groups', { org_unit_id: world.tree.anHuu.id, name: 'Nhóm lạ' }],
      ['PUT', `/groups/${group.body.id}/members/${person.id}`],
      ['POST', '/role-assignments', { user_id: person.id, role: 'helpdesk', org_unit_id: world.tree.anHuu.id }],
      ['GET', '/audit-events'],
      ['GET', '/audit-events/export'],
      ['GET', '/audit-events/verification'],
    ];
    for (const [method, path, body] of calls) {
      const response = await nobody.api(method, path, body);
      expect(response.status, `${method} ${path}`).toBe(403);
      expect(response.body, `${method} ${path}`).toMatchObject({ error: 'forbidden' });
    }
    const denied = await world.superAdmin<{ items: unknown[] }>('GET', `/audit-events?outcome=denied&actor_id=${nobody.user.id}&limit=200`);
    expect(denied.body.items).toHaveLength(calls.length);
  });
});
