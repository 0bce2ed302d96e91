import * as oidc from 'openid-client';
import { beforeAll, describe, expect, it } from 'vitest';

import type { User } from '../../../src/db/schema.ts';
import { addPerson, apiResource, serviceCaller, useProvinceServer } from '../../support/admin-api.ts';
import { authorizationRequest, discoverRelyingParty } from '../../support/relying-party.ts';
import { expectScimError, requestScimToken, scimApp, scimClient, scimResource, type ScimApp } from '../../support/scim.ts';
import { createUser, registerTestClient } from '../../support/server.ts';

/**
 * Who may call SCIM and what each caller sees: the hospital system, whose app is restricted to the
 * district of Cái Bè and one more person, pulls exactly the people its assignments cover; tokens
 * without the scim scope, for another resource, of a person, or bound by DPoP and sent without
 * their proof are refused; an app without admin roles reads and cannot write.
 */

const world = useProvinceServer();
const core = 'urn:ietf:params:scim:schemas:core:2.0:User';

interface List {
  totalResults: number;
  Resources: { id: string; userName: string; displayName?: string; members?: { value: string }[] }[];
}

let hospital: ScimApp;
let nurse: User;
let stationDoctor: User;
let outsider: User;
let invited: User;
let leaver: User;

beforeAll(async () => {
  hospital = await scimApp(world.server, world.superAdmin, { name: 'Phần mềm quản lý bệnh viện', restricted: true });
  nurse = await addPerson(world.server, { username: 'dieuduong', fullName: 'Lê Thị Điều', unit: world.tree.caiBe });
  stationDoctor = await addPerson(world.server, { username: 'bacsitram', fullName: 'Trương Văn Y', unit: world.tree.anHuuHealthStation });
  outsider = await addPerson(world.server, { username: 'ngoaihuyen', fullName: 'Hồ Văn Ngoài', unit: world.tree.binhPhan });
  invited = await addPerson(world.server, { username: 'khachmoi', fullName: 'Cao Thị Khách', unit: world.tree.binhPhan });
  leaver = await addPerson(world.server, { username: 'danghi', fullName: 'Đinh Văn Nghỉ', unit: world.tree.caiBe, status: 'disabled' });
  for (const assignment of [{ org_unit_id: world.tree.caiBe.id }, { user_id: invited.id }]) {
    expect((await world.superAdmin('POST', `/apps/${hospital.clientId}/assignments`, assignment)).status).toBe(201);
  }
});

describe('what a restricted app sees', () => {
  it('lists the people its assignments cover, a subtree and a person, and nobody else, nor the disabled', async () => {
    const listed = await hospital.scim<List>('GET', '/Users?count=100');
    expect(listed.status).toBe(200);
    expect(listed.body.Resources.map((user) => user.userName).sort()).toEqual(['bacsitram', 'dieuduong', 'khachmoi']);
    expect(listed.body.totalResults).toBe(3);
  });

  it('stops seeing someone an access review took out of the app, as sign-in stops letting them in', async () => {
    const revoked = await addPerson(world.server, { username: 'bithuhoi', fullName: 'Mai Văn Thu', unit: world.tree.anHuu });
    expect((await hospital.scim('GET', `/Users/${revoked.id}`)).status).toBe(200);
    await world.server.database.db.insertInto('app_access_exclusions').values({ client_id: hospital.clientId, user_id: revoked.id, created_by: 'system' }).execute();
    expectScimError(await hospital.scim('GET', `/Users/${revoked.id}`), 404);
    // Back to the three people the other tests count on.
    await world.server.database.db.updateTable('users').set({ status: 'disabled' }).where('id', '=', revoked.id).execute();
  });

  it('answers 404 for someone outside its cover, and no filter finds them', async () => {
    expectScimError(await hospital.scim('GET', `/Users/${outsider.id}`), 404);
    expectScimError(await hospital.scim('GET', `/Users/${leaver.id}`), 404);
    expect((await hospital.scim<List>('GET', `/Users?filter=${encodeURIComponent(`id eq "${outsider.id}" or userName eq "ngoaihuyen"`)}`)).body.totalResults).toBe(0);
    expect((await hospital.scim('GET', `/Users/${stationDoctor.id}`)).status).toBe(200);
  });

  it('sees only the groups of its subtree, with only the members it covers', async () => {
    const group = await world.superAdmin<{ id: string }>('POST', '/groups', { org_unit_id: world.tree.caiBe.id, name: 'Tổ y tế lưu động' });
    const hidden = await world.superAdmin<{ id: string }>('POST', '/groups', { org_unit_id: world.tree.binhPhan.id, name: 'Tổ Bình Phan' });
    for (const member of [nurse, outsider]) expect((await world.superAdmin('PUT', `/groups/${group.body.id}/members/${member.id}`)).status).toBe(204);
    const groups = await hospital.scim<List>('GET', '/Groups');
    expect(groups.body.Resources.map((item) => item.displayName)).toEqual(['Tổ y tế lưu động']);
    expect(groups.body.Resources[0]!.members?.map((member) => member.value)).toEqual([nurse.id]);
    expectScimError(await hospital.scim('GET', `/Groups/${hidden.body.id}`), 404);
    expect((await hospital.scim<List>('GET', `/Groups?filter=${encodeURIComponent(`members[value eq "${outsider.id}"]`)}`)).body.totalResults).toBe(0);
    expect((await hospital.scim<List>('GET', `/Groups?filter=${encodeURIComponent(`members.value eq "${nurse.id}"`)}`)).body.totalResults).toBe(1);
  });

  it('reads and cannot write without an admin role: 403, audited', async () => {
    const refused = await hospital.scim('POST', '/Users', { schemas: [core], userName: 'moi', name: { formatted: 'Người Mới' } });
    expectScimError(refused, 403, undefined, 'read, not change');
    const events = await world.superAdmin<{ items: { request_id: string | null; actor: { id: string } }[] }>('GET', '/audit-events?outcome=denied&action=user.create');
    expect(events.body.items.find((event) => event.request_id === refused.headers.get('x-request-id'))).toMatchObject({ actor: { id: hospital.clientId } });
    expectScimError(await hospital.scim('PATCH', `/Users/${nurse.id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'title', value: 'Trưởng khoa' }] }), 403);
    expectScimError(await hospital.scim('DELETE', `/Users/${nurse.id}`), 403);
  });

  it('sees everyone but the disabled once the app is open again', async () => {
    const open = await scimApp(world.server, world.superAdmin, { name: 'Hệ thống quản lý văn bản' });
    const everyone = await open.scim<List>('GET', '/Users?count=500');
    const names = everyone.body.Resources.map((user) => user.userName);
    expect(names).toEqual(expect.arrayContaining(['bacsitram', 'dieuduong', 'khachmoi', 'ngoaihuyen']));
    expect(names).not.toContain('danghi');
  });
});

describe('who may call SCIM', () => {
  it('publishes its discovery documents to anyone, as application/scim+json', async () => {
    for (const path of ['/ServiceProviderConfig', '/ResourceTypes', '/ResourceTypes/User', '/Schemas', '/Schemas/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User']) {
      const response = await fetch(`${scimResource(world.server)}${path}`);
      expect(response.status, path).toBe(200);
      expect(response.headers.get('content-type')).toContain('application/scim+json');
    }
    const config = await (await fetch(`${scimResource(world.server)}/ServiceProviderConfig`)).json() as Record<string, { supported: boolean }>;
    expect(config).toMatchObject({ patch: { supported: true }, filter: { supported: true }, etag: { supported: true }, bulk: { supported: false } });
  });

  it('answers a request without a token with 401 and a SCIM error', async () => {
    const response = await fetch(`${scimResource(world.server)}/Users`);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('Bearer realm="mekong-id"');
    expect(await response.json()).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '401' });
  });

  it('gives no SCIM token to an app a global administrator has not allowed, and stops an allowed one at once when the permission goes', async () => {
    const registered = await registerTestClient(world.server, { name: 'Ứng dụng chưa được phép', redirectUris: ['https://chuaphep.example.vn/callback'] });
    // Only an allowed app has the client_credentials grant at all.
    expect(await requestScimToken(world.server, registered.clientId, registered.clientSecret!)).toMatchObject({
      error: 'invalid_request', error_description: 'requested grant type is not allowed for this client',
    });
    const app = await scimApp(world.server, world.superAdmin, { name: 'Ứng dụng tạm thời' });
    expect((await world.caiBeAdmin.api('PUT', `/apps/${app.clientId}/scim-access`, { scim_access: false })).status).toBe(403);
    expect((await world.superAdmin('PUT', `/apps/${app.clientId}/scim-access`, { scim_access: false })).status).toBe(200);
    expectScimError(await app.scim('GET', '/Users'), 401, undefined, 'may no longer use SCIM');
    expect(await requestScimToken(world.server, app.clientId, app.clientSecret)).toMatchObject({ error: expect.any(String) as string });
  });

  it('refuses a token without the scim scope and a token for the admin API, and issues none in a person\'s name', async () => {
    // Asked for without the scope, the token is issued for the resource but carries no scope.
    const unscoped = await requestScimToken(world.server, hospital.clientId, hospital.clientSecret, { scope: '' });
    expectScimError(await scimClient(world.server, unscoped.access_token!)('GET', '/Users'), 401, undefined, 'scim scope');

    const automation = await serviceCaller(world.server, 'super_admin', null, 'Tự động hóa của Sở');
    expectScimError(await scimClient(world.server, automation.token)('GET', '/Users'), 401, undefined, 'not valid for SCIM');

    // The hospital's own web client, allowed SCIM, asking for a SCIM token in a person's name: refused at once.
    const redirectUri = 'https://benhvien.example.vn/callback';
    const registered = await registerTestClient(world.server, { name: 'Cổng bệnh viện', redirectUris: [redirectUri], firstParty: true });
    expect((await world.superAdmin('PUT', `/apps/${registered.clientId}/scim-access`, { scim_access: true })).status).toBe(200);
    await createUser(world.server, { username: 'nguoidung', password: 'mật khẩu người dùng 2026' });
    const relyingParty = await discoverRelyingParty(world.server.issuer, registered.clientId, registered.clientSecret);
    const { url } = await authorizationRequest(relyingParty, redirectUri, { state: oidc.randomState(), scope: 'openid scim', resource: scimResource(world.server) });
    const answer = await fetch(url, { redirect: 'manual' });
    const location = new URL(answer.headers.get('location') ?? '', world.server.issuer);
    expect(`${location.origin}${location.pathname}`).toBe(redirectUri);
    expect(location.searchParams.get('error')).toBe('invalid_target');
    expect(apiResource(world.server)).not.toBe(scimResource(world.server));
  });

  it('refuses a DPoP-bound token sent without its proof, or as a bearer token, and takes it with one', async () => {
    const relyingParty = await discoverRelyingParty(world.server.issuer, hospital.clientId, hospital.clientSecret);
    const key = await oidc.randomDPoPKeyPair('ES256');
    const dpop = oidc.getDPoPHandle(relyingParty, key);
    const tokens = await oidc.clientCredentialsGrant(relyingParty, { resource: scimResource(world.server), scope: 'scim' }, { DPoP: dpop });
    expect(tokens.token_type).toBe('dpop');
    const url = `${scimResource(world.server)}/Users`;
    const withoutProof = await fetch(url, { headers: { authorization: `DPoP ${tokens.access_token}` } });
    expect(withoutProof.status).toBe(401);
    expect(withoutProof.headers.get('www-authenticate')).toContain('error="invalid_dpop_proof"');
    const asBearer = await fetch(url, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(asBearer.status).toBe(401);
    expect(asBearer.headers.get('www-authenticate')).toContain('error="invalid_token"');
    const withProof = await oidc.fetchProtectedResource(relyingParty, tokens.access_token, new URL(url), 'GET', undefined, undefined, { DPoP: dpop });
    expect(withProof.status).toBe(200);
  });
});
