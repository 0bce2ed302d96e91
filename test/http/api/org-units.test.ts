import { beforeAll, describe, expect, it } from 'vitest';

import type { OrgUnit } from '../../../src/db/schema.ts';
import {
  addPerson,
  addUnit,
  expectApiError,
  expectAuditedRefusal,
  grantDirectly,
  serviceCaller,
  useProvinceServer,
  type ApiCall,
} from '../../support/admin-api.ts';

interface UnitBody {
  id: string;
  code: string;
  name: string;
  kind: string;
  parent_id: string | null;
  depth: number;
  status: string;
  member_count?: number;
  closed_at: string | null;
  version: number;
}
interface UnitList {
  items: UnitBody[];
  next: string | null;
}

const world = useProvinceServer();
let choGaoAdmin: ApiCall;
/** Org admin of the province's subtree: everything, but not globally. */
let provinceAdmin: ApiCall;
/** Org admin of both districts, by two assignments. */
let twoDistrictAdmin: ApiCall;

beforeAll(async () => {
  const { server, tree } = world;
  choGaoAdmin = (await serviceCaller(server, 'org_admin', tree.choGao, 'Quản trị Chợ Gạo')).api;
  provinceAdmin = (await serviceCaller(server, 'org_admin', tree.province, 'Quản trị tỉnh')).api;
  const twoDistricts = await serviceCaller(server, 'org_admin', tree.caiBe, 'Quản trị liên huyện');
  await grantDirectly(server, { clientId: twoDistricts.clientId }, 'org_admin', tree.choGao);
  twoDistrictAdmin = twoDistricts.api;
});

const newUnit = (parent: OrgUnit | UnitBody | null, code: string, name: string, kind = 'commune') => ({ code, name, kind, parent_id: parent?.id ?? null });
const unitNow = async (id: string) => (await world.superAdmin<UnitBody>('GET', `/org-units/${id}`)).body;

describe('creating units', () => {
  it('lets an org admin of Cái Bè create a commune in their district, and a health station in it', async () => {
    const commune = await world.caiBeAdmin.api<UnitBody>('POST', '/org-units', newUnit(world.tree.caiBe, 'tg.caibe.hoakhanh', ' Ủy ban nhân dân  xã Hòa Khánh '));
    expect(commune.status).toBe(201);
    expect(commune.body).toMatchObject({ code: 'TG.CAIBE.HOAKHANH', name: 'Ủy ban nhân dân xã Hòa Khánh', parent_id: world.tree.caiBe.id, depth: 2, status: 'active', version: 1 });
    const station = await world.caiBeAdmin.api<UnitBody>('POST', '/org-units', newUnit(commune.body, 'TG.CAIBE.HOAKHANH.TYT', 'Trạm Y tế xã Hòa Khánh', 'health_station'));
    expect(station.status).toBe(201);
    expect(station.body.depth).toBe(3);
  });

  it('does not let an org admin of Cái Bè create a unit in Chợ Gạo', async () => {
    const response = await world.caiBeAdmin.api('POST', '/org-units', newUnit(world.tree.choGao, 'TG.CHOGAO.XUANDONG', 'Ủy ban nhân dân xã Xuân Đông'));
    await expectAuditedRefusal(world.superAdmin, response, 'org_unit.create');
  });

  it('leaves top-level units to a global administrator: the province\'s own org admin gets 403', async () => {
    await expectAuditedRefusal(world.superAdmin, await provinceAdmin('POST', '/org-units', newUnit(null, 'DT', 'Ủy ban nhân dân tỉnh Đồng Tháp', 'province')), 'org_unit.create');
    const created = await world.superAdmin<UnitBody>('POST', '/org-units', newUnit(null, 'DT', 'Ủy ban nhân dân tỉnh Đồng Tháp', 'province'));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ parent_id: null, depth: 0 });
  });

  it('refuses a code another unit has, whatever its case (409)', async () => {
    expectApiError(await world.caiBeAdmin.api('POST', '/org-units', newUnit(world.tree.caiBe, 'tg.caibe.anhuu', 'Xã An Hữu (bản sao)')), 409, 'conflict', 'TG.CAIBE.ANHUU');
  });
});

describe('renaming, moving and closing', () => {
  it('renames a commune against its ETag, audited', async () => {
    const unit = await addUnit(world.server, 'TG.CAIBE.MYLUONG', 'Ủy ban nhân dân xã Mỹ Lương', 'commune', world.tree.caiBe);
    const renamed = await world.caiBeAdmin.api<UnitBody>('PATCH', `/org-units/${unit.id}`, { name: 'Ủy ban nhân dân thị trấn Mỹ Lương' }, { 'if-match': '"1"' });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ name: 'Ủy ban nhân dân thị trấn Mỹ Lương', version: 2 });
    expect(renamed.headers.get('etag')).toBe('"2"');
    expectApiError(await world.caiBeAdmin.api('PATCH', `/org-units/${unit.id}`, { name: 'Tên cũ' }, { 'if-match': '"1"' }), 412, 'precondition_failed');
    const events = await world.superAdmin<{ items: { action: string; before: { name: string }; after: { name: string } }[] }>('GET', `/audit-events?target_id=${unit.id}`);
    expect(events.body.items.map((event) => [event.action, event.before.name, event.after.name])).toEqual([
      ['org_unit.update', 'Ủy ban nhân dân xã Mỹ Lương', 'Ủy ban nhân dân thị trấn Mỹ Lương'],
    ]);
  });

  it('does not let an org admin rename, move, close or delete the root of their own scope', async () => {
    const root = world.tree.caiBe.id;
    await expectAuditedRefusal(world.superAdmin, await world.caiBeAdmin.api('PATCH', `/org-units/${root}`, { name: 'Ủy ban nhân dân thị xã Cái Bè' }), 'org_unit.update');
    await expectAuditedRefusal(world.superAdmin, await world.caiBeAdmin.api('PATCH', `/org-units/${root}`, { parent_id: world.tree.choGao.id }), 'org_unit.update');
    await expectAuditedRefusal(world.superAdmin, await world.caiBeAdmin.api('PATCH', `/org-units/${root}`, { status: 'closed' }), 'org_unit.update');
    await expectAuditedRefusal(world.superAdmin, await world.caiBeAdmin.api('DELETE', `/org-units/${root}`), 'org_unit.delete');
    expect(await unitNow(root)).toMatchObject({ name: 'Ủy ban nhân dân huyện Cái Bè', status: 'active', parent_id: world.tree.province.id });
  });

  it('moves a commune from Cái Bè to Chợ Gạo only for someone who administers both, with everything below it', async () => {
    const commune = await addUnit(world.server, 'TG.CAIBE.HAUMY', 'Ủy ban nhân dân xã Hậu Mỹ', 'commune', world.tree.caiBe);
    const station = await addUnit(world.server, 'TG.CAIBE.HAUMY.TYT', 'Trạm Y tế xã Hậu Mỹ', 'health_station', commune);
    const doctor = await addPerson(world.server, { fullName: 'Nguyễn Văn Thuận', username: 'thuannv', unit: station });
    const move = { parent_id: world.tree.choGao.id };

    await expectAuditedRefusal(world.superAdmin, await world.caiBeAdmin.api('PATCH', `/org-units/${commune.id}`, move), 'org_unit.move');
    await expectAuditedRefusal(world.superAdmin, await choGaoAdmin('PATCH', `/org-units/${commune.id}`, move), 'org_unit.update');
    expect((await unitNow(commune.id)).parent_id).toBe(world.tree.caiBe.id);

    const moved = await twoDistrictAdmin<UnitBody>('PATCH', `/org-units/${commune.id}`, move);
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({ parent_id: world.tree.choGao.id, depth: 2 });
    const choGaoUnits = await choGaoAdmin<UnitList>('GET', `/org-units?within=${world.tree.choGao.id}`);
    expect(choGaoUnits.body.items.map((unit) => unit.code)).toEqual(expect.arrayContaining(['TG.CAIBE.HAUMY', 'TG.CAIBE.HAUMY.TYT']));
    // The people came along: Chợ Gạo administers them now, Cái Bè no longer does.
    expect((await choGaoAdmin('GET', `/users/${doctor.id}`)).status).toBe(200);
    expect((await world.caiBeAdmin.api('GET', `/users/${doctor.id}`)).status).toBe(403);
  });

  it('refuses to move a unit under itself or under one of its own units (400)', async () => {
    expectApiError(await world.superAdmin('PATCH', `/org-units/${world.tree.caiBe.id}`, { parent_id: world.tree.anHuuHealthStation.id }), 400, 'invalid_move');
    expectApiError(await provinceAdmin('PATCH', `/org-units/${world.tree.anHuu.id}`, { parent_id: world.tree.anHuu.id }), 400, 'invalid_move');
    expect((await unitNow(world.tree.caiBe.id)).parent_id).toBe(world.tree.province.id);
  });

  it('refuses to close a unit while people remain in it (409), and closes it once they moved', async () => {
    const office = await addUnit(world.server, 'TG.CAIBE.PNV', 'Phòng Nội vụ huyện Cái Bè', 'office', world.tree.caiBe);
    const clerk = await addPerson(world.server, { fullName: 'Võ Thị Sáu', username: 'sauvt', unit: office });
    expectApiError(await world.caiBeAdmin.api('PATCH', `/org-units/${office.id}`, { status: 'closed' }), 409, 'conflict', '1 person(s)');
    expect((await world.caiBeAdmin.api('PATCH', `/users/${clerk.id}`, { org_unit_id: world.tree.caiBe.id })).status).toBe(200);

    const closed = await world.caiBeAdmin.api<UnitBody>('PATCH', `/org-units/${office.id}`, { status: 'closed' });
    expect(closed.status).toBe(200);
    expect(closed.body.status).toBe('closed');
    expect(closed.body.closed_at).not.toBeNull();
    const events = await world.superAdmin<{ items: { action: string }[] }>('GET', `/audit-events?target_id=${office.id}`);
    expect(events.body.items.map((event) => event.action)).toEqual(['org_unit.close']);
    // Nobody can be placed in a closed unit.
    expectApiError(await world.caiBeAdmin.api('POST', '/users', { full_name: 'Người Đến Muộn', org_unit_id: office.id }), 409, 'conflict', 'closed');
  });

  it('takes every right a role over a unit gave once the unit is closed', async () => {
    const lab = await addUnit(world.server, 'TG.CAIBE.ANHUU.XN', 'Phòng xét nghiệm xã An Hữu', 'unit', world.tree.anHuu);
    const labAdmin = await serviceCaller(world.server, 'org_admin', lab, 'Quản trị phòng xét nghiệm');
    const before = await labAdmin.api<UnitList>('GET', '/org-units');
    expect(before.body.items.map((unit) => unit.code)).toEqual(['TG.CAIBE.ANHUU.XN']);
    expect((await world.caiBeAdmin.api('PATCH', `/org-units/${lab.id}`, { status: 'closed' })).status).toBe(200);
    expect((await labAdmin.api<UnitList>('GET', '/org-units')).body.items).toEqual([]);
    await expectAuditedRefusal(world.superAdmin, await labAdmin.api('GET', `/org-units/${lab.id}`), 'org_unit.read');
  });

  it('refuses to close a unit that has open units below it (409)', async () => {
    expectApiError(await world.caiBeAdmin.api('PATCH', `/org-units/${world.tree.anHuu.id}`, { status: 'closed' }), 409, 'conflict', 'open unit(s) below it');
  });

  it('refuses to reopen a unit while the unit above it is closed (409)', async () => {
    const commune = await addUnit(world.server, 'TG.CAIBE.THIENHUNG', 'Ủy ban nhân dân xã Thiện Hưng', 'commune', world.tree.caiBe);
    const station = await addUnit(world.server, 'TG.CAIBE.THIENHUNG.TYT', 'Trạm Y tế xã Thiện Hưng', 'health_station', commune);
    for (const unit of [station, commune]) {
      expect((await world.caiBeAdmin.api('PATCH', `/org-units/${unit.id}`, { status: 'closed' })).status).toBe(200);
    }
    expectApiError(await world.caiBeAdmin.api('PATCH', `/org-units/${station.id}`, { status: 'active' }), 409, 'conflict', 'closed');
  });
});

describe('deleting units', () => {
  it('deletes a unit created by mistake a minute ago', async () => {
    const mistake = await world.caiBeAdmin.api<UnitBody>('POST', '/org-units', newUnit(world.tree.anHuu, 'TG.CAIBE.ANHUU.X', 'Ấp nhập nhầm', 'unit'));
    expect((await world.caiBeAdmin.api('DELETE', `/org-units/${mistake.body.id}`)).status).toBe(204);
    expectApiError(await world.superAdmin('GET', `/org-units/${mistake.body.id}`), 404, 'not_found');
  });

  it('refuses to delete a unit that has people (409)', async () => {
    const hamlet = await addUnit(world.server, 'TG.CAIBE.ANHUU.AP1', 'Ấp 1', 'unit', world.tree.anHuu);
    await addPerson(world.server, { fullName: 'Phan Văn Trị', username: 'triphv', unit: hamlet });
    expectApiError(await world.caiBeAdmin.api('DELETE', `/org-units/${hamlet.id}`), 409, 'conflict', 'it can only be closed');
  });

  // Its audit events hang from it: a scoped auditor finds them through the unit, so it can only be closed.
  it('refuses to delete a unit that had people, even after they all moved out', async () => {
    const hamlet = await addUnit(world.server, 'TG.CAIBE.ANHUU.AP2', 'Ấp 2', 'unit', world.tree.anHuu);
    const farmer = await world.caiBeAdmin.api<{ id: string }>('POST', '/users', { full_name: 'Lê Văn Duyệt', org_unit_id: hamlet.id });
    expect((await world.caiBeAdmin.api('PATCH', `/users/${farmer.body.id}`, { org_unit_id: world.tree.anHuu.id })).status).toBe(200);
    expectApiError(await world.caiBeAdmin.api('DELETE', `/org-units/${hamlet.id}`), 409, 'conflict');
  });
});

describe('listing units', () => {
  it('lists the units in tree order, each parent before its children, with how many people each has', async () => {
    const listed = await world.superAdmin<UnitList>('GET', '/org-units?limit=200');
    expect(listed.status).toBe(200);
    const seen = new Set<string>();
    for (const unit of listed.body.items) {
      if (unit.parent_id !== null) expect(seen.has(unit.parent_id), `${unit.code} after its parent`).toBe(true);
      seen.add(unit.id);
    }
    const station = await addUnit(world.server, 'TG.CHOGAO.BINHPHAN.TYT', 'Trạm Y tế xã Bình Phan', 'health_station', world.tree.binhPhan);
    for (const username of ['yenbt', 'hanhbt']) await addPerson(world.server, { fullName: username, username, unit: station });
    const counted = await world.superAdmin<UnitList>('GET', `/org-units?within=${world.tree.binhPhan.id}`);
    expect(counted.body.items.map((unit) => [unit.code, unit.member_count])).toEqual([['TG.CHOGAO.BINHPHAN', 0], ['TG.CHOGAO.BINHPHAN.TYT', 2]]);
  });

  it('shows an org admin their own subtree only, its root first', async () => {
    const listed = await world.caiBeAdmin.api<UnitList>('GET', '/org-units?limit=200');
    expect(listed.body.items[0]!.id).toBe(world.tree.caiBe.id);
    expect(listed.body.items.every((unit) => unit.code.startsWith('TG.CAIBE'))).toBe(true);
    await expectAuditedRefusal(world.superAdmin, await world.caiBeAdmin.api('GET', `/org-units/${world.tree.choGao.id}`), 'org_unit.read');
  });

  it('finds units by name without diacritics or by the start of their code', async () => {
    const byName = await world.superAdmin<UnitList>('GET', `/org-units?q=${encodeURIComponent('tram y te xa an huu')}`);
    expect(byName.body.items.map((unit) => unit.code)).toEqual(['TG.CAIBE.ANHUU.TYT']);
    const byCode = await world.superAdmin<UnitList>('GET', '/org-units?q=tg.chogao&kind=commune');
    expect(byCode.body.items.map((unit) => unit.code)).toEqual(['TG.CHOGAO.BINHPHAN']);
  });

  it('pages through more units than the limit, each exactly once and in the same order', async () => {
    for (let hamlet = 1; hamlet <= 7; hamlet += 1) {
      await addUnit(world.server, `TG.CHOGAO.BINHPHAN.AP${hamlet}`, `Ấp ${hamlet}, xã Bình Phan`, 'unit', world.tree.binhPhan);
    }
    const everything = (await world.superAdmin<UnitList>('GET', '/org-units?limit=200')).body.items.map((unit) => unit.id);
    expect(everything.length).toBeGreaterThan(15);
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: UnitList } = await world.superAdmin<UnitList>('GET', `/org-units?limit=4${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.body.items.length).toBeLessThanOrEqual(4);
      paged.push(...page.body.items.map((unit) => unit.id));
      cursor = page.body.next;
    } while (cursor !== null);
    expect(paged).toEqual(everything);
  });
});
