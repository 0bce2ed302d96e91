import { beforeAll, describe, expect, it } from 'vitest';

import type { User } from '../../../src/db/schema.ts';
import {
  addPerson,
  expectApiError,
  expectAuditedRefusal,
  grantDirectly,
  serviceCaller,
  userCaller,
  useProvinceServer,
  type UserCaller,
} from '../../support/admin-api.ts';
import { registerTestClient } from '../../support/server.ts';

interface Assignment {
  id: string;
  user_id: string | null;
  client_id: string | null;
  role: string;
  org_unit_id: string | null;
  granted_by: string | null;
}

const world = useProvinceServer();
/** Org admin of Cái Bè, and nothing else. */
/** Org admin of Cái Bè who also holds helpdesk there. */
let caiBeAdminWithHelpdesk: UserCaller;
/** A clerk of An Hữu, a commune of Cái Bè: the one roles are granted to. */
let clerk: User;
/** A person of Chợ Gạo. */
let choGaoPerson: User;

beforeAll(async () => {
  const { server, tree } = world;
  caiBeAdminWithHelpdesk = await userCaller(server, { username: 'kieuthiyen', fullName: 'Kiều Thị Yến', password: 'quản trị và hỗ trợ Cái Bè', role: 'org_admin', unit: tree.caiBe });
  await grantDirectly(server, { userId: caiBeAdminWithHelpdesk.user.id }, 'helpdesk', tree.caiBe);
  clerk = await addPerson(server, { fullName: 'Lương Văn Can', username: 'canlv', unit: tree.anHuu });
  choGaoPerson = await addPerson(server, { fullName: 'Thái Thị Hòa', username: 'hoatt', unit: tree.binhPhan });
});

const grant = (caller: UserCaller, body: Record<string, unknown>) => caller.api<Assignment>('POST', '/role-assignments', body);

/** Leaves `keptId` the only super administrator (among people) who can still sign in. */
async function disableEverySuperAdministratorBut(keptId: string): Promise<void> {
  const held = await world.superAdmin<{ items: Assignment[] }>('GET', '/role-assignments?role=super_admin&limit=200');
  for (const { user_id: userId } of held.body.items) {
    if (userId === null || userId === keptId) continue;
    expect((await world.superAdmin('POST', `/users/${userId}/disable`)).status).toBe(200);
  }
}

describe('what an org admin of Cái Bè may not grant', () => {
  it('cannot grant super_admin', async () => {
    await expectAuditedRefusal(world.superAdmin, await grant(world.caiBeAdmin, { user_id: clerk.id, role: 'super_admin' }), 'role.grant');
  });

  it('cannot grant org_admin over Chợ Gạo, nor over the province that contains their district', async () => {
    await expectAuditedRefusal(world.superAdmin, await grant(world.caiBeAdmin, { user_id: clerk.id, role: 'org_admin', org_unit_id: world.tree.choGao.id }), 'role.grant');
    await expectAuditedRefusal(world.superAdmin, await grant(world.caiBeAdmin, { user_id: clerk.id, role: 'org_admin', org_unit_id: world.tree.province.id }), 'role.grant');
    await expectAuditedRefusal(world.superAdmin, await grant(world.caiBeAdmin, { user_id: clerk.id, role: 'org_admin' }), 'role.grant');
  });

  it('cannot grant themselves anything, not even what they could grant someone else', async () => {
    await expectAuditedRefusal(world.superAdmin, await grant(world.caiBeAdmin, { user_id: world.caiBeAdmin.user.id, role: 'org_admin', org_unit_id: world.tree.anHuu.id }), 'role.grant');
    await expectAuditedRefusal(world.superAdmin, await grant(world.caiBeAdmin, { user_id: world.caiBeAdmin.user.id, role: 'auditor', org_unit_id: world.tree.caiBe.id }), 'role.grant');
    // Their own id in capitals is still their own id.
    await expectAuditedRefusal(world.superAdmin, await grant(world.caiBeAdmin, { user_id: world.caiBeAdmin.user.id.toUpperCase(), role: 'org_admin', org_unit_id: world.tree.anHuu.id }), 'role.grant');
  });

  it('cannot hand out helpdesk over their commune while holding only org_admin: nobody grants a role they do not hold', async () => {
    await expectAuditedRefusal(world.superAdmin, await grant(world.caiBeAdmin, { user_id: clerk.id, role: 'helpdesk', org_unit_id: world.tree.anHuu.id }), 'role.grant');
  });

  it('cannot grant a role over their commune to a person of Chợ Gạo, whom they cannot see', async () => {
    const response = await grant(world.caiBeAdmin, { user_id: choGaoPerson.id, role: 'org_admin', org_unit_id: world.tree.anHuu.id });
    await expectAuditedRefusal(world.superAdmin, response, 'user.read');
  });

  it('cannot give a role to a service client: only a global administrator can', async () => {
    const service = await registerTestClient(world.server, { name: 'Đồng bộ Cái Bè', kind: 'service' });
    await expectAuditedRefusal(world.superAdmin, await grant(world.caiBeAdmin, { client_id: service.clientId, role: 'org_admin', org_unit_id: world.tree.anHuu.id }), 'role.grant');
  });
});

describe('what an org admin of Cái Bè may grant', () => {
  it('grants org_admin over the commune below their district, recorded with who granted it', async () => {
    const granted = await grant(world.caiBeAdmin, { user_id: clerk.id, role: 'org_admin', org_unit_id: world.tree.anHuu.id });
    expect(granted.status).toBe(201);
    expect(granted.body).toMatchObject({ user_id: clerk.id, role: 'org_admin', org_unit_id: world.tree.anHuu.id, granted_by: `user:${world.caiBeAdmin.user.id}` });
    const events = await world.superAdmin<{ items: { action: string; outcome: string; org_unit_id: string }[] }>('GET', `/audit-events?action=role.grant&target_id=${granted.body.id}`);
    expect(events.body.items).toEqual([expect.objectContaining({ action: 'role.grant', outcome: 'success', org_unit_id: world.tree.anHuu.id })]);
  });

  it('hands out helpdesk over the commune when they hold helpdesk over the district themselves', async () => {
    const granted = await grant(caiBeAdminWithHelpdesk, { user_id: clerk.id, role: 'helpdesk', org_unit_id: world.tree.anHuu.id });
    expect(granted.status).toBe(201);
    expect(granted.body).toMatchObject({ role: 'helpdesk', org_unit_id: world.tree.anHuu.id, granted_by: `user:${caiBeAdminWithHelpdesk.user.id}` });
  });

  it('answers 409 for a role already granted there', async () => {
    const body = { user_id: clerk.id, role: 'org_admin', org_unit_id: world.tree.anHuuHealthStation.id };
    expect((await grant(world.caiBeAdmin, body)).status).toBe(201);
    expectApiError(await grant(world.caiBeAdmin, body), 409, 'conflict', 'already granted');
  });

  it('takes away a role granted over their subtree, and not a global one', async () => {
    const nurse = await addPerson(world.server, { fullName: 'Hà Thị Nhung', username: 'nhunght', unit: world.tree.anHuuHealthStation });
    const granted = await grant(world.caiBeAdmin, { user_id: nurse.id, role: 'org_admin', org_unit_id: world.tree.anHuuHealthStation.id });
    expect(granted.status).toBe(201);
    await grantDirectly(world.server, { userId: nurse.id }, 'auditor', null);
    const held = async () => (await world.superAdmin<{ items: Assignment[] }>('GET', `/role-assignments?user_id=${nurse.id}`)).body.items;
    expect((await held()).map((assignment) => assignment.role).sort()).toEqual(['auditor', 'org_admin']);

    expect((await world.caiBeAdmin.api('DELETE', `/role-assignments/${granted.body.id}`)).status).toBe(204);
    const [global] = await held();
    expect(global).toMatchObject({ role: 'auditor', org_unit_id: null });
    await expectAuditedRefusal(world.superAdmin, await world.caiBeAdmin.api('DELETE', `/role-assignments/${global!.id}`), 'role.revoke');
    expect(await held()).toHaveLength(1);
  });

  it('takes effect on the grantee\'s next request, and a revoked role stops working at once, whatever the token\'s lifetime', async () => {
    const { server, tree } = world;
    const secretary = await userCaller(server, { username: 'chauthithu', fullName: 'Châu Thị Thu', password: 'thư ký xã An Hữu', role: null, unit: null, homeUnit: tree.anHuu });
    expect((await secretary.api('GET', `/users/${clerk.id}`)).status).toBe(403);
    const granted = await grant(world.caiBeAdmin, { user_id: secretary.user.id, role: 'org_admin', org_unit_id: tree.anHuu.id });
    expect(granted.status).toBe(201);
    expect((await secretary.api('GET', `/users/${clerk.id}`)).status).toBe(200);
    expect((await world.caiBeAdmin.api('DELETE', `/role-assignments/${granted.body.id}`)).status).toBe(204);
    expect((await secretary.api('GET', `/users/${clerk.id}`)).status).toBe(403);
  });

  it('cannot take away their own role', async () => {
    const own = await world.caiBeAdmin.api<{ items: Assignment[] }>('GET', `/role-assignments?user_id=${world.caiBeAdmin.user.id}`);
    expect(own.body.items).toHaveLength(1);
    await expectAuditedRefusal(world.superAdmin, await world.caiBeAdmin.api('DELETE', `/role-assignments/${own.body.items[0]!.id}`), 'role.revoke');
  });

  it('lists the assignments over units of their district only, none global and none of Chợ Gạo', async () => {
    await grantDirectly(world.server, { userId: choGaoPerson.id }, 'helpdesk', world.tree.choGao);
    const listed = await world.caiBeAdmin.api<{ items: Assignment[] }>('GET', '/role-assignments?limit=200');
    expect(listed.status).toBe(200);
    const inCaiBe = new Set([world.tree.caiBe.id, world.tree.anHuu.id, world.tree.anHuuHealthStation.id]);
    expect(listed.body.items.length).toBeGreaterThan(0);
    expect(listed.body.items.every((assignment) => assignment.org_unit_id !== null && inCaiBe.has(assignment.org_unit_id))).toBe(true);
    expect(listed.body.items.map((assignment) => assignment.user_id)).not.toContain(choGaoPerson.id);
  });
});

describe('grants that make no sense', () => {
  it('refuses super_admin over a unit (400): it is a global role', async () => {
    expectApiError(await world.superAdmin('POST', '/role-assignments', { user_id: clerk.id, role: 'super_admin', org_unit_id: world.tree.caiBe.id }), 400, 'invalid_input', 'global role');
  });

  it('refuses an assignment naming both a person and a client, or neither (400)', async () => {
    expectApiError(await world.superAdmin('POST', '/role-assignments', { role: 'auditor' }), 400, 'invalid_input', 'exactly one of user_id and client_id');
    expectApiError(await world.superAdmin('POST', '/role-assignments', { user_id: clerk.id, client_id: 'x', role: 'auditor' }), 400, 'invalid_input');
  });

  it('refuses a role no one defined (400)', async () => {
    expectApiError(await world.superAdmin('POST', '/role-assignments', { user_id: clerk.id, role: 'chairman' }), 400, 'invalid_input', 'body.role');
  });

  it('lets a global org admin give a service client a scoped role', async () => {
    const provinceAdmin = await serviceCaller(world.server, 'org_admin', null, 'Quản trị tỉnh');
    const service = await registerTestClient(world.server, { name: 'Đồng bộ Chợ Gạo', kind: 'service' });
    const granted = await provinceAdmin.api<Assignment>('POST', '/role-assignments', { client_id: service.clientId, role: 'org_admin', org_unit_id: world.tree.choGao.id });
    expect(granted.status).toBe(201);
    expect(granted.body).toMatchObject({ client_id: service.clientId, user_id: null, role: 'org_admin', granted_by: `client:${provinceAdmin.clientId}` });
  });

  // A super administrator holds every role for granting; otherwise only the CLI could appoint anyone.
  it('lets a super administrator appoint the org admin of a district', async () => {
    const head = await addPerson(world.server, { fullName: 'Phùng Văn Quang', username: 'quangpv', unit: world.tree.choGao });
    const granted = await world.superAdmin<Assignment>('POST', '/role-assignments', { user_id: head.id, role: 'org_admin', org_unit_id: world.tree.choGao.id });
    expect(granted.status).toBe(201);
    expect((await world.superAdmin<Assignment>('POST', '/role-assignments', { user_id: head.id, role: 'helpdesk' })).status).toBe(201);
    expect((await world.superAdmin('DELETE', `/role-assignments/${granted.body.id}`)).status).toBe(204);
  });
});

describe('never leaving the province without a super administrator', () => {
  it('never takes away the last super administrator (409)', async () => {
    const only = await addPerson(world.server, { fullName: 'Nguyễn Văn Tỉnh', username: 'tinhnv', unit: world.tree.province });
    await grantDirectly(world.server, { userId: only.id }, 'super_admin', null);
    const held = await world.superAdmin<{ items: Assignment[] }>('GET', `/role-assignments?user_id=${only.id}&role=super_admin`);
    expectApiError(await world.superAdmin('DELETE', `/role-assignments/${held.body.items[0]!.id}`), 409, 'conflict', 'last active super administrator');
  });

  it('does not count a disabled super administrator as the one who remains (409)', async () => {
    const active = await addPerson(world.server, { fullName: 'Đào Duy Từ', username: 'tudd', unit: world.tree.province });
    const retired = await addPerson(world.server, { fullName: 'Đào Duy Anh', username: 'anhdd', unit: world.tree.province, status: 'disabled' });
    for (const person of [active, retired]) await grantDirectly(world.server, { userId: person.id }, 'super_admin', null);
    await disableEverySuperAdministratorBut(active.id);
    const held = await world.superAdmin<{ items: Assignment[] }>('GET', `/role-assignments?user_id=${active.id}&role=super_admin`);
    expectApiError(await world.superAdmin('DELETE', `/role-assignments/${held.body.items[0]!.id}`), 409, 'conflict', 'last active super administrator');
  });

  it('refuses to disable the last active super administrator (409)', async () => {
    const last = await addPerson(world.server, { fullName: 'Lê Quý Đôn', username: 'donlq', unit: world.tree.province });
    await grantDirectly(world.server, { userId: last.id }, 'super_admin', null);
    await disableEverySuperAdministratorBut(last.id);
    expectApiError(await world.superAdmin('POST', `/users/${last.id}/disable`), 409, 'conflict');
  });
});
