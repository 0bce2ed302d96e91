import * as oidc from 'openid-client';
import { beforeAll, describe, expect, it } from 'vitest';

import { listAuditEvents } from '../../../src/db/queries/audit-events.ts';
import type { OrgUnit, User } from '../../../src/db/schema.ts';
import { expectApiError, redeemCode, signInThroughPages, useProvinceServer } from '../../support/admin-api.ts';
import { authorizationRequest, discoverRelyingParty } from '../../support/relying-party.ts';
import { createUser, registerTestClient } from '../../support/server.ts';
import { formsOf, UserAgent } from '../../support/user-agent.ts';

const world = useProvinceServer();
const redirectUri = 'http://localhost:8095/benh-vien/callback';
const password = 'phần mềm bệnh viện 2026';

let hospital: oidc.Configuration;
let clientId: string;
let nurse: User;
let stranger: User;

async function staffIn(username: string, unit: OrgUnit): Promise<User> {
  const user = await createUser(world.server, { username, password, fullName: `Nhân viên ${username}` });
  await world.server.database.db.updateTable('users').set({ primary_org_unit_id: unit.id }).where('id', '=', user.id).execute();
  return user;
}

beforeAll(async () => {
  const registered = await registerTestClient(world.server, { name: 'Phần mềm quản lý bệnh viện', redirectUris: [redirectUri], firstParty: true });
  clientId = registered.clientId;
  hospital = await discoverRelyingParty(world.server.issuer, clientId, registered.clientSecret);
  nurse = await staffIn('dieuduong', world.tree.anHuuHealthStation);
  stranger = await staffIn('nguoingoai', world.tree.binhPhan);
  expect((await world.superAdmin('PUT', `/apps/${clientId}/roles`, { roles: [{ name: 'doctor' }, { name: 'nurse', description: 'Điều dưỡng' }] })).status).toBe(200);
  expect((await world.superAdmin('PUT', `/apps/${clientId}/access-policy`, { access_policy: 'restricted' })).status).toBe(200);
});

describe('assigning an app', () => {
  it('lets a unit admin open the app to their district, with its declared roles', async () => {
    const created = await world.caiBeAdmin.api('POST', `/apps/${clientId}/assignments`, { org_unit_id: world.tree.caiBe.id, roles: ['nurse'] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ org_unit_id: world.tree.caiBe.id, roles: ['nurse'], holder_name: 'Ủy ban nhân dân huyện Cái Bè' });
  });

  it('refuses another district, a role the app never declared, and the province-wide switch, each saying why', async () => {
    expectApiError(await world.caiBeAdmin.api('POST', `/apps/${clientId}/assignments`, { org_unit_id: world.tree.choGao.id }), 403, 'forbidden', 'inside the part of the org tree you administer');
    expectApiError(await world.caiBeAdmin.api('POST', `/apps/${clientId}/assignments`, { user_id: nurse.id, roles: ['surgeon'] }), 400, 'invalid_input', 'declares no role surgeon');
    expectApiError(await world.caiBeAdmin.api('PUT', `/apps/${clientId}/access-policy`, { access_policy: 'open' }), 403, 'forbidden', 'global administrator');
  });
});

describe('signing in to a restricted app', () => {
  it('lets in someone in a commune of the assigned district', async () => {
    const signIn = await signInThroughPages(hospital, redirectUri, { login: nurse.username, password });
    const tokens = await redeemCode(hospital, signIn);
    expect(tokens.claims()?.sub).toBe(nurse.id);
  });

  it('tells someone from another district they have no access, whom to ask, and audits it', async () => {
    const agent = new UserAgent();
    const { url } = await authorizationRequest(hospital, redirectUri, { state: oidc.randomState() });
    const login = await agent.follow(url.href, redirectUri);
    const [form] = formsOf(login.kind === 'page' ? login.html : '', login.url);
    const denied = await agent.follow(form!.action, redirectUri, { form: { ...form!.fields, login: stranger.username, password } });
    expect(denied.kind === 'page' && denied.response.status).toBe(403);
    expect(denied.kind === 'page' && denied.html).toContain('chưa được cấp quyền dùng Phần mềm quản lý bệnh viện');
    const [event] = await listAuditEvents(world.server.database.db, { action: 'app.access_denied', targetId: clientId, subtrees: null, limit: 1 });
    expect(event).toMatchObject({ actor_id: stranger.id, outcome: 'denied' });
    // The app is first-party, but consent is given with the login only to whom it is open.
    const grants = await world.server.database.db.selectFrom('oidc_payloads').select('id')
      .where('model', '=', 'Grant').where('account_id', '=', stranger.id).execute();
    expect(grants).toEqual([]);

    // Going back tells the app no.
    const [back] = formsOf(denied.kind === 'page' ? denied.html : '', world.server.issuer);
    const answer = await agent.follow(back!.action, redirectUri, { form: back!.fields });
    expect(answer.kind === 'redirect' && new URL(answer.url).searchParams.get('error')).toBe('access_denied');
  });

  it('asks for the login form again with prompt=login, so a colleague can sign in on the browser of someone refused', async () => {
    const agent = new UserAgent();
    const signInAs = async (login: string, params: Record<string, string> = {}) => {
      const state = oidc.randomState();
      const { url, verifier } = await authorizationRequest(hospital, redirectUri, { state, ...params });
      const page = await agent.follow(url.href, redirectUri);
      const html = page.kind === 'page' ? page.html : '';
      expect(page.kind === 'page' && page.response.status, 'the login form, not the no-access page').toBe(200);
      expect(html).toContain('type="password"');
      const [form] = formsOf(html, page.url);
      return { step: await agent.follow(form!.action, redirectUri, { form: { ...form!.fields, login, password } }), state, verifier };
    };
    const refused = await signInAs(stranger.username);
    expect(refused.step.kind === 'page' && refused.step.response.status).toBe(403);

    // The refused person's session stands; without prompt=login the app hears no access at once.
    const again = await agent.follow((await authorizationRequest(hospital, redirectUri, { state: 's' })).url.href, redirectUri);
    expect(again.kind === 'page' && again.response.status).toBe(403);

    const colleague = await signInAs(nurse.username, { prompt: 'login' });
    // oidc-provider ends the refused person's session before it starts the colleague's (a page that
    // posts itself: a browser's script does it, here the agent submits the form). The colleague's
    // login, and a first-party app's consent given with it, then stand: no second password.
    const switching = colleague.step.kind === 'page' ? colleague.step : null;
    const [endSession] = formsOf(switching?.html ?? '', switching?.url ?? world.server.issuer);
    expect(endSession?.action).toContain('/session/end/confirm');
    const signedIn = await agent.follow(endSession!.action, redirectUri, { form: endSession!.fields });
    expect(signedIn.kind).toBe('redirect');
    const tokens = await redeemCode(hospital, { callback: new URL(signedIn.url), verifier: colleague.verifier, state: colleague.state });
    expect(tokens.claims()?.sub).toBe(nurse.id);
  });

  it('stops refreshing tokens and answering userinfo once the assignment that covered the person is removed', async () => {
    const signIn = await signInThroughPages(hospital, redirectUri, { login: nurse.username, password }, { scope: 'openid offline_access', prompt: 'consent' });
    const first = await redeemCode(hospital, signIn);
    // While the assignment stands, the refresh token works (and rotates).
    const tokens = await oidc.refreshTokenGrant(hospital, first.refresh_token!);
    const assignments = await world.caiBeAdmin.api<{ items: { id: string }[] }>('GET', `/apps/${clientId}/assignments`);
    for (const assignment of assignments.body.items) expect((await world.caiBeAdmin.api('DELETE', `/app-assignments/${assignment.id}`)).status).toBe(204);
    await expect(oidc.refreshTokenGrant(hospital, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(oidc.fetchUserInfo(hospital, tokens.access_token, nurse.id)).rejects.toThrow();
  });
});

describe('the gov scope', () => {
  it('tells the app where the person works (unit, level, path), their position, and the roles its assignments give them', async () => {
    await world.server.database.db.updateTable('users').set({ position: 'Điều dưỡng trưởng' }).where('id', '=', nurse.id).execute();
    const assigned = await world.caiBeAdmin.api('POST', `/apps/${clientId}/assignments`, { group_id: (await groupWith(nurse)).id, roles: ['doctor', 'nurse'] });
    expect(assigned.status).toBe(201);
    const signIn = await signInThroughPages(hospital, redirectUri, { login: nurse.username, password }, { scope: 'openid gov' });
    const tokens = await redeemCode(hospital, signIn);
    const claims = await oidc.fetchUserInfo(hospital, tokens.access_token, nurse.id);
    expect(claims).toMatchObject({
      position: 'Điều dưỡng trưởng',
      app_roles: ['doctor', 'nurse'],
      org_unit: {
        id: world.tree.anHuuHealthStation.id, code: 'TG.CAIBE.ANHUU.TYT', name: 'Trạm Y tế xã An Hữu', kind: 'health_station', level: 3,
        path: world.tree.anHuuHealthStation.path, path_codes: ['TG', 'TG.CAIBE', 'TG.CAIBE.ANHUU', 'TG.CAIBE.ANHUU.TYT'],
      },
    });
  });

  it('is not released without the scope', async () => {
    const signIn = await signInThroughPages(hospital, redirectUri, { login: nurse.username, password });
    const tokens = await redeemCode(hospital, signIn);
    const claims = await oidc.fetchUserInfo(hospital, tokens.access_token, nurse.id);
    expect(claims).not.toHaveProperty('org_unit');
    expect(claims).not.toHaveProperty('app_roles');
  });
});

async function groupWith(user: User): Promise<{ id: string }> {
  const group = await world.caiBeAdmin.api<{ id: string }>('POST', '/groups', { org_unit_id: world.tree.anHuu.id, name: `Khoa điều dưỡng ${user.username}` });
  expect((await world.caiBeAdmin.api('PUT', `/groups/${group.body.id}/members/${user.id}`)).status).toBe(204);
  return group.body;
}
