import { beforeAll, describe, expect, it } from 'vitest';

import { listAuditEvents } from '../../src/db/queries/audit-events.ts';
import { findUserById } from '../../src/db/queries/users.ts';
import type { User } from '../../src/db/schema.ts';
import { addPerson, caiBeAdminCredentials, grantDirectly, useProvinceServer } from '../support/admin-api.ts';
import { createUser, registerTestClient } from '../support/server.ts';
import { formsOf, htmlOf, openConsoleAs, submitForm, type UserAgent } from '../support/user-agent.ts';

const world = useProvinceServer();
const html = htmlOf;

let caiBePerson: User;
let choGaoPerson: User;

beforeAll(async () => {
  caiBePerson = await addPerson(world.server, {
    fullName: 'Nguyễn Thị Ánh Tuyết', username: 'tuyetnta', unit: world.tree.anHuu, email: 'tuyetnta@caibe.tiengiang.gov.vn', nationalId: '082190001234',
  });
  choGaoPerson = await addPerson(world.server, { fullName: 'Trần Văn Chợ', username: 'chotv', unit: world.tree.binhPhan });
});

const openConsole = (path = '/admin', credentials: { login: string; password: string } = caiBeAdminCredentials) => openConsoleAs(`${world.server.issuer}${path}`, credentials);
const post = submitForm;

describe('the door', () => {
  it('signs an administrator in through Mekong ID itself and shows the dashboard', async () => {
    const { page } = await openConsole();
    expect(page.kind === 'page' && new URL(page.url).pathname).toBe('/admin');
    expect(html(page)).toContain('Đăng nhập trong 30 ngày qua');
  });

  it('turns away, with the reason, someone who holds no admin role', async () => {
    await createUser(world.server, { username: 'nhanvienthuong', password: 'chỉ là nhân viên thôi 2026' });
    const { page } = await openConsole('/admin', { login: 'nhanvienthuong', password: 'chỉ là nhân viên thôi 2026' });
    expect(page.response.status).toBe(403);
    expect(html(page)).toContain('Bạn không giữ vai trò quản trị nào');
    const [event] = await listAuditEvents(world.server.database.db, { action: 'admin_console.open', outcome: 'denied', subtrees: null, limit: 1 });
    expect(event?.actor_name).toBe('nhanvienthuong');
  });
});

describe('the dashboard', () => {
  it('counts only the unit admin\'s subtree, and draws the last 30 days of sign-ins as inline SVG', async () => {
    const { page } = await openConsole();
    const text = html(page);
    expect(text).toMatch(/<strong>(\d+)<\/strong> đang hoạt động/);
    const active = Number(/<strong>(\d+)<\/strong> đang hoạt động/.exec(text)![1]);
    const inCaiBe = await world.server.database.db.selectFrom('users').innerJoin('org_units', 'org_units.id', 'users.primary_org_unit_id')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .where('users.status', '=', 'active').where('org_units.path', 'like', `${world.tree.caiBe.path}%`).executeTakeFirstOrThrow();
    expect(active).toBe(Number(inCaiBe.count));
    expect([...text.matchAll(/<rect /g)]).toHaveLength(60);
    expect(text).not.toContain('<script');
  });
});

describe('people', () => {
  it('lists the people of the admin\'s subtree, found without diacritics, and never another district\'s', async () => {
    const { agent } = await openConsole();
    const list = await agent.follow(`${world.server.issuer}/admin/users?q=anh+tuyet`, 'http://never/');
    expect(html(list)).toContain('Nguyễn Thị Ánh Tuyết');
    expect(html(list)).toContain('Kết quả tìm kiếm xếp theo người được thêm gần đây nhất');
    const all = await agent.follow(`${world.server.issuer}/admin/users`, 'http://never/');
    expect(html(all)).not.toContain('Trần Văn Chợ');
    expect(html(all)).not.toContain('Kết quả tìm kiếm xếp theo');
  });

  it('refuses another district\'s person with the reason, and audits the attempt', async () => {
    const { agent } = await openConsole();
    const refused = await agent.follow(`${world.server.issuer}/admin/users/${choGaoPerson.id}`, 'http://never/');
    expect(refused.response.status).toBe(403);
    expect(html(refused)).toContain('Người này thuộc đơn vị nằm ngoài phạm vi bạn quản lý.');
    const [event] = await listAuditEvents(world.server.database.db, { targetType: 'user', targetId: choGaoPerson.id, outcome: 'denied', subtrees: null, limit: 1 });
    expect(event).toMatchObject({ action: 'user.read', actor_name: caiBeAdminCredentials.login });
  });

  it('shows a person with their units and actions, and suspends and enables them', async () => {
    const { agent } = await openConsole();
    const detail = await agent.follow(`${world.server.issuer}/admin/users/${caiBePerson.id}`, 'http://never/');
    expect(html(detail)).toContain('Ủy ban nhân dân xã An Hữu');
    expect(html(detail)).toContain('082190001234');
    // Suspending asks first, saying what it ends; nothing changes until the admin confirms.
    const confirm = await agent.follow(`${world.server.issuer}/admin/users/${caiBePerson.id}/suspend`, 'http://never/');
    expect(html(confirm)).toContain('Tạm ngừng Nguyễn Thị Ánh Tuyết sẽ đăng xuất người này khỏi 0 ứng dụng');
    expect((await findUserById(world.server.database.db, caiBePerson.id))?.status).toBe('active');
    const suspended = await post(agent, confirm, `/users/${caiBePerson.id}/suspend`);
    expect(html(suspended)).toContain('Đã tạm ngừng tài khoản');
    expect((await findUserById(world.server.database.db, caiBePerson.id))?.status).toBe('suspended');
    const enabled = await post(agent, suspended, `/users/${caiBePerson.id}/enable`);
    expect(html(enabled)).toContain('Tài khoản đã hoạt động lại');
    expect((await findUserById(world.server.database.db, caiBePerson.id))?.status).toBe('active');
  });

  it('creates a person, showing what was wrong next to the field', async () => {
    const { agent } = await openConsole();
    const form = await agent.follow(`${world.server.issuer}/admin/users/new`, 'http://never/');
    expect(html(form)).toContain('Ủy ban nhân dân xã An Hữu');
    expect(html(form)).not.toContain('Ủy ban nhân dân xã Bình Phan');
    const refused = await post(agent, form, '/admin/users', { full_name: 'Lê Văn Mới', email: 'không phải email', org_unit_id: world.tree.anHuu.id });
    expect(refused.response.status).toBe(400);
    expect(html(refused)).toMatch(/class="field-error" id="email-error">Địa chỉ email không hợp lệ\./);
    const created = await post(agent, refused, '/admin/users', { full_name: 'Lê Văn Mới', email: 'levanmoi@caibe.tiengiang.gov.vn', org_unit_id: world.tree.anHuu.id });
    expect(html(created)).toContain('Đã tạo người dùng');
    const id = /\/admin\/users\/([0-9a-f-]{36})/.exec(created.url)![1]!;
    expect(await findUserById(world.server.database.db, id)).toMatchObject({ full_name: 'Lê Văn Mới', status: 'pending_activation', primary_org_unit_id: world.tree.anHuu.id });
  });

  it('refuses to place a person in another district, even with a forged unit id', async () => {
    const { agent } = await openConsole();
    const form = await agent.follow(`${world.server.issuer}/admin/users/new`, 'http://never/');
    const refused = await post(agent, form, '/admin/users', { full_name: 'Kẻ Lạ', org_unit_id: world.tree.binhPhan.id });
    expect(refused.response.status).toBe(403);
    expect(await world.server.database.db.selectFrom('users').select('id').where('full_name', '=', 'Kẻ Lạ').execute()).toHaveLength(0);
  });

  it('shows a conflicting edit kindly: what is current now beside what was typed, then saves on the second try', async () => {
    const { agent } = await openConsole();
    const form = await agent.follow(`${world.server.issuer}/admin/users/${caiBePerson.id}/edit`, 'http://never/');
    // Someone else saves the person while this form is open.
    const current = (await findUserById(world.server.database.db, caiBePerson.id))!;
    const meanwhile = await world.superAdmin('PATCH', `/users/${caiBePerson.id}`, { position: 'Trưởng trạm' }, { 'if-match': `"${current.version}"` });
    expect(meanwhile.status).toBe(200);

    const conflict = await post(agent, form, `/admin/users/${caiBePerson.id}`, { phone: '0912 345 678' });
    expect(conflict.response.status).toBe(409);
    expect(html(conflict)).toContain('một người khác đã lưu thay đổi');
    expect(html(conflict)).toContain('Trưởng trạm');
    expect((await findUserById(world.server.database.db, caiBePerson.id))?.phone).toBeNull();

    const saved = await post(agent, conflict, `/admin/users/${caiBePerson.id}`, { position: 'Trưởng trạm', phone: '0912 345 678' });
    expect(html(saved)).toContain('Đã lưu thay đổi');
    expect(await findUserById(world.server.database.db, caiBePerson.id)).toMatchObject({ phone: '+84912345678', position: 'Trưởng trạm' });
  });

  it('asks before disabling only someone who may disable: a helpdesk admin gets the reason instead of the confirmation', async () => {
    const helpdesk = { login: 'hotrokythuatcaibe', password: 'bộ phận hỗ trợ Cái Bè 2026' };
    const holder = await createUser(world.server, { username: helpdesk.login, password: helpdesk.password });
    await grantDirectly(world.server, { userId: holder.id }, 'helpdesk', world.tree.caiBe);
    const { agent } = await openConsole('/admin', helpdesk);
    const refused = await agent.follow(`${world.server.issuer}/admin/users/${caiBePerson.id}/disable`, 'http://never/');
    expect(refused.response.status).toBe(403);
    expect(html(refused)).toContain('Bạn không thể vô hiệu hóa tài khoản của người này');
    expect((await findUserById(world.server.database.db, caiBePerson.id))?.status).toBe('active');
  });

  it('refuses a change posted without the CSRF token', async () => {
    const { agent } = await openConsole();
    const response = await agent.request(`${world.server.issuer}/admin/users/${caiBePerson.id}/disable`, { form: {} });
    expect(response.status).toBe(403);
    expect((await findUserById(world.server.database.db, caiBePerson.id))?.status).toBe('active');
  });
});

describe('the org tree', () => {
  it('shows the admin\'s subtree as a tree that folds without script, with head counts, and nothing outside it', async () => {
    const { agent } = await openConsole();
    const tree = await agent.follow(`${world.server.issuer}/admin/org-units`, 'http://never/');
    expect(html(tree)).toContain('Ủy ban nhân dân huyện Cái Bè');
    expect(html(tree)).toContain('Trạm Y tế xã An Hữu');
    expect(html(tree)).toMatch(/<a href="\/admin\/org-units\/[0-9a-f-]+">Ủy ban nhân dân huyện Cái Bè<\/a>[\s\S]*?<details open><summary>Đơn vị trực thuộc \(1\)<span class="sr-only"> · Ủy ban nhân dân huyện Cái Bè<\/span><\/summary>/);
    expect(html(tree)).not.toContain('Chợ Gạo');
  });

  it('renames a unit, creates one below it, and refuses to close a unit people still work in, saying why', async () => {
    const { agent } = await openConsole();
    const unitPage = await agent.follow(`${world.server.issuer}/admin/org-units/${world.tree.anHuu.id}`, 'http://never/');
    const renamed = await post(agent, unitPage, `/admin/org-units/${world.tree.anHuu.id}`, { name: 'UBND xã An Hữu' });
    expect(html(renamed)).toContain('Đã lưu thay đổi của đơn vị');
    expect((await world.server.database.db.selectFrom('org_units').select('name').where('id', '=', world.tree.anHuu.id).executeTakeFirstOrThrow()).name).toBe('UBND xã An Hữu');

    const created = await post(agent, renamed, '/admin/org-units', { code: 'tg.caibe.anhuu.ap1', name: 'Ấp 1', kind: 'unit' });
    expect(html(created)).toContain('Đã tạo đơn vị');
    expect(html(created)).toContain('TG.CAIBE.ANHUU.AP1');

    const refused = await post(agent, renamed, `/admin/org-units/${world.tree.anHuu.id}`, { status: 'closed' });
    expect(refused.response.status).toBe(409);
    expect(html(refused)).toMatch(/vẫn còn \d+ đơn vị trực thuộc|vẫn còn \d+ người chưa bị vô hiệu hóa/);
  });

  it('offers no change to the root of the admin\'s own scope, and refuses one that is forged', async () => {
    const { agent } = await openConsole();
    const own = await agent.follow(`${world.server.issuer}/admin/org-units/${world.tree.caiBe.id}`, 'http://never/');
    expect(html(own)).not.toContain(`action="/admin/org-units/${world.tree.caiBe.id}"`);
    const csrf = formsOf(html(own), world.server.issuer)[0]!.fields['_csrf']!;
    const forged = await agent.request(`${world.server.issuer}/admin/org-units/${world.tree.caiBe.id}`, { form: { _csrf: csrf, name: 'Huyện của tôi' } });
    expect(forged.status).toBe(403);
  });
});

describe('the audit log', () => {
  it('lists the subtree\'s events by actor name, and downloads the same rows as CSV', async () => {
    const { agent } = await openConsole();
    // The admin's own sign-ins belong to the province, outside their scope; their changes in Cái Bè do not.
    const log = await agent.follow(`${world.server.issuer}/admin/audit?actor=${caiBeAdminCredentials.login.toUpperCase()}`, 'http://never/');
    expect(html(log)).toContain('Cập nhật thông tin');
    expect(html(log)).not.toContain('Đăng nhập thành công');
    const exportUrl = /href="(\/admin\/audit\/export\?[^"]*)"/.exec(html(log))![1]!.replaceAll('&amp;', '&');
    const csv = await agent.request(`${world.server.issuer}${exportUrl}`);
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const bytes = Buffer.from(await csv.arrayBuffer());
    // A byte-order mark first, so that Excel reads the Vietnamese as UTF-8.
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const text = bytes.subarray(3).toString('utf8');
    expect(text.startsWith('id,occurred_at,actor_type')).toBe(true);
    expect(text).toContain(caiBeAdminCredentials.login);
  });

  it('verifies the whole chain only for a global auditor', async () => {
    const { agent } = await openConsole();
    const refused = await agent.follow(`${world.server.issuer}/admin/audit/verification`, 'http://never/');
    expect(refused.response.status).toBe(403);
    expect(html(refused)).toContain('cần vai trò kiểm tra, giám sát cho toàn tỉnh');
  });
});

describe('the import wizard', () => {
  const upload = async (agent: UserAgent, csv: string, name = 'nhan-su-cai-be.csv') => {
    const page = await agent.follow(`${world.server.issuer}/admin/import`, 'http://never/');
    const [form] = formsOf(html(page), world.server.issuer).filter((candidate) => candidate.action.endsWith('/admin/import'));
    const body = new FormData();
    body.set('_csrf', form!.fields['_csrf']!);
    body.set('file', new Blob([csv], { type: 'text/csv' }), name);
    return agent.follow(form!.action, 'http://never/', { multipart: body });
  };

  it('checks the file first, showing every error by row and column, then applies the same file once and offers the report', async () => {
    const { agent } = await openConsole();
    const csv = [
      'Mã cán bộ;Họ và tên;Mã đơn vị;Email',
      'CB001;Võ Thị Hồng Nhung;TG.CAIBE.ANHUU;nhungvth@caibe.tiengiang.gov.vn',
      'CB002;Đặng Văn Lợi;TG.CHOGAO.BINHPHAN;',
      'CB003;;TG.CAIBE.ANHUU;khong-phai-email',
    ].join('\n');
    const review = await upload(agent, csv);
    expect(html(review)).toContain('đã kiểm tra, chưa áp dụng');
    // Each problem names the column as the file's own header does.
    expect(html(review)).toMatch(/<code>Mã đơn vị<\/code>: Đơn vị &quot;TG.CHOGAO.BINHPHAN&quot; nằm ngoài phạm vi bạn quản lý\./);
    expect(html(review)).toMatch(/<code>Họ và tên<\/code>: Cần có họ và tên\./);
    // The cell's problem in the page's language (the report file keeps the English).
    expect(html(review)).toMatch(/<code>Email<\/code>: Địa chỉ email không hợp lệ\./);
    expect(await world.server.database.db.selectFrom('users').select('id').where('employee_code', '=', 'CB001').execute()).toHaveLength(0);

    const applied = await post(agent, review, '/apply');
    expect(html(applied)).toContain('Đã áp dụng tệp');
    expect(await world.server.database.db.selectFrom('users').select(['full_name', 'status']).where('employee_code', '=', 'CB001').executeTakeFirst())
      .toEqual({ full_name: 'Võ Thị Hồng Nhung', status: 'pending_activation' });
    expect(await world.server.database.db.selectFrom('users').select('id').where('employee_code', '=', 'CB002').execute()).toHaveLength(0);

    const again = await post(agent, review, '/apply');
    expect(again.response.status).toBe(409);

    const reportUrl = /href="(\/admin\/import\/[0-9a-f-]+\/report\.csv)"/.exec(html(applied))![1]!;
    const report = Buffer.from(await (await agent.request(`${world.server.issuer}${reportUrl}`)).arrayBuffer()).subarray(3).toString('utf8');
    expect(report.split('\n')[0]).toBe('row,outcome,employee_code,username,changes,column,message');
    expect(report).toMatch(/^2,create,CB001,/m);
    expect(report).toMatch(/^3,error,CB002,.*Mã đơn vị/m);
  });

  it('keeps one admin\'s upload from another admin', async () => {
    const { agent } = await openConsole();
    const review = await upload(agent, 'employee_code,full_name,org_unit_code\nCB010,Lý Thị Mai,TG.CAIBE.ANHUU\n');
    const runUrl = new URL(review.url).pathname;
    await createUser(world.server, { username: 'khongquyen', password: 'không có vai trò nào 2026' });
    const other = await openConsole('/admin', { login: 'khongquyen', password: 'không có vai trò nào 2026' });
    expect((await other.agent.request(`${world.server.issuer}${runUrl}`)).status).toBe(403);
    const helpdesk = await createUser(world.server, { username: 'hotrocaibe', password: 'hỗ trợ huyện Cái Bè 2026' });
    await grantDirectly(world.server, { userId: helpdesk.id }, 'org_admin', world.tree.caiBe);
    const stranger = await openConsole('/admin', { login: 'hotrocaibe', password: 'hỗ trợ huyện Cái Bè 2026' });
    expect((await stranger.agent.request(`${world.server.issuer}${runUrl}`)).status).toBe(404);
  });

  it('refuses a file too large, or a post that is not an upload, saying so', async () => {
    const { agent } = await openConsole();
    const page = await agent.follow(`${world.server.issuer}/admin/import`, 'http://never/');
    const [form] = formsOf(html(page), world.server.issuer).filter((candidate) => candidate.action.endsWith('/admin/import'));
    const notUpload = await agent.request(form!.action, { form: { _csrf: form!.fields['_csrf']! } });
    expect(notUpload.status).toBe(415);
    const big = new FormData();
    big.set('_csrf', form!.fields['_csrf']!);
    big.set('file', new Blob(['employee_code,full_name,org_unit_code\n', 'x'.repeat(21 * 1024 * 1024)]), 'big.csv');
    const tooLarge = await agent.request(form!.action, { multipart: big });
    expect(tooLarge.status).toBe(413);
  });
});

describe('roles and groups', () => {
  it('grants a role the admin holds, over their subtree, refuses ones they do not hold with the rule, and takes it away', async () => {
    const { agent } = await openConsole();
    const detail = await agent.follow(`${world.server.issuer}/admin/users/${caiBePerson.id}`, 'http://never/');
    const granted = await post(agent, detail, `/users/${caiBePerson.id}/roles`, { role: 'org_admin', org_unit_id: world.tree.anHuu.id });
    expect(html(granted)).toContain('Đã giao vai trò');
    expect(html(granted)).toContain('Quản trị đơn vị');
    expect(html(granted)).toContain('tại TG.CAIBE.ANHUU');

    // A unit admin does not hold the helpdesk role, so cannot hand it out.
    const notHeld = await post(agent, granted, `/users/${caiBePerson.id}/roles`, { role: 'helpdesk', org_unit_id: world.tree.anHuu.id });
    expect(notHeld.response.status).toBe(403);
    expect(html(notHeld)).toContain('Bạn chỉ giao được vai trò helpdesk khi chính bạn giữ vai trò đó tại đơn vị TG.CAIBE.ANHUU');
    const global = await post(agent, granted, `/users/${caiBePerson.id}/roles`, { role: 'super_admin', org_unit_id: '' });
    expect(global.response.status).toBe(403);
    expect(html(global)).toContain('Chỉ người giữ vai trò super_admin cho toàn tỉnh mới giao được vai trò này cho toàn tỉnh.');

    const revokeForm = formsOf(html(granted), world.server.issuer).find((form) => form.action.endsWith('/revoke'))!;
    const revoked = await agent.follow(revokeForm.action, 'http://never/', { form: revokeForm.fields });
    expect(html(revoked)).toContain('Đã thu hồi vai trò');
    expect(await world.server.database.db.selectFrom('role_assignments').select('id').where('user_id', '=', caiBePerson.id).execute()).toHaveLength(0);
  });

  it('creates a group in a unit the admin runs, adds a person by username, and will not add someone outside their scope', async () => {
    const { agent } = await openConsole();
    const groups = await agent.follow(`${world.server.issuer}/admin/groups`, 'http://never/');
    const created = await post(agent, groups, '/admin/groups', { org_unit_id: world.tree.anHuu.id, name: 'Tổ tiêm chủng', description: 'Tiêm chủng mở rộng' });
    expect(html(created)).toContain('Đã tạo nhóm');
    const added = await post(agent, created, '/members', { username: 'TUYETNTA' });
    expect(html(added)).toContain('Đã thêm thành viên');
    expect(html(added)).toContain('Nguyễn Thị Ánh Tuyết');
    const stranger = await post(agent, added, '/members', { username: 'chotv' });
    expect(stranger.response.status).toBe(400);
    expect(html(stranger)).toContain('Trong phạm vi bạn quản lý không có ai có tên đăng nhập');
    const groupId = /\/admin\/groups\/([0-9a-f-]{36})/.exec(created.url)![1]!;
    expect(await world.server.database.db.selectFrom('group_members').select('user_id').where('group_id', '=', groupId).execute())
      .toEqual([{ user_id: caiBePerson.id }]);
  });
});

describe('reports', () => {
  it('lists the reports the admin may read, each limited to their subtree, as a page and as CSV', async () => {
    const { agent } = await openConsole();
    const index = await agent.follow(`${world.server.issuer}/admin/reports`, 'http://never/');
    for (const name of ['inactive', 'without-second-factor', 'without-unit', 'privileged', 'app-access']) expect(html(index)).toContain(`/admin/reports/${name}"`);

    const withoutFactor = await agent.follow(`${world.server.issuer}/admin/reports/without-second-factor`, 'http://never/');
    expect(html(withoutFactor)).toContain('Nguyễn Thị Ánh Tuyết');
    expect(html(withoutFactor)).not.toContain('Trần Văn Chợ');

    await world.server.database.db.updateTable('users').set({ last_login_at: new Date(Date.now() - 200 * 24 * 60 * 60 * 1000) }).where('id', '=', caiBePerson.id).execute();
    const inactive = await agent.follow(`${world.server.issuer}/admin/reports/inactive?days=180`, 'http://never/');
    expect(html(inactive)).toContain('Nguyễn Thị Ánh Tuyết');
    const quiet = await agent.follow(`${world.server.issuer}/admin/reports/inactive?days=365`, 'http://never/');
    expect(html(quiet)).not.toContain('Nguyễn Thị Ánh Tuyết');

    const privileged = Buffer.from(await (await agent.request(`${world.server.issuer}/admin/reports/privileged.csv`)).arrayBuffer()).subarray(3).toString('utf8');
    expect(privileged.split('\n')[0]).toBe('Tên đăng nhập,Họ và tên,Trạng thái,Vai trò,Phạm vi');
    expect(privileged).toContain(`${caiBeAdminCredentials.login},Phạm Quốc Bảo,đang hoạt động,Quản trị đơn vị,TG.CAIBE`);
  });

  it('refuses a report the admin may not read', async () => {
    const helper = await createUser(world.server, { username: 'hotrovien', password: 'chỉ hỗ trợ người dùng 2026' });
    await grantDirectly(world.server, { userId: helper.id }, 'helpdesk', world.tree.caiBe);
    const { agent } = await openConsole('/admin', { login: 'hotrovien', password: 'chỉ hỗ trợ người dùng 2026' });
    const refused = await agent.follow(`${world.server.issuer}/admin/reports/privileged`, 'http://never/');
    expect(refused.response.status).toBe(403);
    expect(html(refused)).toContain('Bạn không có quyền xem báo cáo này.');
  });
});

describe('apps', () => {
  it('lets a unit admin open a restricted app to a unit of theirs with its roles, but not switch the app off', async () => {
    const app = await registerTestClient(world.server, { name: 'Hệ thống quản lý văn bản', redirectUris: ['https://vanban.tiengiang.gov.vn/callback'] });
    expect((await world.superAdmin('PUT', `/apps/${app.clientId}/roles`, { roles: [{ name: 'van_thu' }, { name: 'lanh_dao' }] })).status).toBe(200);
    expect((await world.superAdmin('PUT', `/apps/${app.clientId}/access-policy`, { access_policy: 'restricted' })).status).toBe(200);

    const { agent } = await openConsole();
    const list = await agent.follow(`${world.server.issuer}/admin/clients`, 'http://never/');
    expect(html(list)).toContain('Hệ thống quản lý văn bản');
    const page = await agent.follow(`${world.server.issuer}/admin/clients/${app.clientId}`, 'http://never/');
    expect(html(page)).not.toContain('/status"');
    const assigned = await post(agent, page, `/admin/clients/${app.clientId}/assignments`, { org_unit_id: world.tree.anHuu.id, roles: 'van_thu' });
    expect(html(assigned)).toContain('Đã phân công ứng dụng');
    expect(html(assigned)).toContain('xã An Hữu');
    const rows = await world.server.database.db.selectFrom('app_assignments').select(['org_unit_id', 'roles']).where('client_id', '=', app.clientId).execute();
    expect(rows).toEqual([{ org_unit_id: world.tree.anHuu.id, roles: ['van_thu'] }]);

    const csrf = formsOf(html(assigned), world.server.issuer)[0]!.fields['_csrf']!;
    const refused = await agent.request(`${world.server.issuer}/admin/clients/${app.clientId}/status`, { form: { _csrf: csrf, status: 'disabled' } });
    expect(refused.status).toBe(403);
  });

  it('lets a global administrator disable an app, which the provider then no longer knows', async () => {
    const app = await registerTestClient(world.server, { name: 'Ứng dụng cũ', redirectUris: ['https://cu.tiengiang.gov.vn/callback'] });
    const admin = await createUser(world.server, { username: 'quantritinh', password: 'quản trị toàn tỉnh 2026' });
    await grantDirectly(world.server, { userId: admin.id }, 'super_admin', null);
    const { agent } = await openConsole('/admin', { login: 'quantritinh', password: 'quản trị toàn tỉnh 2026' });
    const page = await agent.follow(`${world.server.issuer}/admin/clients/${app.clientId}`, 'http://never/');
    expect(html(page)).toContain('Các lần đăng xuất kênh sau gần đây');
    const disabled = await post(agent, page, `/admin/clients/${app.clientId}/status`);
    expect(html(disabled)).toContain('Đã vô hiệu hóa ứng dụng');
    expect(await world.server.oidc.current().Client.find(app.clientId)).toBeUndefined();
  });
});

describe('separation of duties', () => {
  it('lets a global administrator write a rule from two declared roles; a unit admin reads the rules and the report, without the form', async () => {
    const app = await registerTestClient(world.server, { name: 'Một cửa điện tử', redirectUris: ['https://motcua.tiengiang.gov.vn/callback'] });
    expect((await world.superAdmin('PUT', `/apps/${app.clientId}/roles`, { roles: [{ name: 'tiep_nhan' }, { name: 'phe_duyet' }] })).status).toBe(200);
    const admin = await createUser(world.server, { username: 'quantriphanquyen', password: 'quản trị phân quyền 2026' });
    await grantDirectly(world.server, { userId: admin.id }, 'super_admin', null);
    const { agent } = await openConsole('/admin/sod-rules', { login: 'quantriphanquyen', password: 'quản trị phân quyền 2026' });
    const page = await agent.follow(`${world.server.issuer}/admin/sod-rules`, 'http://never/');
    expect(html(page)).toContain('Một cửa điện tử: phe_duyet');

    const nameless = await post(agent, page, '/admin/sod-rules', { name: ' ', first: `${app.clientId} tiep_nhan`, second: `${app.clientId} phe_duyet` });
    expect(nameless.response.status).toBe(400);
    expect(html(nameless)).toContain('Không được để trống.');
    const created = await post(agent, page, '/admin/sod-rules', { name: 'Tiếp nhận không tự phê duyệt', first: `${app.clientId} tiep_nhan`, second: `${app.clientId} phe_duyet` });
    expect(html(created)).toContain('Đã thêm quy tắc.');
    expect(html(created)).toContain('Tiếp nhận không tự phê duyệt');

    const unitAdmin = await openConsole('/admin/sod-rules');
    expect(html(unitAdmin.page)).toContain('Tiếp nhận không tự phê duyệt');
    expect(html(unitAdmin.page)).not.toContain('action="/admin/sod-rules"');
    const report = await unitAdmin.agent.follow(`${world.server.issuer}/admin/reports/sod-violations.csv`, 'http://never/');
    expect(report.response.headers.get('content-type')).toContain('text/csv');
  });
});

describe('access reviews', () => {
  it('lets a unit admin start a campaign, decide their items in one form, and close it with a warning that says what will happen', async () => {
    const app = await registerTestClient(world.server, { name: 'Quản lý văn bản điều hành', redirectUris: ['https://vanban.tiengiang.gov.vn/callback'] });
    expect((await world.superAdmin('PUT', `/apps/${app.clientId}/access-policy`, { access_policy: 'restricted' })).status).toBe(200);
    expect((await world.superAdmin('POST', `/apps/${app.clientId}/assignments`, { org_unit_id: world.tree.anHuu.id })).status).toBe(201);
    const { agent, page } = await openConsole('/admin/reviews');
    expect(html(page)).toContain('Mở đợt rà soát mới');

    const past = await post(agent, page, '/admin/reviews', { name: 'Văn bản quý IV', client_id: app.clientId, org_unit_id: world.tree.anHuu.id, due_at: '2020-01-01' });
    expect(past.response.status).toBe(400);
    expect(html(past)).toContain('Hạn rà soát phải ở trong tương lai.');
    const due = new Date(Date.now() + 7 * 24 * 3600 * 1000).toISOString().slice(0, 10);
    const started = await post(agent, page, '/admin/reviews', {
      name: 'Văn bản quý IV', client_id: app.clientId, org_unit_id: world.tree.anHuu.id, reviewers: 'unit_admins', due_at: due, default_decision: 'keep',
    });
    expect(html(started)).toContain('Đã mở đợt rà soát');
    const reviewPath = new URL(started.url).pathname;

    const mine = await agent.follow(`${world.server.issuer}${reviewPath}/mine`, 'http://never/');
    const itemOfTuyet = new RegExp(`Nguyễn Thị Ánh Tuyết \\(tuyetnta\\)[^]*?name="decision_([0-9a-f-]{36})"`).exec(html(mine));
    expect(itemOfTuyet).not.toBeNull();
    const decided = await post(agent, mine, `${reviewPath}/mine`, { [`decision_${itemOfTuyet![1]!}`]: 'revoke', [`comment_${itemOfTuyet![1]!}`]: 'Nghỉ thai sản' });
    expect(html(decided)).toContain('Đã lưu quyết định.');
    expect(html(decided)).toMatch(/value="revoke" checked/);

    const review = await agent.follow(`${world.server.issuer}${reviewPath}`, 'http://never/');
    expect(html(review)).toContain('Đóng đợt rà soát sẽ thu hồi ngay 1 quyền truy cập');
    const closed = await post(agent, review, `${reviewPath}/close`);
    expect(html(closed)).toContain('Đã đóng đợt rà soát.');
    expect(html(closed)).toContain('Nghỉ thai sản');
    const excluded = await world.server.database.db.selectFrom('app_access_exclusions').select('user_id').where('client_id', '=', app.clientId).execute();
    expect(excluded).toEqual([{ user_id: caiBePerson.id }]);
  });
});

describe('refusals in the page\'s language', () => {
  // A refusal carries its catalog entry: the page says it in Vietnamese, and in English once the
  // person switches (the switch is remembered in a cookie, so the next post answers in English too).
  const inEnglish = (agent: UserAgent, path: string) => agent.follow(`${world.server.issuer}${path}${path.includes('?') ? '&' : '?'}lang=en`, 'http://never/');

  it('refuses a unit admin another unit\'s person in Vietnamese, then in English after the switch', async () => {
    const { agent } = await openConsole();
    const refused = await agent.follow(`${world.server.issuer}/admin/users/${choGaoPerson.id}`, 'http://never/');
    expect(refused.response.status).toBe(403);
    expect(html(refused)).toContain('Bạn không có quyền làm việc này. Lý do được ghi bên dưới.');
    expect(html(refused)).toContain('Người này thuộc đơn vị nằm ngoài phạm vi bạn quản lý.');
    expect(html(refused)).not.toContain('outside the part of the org tree');
    const english = await inEnglish(agent, `/admin/users/${choGaoPerson.id}`);
    expect(english.response.status).toBe(403);
    expect(html(english)).toContain('This person belongs to a unit outside the part of the org tree you administer.');
    expect(html(english)).not.toContain('phạm vi bạn quản lý');
  });

  it('names the separation-of-duties rule and the person when joining a group would break it, in either language', async () => {
    const app = await registerTestClient(world.server, { name: 'Hệ thống một cửa liên thông', redirectUris: ['https://lienthong.tiengiang.gov.vn/callback'] });
    expect((await world.superAdmin('PUT', `/apps/${app.clientId}/roles`, { roles: [{ name: 'tiep_nhan' }, { name: 'phe_duyet' }] })).status).toBe(200);
    const clerk = await addPerson(world.server, { fullName: 'Đặng Thị Thu Hà', username: 'hadtt', unit: world.tree.anHuu });
    expect((await world.superAdmin('POST', `/apps/${app.clientId}/assignments`, { user_id: clerk.id, roles: ['tiep_nhan'] })).status).toBe(201);
    const approvers = await world.superAdmin<{ id: string }>('POST', '/groups', { org_unit_id: world.tree.anHuu.id, name: 'Tổ phê duyệt hồ sơ' });
    expect((await world.superAdmin('POST', `/apps/${app.clientId}/assignments`, { group_id: approvers.body.id, roles: ['phe_duyet'] })).status).toBe(201);
    const rule = { name: 'Tiếp nhận không tự phê duyệt hồ sơ', first: { client_id: app.clientId, role: 'tiep_nhan' }, second: { client_id: app.clientId, role: 'phe_duyet' } };
    expect((await world.superAdmin('POST', '/sod-rules', rule)).status).toBe(201);

    const { agent } = await openConsole();
    const group = await agent.follow(`${world.server.issuer}/admin/groups/${approvers.body.id}`, 'http://never/');
    const refused = await post(agent, group, '/members', { username: 'hadtt' });
    expect(refused.response.status).toBe(403);
    expect(html(refused)).toContain('Việc này sẽ làm Đặng Thị Thu Hà (hadtt) giữ cùng lúc vai trò &quot;tiep_nhan&quot; của Hệ thống một cửa liên thông');
    expect(html(refused)).toContain('điều mà quy tắc phân tách nhiệm vụ &quot;Tiếp nhận không tự phê duyệt hồ sơ&quot; không cho phép.');
    const englishGroup = await inEnglish(agent, `/admin/groups/${approvers.body.id}`);
    const english = await post(agent, englishGroup, '/members', { username: 'hadtt' });
    expect(english.response.status).toBe(403);
    expect(html(english)).toContain('which the separation-of-duties rule &quot;Tiếp nhận không tự phê duyệt hồ sơ&quot; forbids.');
    expect(await world.server.database.db.selectFrom('group_members').select('user_id').where('group_id', '=', approvers.body.id).execute()).toEqual([]);
  });

  it('says that someone else changed a unit meanwhile (its ETag moved on), in either language', async () => {
    const created = await world.superAdmin<{ id: string }>('POST', '/org-units', { code: 'TG.CAIBE.ANHUU.AP2', name: 'Ấp 2', kind: 'unit', parent_id: world.tree.anHuu.id });
    const { agent } = await openConsole();
    const unitPage = await agent.follow(`${world.server.issuer}/admin/org-units/${created.body.id}`, 'http://never/');
    const version = async () => (await world.server.database.db.selectFrom('org_units').select('version').where('id', '=', created.body.id).executeTakeFirstOrThrow()).version;
    expect((await world.superAdmin('PATCH', `/org-units/${created.body.id}`, { name: 'Ấp Hai' }, { 'if-match': `"${await version()}"` })).status).toBe(200);
    const stale = await post(agent, unitPage, `/admin/org-units/${created.body.id}`, { name: 'Ấp 2 mới' });
    expect(stale.response.status).toBe(412);
    expect(html(stale)).toContain('Người khác vừa sửa đơn vị này sau khi bạn mở trang; hãy tải lại rồi sửa lại.');

    const englishPage = await inEnglish(agent, `/admin/org-units/${created.body.id}`);
    expect((await world.superAdmin('PATCH', `/org-units/${created.body.id}`, { name: 'Ấp Hai B' }, { 'if-match': `"${await version()}"` })).status).toBe(200);
    const english = await post(agent, englishPage, `/admin/org-units/${created.body.id}`, { name: 'Hamlet 2' });
    expect(english.response.status).toBe(412);
    expect(html(english)).toContain('Someone else changed this unit since you opened it; reload it and apply your change again.');
    expect((await world.server.database.db.selectFrom('org_units').select('name').where('id', '=', created.body.id).executeTakeFirstOrThrow()).name).toBe('Ấp Hai B');
  });

  it('refuses a username already taken on the create form, in either language', async () => {
    const { agent } = await openConsole();
    const form = await agent.follow(`${world.server.issuer}/admin/users/new`, 'http://never/');
    const taken = await post(agent, form, '/admin/users', { full_name: 'Nguyễn Thị Tuyết', username: 'tuyetnta', org_unit_id: world.tree.anHuu.id });
    expect(taken.response.status).toBe(409);
    expect(html(taken)).toContain('Tên đăng nhập này đã có người dùng.');
    const englishForm = await inEnglish(agent, '/admin/users/new');
    const english = await post(agent, englishForm, '/admin/users', { full_name: 'Nguyễn Thị Tuyết', username: 'tuyetnta', org_unit_id: world.tree.anHuu.id });
    expect(english.response.status).toBe(409);
    expect(html(english)).toContain('Another user already has this username.');
    expect(await world.server.database.db.selectFrom('users').select('id').where('full_name', '=', 'Nguyễn Thị Tuyết').execute()).toHaveLength(0);
  });
});
