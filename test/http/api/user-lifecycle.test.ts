import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  addPerson,
  expectApiError,
  expectAuditedRefusal,
  grantDirectly,
  redeemCode,
  serviceCaller,
  signInThroughPages,
  userCaller,
  useProvinceServer,
} from '../../support/admin-api.ts';
import { startBackchannelReceiver } from '../../support/backchannel-receiver.ts';
import { discoverRelyingParty } from '../../support/relying-party.ts';
import { createUser, registerTestClient } from '../../support/server.ts';

const hospitalRedirectUri = 'http://localhost:8092/callback';
const password = 'mật khẩu của người dùng đủ dài';

interface UserBody {
  id: string;
  status: string;
  version: number;
}
interface AuditList {
  items: { action: string; outcome: string; before: Record<string, unknown> | null; after: Record<string, unknown> | null; details: Record<string, unknown> | null }[];
}

const world = useProvinceServer();
let receiver: Awaited<ReturnType<typeof startBackchannelReceiver>>;
let hospitalApp: oidc.Configuration;

beforeAll(async () => {
  receiver = await startBackchannelReceiver();
  const hospital = await registerTestClient(world.server, {
    name: 'Hệ thống quản lý bệnh viện',
    redirectUris: [hospitalRedirectUri],
    backchannelLogoutUri: receiver.url,
    firstParty: true,
  });
  hospitalApp = await discoverRelyingParty(world.server.issuer, hospital.clientId, hospital.clientSecret);
});

afterAll(async () => {
  await receiver.close();
});

/** Signs the person in to the hospital system, with a refresh token. */
async function signInToHospital(login: string) {
  const signIn = await signInThroughPages(hospitalApp, hospitalRedirectUri, { login, password }, { scope: 'openid offline_access', prompt: 'consent' });
  return redeemCode(hospitalApp, signIn);
}

/** What admins did to the person (their own sign-ins are audited too, under login.*). */
const adminActionsOn = async (userId: string) =>
  (await world.superAdmin<AuditList>('GET', `/audit-events?target_type=user&target_id=${userId}`)).body.items.filter((event) => event.action.startsWith('user.'));

describe('disabling a leaver', () => {
  it('ends their app tokens and refresh tokens, tells the app over the back channel, and stops their own API token at once', async () => {
    // A commune admin who also uses the hospital system.
    const leaver = await userCaller(world.server, { username: 'vothingocmai', fullName: 'Võ Thị Ngọc Mai', password, role: 'org_admin', unit: world.tree.anHuu });
    const tokens = await signInToHospital('vothingocmai');
    expect(tokens.refresh_token).toBeDefined();
    expect((await oidc.tokenIntrospection(hospitalApp, tokens.access_token)).active).toBe(true);
    expect((await leaver.api('GET', `/users/${leaver.user.id}`)).status).toBe(200);
    const deliveredBefore = receiver.tokens.length;

    const disabled = await world.superAdmin<UserBody>('POST', `/users/${leaver.user.id}/disable`);
    expect(disabled.status).toBe(200);
    expect(disabled.body.status).toBe('disabled');

    expect((await oidc.tokenIntrospection(hospitalApp, tokens.access_token)).active).toBe(false);
    await expect(oidc.refreshTokenGrant(hospitalApp, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });

    await expect.poll(() => receiver.tokens.length).toBe(deliveredBefore + 1);
    const { payload } = await jwtVerify(receiver.tokens.at(-1)!, createRemoteJWKSet(new URL(`${world.server.issuer}/jwks`)), {
      issuer: world.server.issuer,
      audience: hospitalApp.clientMetadata().client_id,
      typ: 'logout+jwt',
    });
    expect(payload.sub).toBe(leaver.user.id);
    expect(payload['events']).toEqual({ 'http://schemas.openid.net/event/backchannel-logout': {} });
    expect(payload['sid']).toBe(tokens.claims()!['sid']);

    const own = await leaver.api('GET', `/users/${leaver.user.id}`);
    expectApiError(own, 401, 'unauthorized', 'the account behind this token is not active');

    const events = await adminActionsOn(leaver.user.id);
    expect(events.map((event) => [event.action, event.outcome])).toEqual([
      ['user.backchannel_logout', 'success'],
      ['user.disable', 'success'],
    ]);
    expect(events[1]!.details!['revoked_artifacts']).toBeGreaterThan(0);
  });

  it('lets a person who was disabled sign in nowhere', async () => {
    await createUser(world.server, { username: 'ngothibich', password, fullName: 'Ngô Thị Bích' });
    const person = await world.server.database.db.updateTable('users').set({ primary_org_unit_id: world.tree.choGao.id })
      .where('username', '=', 'ngothibich').returning('id').executeTakeFirstOrThrow();
    await signInToHospital('ngothibich');
    expect((await world.superAdmin('POST', `/users/${person.id}/disable`)).status).toBe(200);
    await expect(signInToHospital('ngothibich')).rejects.toThrow(/the sign-in stopped/);
  });
});

describe('suspending and enabling', () => {
  it('suspends and then enables a person, each step audited, and they can sign in again', async () => {
    await createUser(world.server, { username: 'lythanhtung', password, fullName: 'Lý Thanh Tùng' });
    const { id } = await world.server.database.db.updateTable('users').set({ primary_org_unit_id: world.tree.anHuuHealthStation.id })
      .where('username', '=', 'lythanhtung').returning('id').executeTakeFirstOrThrow();

    const suspended = await world.caiBeAdmin.api<UserBody>('POST', `/users/${id}/suspend`);
    expect(suspended.body.status).toBe('suspended');
    await expect(signInToHospital('lythanhtung')).rejects.toThrow(/the sign-in stopped/);

    const enabled = await world.caiBeAdmin.api<UserBody>('POST', `/users/${id}/enable`, undefined, { 'if-match': `"${suspended.body.version}"` });
    expect(enabled.body.status).toBe('active');
    expect((await signInToHospital('lythanhtung')).access_token).toBeTruthy();

    const events = await adminActionsOn(id);
    expect(events.map((event) => [event.action, event.before, event.after])).toEqual([
      ['user.enable', { status: 'suspended' }, { status: 'active' }],
      ['user.suspend', { status: 'active' }, { status: 'suspended' }],
    ]);
  });

  it('disables a person whom two admins disable at the same moment, answering both with 200', async () => {
    const leaver = await addPerson(world.server, { fullName: 'Huỳnh Tấn Phát', username: 'phatht', unit: world.tree.anHuu });
    const answers = await Promise.all([
      world.superAdmin<UserBody>('POST', `/users/${leaver.id}/disable`),
      world.caiBeAdmin.api<UserBody>('POST', `/users/${leaver.id}/disable`),
      world.superAdmin<UserBody>('POST', `/users/${leaver.id}/disable`),
    ]);
    expect(answers.map((answer) => [answer.status, answer.body.status])).toEqual([[200, 'disabled'], [200, 'disabled'], [200, 'disabled']]);
    expect((await adminActionsOn(leaver.id)).map((event) => event.action)).toEqual(['user.disable']);
  });

  it('refuses to enable an account that was never activated (409): it needs an activation link', async () => {
    const pending = await addPerson(world.server, { fullName: 'Châu Văn Liêm', username: 'liemcv', unit: world.tree.anHuu, status: 'pending_activation' });
    expectApiError(await world.superAdmin('POST', `/users/${pending.id}/enable`), 409, 'conflict', 'activation link');
    expect((await world.superAdmin<UserBody>('GET', `/users/${pending.id}`)).body.status).toBe('pending_activation');
  });

  it('does not let an admin of another district suspend the person (403, audited)', async () => {
    const person = await addPerson(world.server, { fullName: 'Trịnh Văn Bô', username: 'botv', unit: world.tree.anHuu });
    const choGaoAdmin = (await serviceCaller(world.server, 'org_admin', world.tree.choGao)).api;
    await expectAuditedRefusal(world.superAdmin, await choGaoAdmin('POST', `/users/${person.id}/suspend`), 'user.suspend');
    expect((await world.superAdmin<UserBody>('GET', `/users/${person.id}`)).body.status).toBe('active');
  });

  it('does not let the helpdesk suspend anyone: it may read, not end access', async () => {
    const person = await addPerson(world.server, { fullName: 'Nguyễn Thị Định', username: 'dinhnt', unit: world.tree.anHuu });
    const helpdesk = (await serviceCaller(world.server, 'helpdesk', world.tree.caiBe)).api;
    await expectAuditedRefusal(world.superAdmin, await helpdesk('POST', `/users/${person.id}/disable`), 'user.disable');
  });

  // Acting on an administrator needs authority over each role they hold, the same test as granting it:
  // otherwise a district's admin could lock out the province's administrator who works in the district.
  it('does not let a district admin suspend a super administrator whose desk is in that district', async () => {
    const provinceAdmin = await addPerson(world.server, { fullName: 'Trần Văn Cao', username: 'caotv', unit: world.tree.caiBe });
    await grantDirectly(world.server, { userId: provinceAdmin.id }, 'super_admin', null);
    await expectAuditedRefusal(world.superAdmin, await world.caiBeAdmin.api('POST', `/users/${provinceAdmin.id}/suspend`), 'user.suspend');
    expect((await world.superAdmin<UserBody>('GET', `/users/${provinceAdmin.id}`)).body.status).toBe('active');
  });

  it('lets a person\'s home district suspend them although another district made them an admin, but not edit them', async () => {
    // Lives and works in Cái Bè; the Chợ Gạo side made them admin of its commune (a concurrent post).
    const leaver = await addPerson(world.server, { fullName: 'Trương Định', username: 'dinht', unit: world.tree.anHuu });
    await grantDirectly(world.server, { userId: leaver.id }, 'org_admin', world.tree.binhPhan);
    const suspended = await world.caiBeAdmin.api<UserBody>('POST', `/users/${leaver.id}/suspend`);
    expect(suspended.status).toBe(200);
    expect(suspended.body.status).toBe('suspended');
    // Bringing them back, or changing them, still needs authority over the role they hold.
    await expectAuditedRefusal(world.superAdmin, await world.caiBeAdmin.api('POST', `/users/${leaver.id}/enable`), 'user.enable');
    await expectAuditedRefusal(world.superAdmin, await world.caiBeAdmin.api('PATCH', `/users/${leaver.id}`, { position: 'Chuyên viên' }), 'user.update');
  });

  it('lets a district admin suspend the admin of a commune in their district, a role they could have granted', async () => {
    const communeAdmin = await addPerson(world.server, { fullName: 'Lê Thị Riêng', username: 'rienglt', unit: world.tree.anHuu });
    await grantDirectly(world.server, { userId: communeAdmin.id }, 'org_admin', world.tree.anHuu);
    const suspended = await world.caiBeAdmin.api<UserBody>('POST', `/users/${communeAdmin.id}/suspend`);
    expect(suspended.status).toBe(200);
    expect(suspended.body.status).toBe('suspended');
  });
});
