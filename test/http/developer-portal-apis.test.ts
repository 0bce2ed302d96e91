import * as oidc from 'openid-client';
import { beforeAll, describe, expect, it } from 'vitest';

import { findResourceServerByIdentifier } from '../../src/db/queries/resource-servers.ts';
import type { AdminRole, OrgUnit, User } from '../../src/db/schema.ts';
import { grantDirectly, useProvinceServer } from '../support/admin-api.ts';
import { discoverRelyingParty } from '../support/relying-party.ts';
import { createUser } from '../support/server.ts';
import { htmlOf, openConsoleAs, submitForm, type FollowResult, type UserAgent } from '../support/user-agent.ts';

const world = useProvinceServer();
const identifier = 'https://lich-truc.tiengiang.gov.vn/api';

interface Person {
  readonly user: User;
  readonly credentials: { login: string; password: string };
}

async function person(username: string, role: AdminRole, unit: OrgUnit | null = null): Promise<Person> {
  const credentials = { login: username, password: `mật khẩu của ${username} 2026` };
  const user = await createUser(world.server, { username, password: credentials.password, fullName: `Người dùng ${username}` });
  await grantDirectly(world.server, { userId: user.id }, role, unit);
  return { user, credentials };
}

let developer: Person;
let itCentre: Person;
let unitAdmin: Person;

beforeAll(async () => {
  developer = await person('laptrinhvien.lich', 'developer');
  itCentre = await person('trungtamcntt.lich', 'super_admin');
  unitAdmin = await person('quantri.huyen', 'org_admin', world.tree.caiBe);
});

const open = (agent: UserAgent, path: string) => agent.follow(`${world.server.issuer}${path}`, 'http://never/');

/** A service app registered through the portal's form, approved by the IT centre through the API; its id and secret. */
async function serviceAppThroughPortal(agent: UserAgent, name: string): Promise<{ clientId: string; secret: string }> {
  const form = await open(agent, '/developers/apps/new');
  const page = await submitForm(agent, form, '/developers/apps', { name, kind: 'service', redirect_uris: '' });
  const clientId = /id="client-id">([0-9a-f]{32})</.exec(htmlOf(page))?.[1] ?? '';
  const secret = /id="client-secret">([\w-]+)</.exec(htmlOf(page))?.[1] ?? '';
  expect((await world.superAdmin('POST', `/apps/${clientId}/approval`, { decision: 'approve' })).status).toBe(200);
  return { clientId, secret };
}

async function declareThroughPortal(agent: UserAgent, fields: Record<string, string>): Promise<FollowResult> {
  const form = await open(agent, '/developers/apis/new');
  return submitForm(agent, form, '/developers/apis', { api_name: 'API lịch trực', identifier, api_scopes: 'read: Xem lịch trực\nwrite: Sửa lịch trực', ...fields });
}

describe('declaring an API in the developer portal and approving it in the admin console', () => {
  it('lints the identifier in Vietnamese, declares a pending API, and lets a global administrator approve it; the granted app then gets tokens', async () => {
    const { agent } = await openConsoleAs(`${world.server.issuer}/developers/apis`, developer.credentials);
    const server = await serviceAppThroughPortal(agent, 'Máy chủ lịch trực');
    const caller = await serviceAppThroughPortal(agent, 'Đồng bộ lịch trực');

    const bad = await declareThroughPortal(agent, { identifier: 'http://lich-truc.tiengiang.gov.vn/api#v1', owner_client_id: server.clientId, api_scopes: 'openid: x\nread' });
    expect(bad.response.status).toBe(400);
    const identifierError = /id="identifier-error">([^<]*)</.exec(htmlOf(bad))?.[1] ?? '';
    expect(identifierError).toContain('phải dùng https (http chỉ được dùng cho localhost)');
    expect(identifierError).toContain('không được có phần #');
    expect(htmlOf(bad)).toMatch(/id="api_scopes-error">[^<]*là phạm vi của OpenID Connect/);
    expect(htmlOf(bad)).toMatch(/id="identifier"[^>]*aria-invalid="true"/);
    expect(await findResourceServerByIdentifier(world.server.database.db, 'http://lich-truc.tiengiang.gov.vn/api#v1')).toBeUndefined();

    const declared = await declareThroughPortal(agent, { owner_client_id: server.clientId });
    expect(htmlOf(declared)).toContain('Đã khai báo API; API chờ quản trị viên tỉnh phê duyệt.');
    expect(htmlOf(declared)).toContain('chờ phê duyệt');
    const api = await findResourceServerByIdentifier(world.server.database.db, identifier);
    expect(api).toMatchObject({ status: 'pending', owner_client_id: server.clientId, access_token_format: 'jwt', access_token_seconds: 600 });

    const granted = await submitForm(agent, declared, `/apis/${api!.id}/grants`, { client_id: caller.clientId, scopes: 'read' });
    expect(htmlOf(granted)).toContain('Đã cấp quyền gọi API.');
    expect(htmlOf(granted)).toContain('Đồng bộ lịch trực');

    const admin = await openConsoleAs(`${world.server.issuer}/admin/resource-servers`, itCentre.credentials);
    const queue = await open(admin.agent, '/admin/resource-servers');
    expect(htmlOf(queue)).toContain('API chờ phê duyệt (1)');
    const approved = await submitForm(admin.agent, queue, `/resource-servers/${api!.id}/decision`, { decision: 'approve' });
    expect(htmlOf(approved)).toContain('Đã phê duyệt API.');
    expect((await findResourceServerByIdentifier(world.server.database.db, identifier))?.status).toBe('active');

    const relyingParty = await discoverRelyingParty(world.server.issuer, caller.clientId, caller.secret);
    expect((await oidc.clientCredentialsGrant(relyingParty, { resource: identifier, scope: 'read' })).scope).toBe('read');

    const disabled = await submitForm(admin.agent, approved, `/resource-servers/${api!.id}/status`, { status: 'disabled' });
    expect(htmlOf(disabled)).toContain('Đã ngừng cấp token cho API.');
    await expect(oidc.clientCredentialsGrant(relyingParty, { resource: identifier, scope: 'read' })).rejects.toMatchObject({ error: 'invalid_target' });
  });

  it('asks before rejecting, saying it is final; keeps the page from unit administrators and other developers', async () => {
    const { agent } = await openConsoleAs(`${world.server.issuer}/developers/apis`, developer.credentials);
    const server = await serviceAppThroughPortal(agent, 'Máy chủ tạm');
    await declareThroughPortal(agent, { identifier: 'https://tam.tiengiang.gov.vn/api', owner_client_id: server.clientId });
    const api = await findResourceServerByIdentifier(world.server.database.db, 'https://tam.tiengiang.gov.vn/api');

    const admin = await openConsoleAs(`${world.server.issuer}/admin/resource-servers`, itCentre.credentials);
    const confirm = await open(admin.agent, `/admin/resource-servers/${api!.id}/reject`);
    expect(htmlOf(confirm)).toContain('là quyết định cuối cùng');
    const rejected = await submitForm(admin.agent, confirm, `/resource-servers/${api!.id}/decision`);
    expect(htmlOf(rejected)).toContain('Đã từ chối API.');
    expect((await findResourceServerByIdentifier(world.server.database.db, 'https://tam.tiengiang.gov.vn/api'))?.status).toBe('rejected');

    const district = await openConsoleAs(`${world.server.issuer}/admin/resource-servers`, unitAdmin.credentials);
    const districtPage = await open(district.agent, '/admin/resource-servers');
    expect(districtPage.response.status).toBe(403);
    expect(htmlOf(districtPage)).toContain('chỉ quản trị viên toàn tỉnh được quản lý');

    const other = await person('laptrinhvien.khac', 'developer');
    const otherPortal = await openConsoleAs(`${world.server.issuer}/developers/apis`, other.credentials);
    expect(htmlOf(await open(otherPortal.agent, '/developers/apis'))).toContain('Bạn chưa khai báo API nào.');
    const refused = await open(otherPortal.agent, `/developers/apis/${api!.id}`);
    expect(refused.response.status).toBe(403);
    expect(htmlOf(refused)).toContain('API này thuộc về nhà phát triển khác');
  });
});
