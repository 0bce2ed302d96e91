import { beforeAll, describe, expect, it } from 'vitest';

import { listPersonnelDecisions } from '../../src/db/queries/personnel-decisions.ts';
import type { User } from '../../src/db/schema.ts';
import { provinceDate } from '../../src/domain/personnel-decisions.ts';
import { addPerson, caiBeAdminCredentials, useProvinceServer } from '../support/admin-api.ts';
import { formsOf, UserAgent, type FollowResult } from '../support/user-agent.ts';

const world = useProvinceServer();
const html = (step: FollowResult) => (step.kind === 'page' ? step.html : '');
const inTenDays = provinceDate(new Date(Date.now() + 10 * 24 * 3600 * 1000));

let person: User;

beforeAll(async () => {
  person = await addPerson(world.server, { fullName: 'Lê Thị Hồng Nhung', username: 'nhunglth', unit: world.tree.anHuu });
});

/** The console signed in as Cái Bè's admin, opened at `path`. */
async function openConsole(path: string): Promise<{ agent: UserAgent; page: FollowResult }> {
  const agent = new UserAgent();
  const login = await agent.follow(`${world.server.issuer}${path}`, 'http://never/');
  const [form] = formsOf(html(login), login.url);
  const page = await agent.follow(form!.action, 'http://never/', { form: { ...form!.fields, ...caiBeAdminCredentials } });
  return { agent, page };
}

async function postForm(agent: UserAgent, page: FollowResult, action: string, fields: Record<string, string> = {}): Promise<FollowResult> {
  const form = formsOf(html(page), world.server.issuer).find((candidate) => new URL(candidate.action).pathname.endsWith(action));
  expect(form, `a form posting to …${action}`).toBeDefined();
  return agent.follow(form!.action, 'http://never/', { form: { ...form!.fields, ...fields } });
}

describe('personnel decisions in the admin console', () => {
  it('records a transfer from the person\'s page, lists it as pending, and cancels it', async () => {
    const { agent, page: personPage } = await openConsole(`/admin/users/${person.id}`);
    expect(html(personPage)).toContain(`/admin/users/${person.id}/decisions/new`);
    const form = await agent.follow(`${world.server.issuer}/admin/users/${person.id}/decisions/new`, 'http://never/');
    const listed = await postForm(agent, form, `/users/${person.id}/decisions`, {
      kind: 'transfer', decision_number: '45/QĐ-UBND', decision_date: '2026-11-20', effective_date: inTenDays, org_unit_id: world.tree.anHuuHealthStation.id,
    });
    expect(listed.kind === 'page' && new URL(listed.url).pathname).toBe('/admin/decisions');
    expect(html(listed)).toContain('Đã ghi quyết định.');
    expect(html(listed)).toContain('Điều động, luân chuyển');
    expect(html(listed)).toContain('Lê Thị Hồng Nhung');

    const cancelled = await postForm(agent, listed, '/cancel');
    expect(html(cancelled)).toContain('Đã hủy quyết định.');
    const [decision] = await listPersonnelDecisions(world.server.database.db, { subtrees: null, userId: person.id, limit: 5 });
    expect(decision).toMatchObject({ status: 'cancelled', decision_number: '45/QĐ-UBND', effective_date: inTenDays });
  });

  it('shows what was wrong with the form beside the field', async () => {
    const { agent, page: form } = await openConsole(`/admin/users/${person.id}/decisions/new`);
    const refused = await postForm(agent, form, `/users/${person.id}/decisions`, {
      kind: 'retirement', decision_number: '46/QĐ-UBND', decision_date: '2026-11-20', effective_date: 'sang năm',
    });
    expect(refused.response.status).toBe(400);
    expect(html(refused)).toContain('id="effective_date-error"');
  });

  it('refuses to move someone into another district, saying why', async () => {
    const { agent, page: form } = await openConsole(`/admin/users/${person.id}/decisions/new`);
    const refused = await postForm(agent, form, `/users/${person.id}/decisions`, {
      kind: 'transfer', decision_number: '47/QĐ-UBND', decision_date: '2026-11-20', effective_date: inTenDays, org_unit_id: world.tree.choGao.id,
    });
    expect(refused.response.status).toBe(403);
    expect(html(refused)).toContain('TG.CHOGAO');
  });
});

describe('a unit\'s inactivity settings in the admin console', () => {
  it('shows what applies, saves the unit\'s own days, and names a field it cannot take', async () => {
    const { agent, page } = await openConsole(`/admin/org-units/${world.tree.anHuu.id}/inactivity`);
    expect(html(page)).toContain('Đang áp dụng: nhắc sau');
    expect(html(page)).toContain('60 ngày không đăng nhập');
    const saved = await postForm(agent, page, '/inactivity', { warn_days: '30', suspend_days: '' });
    expect(html(saved)).toContain('Đã lưu quy định.');
    expect(html(saved)).toContain('30 ngày không đăng nhập');
    expect(html(saved)).toContain('90 ngày không đăng nhập');
    const refused = await postForm(agent, saved, '/inactivity', { warn_days: 'ba mươi', suspend_days: '' });
    expect(refused.response.status).toBe(400);
    expect(html(refused)).toContain('id="warn_days-error"');
  });

  it('is not open for another district', async () => {
    const { page } = await openConsole(`/admin/org-units/${world.tree.choGao.id}/inactivity`);
    expect(page.response.status).toBe(403);
  });
});
