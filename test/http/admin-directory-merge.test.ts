import { beforeAll, describe, expect, it } from 'vitest';

import type { User } from '../../src/db/schema.ts';
import { addPerson, caiBeAdminCredentials, grantDirectly, useProvinceServer } from '../support/admin-api.ts';
import { createUser } from '../support/server.ts';
import { formsOf, htmlOf, openConsoleAs, submitForm, type UserAgent } from '../support/user-agent.ts';

const world = useProvinceServer();
const provinceAdmin = { login: 'tranvanso', password: 'quản trị tỉnh Tiền Giang 2026' };

let lan: User;

beforeAll(async () => {
  const admin = await createUser(world.server, { username: provinceAdmin.login, password: provinceAdmin.password, fullName: 'Trần Văn Sở' });
  await grantDirectly(world.server, { userId: admin.id }, 'super_admin', null);
  lan = await addPerson(world.server, { fullName: 'Võ Thị Lan', username: 'lanvt', unit: world.tree.anHuu, email: 'lan.vt@tiengiang.gov.vn' });
});

async function stage(agent: UserAgent, csv: string, sourceCode: string) {
  const page = await agent.follow(`${world.server.issuer}/admin/directory-merge`, 'http://never/');
  const [form] = formsOf(htmlOf(page), world.server.issuer).filter((candidate) => candidate.action.endsWith('/admin/directory-merge/batches'));
  const body = new FormData();
  body.set('_csrf', form!.fields['_csrf']!);
  body.set('source_code', sourceCode);
  body.set('file', new Blob([csv], { type: 'text/csv' }), 'long-an.csv');
  return agent.follow(form!.action, 'http://never/', { multipart: body });
}

describe('the directory merge in the admin console', () => {
  it('stages a CSV, shows each likely duplicate with its rule and each rename, and confirms one, without JavaScript', async () => {
    const { agent } = await openConsoleAs(`${world.server.issuer}/admin/directory-merge`, provinceAdmin);
    const staged = await stage(agent, [
      'Mã cán bộ;Họ và tên;Tên đăng nhập;Email;Mã đơn vị',
      'LA010;Võ Thị Lan;lan.vo;LAN.VT@tiengiang.gov.vn;TG.CAIBE',
      'LA011;Đỗ Văn Hùng;lanvt;;TG.CHOGAO',
    ].join('\n'), 'LA');
    expect(staged.response.status).toBe(200);
    const page = htmlOf(staged);
    expect(page).toContain('Đã nạp danh sách.');
    expect(page).toContain('Võ Thị Lan (LA:LA010)');
    expect(page).toContain('<td>email</td>');
    // lanvt is taken here: Đỗ Văn Hùng from Long An becomes lanvt.la.
    expect(page).toContain('<td>lanvt</td><td>lanvt.la</td>');

    const confirmed = await submitForm(agent, staged, '/confirm');
    expect(htmlOf(confirmed)).toContain('Đã hợp nhất hai tài khoản.');
    const row = await world.server.database.db.selectFrom('directory_merge_rows').selectAll().where('source_id', '=', 'LA:LA010').executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'merged', user_id: lan.id });
  });

  it('shows a refusal on the page: a staged row cannot be two people when it shares an email', async () => {
    const { agent } = await openConsoleAs(`${world.server.issuer}/admin/directory-merge`, provinceAdmin);
    const staged = await stage(agent, ['employee_code,full_name,email,org_unit_code', 'LA020,Võ Thị Lan,lan.vt@tiengiang.gov.vn,TG.CAIBE'].join('\n'), 'LA');
    const refused = await submitForm(agent, staged, '/dismiss');
    expect(refused.response.status).toBe(409);
    expect(htmlOf(refused)).toContain('có cùng email với dòng này');
  });

  it('proposes two accounts here by username, merges them on confirmation, and links the merged-away account to the survivor', async () => {
    const away = await addPerson(world.server, { fullName: 'Võ Thị Lan', username: 'vothilan.la', unit: world.tree.anHuu });
    const { agent, page } = await openConsoleAs(`${world.server.issuer}/admin/directory-merge`, provinceAdmin);
    const proposed = await submitForm(agent, page, '/admin/directory-merge/candidates', { merged_login: 'vothilan.la', survivor_login: 'lanvt' });
    expect(htmlOf(proposed)).toContain('Đã đề xuất');
    expect(htmlOf(proposed)).toContain('quản trị viên chỉ định');
    const candidate = await world.server.database.db.selectFrom('directory_merge_candidates').select('id').where('merged_user_id', '=', away.id).executeTakeFirstOrThrow();
    const confirmed = await submitForm(agent, proposed, `/candidates/${candidate.id}/confirm`);
    expect(htmlOf(confirmed)).toContain('Đã hợp nhất hai tài khoản.');
    const awayPage = await agent.follow(`${world.server.issuer}/admin/users/${away.id}`, 'http://never/');
    expect(htmlOf(awayPage)).toContain(`<a href="/admin/users/${lan.id}">đã hợp nhất vào tài khoản này</a>`);
    expect(htmlOf(awayPage)).not.toContain(`/admin/users/${away.id}/disable`);
  });

  it('is refused to a unit administrator', async () => {
    const { page } = await openConsoleAs(`${world.server.issuer}/admin/directory-merge`, caiBeAdminCredentials);
    expect(page.response.status).toBe(403);
    expect(htmlOf(page)).not.toContain('/admin/directory-merge/batches');
  });
});
