import { beforeAll, describe, expect, it } from 'vitest';

import type { User } from '../../../src/db/schema.ts';
import { addPerson, expectApiError, expectAuditedRefusal, useProvinceServer } from '../../support/admin-api.ts';
import { registerTestClient } from '../../support/server.ts';

const world = useProvinceServer();

let taskSystem: string;
let hospital: string;
let creatorInAnHuu: User;
let colleagueInBinhPhan: User;
let creatorRule: string;

const rule = (first: [string, string], second: [string, string], name = 'Người tạo không tự duyệt việc của mình') => ({
  name, first: { client_id: first[0], role: first[1] }, second: { client_id: second[0], role: second[1] },
});

beforeAll(async () => {
  taskSystem = (await registerTestClient(world.server, { name: 'Hệ thống quản lý nhiệm vụ 4 cấp', redirectUris: ['https://nhiemvu.tiengiang.gov.vn/cb'] })).clientId;
  hospital = (await registerTestClient(world.server, { name: 'Phần mềm bệnh viện', redirectUris: ['https://benhvien.tiengiang.gov.vn/cb'] })).clientId;
  expect((await world.superAdmin('PUT', `/apps/${taskSystem}/roles`, { roles: [{ name: 'creator' }, { name: 'approver' }, { name: 'viewer' }] })).status).toBe(200);
  expect((await world.superAdmin('PUT', `/apps/${hospital}/roles`, { roles: [{ name: 'pharmacist' }, { name: 'stock_keeper' }] })).status).toBe(200);
  creatorInAnHuu = await addPerson(world.server, { fullName: 'Lê Thị Hồng Nhung', username: 'nhunglth', unit: world.tree.anHuu });
  colleagueInBinhPhan = await addPerson(world.server, { fullName: 'Võ Văn Kiệt', username: 'kietvv', unit: world.tree.binhPhan });
  // Everyone in Cái Bè creates tasks.
  expect((await world.superAdmin('POST', `/apps/${taskSystem}/assignments`, { org_unit_id: world.tree.caiBe.id, roles: ['creator'] })).status).toBe(201);
});

describe('writing rules', () => {
  it('lets a global administrator forbid two roles together, and lists the rule', async () => {
    const created = await world.superAdmin<{ id: string }>('POST', '/sod-rules', rule([taskSystem, 'creator'], [taskSystem, 'approver']));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'Người tạo không tự duyệt việc của mình',
      first: { client_id: taskSystem, app_name: 'Hệ thống quản lý nhiệm vụ 4 cấp', role: 'creator' }, second: { role: 'approver' },
    });
    creatorRule = created.body.id;
    const listed = await world.caiBeAdmin.api<{ items: { id: string }[] }>('GET', '/sod-rules');
    expect(listed.body.items.map((item) => item.id)).toContain(creatorRule);
  });

  it('refuses a unit admin, a role the app never declared, one role twice, and the same pair written the other way round', async () => {
    await expectAuditedRefusal(world.superAdmin, await world.caiBeAdmin.api('POST', '/sod-rules', rule([taskSystem, 'creator'], [taskSystem, 'viewer'])), 'sod_rule.create');
    expectApiError(await world.superAdmin('POST', '/sod-rules', rule([taskSystem, 'creator'], [taskSystem, 'signer'])), 400, 'invalid_input', 'declares no role signer');
    expectApiError(await world.superAdmin('POST', '/sod-rules', rule([taskSystem, 'creator'], [taskSystem, 'creator'])), 400, 'invalid_input', 'two different roles');
    expectApiError(await world.superAdmin('POST', '/sod-rules', rule([taskSystem, 'approver'], [taskSystem, 'creator'], 'Trùng')), 409, 'conflict', 'exists already');
  });

  it('keeps a rule when the app declares its roles again, and drops it with a role the app no longer declares', async () => {
    const other = await world.superAdmin<{ id: string }>('POST', '/sod-rules', rule([hospital, 'pharmacist'], [hospital, 'stock_keeper'], 'Dược sĩ không giữ kho'));
    expect(other.status).toBe(201);
    expect((await world.superAdmin('PUT', `/apps/${taskSystem}/roles`, { roles: [{ name: 'creator' }, { name: 'approver', description: 'Lãnh đạo duyệt' }, { name: 'viewer' }] })).status).toBe(200);
    expect((await world.superAdmin('PUT', `/apps/${hospital}/roles`, { roles: [{ name: 'pharmacist' }] })).status).toBe(200);
    const ids = (await world.superAdmin<{ items: { id: string }[] }>('GET', '/sod-rules')).body.items.map((item) => item.id);
    expect(ids).toContain(creatorRule);
    expect(ids).not.toContain(other.body.id);
  });
});

describe('granting', () => {
  it('refuses an assignment that would make a creator in An Hữu its approver too, naming the rule and the person, and writes nothing', async () => {
    const refused = await world.caiBeAdmin.api('POST', `/apps/${taskSystem}/assignments`, { user_id: creatorInAnHuu.id, roles: ['approver'] });
    await expectAuditedRefusal(world.superAdmin, refused, 'app.assign');
    expect((refused.body as { message: string }).message).toBe(
      'this would give Lê Thị Hồng Nhung (nhunglth) both Hệ thống quản lý nhiệm vụ 4 cấp "creator" and Hệ thống quản lý nhiệm vụ 4 cấp "approver" in Ủy ban nhân dân xã An Hữu, which the separation-of-duties rule "Người tạo không tự duyệt việc của mình" forbids',
    );
    const assignments = await world.superAdmin<{ items: { user_id: string | null }[] }>('GET', `/apps/${taskSystem}/assignments`);
    expect(assignments.body.items.filter((item) => item.user_id === creatorInAnHuu.id)).toEqual([]);
  });

  it('allows the approver role where the person creates nothing, and in another unit they serve in', async () => {
    expect((await world.superAdmin('POST', `/apps/${taskSystem}/assignments`, { user_id: colleagueInBinhPhan.id, roles: ['approver'] })).status).toBe(201);
    // A concurrent appointment in Chợ Gạo: approving there does not approve their own tasks in An Hữu.
    await world.server.database.db.insertInto('user_org_units').values({ user_id: creatorInAnHuu.id, org_unit_id: world.tree.choGao.id }).execute();
    expect((await world.superAdmin('POST', `/apps/${taskSystem}/assignments`, { org_unit_id: world.tree.choGao.id, roles: ['approver'] })).status).toBe(201);
  });

  it('refuses a group membership that would bring the second role, but not the same group for someone outside the rule', async () => {
    const group = await world.superAdmin<{ id: string }>('POST', '/groups', { org_unit_id: world.tree.caiBe.id, name: 'Lãnh đạo duyệt hồ sơ' });
    expect(group.status).toBe(201);
    expect((await world.superAdmin('POST', `/apps/${taskSystem}/assignments`, { group_id: group.body.id, roles: ['approver'] })).status).toBe(201);
    const refused = await world.caiBeAdmin.api('PUT', `/groups/${group.body.id}/members/${creatorInAnHuu.id}`);
    await expectAuditedRefusal(world.superAdmin, refused, 'group.add_member');
    expect((refused.body as { message: string }).message).toContain('"Người tạo không tự duyệt việc của mình"');
    expect((await world.superAdmin('PUT', `/groups/${group.body.id}/members/${colleagueInBinhPhan.id}`)).status).toBe(204);
  });
});

describe('the report of violations that stand', () => {
  it('lists those a rule written after the grants catches, only within the reader\'s subtree', async () => {
    // Cái Bè's people create and view; a rule written now finds them all, without undoing anything.
    expect((await world.superAdmin('POST', `/apps/${taskSystem}/assignments`, { org_unit_id: world.tree.anHuu.id, roles: ['viewer'] })).status).toBe(201);
    expect((await world.superAdmin('POST', '/sod-rules', rule([taskSystem, 'creator'], [taskSystem, 'viewer'], 'Thử nghiệm báo cáo'))).status).toBe(201);
    type Violations = { items: { rule_name: string; username: string; unit_name: string | null }[] };
    const seenByProvince = await world.superAdmin<Violations>('GET', '/sod-violations');
    expect(seenByProvince.body.items).toContainEqual(expect.objectContaining({ rule_name: 'Thử nghiệm báo cáo', username: 'nhunglth', unit_name: 'Ủy ban nhân dân xã An Hữu' }));
    const seenByCaiBe = await world.caiBeAdmin.api<Violations>('GET', '/sod-violations');
    expect(seenByCaiBe.body.items.map((item) => item.username)).toContain('nhunglth');
    expect(seenByCaiBe.body.items.every((item) => item.username !== 'kietvv')).toBe(true);
  });
});
