import { beforeAll, describe, expect, it } from 'vitest';

import { listAuditEvents } from '../../src/db/queries/audit-events.ts';
import { caiBeAdminCredentials, grantDirectly, useProvinceServer } from '../support/admin-api.ts';
import { createUser } from '../support/server.ts';
import { htmlOf, openConsoleAs, submitForm } from '../support/user-agent.ts';

const world = useProvinceServer();
const provinceAdmin = { login: 'quantritinh', password: 'quản trị cấp tỉnh 2026' };

beforeAll(async () => {
  const admin = await createUser(world.server, { username: provinceAdmin.login, password: provinceAdmin.password, fullName: 'Lương Văn Tỉnh' });
  await grantDirectly(world.server, { userId: admin.id }, 'super_admin', null);
});

const openConsole = (path: string, credentials: { login: string; password: string }) => openConsoleAs(`${world.server.issuer}${path}`, credentials);
const submit = submitForm;
const html = htmlOf;

describe('reorganization plans in the admin console', () => {
  it('builds a plan step by step, shows its dry run as tables, and schedules it only once confirmed', async () => {
    const { agent, page: list } = await openConsole('/admin/reorganization', provinceAdmin);
    expect(list.response.status).toBe(200);
    expect(html(list)).toContain('Phương án sắp xếp tổ chức');

    const created = await submit(agent, list, '/admin/reorganization', { name: 'Bỏ cấp huyện', effective_date: '2026-12-01' });
    expect(created.response.status).toBe(200);
    expect(html(created)).toContain('Đã tạo phương án (bản nháp).');

    const malformed = await submit(agent, created, '/steps', { kind: 'merge', decision_number: '5/NQ', decision_date: '2025-06-16', units: 'TG.CAIBE', into: 'TG.CAIBE.ANHUU' });
    expect(malformed.response.status).toBe(422);
    expect(html(malformed)).toContain('Bước 1: không thể gộp TG.CAIBE vào TG.CAIBE.ANHUU, một đơn vị nằm bên trong nó.');

    const added = await submit(agent, created, '/steps', {
      kind: 'abolish_level', decision_number: '1656/NQ-UBTVQH15', decision_date: '2025-06-16', level_kind: 'district', mapping: '',
    });
    expect(html(added)).toContain('Đã thêm bước.');
    expect(html(added)).toContain('Bỏ một cấp');
    expect(html(added)).toMatch(/<code>TG \/ TG\.CAIBE\.ANHUU<\/code>/);
    expect(html(added)).toContain('Không ai mất quyền gì.');
    // What happens to each unit, in the page's language.
    expect(html(added)).toContain('Bước 1: cấp này (district) bị bãi bỏ');
    expect(html(added)).toContain('Bước 1: TG.CAIBE → TG.CAIBE.ANHUU');
    expect(html(added)).not.toContain('level district abolished');

    const unconfirmed = await submit(agent, added, '/schedule');
    expect(unconfirmed.response.status).toBe(400);
    expect(html(unconfirmed)).toContain('Hãy đánh dấu ô xác nhận.');
    const scheduled = await submit(agent, added, '/schedule', { confirm: 'yes' });
    expect(html(scheduled)).toContain('Đã lên lịch; phương án sẽ được áp dụng vào ngày hiệu lực.');
    expect(html(scheduled)).toContain('đã lên lịch');

    const csvLink = /href="(\/admin\/reorganization\/[^"]+\/dry-run\.csv)"/.exec(html(scheduled))![1]!;
    const csv = await agent.request(`${world.server.issuer}${csvLink}`);
    expect(csv.headers.get('content-type')).toContain('text/csv');
    expect(await csv.text()).toContain('TG.CAIBE');

    const cancelled = await submit(agent, scheduled, '/cancel', { confirm: 'yes' });
    expect(html(cancelled)).toContain('Đã hủy phương án.');
    const events = await listAuditEvents(world.server.database.db, { action: 'reorganization.schedule', subtrees: null, limit: 5 });
    expect(events[0]?.actor_name).toBe(provinceAdmin.login);
  });

  it('answers odd step forms with the reason, never a server error', async () => {
    const { agent, page: list } = await openConsole('/admin/reorganization', provinceAdmin);
    const plan = await submit(agent, list, '/admin/reorganization', { name: 'Thử biểu mẫu', effective_date: '2026-12-31' });
    const odd = {
      units: ['', 'TG.CAIBE, TG.CAIBE', 'TG.CAIBE TG.CHOGAO', '\u0000', 'x'.repeat(300)],
      mapping: ['=', ' = = ', 'TG.CAIBE = TG.CAIBE', 'person khongco = TG.X\nunit TG.CAIBE.ANHUU = TG.X\ngroup = TG.X', 'TG.CHOGAO = TG.CAIBE.ANHUU'],
      parts: ['|', 'TG.X|', 'TG.X | Một\nTG.X | Hai', 'TG.X | Một\nTG.Y | Hai'],
    };
    for (const kind of ['merge', 'split', 'abolish_level', 'rename', 'recode', 'khac']) {
      for (const [index, units] of odd.units.entries()) {
        const answer = await submit(agent, plan, '/steps', {
          kind, decision_number: index % 2 ? '' : '7/QĐ', decision_date: index % 3 ? '2025-02-30' : '2025-06-16', units, into: index % 2 ? 'TG.X' : 'TG.CAIBE.ANHUU',
          name: index % 2 ? '' : 'Tên mới', code: index % 2 ? 'tg caibe' : 'TG.CAIBE', level_kind: index % 2 ? 'district' : 'planet',
          mapping: odd.mapping[index % odd.mapping.length]!, parts: odd.parts[index % odd.parts.length]!, version: index % 2 ? 'x' : '1',
        });
        expect(answer.response.status, `${kind} #${index}`).toBeLessThan(500);
      }
    }
  });

  it('draws the tree as it stood on a date', async () => {
    const { agent } = await openConsole('/admin/reorganization', provinceAdmin);
    const today = await agent.follow(`${world.server.issuer}/admin/reorganization/history`, 'http://never/');
    expect(html(today)).toContain('<code>TG.CAIBE.ANHUU.TYT</code>');
    const before = await agent.follow(`${world.server.issuer}/admin/reorganization/history?at=2020-01-01`, 'http://never/');
    expect(before.response.status).toBe(200);
    expect(html(before)).not.toContain('<code>TG.CAIBE</code>');
  });

  it('is not offered to a unit admin, and refuses them with the reason', async () => {
    const { page } = await openConsole('/admin', caiBeAdminCredentials);
    expect(html(page)).not.toContain('/admin/reorganization');
    const { page: refused } = await openConsole('/admin/reorganization', caiBeAdminCredentials);
    expect(refused.response.status).toBe(403);
    expect(html(refused)).toContain('Phương án sắp xếp liên quan tới cả tỉnh');
  });
});
