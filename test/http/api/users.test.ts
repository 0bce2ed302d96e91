import { beforeAll, describe, expect, it } from 'vitest';

import type { User } from '../../../src/db/schema.ts';
import {
  addPerson,
  expectApiError,
  expectAuditedRefusal,
  grantDirectly,
  serviceCaller,
  useProvinceServer,
  type ApiCall,
} from '../../support/admin-api.ts';

interface UserBody {
  id: string;
  username: string;
  full_name: string;
  email: string | null;
  phone: string | null;
  employee_code: string | null;
  national_id: string | null;
  position: string | null;
  org_unit: { id: string; code: string; name: string } | null;
  status: string;
  version: number;
}
interface UserList {
  items: UserBody[];
  next: string | null;
}

const world = useProvinceServer();
let caiBeHelpdesk: ApiCall;
/** A person of Chợ Gạo, outside the Cái Bè admin's reach. */
let linh: User;
/** A person of An Hữu, a commune of Cái Bè. */
let tam: User;

beforeAll(async () => {
  caiBeHelpdesk = (await serviceCaller(world.server, 'helpdesk', world.tree.caiBe, 'Tổng đài hỗ trợ Cái Bè')).api;
  linh = await addPerson(world.server, { fullName: 'Phan Thị Mỹ Linh', username: 'linhptm', unit: world.tree.binhPhan, nationalId: '082195000111' });
  tam = await addPerson(world.server, { fullName: 'Lê Văn Tám', username: 'tamlv', unit: world.tree.anHuu, nationalId: '082090000222' });
});

describe('what an org admin of Cái Bè may not do to people', () => {
  it('cannot read a person of Chợ Gạo: 403, audited as denied', async () => {
    const response = await world.caiBeAdmin.api('GET', `/users/${linh.id}`);
    await expectAuditedRefusal(world.superAdmin, response, 'user.read');
  });

  it('does not see people of Chợ Gạo in lists, not even by searching their name', async () => {
    const all = await world.caiBeAdmin.api<UserList>('GET', '/users?limit=200');
    expect(all.status).toBe(200);
    expect(all.body.items.map((user) => user.username)).toContain('tamlv');
    expect(all.body.items.map((user) => user.id)).not.toContain(linh.id);
    const searched = await world.caiBeAdmin.api<UserList>('GET', `/users?q=${encodeURIComponent('Mỹ Linh')}`);
    expect(searched.body.items).toEqual([]);
    const filtered = await world.caiBeAdmin.api<UserList>('GET', `/users?org_unit_id=${world.tree.choGao.id}`);
    expect(filtered.body.items).toEqual([]);
  });

  it('cannot change a person of Chợ Gạo: 403, audited, and the person is unchanged', async () => {
    const response = await world.caiBeAdmin.api('PATCH', `/users/${linh.id}`, { position: 'Văn thư' });
    await expectAuditedRefusal(world.superAdmin, response, 'user.update');
    expect((await world.superAdmin<UserBody>('GET', `/users/${linh.id}`)).body.position).toBeNull();
  });

  it('cannot pull a person of Chợ Gạo into Cái Bè: the person is outside their scope, whatever the destination', async () => {
    const response = await world.caiBeAdmin.api('PATCH', `/users/${linh.id}`, { org_unit_id: world.tree.caiBe.id });
    await expectAuditedRefusal(world.superAdmin, response, 'user.update');
    expect((await world.superAdmin<UserBody>('GET', `/users/${linh.id}`)).body.org_unit?.code).toBe('TG.CHOGAO.BINHPHAN');
  });

  it('cannot create a person in Chợ Gạo', async () => {
    const response = await world.caiBeAdmin.api('POST', '/users', { full_name: 'Trương Văn Phúc', org_unit_id: world.tree.binhPhan.id });
    await expectAuditedRefusal(world.superAdmin, response, 'user.create');
    const found = await world.superAdmin<UserList>('GET', `/users?q=${encodeURIComponent('Trương Văn Phúc')}`);
    expect(found.body.items).toEqual([]);
  });

  it('cannot change the email address of an auditor of the whole province who works in Cái Bè', async () => {
    const inspector = await addPerson(world.server, { fullName: 'Hoàng Minh Giám', username: 'giamhm', unit: world.tree.caiBe, email: 'giamhm@tiengiang.gov.vn' });
    await grantDirectly(world.server, { userId: inspector.id }, 'auditor', null);
    const response = await world.caiBeAdmin.api('PATCH', `/users/${inspector.id}`, { email: 'giamhm@thu-hoi.example' });
    await expectAuditedRefusal(world.superAdmin, response, 'user.update');
    expect((await world.superAdmin<UserBody>('GET', `/users/${inspector.id}`)).body.email).toBe('giamhm@tiengiang.gov.vn');
  });

  it('cannot send a person of their own district away to Chợ Gạo', async () => {
    const response = await world.caiBeAdmin.api('PATCH', `/users/${tam.id}`, { org_unit_id: world.tree.choGao.id });
    await expectAuditedRefusal(world.superAdmin, response, 'user.move');
  });
});

describe('an org admin of Cái Bè in their own subtree', () => {
  it('creates a person in a commune below their district, changes them and moves them to the health station', async () => {
    const created = await world.caiBeAdmin.api<UserBody>('POST', '/users', {
      full_name: '  Huỳnh   Thị Thu  Thảo ', org_unit_id: world.tree.anHuu.id, position: 'Công chức văn phòng - thống kê', employee_code: 'CB-0101',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ username: 'thaohtt', full_name: 'Huỳnh Thị Thu Thảo', status: 'pending_activation', org_unit: { code: 'TG.CAIBE.ANHUU' } });

    const changed = await world.caiBeAdmin.api<UserBody>('PATCH', `/users/${created.body.id}`, { position: 'Nữ hộ sinh', email: 'Thao.HTT@CaiBe.TienGiang.gov.vn' });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ position: 'Nữ hộ sinh', email: 'thao.htt@caibe.tiengiang.gov.vn' });

    const moved = await world.caiBeAdmin.api<UserBody>('PATCH', `/users/${created.body.id}`, { org_unit_id: world.tree.anHuuHealthStation.id });
    expect(moved.status).toBe(200);
    expect(moved.body.org_unit).toEqual({ id: world.tree.anHuuHealthStation.id, code: 'TG.CAIBE.ANHUU.TYT', name: 'Trạm Y tế xã An Hữu' });

    const events = await world.superAdmin<{ items: { action: string; actor: { id: string } }[] }>('GET', `/audit-events?target_id=${created.body.id}`);
    expect(events.body.items.map((event) => event.action)).toEqual(['user.move', 'user.update', 'user.create']);
    expect(events.body.items.every((event) => event.actor.id === world.caiBeAdmin.user.id)).toBe(true);
  });

  it('shows the national id in full to an org admin and masked to the helpdesk and in every list', async () => {
    expect((await world.caiBeAdmin.api<UserBody>('GET', `/users/${tam.id}`)).body.national_id).toBe('082090000222');
    expect((await caiBeHelpdesk<UserBody>('GET', `/users/${tam.id}`)).body.national_id).toBe('*********222');
    for (const caller of [world.caiBeAdmin.api, caiBeHelpdesk, world.superAdmin]) {
      const listed = await caller<UserList>('GET', '/users?q=tamlv');
      expect(listed.body.items.map((user) => user.national_id)).toEqual(['*********222']);
    }
  });

  it('gives the helpdesk read access only: it cannot change a person it can read', async () => {
    const response = await caiBeHelpdesk('PATCH', `/users/${tam.id}`, { position: 'Phó Chủ tịch' });
    await expectAuditedRefusal(world.superAdmin, response, 'user.update');
  });

  it('never writes a national id in full into the audit log', async () => {
    const created = await world.caiBeAdmin.api<UserBody>('POST', '/users', { full_name: 'Nguyễn Văn Cừ', org_unit_id: world.tree.anHuu.id, national_id: '082 085 000 333' });
    expect(created.body.national_id).toBe('082085000333');
    await world.caiBeAdmin.api('PATCH', `/users/${created.body.id}`, { national_id: '082085000444' });
    const exported = await world.superAdmin<{ items: unknown[] }>('GET', `/audit-events?target_id=${created.body.id}`);
    const text = JSON.stringify(exported.body.items);
    expect(text).toContain('*********333');
    expect(text).toContain('*********444');
    expect(text).not.toMatch(/082085000(333|444)/);
  });

  it('reads, but cannot change, a person of Chợ Gạo who also serves in Cái Bè', async () => {
    const seconded = await world.superAdmin<UserBody>('POST', '/users', {
      full_name: 'Tô Thị Huệ', org_unit_id: world.tree.binhPhan.id, concurrent_unit_ids: [world.tree.anHuu.id], national_id: '082180000555',
    });
    expect(seconded.status).toBe(201);
    const read = await world.caiBeAdmin.api<UserBody>('GET', `/users/${seconded.body.id}`);
    expect(read.status).toBe(200);
    // Changing her is for her primary unit's admins, and so is her national id in full.
    expect(read.body.national_id).toBe('*********555');
    const listed = await world.caiBeAdmin.api<UserList>('GET', `/users?q=${encodeURIComponent('Tô Thị Huệ')}`);
    expect(listed.body.items.map((user) => user.org_unit?.code)).toEqual(['TG.CHOGAO.BINHPHAN']);
    await expectAuditedRefusal(world.superAdmin, await world.caiBeAdmin.api('PATCH', `/users/${seconded.body.id}`, { position: 'Kế toán' }), 'user.update');
  });
});

describe('creating people', () => {
  it('derives the username from the name: tuyetnta, then tuyetnta2 for a namesake', async () => {
    const first = await world.superAdmin<UserBody>('POST', '/users', { full_name: 'Nguyễn Thị Ánh Tuyết', org_unit_id: world.tree.caiBe.id });
    const namesake = await world.superAdmin<UserBody>('POST', '/users', { full_name: 'Nguyễn Thị Ánh Tuyết', org_unit_id: world.tree.choGao.id });
    expect([first.status, namesake.status]).toEqual([201, 201]);
    expect([first.body.username, namesake.body.username]).toEqual(['tuyetnta', 'tuyetnta2']);
  });

  it('gives namesakes created at the same moment each their own derived username', async () => {
    const created = await Promise.all(Array.from({ length: 4 }, () =>
      world.superAdmin<UserBody>('POST', '/users', { full_name: 'Trần Thị Bảo Ngọc', org_unit_id: world.tree.anHuu.id })));
    expect(created.map((response) => response.status)).toEqual([201, 201, 201, 201]);
    expect(created.map((response) => response.body.username).sort()).toEqual(['ngocttb', 'ngocttb2', 'ngocttb3', 'ngocttb4']);
  });

  it('stores a phone number written in any of the usual ways in E.164', async () => {
    const written = ['0912 345 678', '+84 912 345 678', '84912345678', '0912.345.678'];
    for (const [index, phone] of written.entries()) {
      const created = await world.superAdmin<UserBody>('POST', '/users', { full_name: `Võ Minh Khang ${index}`, username: `khangvm${index}`, phone, org_unit_id: world.tree.anHuu.id });
      expect(created.status, phone).toBe(201);
      expect(created.body.phone, phone).toBe('+84912345678');
    }
    const landline = await world.superAdmin<UserBody>('PATCH', `/users/${tam.id}`, { phone: '(0273) 3.873.123' });
    expect(landline.body.phone).toBe('+842733873123');
  });

  it('refuses a bad phone number, email address or CCCD with 400 and a message naming the field', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ phone: '12345' }, 'body.phone'],
      [{ email: 'tuyet@' }, 'body.email'],
      [{ national_id: '08219500012' }, 'body.national_id'],
      [{ national_id: '999195000123' }, 'body.national_id'],
    ];
    for (const [fields, path] of cases) {
      const response = await world.superAdmin('POST', '/users', { full_name: 'Đoàn Văn Hậu', org_unit_id: world.tree.anHuu.id, ...fields });
      expectApiError(response, 400, 'invalid_input', `${path}:`);
    }
    expect((await world.superAdmin<UserList>('GET', `/users?q=${encodeURIComponent('Đoàn Văn Hậu')}`)).body.items).toEqual([]);
  });

  it('refuses a second person with an email address or employee code already taken, whatever its case (409)', async () => {
    const first = await world.superAdmin('POST', '/users', {
      full_name: 'Bùi Thị Hồng', org_unit_id: world.tree.choGao.id, email: 'hongbt@chogao.tiengiang.gov.vn', employee_code: 'CG-0042',
    });
    expect(first.status).toBe(201);
    const sameEmail = await world.superAdmin('POST', '/users', { full_name: 'Bùi Thị Hồng', org_unit_id: world.tree.choGao.id, email: 'HongBT@ChoGao.TienGiang.gov.vn' });
    expectApiError(sameEmail, 409, 'conflict', 'another user already has this email address');
    const sameCode = await world.superAdmin('POST', '/users', { full_name: 'Bùi Văn Hùng', org_unit_id: world.tree.choGao.id, employee_code: 'cg-0042' });
    expectApiError(sameCode, 409, 'conflict', 'another user already has this employee code');
    const sameUsername = await world.superAdmin('POST', '/users', { full_name: 'Bùi Văn Hùng', org_unit_id: world.tree.choGao.id, username: 'TamLV' });
    expectApiError(sameUsername, 409, 'conflict', 'another user already has this username');
  });
});

describe('optimistic concurrency', () => {
  const etagOf = async (id: string) => (await world.superAdmin('GET', `/users/${id}`)).headers.get('etag')!;

  it('lets exactly one of two changes sent at once with the same If-Match win; the other gets 412', async () => {
    const person = await addPerson(world.server, { fullName: 'Đinh Công Tráng', username: 'trangdc', unit: world.tree.anHuu });
    const etag = await etagOf(person.id);
    const [first, second] = await Promise.all([
      world.caiBeAdmin.api<UserBody>('PATCH', `/users/${person.id}`, { position: 'Kế toán' }, { 'if-match': etag }),
      world.superAdmin<UserBody>('PATCH', `/users/${person.id}`, { position: 'Thủ quỹ' }, { 'if-match': etag }),
    ]);
    expect([first.status, second.status].sort()).toEqual([200, 412]);
    const winner = first.status === 200 ? first : second;
    const loser = first.status === 200 ? second : first;
    expectApiError(loser, 412, 'precondition_failed');
    const now = await world.superAdmin<UserBody>('GET', `/users/${person.id}`);
    expect(now.body.position).toBe(winner.body.position);
    expect(now.body.version).toBe(2);
  });

  it('refuses a change made against a stale ETag with 412 and keeps the newer change', async () => {
    const person = await addPerson(world.server, { fullName: 'Mai Thị Lựu', username: 'lumt', unit: world.tree.anHuu });
    const stale = await etagOf(person.id);
    expect((await world.superAdmin('PATCH', `/users/${person.id}`, { position: 'Y sĩ' }, { 'if-match': stale })).status).toBe(200);
    const late = await world.caiBeAdmin.api('PATCH', `/users/${person.id}`, { position: 'Dược sĩ' }, { 'if-match': stale });
    expectApiError(late, 412, 'precondition_failed', 'changed by someone else');
    expect((await world.superAdmin<UserBody>('GET', `/users/${person.id}`)).body.position).toBe('Y sĩ');
  });

  it('applies changes sent at once without If-Match, each of them: no 412 for a precondition nobody set', async () => {
    const person = await addPerson(world.server, { fullName: 'Kha Văn Cầu', username: 'caukv', unit: world.tree.anHuu });
    const positions = ['Trưởng ấp', 'Phó ấp', 'Công an viên', 'Dân quân'];
    const changed = await Promise.all(positions.map((position, index) =>
      (index % 2 === 0 ? world.superAdmin : world.caiBeAdmin.api)<UserBody>('PATCH', `/users/${person.id}`, { position })));
    expect(changed.map((response) => response.status)).toEqual([200, 200, 200, 200]);
    expect((await world.superAdmin<UserBody>('GET', `/users/${person.id}`)).body.version).toBe(5);
  });

  it('refuses a malformed If-Match with 400', async () => {
    for (const ifMatch of ['3', 'abc', '"x"', '"1", "2"']) {
      const response = await world.superAdmin('PATCH', `/users/${tam.id}`, { position: 'Trưởng ấp' }, { 'if-match': ifMatch });
      expectApiError(response, 400, 'invalid_if_match');
    }
  });

  it('gives a new ETag after every write, the one the next read shows', async () => {
    const person = await addPerson(world.server, { fullName: 'Tạ Văn Nam', username: 'namtv', unit: world.tree.anHuu });
    const seen = [await etagOf(person.id)];
    const changed = await world.superAdmin('PATCH', `/users/${person.id}`, { position: 'Bảo vệ' }, { 'if-match': seen[0]! });
    seen.push(changed.headers.get('etag')!);
    expect(await etagOf(person.id)).toBe(seen[1]);
    const suspended = await world.superAdmin('POST', `/users/${person.id}/suspend`, undefined, { 'if-match': seen[1]! });
    seen.push(suspended.headers.get('etag')!);
    expect(await etagOf(person.id)).toBe(seen[2]);
    expect(seen).toEqual(['"1"', '"2"', '"3"']);
    // A weak comparison of the current ETag is accepted too.
    expect((await world.superAdmin('PATCH', `/users/${person.id}`, { position: 'Tạp vụ' }, { 'if-match': `W/${seen[2]!}` })).status).toBe(200);
  });
});
