import { beforeAll, describe, expect, it } from 'vitest';

import type { User } from '../../../src/db/schema.ts';
import { addPerson, useProvinceServer } from '../../support/admin-api.ts';
import { expectScimError, scimApp, type ScimApp } from '../../support/scim.ts';

/**
 * SCIM Groups (RFC 7644 §3.5.2's own examples are about group members): an app holding org_admin
 * over Cái Bè keeps the district's groups, adding and removing members with PATCH, by filter too.
 */

const world = useProvinceServer();
const groupSchema = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const mekongGroup = 'urn:mekong-id:params:scim:schemas:extension:2.0:Group';
const patchOp = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

interface ScimGroup {
  id: string;
  displayName: string;
  members: { value: string; display: string; $ref: string; type: string }[];
  [mekongGroup]: { orgUnit: { value: string; code: string } };
  meta: { version: string; location: string };
}

let app: ScimApp;
let lan: User;
let hung: User;
let mai: User;

beforeAll(async () => {
  app = await scimApp(world.server, world.superAdmin, { name: 'Hệ thống giao việc', roles: [{ role: 'org_admin', unit: world.tree.caiBe }] });
  lan = await addPerson(world.server, { username: 'lanbt', fullName: 'Bùi Thị Lan', unit: world.tree.anHuu });
  hung = await addPerson(world.server, { username: 'hungnv', fullName: 'Nguyễn Văn Hùng', unit: world.tree.caiBe });
  mai = await addPerson(world.server, { username: 'maitt', fullName: 'Trần Thị Mai', unit: world.tree.anHuuHealthStation });
});

const patch = (id: string, Operations: unknown[], headers: Record<string, string> = {}) =>
  app.scim<ScimGroup>('PATCH', `/Groups/${id}`, { schemas: [patchOp], Operations }, headers);
const memberIds = (group: ScimGroup) => group.members.map((member) => member.value).sort();

describe('SCIM Groups', () => {
  it('creates a group in the app\'s district, with members, and reads it back', async () => {
    const created = await app.scim<ScimGroup>('POST', '/Groups', { schemas: [groupSchema], displayName: 'Tổ công tác cải cách hành chính', members: [{ value: lan.id }] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.headers.get('location')).toBe(`${world.server.issuer}/scim/v2/Groups/${created.body.id}`);
    expect(created.body).toMatchObject({
      displayName: 'Tổ công tác cải cách hành chính',
      members: [{ value: lan.id, display: 'Bùi Thị Lan', type: 'User', $ref: `${world.server.issuer}/scim/v2/Users/${lan.id}` }],
      [mekongGroup]: { orgUnit: { value: world.tree.caiBe.id, code: 'TG.CAIBE' } },
    });
    const person = await app.scim<{ groups: { value: string; display: string }[] }>('GET', `/Users/${lan.id}`);
    expect(person.body.groups).toEqual([expect.objectContaining({ value: created.body.id, display: 'Tổ công tác cải cách hành chính' })]);
    expectScimError(await app.scim('POST', '/Groups', { schemas: [groupSchema], displayName: 'TỔ CÔNG TÁC CẢI CÁCH HÀNH CHÍNH' }), 409, 'uniqueness');
  });

  it('adds, removes by filter, and replaces members with PATCH; each change moves the ETag', async () => {
    const created = await app.scim<ScimGroup>('POST', '/Groups', { schemas: [groupSchema], displayName: 'Ban chỉ đạo phòng chống dịch', [mekongGroup]: { orgUnit: { value: world.tree.anHuu.id } } });
    expect(created.body[mekongGroup].orgUnit.value).toBe(world.tree.anHuu.id);
    const added = await patch(created.body.id, [{ op: 'add', path: 'members', value: [{ display: 'Bùi Thị Lan', value: lan.id }, { value: hung.id }] }], { 'if-match': created.headers.get('etag')! });
    expect(added.status, JSON.stringify(added.body)).toBe(200);
    expect(memberIds(added.body)).toEqual([lan.id, hung.id].sort());
    expect(added.headers.get('etag')).not.toBe(created.headers.get('etag'));

    expectScimError(await patch(created.body.id, [{ op: 'add', path: 'members', value: [{ value: mai.id }] }], { 'if-match': created.headers.get('etag')! }), 412);

    const removed = await patch(created.body.id, [{ op: 'remove', path: `members[value eq "${lan.id}"]` }]);
    expect(memberIds(removed.body)).toEqual([hung.id]);

    const replaced = await patch(created.body.id, [{ op: 'replace', path: 'members', value: [{ value: mai.id }, { value: lan.id }] }, { op: 'replace', path: 'displayName', value: 'Ban chỉ đạo phòng chống dịch bệnh' }]);
    expect(replaced.body).toMatchObject({ displayName: 'Ban chỉ đạo phòng chống dịch bệnh' });
    expect(memberIds(replaced.body)).toEqual([mai.id, lan.id].sort());

    const emptied = await patch(created.body.id, [{ op: 'remove', path: 'members' }]);
    expect(emptied.body.members).toEqual([]);

    const events = await world.superAdmin<{ items: { action: string }[] }>('GET', `/audit-events?target_id=${created.body.id}&limit=50`);
    expect(events.body.items.map((event) => event.action)).toEqual(expect.arrayContaining(['group.create', 'group.add_member', 'group.remove_member', 'group.update']));
  });

  it('refuses a member it cannot see, a unit change, and undoes the whole PATCH when one part fails', async () => {
    const outsider = await addPerson(world.server, { username: 'ngoai', fullName: 'Hồ Văn Ngoài', unit: world.tree.binhPhan });
    const created = await app.scim<ScimGroup>('POST', '/Groups', { schemas: [groupSchema], displayName: 'Tổ thử nghiệm' });
    expectScimError(await patch(created.body.id, [{ op: 'add', path: 'members', value: [{ value: lan.id }, { value: '00000000-0000-4000-8000-000000000000' }] }]), 400, 'invalidValue', 'no User');
    expectScimError(await patch(created.body.id, [{ op: 'replace', path: 'displayName', value: 'Tổ đổi tên' }, { op: 'add', path: 'members', value: [{ value: outsider.id }] }]), 403);
    const after = await app.scim<ScimGroup>('GET', `/Groups/${created.body.id}`);
    expect(after.body).toMatchObject({ displayName: 'Tổ thử nghiệm', members: [] });
    expect(after.headers.get('etag')).toBe(created.headers.get('etag'));
    expectScimError(await patch(created.body.id, [{ op: 'replace', path: `${mekongGroup}:orgUnit`, value: { value: world.tree.anHuu.id } }]), 400, 'mutability');
  });

  it('replaces with PUT, filters by displayName and members, and deletes', async () => {
    const created = await app.scim<ScimGroup>('POST', '/Groups', { schemas: [groupSchema], displayName: 'Đội tình nguyện', members: [{ value: hung.id }] });
    const put = await app.scim<ScimGroup>('PUT', `/Groups/${created.body.id}`, { schemas: [groupSchema], displayName: 'Đội tình nguyện xã', members: [{ value: mai.id }] });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ displayName: 'Đội tình nguyện xã', members: [{ value: mai.id }] });
    const found = await app.scim<{ totalResults: number; Resources: ScimGroup[] }>('GET', `/Groups?filter=${encodeURIComponent(`displayName co "tinh nguyen" and members[value eq "${mai.id}"]`)}`);
    expect(found.body.Resources.map((group) => group.id)).toEqual([created.body.id]);
    expect((await app.scim('DELETE', `/Groups/${created.body.id}`)).status).toBe(204);
    expectScimError(await app.scim('GET', `/Groups/${created.body.id}`), 404);
  });
});
