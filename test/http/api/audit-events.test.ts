import { parse } from 'csv-parse/sync';
import { beforeAll, describe, expect, it } from 'vitest';

import {
  expectAuditedRefusal,
  serviceCaller,
  userCaller,
  useProvinceServer,
  type ApiCall,
  type UserCaller,
} from '../../support/admin-api.ts';

interface EventBody {
  id: string;
  action: string;
  outcome: string;
  actor: { type: string; id: string | null; name: string | null };
  target: { type: string; id: string } | null;
  org_unit_id: string | null;
  after: Record<string, unknown> | null;
  user_agent: string | null;
}
interface EventList {
  items: EventBody[];
  next: string | null;
}

const world = useProvinceServer();
let globalAuditor: { token: string; api: ApiCall };
let caiBeAuditor: UserCaller;
let choGaoAdmin: ApiCall;
/** Created by the province in Cái Bè, changed, and looked at from Chợ Gạo (refused). */
let tuyetId: string;
/** Created by the Chợ Gạo admin in Chợ Gạo. */
let hoaId: string;

beforeAll(async () => {
  const { server, tree, superAdmin } = world;
  globalAuditor = await serviceCaller(server, 'auditor', null, 'Thanh tra tỉnh');
  caiBeAuditor = await userCaller(server, { username: 'kiemtoancaibe', fullName: 'Đoàn Thị Kiểm', password: 'kiểm toán viên Cái Bè', role: 'auditor', unit: tree.caiBe });
  choGaoAdmin = (await serviceCaller(server, 'org_admin', tree.choGao, 'Quản trị Chợ Gạo')).api;

  tuyetId = (await superAdmin<{ id: string }>('POST', '/users', { full_name: 'Nguyễn Thị Ánh Tuyết', org_unit_id: tree.anHuu.id })).body.id;
  await superAdmin('PATCH', `/users/${tuyetId}`, { position: 'Phó Chủ tịch Ủy ban nhân dân xã' });
  expect((await choGaoAdmin('GET', `/users/${tuyetId}`)).status).toBe(403);
  hoaId = (await choGaoAdmin<{ id: string }>('POST', '/users', { full_name: 'Lê Thị Hoa', org_unit_id: tree.binhPhan.id })).body.id;
});

const events = async (caller: ApiCall, query: string) => {
  const response = await caller<EventList>('GET', `/audit-events?${query}`);
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body.items;
};

describe('reading the audit log', () => {
  it('filters by target, newest first', async () => {
    expect((await events(globalAuditor.api, `target_id=${tuyetId}`)).map((event) => [event.action, event.outcome])).toEqual([
      ['user.read', 'denied'],
      ['user.update', 'success'],
      ['user.create', 'success'],
    ]);
  });

  it('filters by action and by outcome', async () => {
    const updates = await events(globalAuditor.api, `action=user.update&target_id=${tuyetId}`);
    expect(updates).toHaveLength(1);
    expect(updates[0]!.after).toMatchObject({ full_name: 'Nguyễn Thị Ánh Tuyết', position: 'Phó Chủ tịch Ủy ban nhân dân xã' });
    const denied = await events(globalAuditor.api, 'outcome=denied');
    expect(denied.length).toBeGreaterThan(0);
    expect(denied.every((event) => event.outcome === 'denied')).toBe(true);
    expect(denied.map((event) => event.target?.id)).toContain(tuyetId);
  });

  it('filters by a time window', async () => {
    const later = new Date(Date.now() + 60 * 60 * 1000).toISOString();
    expect(await events(globalAuditor.api, `from=${encodeURIComponent(later)}`)).toEqual([]);
    expect((await events(globalAuditor.api, `to=${encodeURIComponent(later)}&target_id=${hoaId}`)).map((event) => event.action)).toEqual(['user.create']);
  });

  it('shows an auditor of Cái Bè the events about their district only', async () => {
    const seen = await events(caiBeAuditor.api, 'limit=200');
    const caiBeUnits = new Set([world.tree.caiBe.id, world.tree.anHuu.id, world.tree.anHuuHealthStation.id]);
    expect(seen.map((event) => event.target?.id)).toContain(tuyetId);
    expect(seen.every((event) => event.org_unit_id !== null && caiBeUnits.has(event.org_unit_id))).toBe(true);
    expect(await events(caiBeAuditor.api, `target_id=${hoaId}`)).toEqual([]);
  });

  // A refusal is recorded with the unit it was about, so that the auditors of that subtree notice it.
  it('shows an auditor of Cái Bè the refused attempts on people of their district too', async () => {
    const seen = await events(caiBeAuditor.api, `target_id=${tuyetId}&outcome=denied`);
    expect(seen.map((event) => event.action)).toEqual(['user.read']);
  });

  it('pages newest first through every event exactly once', async () => {
    const everything = (await events(globalAuditor.api, 'limit=200')).map((event) => event.id);
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: EventList } = await globalAuditor.api<EventList>('GET', `/audit-events?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      paged.push(...page.body.items.map((event) => event.id));
      cursor = page.body.next;
    } while (cursor !== null);
    expect(paged).toEqual(everything.slice(0, paged.length));
    expect(new Set(paged).size).toBe(paged.length);
    expect(paged.map(Number)).toEqual([...paged.map(Number)].sort((a, b) => b - a));
  });

  it('refuses the audit log to the helpdesk (403, audited)', async () => {
    const helpdesk = (await serviceCaller(world.server, 'helpdesk', world.tree.choGao)).api;
    await expectAuditedRefusal(world.superAdmin, await helpdesk('GET', '/audit-events'), 'audit.read');
  });
});

describe('exporting the audit log as CSV', () => {
  const exportCsv = async (token: string, query: string) => {
    const response = await fetch(`${world.server.issuer}/api/v1/audit-events/export?${query}`, { headers: { authorization: `Bearer ${token}` } });
    return { response, bytes: Buffer.from(await response.arrayBuffer()) };
  };
  const rowsOf = (bytes: Buffer) => parse<Record<string, string>>(bytes.subarray(3).toString('utf8'), { columns: true });

  it('answers text/csv as a download, UTF-8 with a byte-order mark, Vietnamese intact', async () => {
    const { response, bytes } = await exportCsv(globalAuditor.token, `target_id=${tuyetId}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="audit-events.csv"');
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const rows = rowsOf(bytes);
    expect(rows.map((row) => row['action'])).toEqual(['user.read', 'user.update', 'user.create']);
    expect(JSON.parse(rows[2]!['after']!)).toMatchObject({ full_name: 'Nguyễn Thị Ánh Tuyết' });
    expect(rows[1]!['after']).toContain('Phó Chủ tịch Ủy ban nhân dân xã');
  });

  it('defuses a cell a spreadsheet would run as a formula', async () => {
    const hostile = await serviceCaller(world.server, 'org_admin', world.tree.choGao, '=HYPERLINK("http://tan-cong.example","Bấm vào đây")');
    const created = await hostile.api<{ id: string }>('POST', '/users', { full_name: 'Trần Văn Độc', org_unit_id: world.tree.binhPhan.id }, { 'user-agent': '@SUM(1+1)*cmd|" /C calc"!A0' });
    expect(created.status).toBe(201);
    const [row] = rowsOf((await exportCsv(globalAuditor.token, `target_id=${created.body.id}`)).bytes);
    expect(row!['actor_name']).toBe('\'=HYPERLINK("http://tan-cong.example","Bấm vào đây")');
    expect(row!['user_agent']).toBe('\'@SUM(1+1)*cmd|" /C calc"!A0');
    // The JSON API gives the values as they are.
    const [event] = await events(globalAuditor.api, `target_id=${created.body.id}`);
    expect(event!.actor.name).toBe('=HYPERLINK("http://tan-cong.example","Bấm vào đây")');
  });

  it('exports only the events of their district to an auditor of Cái Bè', async () => {
    const rows = rowsOf((await exportCsv(caiBeAuditor.accessToken, 'action=user.create')).bytes);
    expect(rows.map((row) => row['target_id'])).toContain(tuyetId);
    expect(rows.map((row) => row['target_id'])).not.toContain(hoaId);
  });
});

describe('verifying the hash chain', () => {
  it('reports the chain intact to a global auditor', async () => {
    const response = await globalAuditor.api<{ ok: boolean; checked: number }>('GET', '/audit-events/verification');
    expect(response.status).toBe(200);
    expect(response.body.ok).toBe(true);
    expect(response.body.checked).toBeGreaterThanOrEqual((await events(globalAuditor.api, 'limit=200')).length);
  });

  it('refuses a scoped auditor, who may not read the whole chain (403, audited)', async () => {
    await expectAuditedRefusal(world.superAdmin, await caiBeAuditor.api('GET', '/audit-events/verification'), 'audit.verify');
  });
});
