import { beforeAll, describe, expect, it } from 'vitest';

import { listAuditEvents } from '../../src/db/queries/audit-events.ts';
import { findClient, isClientOwner } from '../../src/db/queries/clients.ts';
import type { AdminRole, User } from '../../src/db/schema.ts';
import { grantDirectly, redeemCode, signInThroughPages, useProvinceServer, type ApiCall, userCaller } from '../support/admin-api.ts';
import { discoverRelyingParty } from '../support/relying-party.ts';
import { createUser } from '../support/server.ts';
import { htmlOf, openConsoleAs, submitForm, type FollowResult, type UserAgent } from '../support/user-agent.ts';

const world = useProvinceServer();
const redirectUri = 'https://benhvien.tiengiang.gov.vn/oidc/callback';

interface Person {
  readonly user: User;
  readonly credentials: { login: string; password: string };
}

async function person(username: string, role: AdminRole | null): Promise<Person> {
  const credentials = { login: username, password: `mật khẩu của ${username} 2026` };
  const user = await createUser(world.server, { username, password: credentials.password, fullName: `Nhà phát triển ${username}` });
  if (role) await grantDirectly(world.server, { userId: user.id }, role, null);
  return { user, credentials };
}

let developer: Person;
let otherDeveloper: Person;
/** A global super administrator who also registers apps: they may approve others' apps, never their own. */
let itCentre: Person;
let itCentreApi: ApiCall;

beforeAll(async () => {
  developer = await person('lapTrinhVien', 'developer');
  otherDeveloper = await person('nguoiKhac', 'developer');
  itCentre = await person('trungtamcntt', 'super_admin');
  itCentreApi = (await userCaller(world.server, { username: 'quantri.api', password: 'quản trị qua API 2026', role: 'super_admin', unit: null })).api;
});

const portal = (who: Person, path = '/developers') => openConsoleAs(`${world.server.issuer}${path}`, who.credentials);
const open = (agent: UserAgent, path: string) => agent.follow(`${world.server.issuer}${path}`, 'http://never/');

/** Registers a web app through the portal's form, as `who`; answers the page shown after and the new client id. */
async function registerThroughPortal(who: Person, fields: Record<string, string> = {}): Promise<{ agent: UserAgent; page: FollowResult; clientId: string; secret: string }> {
  const { agent } = await portal(who, '/developers/apps/new');
  const form = await open(agent, '/developers/apps/new');
  const page = await submitForm(agent, form, '/developers/apps', {
    name: 'Hệ thống quản lý bệnh viện', kind: 'web', redirect_uris: redirectUri, refresh_token: 'on', ...fields,
  });
  const clientId = /id="client-id">([0-9a-f]{32})</.exec(htmlOf(page))?.[1] ?? '';
  const secret = /id="client-secret">([\w-]+)</.exec(htmlOf(page))?.[1] ?? '';
  return { agent, page, clientId, secret };
}

/** A real sign-in through the provider's pages and a real token request, authenticating with `secret`. */
async function tokenRequestWith(clientId: string, secret: string): Promise<string> {
  const relyingParty = await discoverRelyingParty(world.server.issuer, clientId, secret);
  const signIn = await signInThroughPages(relyingParty, redirectUri, developer.credentials);
  try {
    await redeemCode(relyingParty, signIn);
    return 'ok';
  } catch (error) {
    return (error as { error?: string }).error ?? String(error);
  }
}

describe('the door', () => {
  it('signs a developer in through the portal\u2019s own first-party client and lists their apps', async () => {
    const { page } = await portal(developer);
    expect(new URL(page.url).pathname).toBe('/developers');
    expect(htmlOf(page)).toContain('Ứng dụng của tôi');
    expect(htmlOf(page)).toContain('Bạn chưa có ứng dụng nào.');
  });

  it('turns away, with the reason, someone without the developer role, and audits it', async () => {
    const nobody = await person('nhanvien.thuong', null);
    const { page } = await portal(nobody);
    expect(page.response.status).toBe(403);
    expect(htmlOf(page)).toContain('Đăng ký và quản lý ứng dụng cần vai trò nhà phát triển ứng dụng');
    const [event] = await listAuditEvents(world.server.database.db, { action: 'developer_portal.open', outcome: 'denied', subtrees: null, limit: 1 });
    expect(event?.actor_name).toBe('nhanvien.thuong');
  });
});

describe('registering an app', () => {
  it('shows each bad redirect URI next to its field, in Vietnamese, and stores nothing', async () => {
    const before = await world.server.database.db.selectFrom('clients').select((eb) => eb.fn.countAll<string>().as('count')).executeTakeFirstOrThrow();
    const { page } = await registerThroughPortal(developer, {
      redirect_uris: 'http://benhvien.example/cb\nhttps://*.tiengiang.gov.vn/cb\nhttps://benhvien.example/cb#frag',
      logo_uri: 'http://benhvien.example/logo.png',
    });
    expect(page.response.status).toBe(400);
    const html = htmlOf(page);
    const redirectError = /id="redirect_uris-error">([^<]*)</.exec(html)?.[1] ?? '';
    expect(redirectError).toContain('phải dùng https (http chỉ được dùng cho localhost)');
    expect(redirectError).toContain('không được chứa dấu *');
    expect(redirectError).toContain('không được có phần #');
    expect(html).toMatch(/id="redirect_uris"[^>]*aria-invalid="true"/);
    expect(html).toMatch(/id="logo_uri-error">Logo &quot;http:\/\/benhvien.example\/logo.png&quot; phải là một địa chỉ https/);
    const after = await world.server.database.db.selectFrom('clients').select((eb) => eb.fn.countAll<string>().as('count')).executeTakeFirstOrThrow();
    expect(after.count).toBe(before.count);
  });

  it('says the same in English when the page is in English', async () => {
    const { agent } = await portal(developer, '/developers/apps/new?lang=en');
    const form = await open(agent, '/developers/apps/new');
    const page = await submitForm(agent, form, '/developers/apps', { name: 'App', kind: 'web', redirect_uris: 'https://app.example/cb#x' });
    expect(htmlOf(page)).toMatch(/id="redirect_uris-error">&quot;https:\/\/app.example\/cb#x&quot; must not have a # part\./);
  });

  it('registers a pending app owned by the developer, shows its secret once, and the provider does not know it yet', async () => {
    const { page, clientId, secret } = await registerThroughPortal(developer);
    expect(htmlOf(page)).toContain('chỉ hiển thị một lần');
    expect(secret).toMatch(/^[\w-]{43}$/);
    const client = await findClient(world.server.database.db, clientId);
    expect(client).toMatchObject({ status: 'pending', first_party: false, admin_api_access: false });
    expect(client?.metadata).toMatchObject({ redirect_uris: [redirectUri], grant_types: ['authorization_code', 'refresh_token'] });
    expect(client?.client_secret_hash).not.toContain(secret);
    expect(await isClientOwner(world.server.database.db, clientId, developer.user.id)).toBe(true);

    // A pending app cannot start a sign-in, nor authenticate at the token endpoint.
    const authorize = await fetch(`${world.server.issuer}/auth?${new URLSearchParams({ client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: redirectUri }).toString()}`, { redirect: 'manual' });
    expect(authorize.status).toBe(400);
    expect(await authorize.text()).toContain('invalid_client');
    const token = await fetch(`${world.server.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: 'x', redirect_uri: redirectUri }),
    });
    expect(token.status).toBe(401);
    expect(await token.json()).toMatchObject({ error: 'invalid_client' });

    const list = await open((await portal(developer)).agent, '/developers');
    expect(htmlOf(list)).toMatch(/Hệ thống quản lý bệnh viện[\s\S]*chờ phê duyệt/);
  });
});

describe('whose app it is', () => {
  it('refuses another developer the app\u2019s pages and its secret, with the reason, and audits it', async () => {
    const { clientId } = await registerThroughPortal(developer);
    const { agent } = await portal(otherDeveloper);
    for (const path of [`/developers/apps/${clientId}`, `/developers/apps/${clientId}/integration`]) {
      const refused = await open(agent, path);
      expect(refused.response.status, path).toBe(403);
      expect(htmlOf(refused)).toContain('Ứng dụng này thuộc về nhà phát triển khác');
    }
    const own = await open((await portal(developer)).agent, `/developers/apps/${clientId}`);
    const rotation = await agent.follow(`${world.server.issuer}/developers/apps/${clientId}/secret`, 'http://never/', {
      form: { _csrf: /name="_csrf" value="([^"]+)"/.exec(htmlOf(await open(agent, '/developers')))![1]!, overlap_hours: '0' },
    });
    expect(rotation.response.status).toBe(403);
    expect((await findClient(world.server.database.db, clientId))?.client_secret_hash).toBeTruthy();
    expect(htmlOf(own)).toContain('Tạo mật khẩu mới');
    const events = await listAuditEvents(world.server.database.db, { targetType: 'client', targetId: clientId, outcome: 'denied', subtrees: null, limit: 10 });
    expect(events.map((event) => event.action)).toEqual(expect.arrayContaining(['client.read', 'client.secret_rotate']));
    expect(events.every((event) => event.actor_name === 'nguoiKhac')).toBe(true);
  });

  it('lets the owner declare the app\u2019s roles, and refuses another developer through the API', async () => {
    const { clientId } = await registerThroughPortal(developer);
    const { agent } = await portal(developer);
    const page = await open(agent, `/developers/apps/${clientId}`);
    const badName = await submitForm(agent, page, `/apps/${clientId}/roles`, { roles: 'Bác sĩ trưởng' });
    expect(badName.response.status).toBe(400);
    expect(htmlOf(badName)).toMatch(/id="roles-error">Tên vai trò chỉ gồm chữ thường không dấu/);
    expect(htmlOf(badName)).toContain('>Bác sĩ trưởng</textarea>');
    const saved = await submitForm(agent, page, `/apps/${clientId}/roles`, { roles: 'bac_si: Bác sĩ\ndieu_duong: Điều dưỡng' });
    expect(htmlOf(saved)).toContain('Đã lưu vai trò của ứng dụng.');
    const roles = await world.server.database.db.selectFrom('app_roles').select(['name', 'description']).where('client_id', '=', clientId).orderBy('name').execute();
    expect(roles).toEqual([{ name: 'bac_si', description: 'Bác sĩ' }, { name: 'dieu_duong', description: 'Điều dưỡng' }]);

    const other = await userCaller(world.server, { username: 'nguoiKhac.api', password: 'một nhà phát triển khác 2026', role: 'developer', unit: null });
    const refused = await other.api('PUT', `/apps/${clientId}/roles`, { roles: [{ name: 'ke_gian' }] });
    expect(refused.status).toBe(403);
    expect((refused.body as { message: string }).message).toContain('this app belongs to other developers');
  });

  it('lets the owner add a co-owner holding the developer role, who then sees the app', async () => {
    const { clientId } = await registerThroughPortal(developer);
    const { agent } = await portal(developer);
    const page = await open(agent, `/developers/apps/${clientId}`);
    const refused = await submitForm(agent, page, `/apps/${clientId}/owners`, { username: 'nhanvien.thuong' });
    expect(refused.response.status).toBe(400);
    const added = await submitForm(agent, page, `/apps/${clientId}/owners`, { username: 'nguoiKhac' });
    expect(htmlOf(added)).toContain('Đã thêm người cùng quản lý.');
    const seen = await open((await portal(otherDeveloper)).agent, `/developers/apps/${clientId}`);
    expect(seen.response.status).toBe(200);
  });
});

describe('approval', () => {
  it('refuses a developer who is not a global administrator, and a global administrator approving their own app', async () => {
    const { clientId } = await registerThroughPortal(itCentre);
    const mine = await itCentreApi('POST', `/apps/${clientId}/approval`, { decision: 'approve' });
    expect(mine.status).toBe(200);
    // Approved by another administrator: fine. Now the administrator's own app.
    const own = await registerThroughPortal(itCentre);
    const { agent } = await openConsoleAs(`${world.server.issuer}/admin/clients/${own.clientId}`, itCentre.credentials);
    const detail = await open(agent, `/admin/clients/${own.clientId}`);
    const refused = await submitForm(agent, detail, `/clients/${own.clientId}/decision`, { decision: 'approve' });
    expect(refused.response.status).toBe(403);
    expect(htmlOf(refused)).toContain('Bạn đã tự đăng ký ứng dụng này');
    expect((await findClient(world.server.database.db, own.clientId))?.status).toBe('pending');

    const developerApp = await registerThroughPortal(developer);
    const asDeveloper = await userCaller(world.server, { username: 'lapTrinhVien.api', password: 'nhà phát triển qua API 2026', role: 'developer', unit: null });
    const denied = await asDeveloper.api('POST', `/apps/${developerApp.clientId}/approval`, { decision: 'approve' });
    expect(denied.status).toBe(403);
    expect((await findClient(world.server.database.db, developerApp.clientId))?.status).toBe('pending');
  });

  it('puts the app in the global administrator\u2019s queue; approved, openid-client signs in with it; audited', async () => {
    const { clientId, secret } = await registerThroughPortal(developer);
    const { agent } = await openConsoleAs(`${world.server.issuer}/admin/clients`, itCentre.credentials);
    const queue = await open(agent, '/admin/clients');
    expect(htmlOf(queue)).toMatch(/Ứng dụng chờ phê duyệt/);
    expect(htmlOf(queue)).toContain(`/admin/clients/${clientId}/decision`);
    const approved = await submitForm(agent, queue, `/clients/${clientId}/decision`, { decision: 'approve' });
    expect(htmlOf(approved)).toContain('Đã phê duyệt ứng dụng');
    expect(await tokenRequestWith(clientId, secret)).toBe('ok');
    const [event] = await listAuditEvents(world.server.database.db, { targetType: 'client', targetId: clientId, action: 'client.approve', subtrees: null, limit: 1 });
    expect(event).toMatchObject({ actor_name: 'trungtamcntt', outcome: 'success' });
  });

  it('asks the global administrator before rejecting from the console, saying it is final', async () => {
    const { clientId } = await registerThroughPortal(developer);
    const { agent } = await openConsoleAs(`${world.server.issuer}/admin/clients`, itCentre.credentials);
    const confirm = await open(agent, `/admin/clients/${clientId}/reject`);
    expect(htmlOf(confirm)).toContain('là quyết định cuối cùng');
    expect((await findClient(world.server.database.db, clientId))?.status).toBe('pending');
    const rejected = await submitForm(agent, confirm, `/clients/${clientId}/decision`);
    expect(htmlOf(rejected)).toContain(clientId);
    expect((await findClient(world.server.database.db, clientId))?.status).toBe('rejected');
    // Nothing is left to reject: the confirmation is for pending apps only.
    expect((await open(agent, `/admin/clients/${clientId}/reject`)).response.status).toBe(404);
  });

  it('keeps a rejected app unknown to the provider, and shows the developer it was rejected', async () => {
    const { clientId, secret } = await registerThroughPortal(developer);
    expect((await itCentreApi('POST', `/apps/${clientId}/approval`, { decision: 'reject' })).body).toEqual({ status: 'rejected' });
    const relyingParty = await discoverRelyingParty(world.server.issuer, clientId, secret);
    await expect(signInThroughPages(relyingParty, redirectUri, developer.credentials)).rejects.toThrow();
    const page = await open((await portal(developer)).agent, `/developers/apps/${clientId}`);
    expect(htmlOf(page)).toContain('đã từ chối ứng dụng này');
    // Nor can the status switch bring it back: only an approval would, and it was rejected.
    expect((await itCentreApi('POST', `/apps/${clientId}/approval`, { decision: 'approve' })).status).toBe(409);
  });
});

describe('initial access tokens for /reg', () => {
  it('are issued once from /admin/clients by a global administrator, and register a pending app at /reg', async () => {
    const { agent } = await openConsoleAs(`${world.server.issuer}/admin/clients`, itCentre.credentials);
    const list = await open(agent, '/admin/clients');
    const issued = await submitForm(agent, list, '/clients/initial-access-token');
    const token = /id="initial-access-token">([\w-]+)</.exec(htmlOf(issued))?.[1] ?? '';
    expect(token).not.toBe('');
    expect(issued.response.headers.get('cache-control')).toBe('no-store');
    const registered = await fetch(`${world.server.issuer}/reg`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Đồng bộ lịch trực', redirect_uris: [redirectUri] }),
    });
    expect(registered.status).toBe(201);
    const { client_id: clientId } = (await registered.json()) as { client_id: string };
    expect((await findClient(world.server.database.db, clientId))?.status).toBe('pending');
    const queue = await open(agent, '/admin/clients');
    expect(htmlOf(queue)).toContain(`/admin/clients/${clientId}/decision`);
  });

  it('are refused to a developer, through the console, with the reason', async () => {
    const { agent } = await openConsoleAs(`${world.server.issuer}/admin`, developer.credentials);
    const page = await open(agent, '/admin');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(htmlOf(page))?.[1] ?? '';
    const refused = await agent.follow(`${world.server.issuer}/admin/clients/initial-access-token`, 'http://never/', { form: { _csrf: csrf } });
    expect(refused.response.status).toBe(403);
    expect(htmlOf(refused)).toContain('they need a global administrator');
  });
});

describe('rotating the secret', () => {
  it('keeps the old secret working through the overlap and refuses it after; the new one works throughout', async () => {
    const { clientId, secret: first } = await registerThroughPortal(developer);
    await itCentreApi('POST', `/apps/${clientId}/approval`, { decision: 'approve' });
    const { agent } = await portal(developer);
    const page = await open(agent, `/developers/apps/${clientId}`);
    const rotated = await submitForm(agent, page, `/apps/${clientId}/secret`, { overlap_hours: '24' });
    const second = /id="client-secret">([\w-]+)</.exec(htmlOf(rotated))?.[1] ?? '';
    expect(second).toMatch(/^[\w-]{43}$/);
    expect(htmlOf(rotated)).toContain('Mật khẩu cũ vẫn dùng được đến');

    expect(await tokenRequestWith(clientId, first)).toBe('ok');
    expect(await tokenRequestWith(clientId, second)).toBe('ok');

    // The overlap ends (as if a day went by): the old secret is refused, the new one still works.
    await world.server.database.db.updateTable('clients').set({ previous_secret_expires_at: new Date(Date.now() - 1000) }).where('client_id', '=', clientId).execute();
    expect(await tokenRequestWith(clientId, first)).toBe('invalid_client');
    expect(await tokenRequestWith(clientId, second)).toBe('ok');

    const [event] = await listAuditEvents(world.server.database.db, { targetType: 'client', targetId: clientId, action: 'client.secret_rotate', subtrees: null, limit: 1 });
    expect(event?.after).toMatchObject({ overlap_seconds: 86_400 });
    expect(JSON.stringify(event)).not.toContain(second);
  });

  it('ends the old secret at once with an overlap of 0, through the admin API too', async () => {
    const { clientId, secret: first } = await registerThroughPortal(developer);
    await itCentreApi('POST', `/apps/${clientId}/approval`, { decision: 'approve' });
    const rotated = await itCentreApi<{ client_secret: string; previous_secret_expires_at: string | null }>('POST', `/apps/${clientId}/secret`, { overlap_seconds: 0 });
    expect(rotated.status).toBe(200);
    expect(rotated.body.previous_secret_expires_at).toBeNull();
    expect(await tokenRequestWith(clientId, first)).toBe('invalid_client');
    expect(await tokenRequestWith(clientId, rotated.body.client_secret)).toBe('ok');
    expect((await itCentreApi('POST', `/apps/${clientId}/secret`, { overlap_seconds: 31 * 24 * 3600 })).status).toBe(400);
  });
});

describe('the integration page', () => {
  it('gives the discovery URL, the client id and snippets with the app\u2019s real values, escaped', async () => {
    const hostile = 'https://benhvien.tiengiang.gov.vn/cb?next=<script>alert(1)</script>';
    const { clientId } = await registerThroughPortal(developer, { redirect_uris: hostile });
    const page = await open((await portal(developer)).agent, `/developers/apps/${clientId}/integration`);
    const html = htmlOf(page);
    expect(html).toContain(`<code id="discovery-url">${world.server.issuer}/.well-known/openid-configuration</code>`);
    expect(html).toContain(`<code id="client-id">${clientId}</code>`);
    for (const snippet of ['node', 'php', 'java', 'dotnet']) expect(html).toContain(`data-snippet="${snippet}"`);
    expect(html).toContain('client.discovery(');
    expect(html).toContain('new OpenIDConnectClient(');
    expect(html).toContain('issuer-uri:');
    expect(html).toContain('.AddOpenIdConnect(');
    expect(html).not.toContain('<script>alert(1)');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    const discovery = await (await fetch(`${world.server.issuer}/.well-known/openid-configuration`)).json() as { issuer: string };
    expect(discovery.issuer).toBe(world.server.issuer);
  });
});
