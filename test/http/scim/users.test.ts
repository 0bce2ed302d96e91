import { beforeAll, describe, expect, it } from 'vitest';

import { addPerson, useProvinceServer } from '../../support/admin-api.ts';
import { expectScimError, scimApp, type ScimApp } from '../../support/scim.ts';

/**
 * SCIM Users (RFC 7644 §3) from the side of a provisioning app: the province's HR system, which
 * holds org_admin over Cái Bè and so may create and change the people of that district. The
 * requests follow the RFC's own examples, with Vietnamese people in them.
 */

const world = useProvinceServer();
const core = 'urn:ietf:params:scim:schemas:core:2.0:User';
const enterprise = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const mekong = 'urn:mekong-id:params:scim:schemas:extension:2.0:User';
const patchOp = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

interface ScimUser {
  id: string;
  userName: string;
  name: { formatted: string; familyName?: string; middleName?: string; givenName?: string };
  displayName: string;
  title?: string;
  active: boolean;
  emails?: { value: string; type: string; primary: boolean }[];
  phoneNumbers?: { value: string }[];
  groups?: { value: string; display: string }[];
  [enterprise]?: { employeeNumber?: string; organization?: string; department?: string };
  [mekong]?: { orgUnit: { value: string; code: string; display: string } };
  meta: { resourceType: string; created: string; lastModified: string; location: string; version: string };
}

interface ListResponse<T> {
  schemas: string[];
  totalResults: number;
  startIndex: number;
  itemsPerPage: number;
  Resources: T[];
}

let hr: ScimApp;

beforeAll(async () => {
  hr = await scimApp(world.server, world.superAdmin, { name: 'Phần mềm quản lý nhân sự', roles: [{ role: 'org_admin', unit: world.tree.caiBe }] });
});

async function createPerson(body: Record<string, unknown>) {
  const response = await hr.scim<ScimUser>('POST', '/Users', { schemas: [core, enterprise, mekong], ...body });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response;
}

describe('creating and reading a User (RFC 7644 §3.3, §3.4.1)', () => {
  it('creates the RFC\'s example person in the one district the app administers, with Location, ETag and meta', async () => {
    const created = await createPerson({
      schemas: [core], userName: 'bjensen', externalId: 'bjensen',
      name: { formatted: 'Ms. Barbara J Jensen III', familyName: 'Jensen', givenName: 'Barbara' },
    });
    expect(created.headers.get('content-type')).toContain('application/scim+json');
    expect(created.headers.get('location')).toBe(`${world.server.issuer}/scim/v2/Users/${created.body.id}`);
    expect(created.headers.get('etag')).toBe(created.body.meta.version);
    expect(created.body.meta).toMatchObject({ resourceType: 'User', location: created.headers.get('location'), version: expect.stringMatching(/^W\/"\d+"$/) as string });
    // A new person waits for activation: they set their own password, so they are not active yet.
    expect(created.body).toMatchObject({ userName: 'bjensen', name: { formatted: 'Ms. Barbara J Jensen III' }, active: false });
    expect(created.body[mekong]?.orgUnit).toMatchObject({ value: world.tree.caiBe.id, code: 'TG.CAIBE' });
    expect(created.body[enterprise]).toMatchObject({ organization: 'Ủy ban nhân dân tỉnh Tiền Giang', department: 'Ủy ban nhân dân huyện Cái Bè' });

    const read = await hr.scim<ScimUser>('GET', `/Users/${created.body.id}`);
    expect(read.status).toBe(200);
    expect(read.body).toEqual(created.body);
    expect(read.headers.get('etag')).toBe(created.headers.get('etag'));
    const unchanged = await hr.scim('GET', `/Users/${created.body.id}`, undefined, { 'if-none-match': created.headers.get('etag')! });
    expect(unchanged.status).toBe(304);
  });

  it('splits a Vietnamese name family name first, and joins the parts when only they are given', async () => {
    const created = await createPerson({
      userName: 'tuyetnta', name: { familyName: 'Nguyễn', middleName: 'Thị Ánh', givenName: 'Tuyết' }, title: 'Chuyên viên',
      emails: [{ value: 'tuyetnta@caibe.tiengiang.gov.vn', type: 'work', primary: true }], phoneNumbers: [{ value: '+84913000111', type: 'work' }],
      [enterprise]: { employeeNumber: 'CB-0042' }, [mekong]: { orgUnit: { value: world.tree.anHuu.id } },
    });
    expect(created.body).toMatchObject({
      name: { formatted: 'Nguyễn Thị Ánh Tuyết', familyName: 'Nguyễn', middleName: 'Thị Ánh', givenName: 'Tuyết' },
      displayName: 'Nguyễn Thị Ánh Tuyết', title: 'Chuyên viên',
      emails: [{ value: 'tuyetnta@caibe.tiengiang.gov.vn', type: 'work', primary: true }],
      phoneNumbers: [{ value: '+84913000111', type: 'work', primary: true }],
      [enterprise]: { employeeNumber: 'CB-0042', department: 'Ủy ban nhân dân xã An Hữu' },
    });
    // Stored composed (NFC), as every name in Mekong ID is.
    expect(created.body.name.formatted).toBe('Nguyễn Thị Ánh Tuyết'.normalize('NFC'));
  });

  it('answers a taken userName with 409 uniqueness, and a person outside its district with 403', async () => {
    await createPerson({ userName: 'lanpt', name: { formatted: 'Phạm Thị Lan' } });
    expectScimError(await hr.scim('POST', '/Users', { schemas: [core], userName: 'LANPT', name: { formatted: 'Phạm Thị Lan' } }), 409, 'uniqueness', 'username');
    expectScimError(await hr.scim('POST', '/Users', { schemas: [core], userName: 'ngoaihuyen', name: { formatted: 'Trần Văn Ngoài' }, [mekong]: { orgUnit: { value: world.tree.binhPhan.id } } }), 403, undefined, 'outside');
  });

  it('refuses what it cannot keep, naming the attribute: a password, two different emails, no name', async () => {
    expectScimError(await hr.scim('POST', '/Users', { schemas: [core], userName: 'matkhau', name: { formatted: 'Lê Văn Mật' }, password: 't1ger' }), 400, 'invalidValue', 'no passwords');
    expectScimError(await hr.scim('POST', '/Users', {
      schemas: [core], userName: 'haiemail', name: { formatted: 'Lê Văn Hai' }, emails: [{ value: 'a@example.vn' }, { value: 'b@example.vn' }],
    }), 400, 'invalidValue', 'one email address');
    expectScimError(await hr.scim('POST', '/Users', { schemas: [core], userName: 'khongten' }), 400, 'invalidValue', 'name');
    expectScimError(await hr.scim('POST', '/Users', { schemas: [core], userName: 'sai email', name: { formatted: 'Lê Văn Sai' } }), 400, 'invalidValue', 'userName');
    expectScimError(await hr.scim('POST', '/Users', '{"userName": '), 400, 'invalidSyntax');
  });
});

describe('filtering, sorting and paging (RFC 7644 §3.4.2)', () => {
  beforeAll(async () => {
    for (const [username, fullName] of [['dangvh', 'Đặng Văn Hùng'], ['dangtl', 'Đặng Thị Loan'], ['vominh', 'Võ Minh'], ['huynhb', 'Huỳnh Bảo']] as const) {
      await addPerson(world.server, { username, fullName, unit: world.tree.anHuu, email: `${username}@anhuu.tiengiang.gov.vn`, employeeCode: `AH-${username}` });
    }
  });

  const search = async (filter: string, extra = '') =>
    hr.scim<ListResponse<ScimUser>>('GET', `/Users?filter=${encodeURIComponent(filter)}${extra}`);
  const names = (response: { body: ListResponse<ScimUser> }) => response.body.Resources.map((user) => user.userName).sort();

  it('finds by userName with eq, whatever the case of the attribute and of the value', async () => {
    const found = await search('USERNAME eq "DangVH"');
    expect(found.status).toBe(200);
    expect(found.body).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], totalResults: 1, startIndex: 1, itemsPerPage: 1 });
    expect(names(found)).toEqual(['dangvh']);
  });

  it('combines and, or, not and parentheses, on names with and without diacritics', async () => {
    expect(names(await search('name.familyName eq "Đặng"'))).toEqual(['dangtl', 'dangvh']);
    expect(names(await search('name.familyName co "dang" and not (name.givenName eq "Loan")'))).toEqual(['dangvh']);
    expect(names(await search('(name.givenName eq "Minh" or name.givenName sw "Bả") and emails.value ew "@anhuu.tiengiang.gov.vn"'))).toEqual(['huynhb', 'vominh']);
    expect(names(await search('emails[type eq "work" and value co "dangtl@"]'))).toEqual(['dangtl']);
    expect(names(await search(`${enterprise}:employeeNumber sw "AH-dang"`))).toEqual(['dangtl', 'dangvh']);
    expect(names(await search('employeeNumber sw "AH-" and department eq "Ủy ban nhân dân xã An Hữu" and userName ne "dangtl"'))).toEqual(['dangvh', 'huynhb', 'vominh']);
  });

  it('compares dates with gt, ge, lt and le, and finds the active', async () => {
    expect((await search('meta.created gt "2000-01-01T00:00:00Z" and meta.lastModified le "2999-01-01T00:00:00+07:00"')).body.totalResults).toBeGreaterThanOrEqual(4);
    expect((await search('meta.created lt "2000-01-01T00:00:00Z"')).body.totalResults).toBe(0);
    expect(names(await search('active eq true and name.familyName eq "Đặng"'))).toEqual(['dangtl', 'dangvh']);
  });

  it('pages with startIndex and count, sorts in the Vietnamese alphabet, and counts every match', async () => {
    const filter = 'emails.value ew "@anhuu.tiengiang.gov.vn"';
    const first = await search(filter, '&sortBy=name.familyName&count=3');
    expect(first.body).toMatchObject({ totalResults: 4, startIndex: 1, itemsPerPage: 3 });
    // Đ comes after D and before H in the Vietnamese alphabet; V last.
    expect(first.body.Resources.map((user) => user.name.familyName)).toEqual(['Đặng', 'Đặng', 'Huỳnh']);
    const second = await search(filter, '&sortBy=name.familyName&count=3&startIndex=4');
    expect(second.body).toMatchObject({ totalResults: 4, startIndex: 4, itemsPerPage: 1 });
    expect(second.body.Resources.map((user) => user.userName)).toEqual(['vominh']);
    const descending = await search(filter, '&sortBy=userName&sortOrder=descending&count=2');
    expect(descending.body.Resources.map((user) => user.userName)).toEqual(['vominh', 'huynhb']);
    const countOnly = await search(filter, '&count=0');
    expect(countOnly.body).toMatchObject({ totalResults: 4, itemsPerPage: 0, Resources: [] });
  });

  it('returns only the attributes asked for, or all but the excluded, always with id', async () => {
    const only = await search('userName eq "dangvh"', `&attributes=userName,name.givenName,${enterprise}:employeeNumber`);
    expect(only.body.Resources[0]).toEqual({
      schemas: [core, enterprise, mekong], id: expect.any(String) as string, userName: 'dangvh', name: { givenName: 'Hùng' }, [enterprise]: { employeeNumber: 'AH-dangvh' },
    });
    const without = await search('userName eq "dangvh"', '&excludedAttributes=emails,meta,name.middleName');
    expect(without.body.Resources[0]).not.toHaveProperty('emails');
    expect(without.body.Resources[0]).not.toHaveProperty('meta');
    expect(without.body.Resources[0]).toMatchObject({ userName: 'dangvh', name: { familyName: 'Đặng', givenName: 'Hùng' } });
  });

  it('answers the same query posted to /Users/.search', async () => {
    const found = await hr.scim<ListResponse<ScimUser>>('POST', '/Users/.search', {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'], filter: 'name.familyName eq "Đặng"', attributes: ['userName'], startIndex: 1, count: 10,
    });
    expect(found.status).toBe(200);
    expect(found.body.Resources.map((user) => user.userName).sort()).toEqual(['dangtl', 'dangvh']);
  });
});

describe('changing a User: PUT, PATCH, ETags (RFC 7644 §3.5, §3.14)', () => {
  it('replaces with PUT, clearing what the new representation leaves out', async () => {
    const created = await createPerson({ userName: 'thaonp', name: { formatted: 'Nguyễn Phương Thảo' }, title: 'Kế toán', phoneNumbers: [{ value: '+84913000222' }] });
    const replaced = await hr.scim<ScimUser>('PUT', `/Users/${created.body.id}`, { schemas: [core], userName: 'thaonp', name: { formatted: 'Nguyễn Phương Thảo' }, title: 'Kế toán trưởng' });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ title: 'Kế toán trưởng' });
    expect(replaced.body).not.toHaveProperty('phoneNumbers');
    expect(replaced.body.meta.version).not.toBe(created.body.meta.version);
  });

  it('applies PATCH add, replace and remove, with and without a path, value filters included', async () => {
    const created = await createPerson({ userName: 'babs', name: { formatted: 'Trần Thị Bích' }, emails: [{ value: 'babs@caibe.tiengiang.gov.vn', type: 'work' }] });
    const patch = (Operations: unknown[], headers: Record<string, string> = {}) => hr.scim<ScimUser>('PATCH', `/Users/${created.body.id}`, { schemas: [patchOp], Operations }, headers);

    const added = await patch([{ op: 'add', value: { title: 'Bác sĩ', phoneNumbers: [{ value: '+84913000333', type: 'work' }] } }]);
    expect(added.status, JSON.stringify(added.body)).toBe(200);
    expect(added.body).toMatchObject({ title: 'Bác sĩ', phoneNumbers: [{ value: '+84913000333' }] });

    const replaced = await patch([
      { op: 'replace', path: 'emails[type eq "work"].value', value: 'bich.tt@caibe.tiengiang.gov.vn' },
      { op: 'replace', path: 'name.givenName', value: 'Ngọc' },
      { op: 'Replace', path: `${enterprise}:employeeNumber`, value: 'CB-0777' },
    ]);
    expect(replaced.status, JSON.stringify(replaced.body)).toBe(200);
    expect(replaced.body).toMatchObject({
      emails: [{ value: 'bich.tt@caibe.tiengiang.gov.vn' }], name: { formatted: 'Trần Thị Ngọc', givenName: 'Ngọc' }, [enterprise]: { employeeNumber: 'CB-0777' },
    });

    const removed = await patch([{ op: 'remove', path: 'phoneNumbers' }, { op: 'remove', path: 'title' }]);
    expect(removed.status).toBe(200);
    expect(removed.body).not.toHaveProperty('phoneNumbers');
    expect(removed.body).not.toHaveProperty('title');

    expectScimError(await patch([{ op: 'replace', path: 'emails[type eq "home"].value', value: 'x@example.vn' }]), 400, 'noTarget');
    expectScimError(await patch([{ op: 'replace', path: 'meta.created', value: '2020-01-01T00:00:00Z' }]), 400, 'mutability');
    expectScimError(await patch([{ op: 'replace', path: 'groups', value: [] }]), 400, 'mutability');
    expectScimError(await patch([{ op: 'remove', path: 'userName' }]), 400, 'mutability');
    expectScimError(await patch([{ op: 'remove' }]), 400, 'noTarget');
    expectScimError(await patch([{ op: 'add', path: 'nickName', value: 'Babs' }]), 400, 'invalidPath');
    expectScimError(await patch([{ op: 'add', path: 'emails[type eq', value: 'x' }]), 400, 'invalidPath');
    expectScimError(await patch([{ op: 'move', path: 'title', value: 'x' }]), 400, 'invalidSyntax');
    expectScimError(await hr.scim('PATCH', `/Users/${created.body.id}`, { Operations: 'none' }), 400, 'invalidSyntax');
  });

  it('honours If-Match: the current ETag goes through, a stale one is refused with 412 and changes nothing', async () => {
    const created = await createPerson({ userName: 'etagtest', name: { formatted: 'Lý Văn Phúc' } });
    const etag = created.headers.get('etag')!;
    const first = await hr.scim<ScimUser>('PATCH', `/Users/${created.body.id}`, { schemas: [patchOp], Operations: [{ op: 'replace', path: 'title', value: 'Phó chủ tịch' }] }, { 'if-match': etag });
    expect(first.status).toBe(200);
    const stale = await hr.scim('PUT', `/Users/${created.body.id}`, { schemas: [core], userName: 'etagtest', name: { formatted: 'Lý Văn Phúc' }, title: 'Chủ tịch' }, { 'if-match': etag });
    expectScimError(stale, 412);
    expectScimError(await hr.scim('DELETE', `/Users/${created.body.id}`, undefined, { 'if-match': etag }), 412);
    expect((await hr.scim<ScimUser>('GET', `/Users/${created.body.id}`)).body.title).toBe('Phó chủ tịch');
    expectScimError(await hr.scim('PATCH', `/Users/${created.body.id}`, { schemas: [patchOp], Operations: [{ op: 'remove', path: 'title' }] }, { 'if-match': 'yesterday' }), 400, 'invalidValue');
  });

  it('suspends with active false and lets the person back with active true', async () => {
    const person = await addPerson(world.server, { username: 'tamdv', fullName: 'Đỗ Văn Tâm', unit: world.tree.anHuu });
    const suspended = await hr.scim<ScimUser>('PATCH', `/Users/${person.id}`, { schemas: [patchOp], Operations: [{ op: 'replace', path: 'active', value: false }] });
    expect(suspended.body.active).toBe(false);
    const row = await world.server.database.db.selectFrom('users').select('status').where('id', '=', person.id).executeTakeFirstOrThrow();
    expect(row.status).toBe('suspended');
    const back = await hr.scim<ScimUser>('PATCH', `/Users/${person.id}`, { schemas: [patchOp], Operations: [{ op: 'replace', value: { active: true } }] });
    expect(back.body.active).toBe(true);
  });
});

describe('deleting a User (RFC 7644 §3.6)', () => {
  it('disables the person, audited, and answers 404 for them from then on', async () => {
    const person = await addPerson(world.server, { username: 'nghiviec', fullName: 'Phan Văn Nghỉ', unit: world.tree.anHuu });
    const deleted = await hr.scim('DELETE', `/Users/${person.id}`);
    expect(deleted.status).toBe(204);
    expectScimError(await hr.scim('GET', `/Users/${person.id}`), 404);
    expectScimError(await hr.scim('DELETE', `/Users/${person.id}`), 404);
    expect((await hr.scim<ListResponse<ScimUser>>('GET', '/Users?filter=userName%20eq%20%22nghiviec%22')).body.totalResults).toBe(0);
    const row = await world.server.database.db.selectFrom('users').select('status').where('id', '=', person.id).executeTakeFirstOrThrow();
    expect(row.status).toBe('disabled');
    const events = await world.superAdmin<{ items: { action: string; actor: { type: string; id: string } }[] }>('GET', `/audit-events?target_id=${person.id}`);
    expect(events.body.items[0]).toMatchObject({ action: 'user.disable', actor: { type: 'client', id: hr.clientId } });
  });
});
