import { beforeAll, describe, expect, it } from 'vitest';

import type { User } from '../../../src/db/schema.ts';
import {
  addPerson,
  expectApiError,
  expectAuditedRefusal,
  serviceCaller,
  useProvinceServer,
  type ApiCall,
} from '../../support/admin-api.ts';

interface GroupBody {
  id: string;
  org_unit_id: string;
  name: string;
  description: string | null;
  member_count: number;
  version: number;
}
interface List<T> {
  items: T[];
  next: string | null;
}

const world = useProvinceServer();
let caiBeHelpdesk: ApiCall;
/** People of An Hữu (Cái Bè). */
let nurse: User;
let midwife: User;
/** A person of Bình Phan (Chợ Gạo). */
let farmer: User;
/** A group of Chợ Gạo, made by the province. */
let choGaoGroup: GroupBody;

beforeAll(async () => {
  const { server, tree } = world;
  caiBeHelpdesk = (await serviceCaller(server, 'helpdesk', tree.caiBe, 'Hỗ trợ Cái Bè')).api;
  nurse = await addPerson(server, { fullName: 'Lại Thị Hương', username: 'huonglt', unit: tree.anHuuHealthStation });
  midwife = await addPerson(server, { fullName: 'Quách Thị Nga', username: 'ngaqt', unit: tree.anHuu });
  farmer = await addPerson(server, { fullName: 'Tôn Thất Bình', username: 'binhtt', unit: tree.binhPhan });
  choGaoGroup = (await world.superAdmin<GroupBody>('POST', '/groups', { org_unit_id: tree.binhPhan.id, name: 'Tổ khuyến nông' })).body;
});

const createGroup = (caller: ApiCall, unitId: string, name: string) => caller<GroupBody>('POST', '/groups', { org_unit_id: unitId, name });
const membersOf = async (caller: ApiCall, groupId: string) =>
  (await caller<List<{ username: string }>>('GET', `/users?group_id=${groupId}&sort=username`)).body.items.map((user) => user.username);

describe('groups in an org admin\'s own subtree', () => {
  it('creates a group in the commune below their district', async () => {
    const created = await createGroup(world.caiBeAdmin.api, world.tree.anHuu.id, '  Tổ   y tế  cơ sở ');
    expect(created.status).toBe(201);
    expect(created.headers.get('etag')).toBe('"1"');
    expect(created.body).toMatchObject({ org_unit_id: world.tree.anHuu.id, name: 'Tổ y tế cơ sở', member_count: 0 });
  });

  it('adds members with PUT, lists them with GET /users?group_id=, and takes them out with DELETE', async () => {
    const group = (await createGroup(world.caiBeAdmin.api, world.tree.anHuu.id, 'Ban chỉ đạo tiêm chủng')).body;
    for (const person of [nurse, midwife, nurse]) {
      expect((await world.caiBeAdmin.api('PUT', `/groups/${group.id}/members/${person.id}`)).status).toBe(204);
    }
    expect(await membersOf(world.caiBeAdmin.api, group.id)).toEqual(['huonglt', 'ngaqt']);
    expect((await world.caiBeAdmin.api<GroupBody>('GET', `/groups/${group.id}`)).body.member_count).toBe(2);
    const detail = await world.caiBeAdmin.api<{ groups: { id: string; name: string }[] }>('GET', `/users/${nurse.id}`);
    expect(detail.body.groups).toContainEqual(expect.objectContaining({ id: group.id, name: 'Ban chỉ đạo tiêm chủng' }));

    expect((await world.caiBeAdmin.api('DELETE', `/groups/${group.id}/members/${nurse.id}`)).status).toBe(204);
    expect(await membersOf(world.caiBeAdmin.api, group.id)).toEqual(['ngaqt']);

    const events = await world.superAdmin<List<{ action: string; details: { username: string } }>>('GET', `/audit-events?target_id=${group.id}`);
    expect(events.body.items.map((event) => [event.action, event.details?.username])).toEqual([
      ['group.remove_member', 'huonglt'],
      ['group.add_member', 'ngaqt'],
      ['group.add_member', 'huonglt'],
      ['group.create', undefined],
    ]);
  });

  it('renames a group against its ETag, and refuses a stale one with 412', async () => {
    const created = await createGroup(world.caiBeAdmin.api, world.tree.anHuu.id, 'Tổ phòng chống dịch');
    const etag = created.headers.get('etag')!;
    const renamed = await world.caiBeAdmin.api<GroupBody>('PATCH', `/groups/${created.body.id}`, { name: 'Tổ phòng chống dịch bệnh', description: 'Sốt xuất huyết, tay chân miệng' }, { 'if-match': etag });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ name: 'Tổ phòng chống dịch bệnh', version: 2 });
    expectApiError(await world.caiBeAdmin.api('PATCH', `/groups/${created.body.id}`, { name: 'Tổ cũ' }, { 'if-match': etag }), 412, 'precondition_failed');
  });

  it('refuses a second group of the same name in the same unit, whatever its case (409)', async () => {
    expect((await createGroup(world.caiBeAdmin.api, world.tree.anHuu.id, 'Đoàn thanh niên')).status).toBe(201);
    expectApiError(await createGroup(world.caiBeAdmin.api, world.tree.anHuu.id, 'ĐOÀN THANH NIÊN'), 409, 'conflict', 'already has a group named');
    // Another unit may use the name.
    expect((await createGroup(world.caiBeAdmin.api, world.tree.anHuuHealthStation.id, 'Đoàn thanh niên')).status).toBe(201);
  });

  it('refuses to add a disabled person (409)', async () => {
    const leaver = await addPerson(world.server, { fullName: 'Ông Văn Nghỉ', username: 'nghiov', unit: world.tree.anHuu, status: 'disabled' });
    const group = (await createGroup(world.caiBeAdmin.api, world.tree.anHuu.id, 'Tổ hành chính')).body;
    expectApiError(await world.caiBeAdmin.api('PUT', `/groups/${group.id}/members/${leaver.id}`), 409, 'conflict', 'disabled');
  });

  it('deletes a group; its members stay', async () => {
    const group = (await createGroup(world.caiBeAdmin.api, world.tree.anHuu.id, 'Tổ lâm thời')).body;
    await world.caiBeAdmin.api('PUT', `/groups/${group.id}/members/${midwife.id}`);
    expect((await world.caiBeAdmin.api('DELETE', `/groups/${group.id}`)).status).toBe(204);
    expectApiError(await world.caiBeAdmin.api('GET', `/groups/${group.id}`), 404, 'not_found');
    expect((await world.caiBeAdmin.api('GET', `/users/${midwife.id}`)).status).toBe(200);
  });

  it('finds groups by name without diacritics, within a unit\'s subtree', async () => {
    await createGroup(world.caiBeAdmin.api, world.tree.anHuuHealthStation.id, 'Tổ công nghệ thông tin');
    const found = await world.caiBeAdmin.api<List<GroupBody>>('GET', `/groups?q=${encodeURIComponent('to cong nghe')}&org_unit_id=${world.tree.anHuu.id}`);
    expect(found.body.items.map((group) => group.name)).toEqual(['Tổ công nghệ thông tin']);
  });
});

describe('groups and people outside an org admin\'s subtree', () => {
  it('cannot create a group in Chợ Gạo', async () => {
    await expectAuditedRefusal(world.superAdmin, await createGroup(world.caiBeAdmin.api, world.tree.binhPhan.id, 'Nhóm lấn sân'), 'group.create');
  });

  it('cannot read a group of Chợ Gạo, nor see it listed, nor list its members', async () => {
    await expectAuditedRefusal(world.superAdmin, await world.caiBeAdmin.api('GET', `/groups/${choGaoGroup.id}`), 'group.read');
    const listed = await world.caiBeAdmin.api<List<GroupBody>>('GET', '/groups?limit=200');
    expect(listed.body.items.map((group) => group.id)).not.toContain(choGaoGroup.id);
    await world.superAdmin('PUT', `/groups/${choGaoGroup.id}/members/${farmer.id}`);
    expect(await membersOf(world.caiBeAdmin.api, choGaoGroup.id)).toEqual([]);
    expect(await membersOf(world.superAdmin, choGaoGroup.id)).toEqual(['binhtt']);
  });

  it('cannot add one of their own people to a group of Chợ Gạo', async () => {
    await expectAuditedRefusal(world.superAdmin, await world.caiBeAdmin.api('PUT', `/groups/${choGaoGroup.id}/members/${nurse.id}`), 'group.add_member');
    expect(await membersOf(world.superAdmin, choGaoGroup.id)).not.toContain('huonglt');
  });

  it('cannot add a person of Chợ Gạo to a group of their own', async () => {
    const group = (await createGroup(world.caiBeAdmin.api, world.tree.anHuu.id, 'Tổ liên xã')).body;
    await expectAuditedRefusal(world.superAdmin, await world.caiBeAdmin.api('PUT', `/groups/${group.id}/members/${farmer.id}`), 'user.read');
    expect(await membersOf(world.superAdmin, group.id)).toEqual([]);
  });

  it('lets the helpdesk read groups but not change their members', async () => {
    const group = (await createGroup(world.caiBeAdmin.api, world.tree.anHuu.id, 'Tổ tiếp dân')).body;
    expect((await caiBeHelpdesk('GET', `/groups/${group.id}`)).status).toBe(200);
    await expectAuditedRefusal(world.superAdmin, await caiBeHelpdesk('PUT', `/groups/${group.id}/members/${nurse.id}`), 'group.add_member');
  });
});
