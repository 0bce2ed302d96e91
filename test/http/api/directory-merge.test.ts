import { beforeAll, describe, expect, it } from 'vitest';

import { listAuditEvents } from '../../../src/db/queries/audit-events.ts';
import type { User } from '../../../src/db/schema.ts';
import { recordAuditEvent, systemActor, noOrigin } from '../../../src/domain/audit.ts';
import { incomingUsername } from '../../../src/domain/directory-merge.ts';
import { addPerson, expectApiError, expectAuditedRefusal, useProvinceServer } from '../../support/admin-api.ts';
import { createUser, registerTestClient } from '../../support/server.ts';

const world = useProvinceServer();

interface Candidate {
  id: string;
  rule: string;
  status: string;
  staged: { id: string; source_id: string; full_name: string | null } | null;
  merged_user: { id: string; username: string } | null;
  survivor: { id: string; username: string };
}

let an: User;
let binh: User;
let cuong: User;
let dung: User;
let batchId: string;
let candidates: Candidate[];

const header = 'employee_code,full_name,username,email,phone,org_unit_code,national_id';
const longAnStaff = [
  header,
  // CCCD and email both match Nguyễn Văn An: the CCCD, first in order, is named.
  'LA001,Nguyễn Văn An,,an.nv@tiengiang.gov.vn,,TG.CAIBE.ANHUU,082090000111',
  'LA002,Lê Thị Bình,,BINH.LT@tiengiang.gov.vn,,TG,',
  'LA003,Phạm Cường,,,0912 345 678,TG.CHOGAO,',
  'LA004,Tran Thi Dung,,,,TG.CAIBE.ANHUU,',
  // A near miss: the same name in another unit, and a phone one digit off: nobody here.
  'LA005,Trần Thị Dung,dungtt,,0912 345 679,TG.CHOGAO.BINHPHAN,',
].join('\n');

const pendingCandidates = async () => (await world.superAdmin<{ items: Candidate[] }>('GET', '/directory-merge/candidates?status=pending&limit=200')).body.items;
const userRow = (id: string) => world.server.database.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

beforeAll(async () => {
  an = await addPerson(world.server, { fullName: 'Nguyễn Văn An', username: 'annv', unit: world.tree.anHuu, nationalId: '082090000111', email: 'an.nv@tiengiang.gov.vn' });
  binh = await addPerson(world.server, { fullName: 'Lê Thị Bình', username: 'binhlt', unit: world.tree.binhPhan, email: 'Binh.LT@TienGiang.gov.vn' });
  cuong = await addPerson(world.server, { fullName: 'Phạm Văn Cường', username: 'cuongpv', unit: world.tree.caiBe });
  await world.server.database.db.updateTable('users').set({ phone: '+84912345678' }).where('id', '=', cuong.id).execute();
  dung = await addPerson(world.server, { fullName: 'Trần Thị Dung', username: 'dungtt', unit: world.tree.anHuu });
});

describe('staging a second province\'s accounts', () => {
  it('finds one candidate per likely duplicate, each with the first rule it matched, and makes accounts of the rest', async () => {
    const staged = await world.superAdmin<{ batch_id: string; totals: Record<string, number>; renames: unknown[] }>(
      'POST', '/directory-merge/batches?source_code=la&file_name=long-an.csv', longAnStaff, { 'content-type': 'text/csv' },
    );
    expect(staged.status, JSON.stringify(staged.body)).toBe(201);
    batchId = staged.body.batch_id;
    expect(staged.body.totals).toEqual({ rows: 5, created: 1, awaiting_review: 4, failed: 0, candidates: 4 });
    candidates = (await world.superAdmin<{ items: Candidate[] }>('GET', `/directory-merge/candidates?batch_id=${batchId}`)).body.items
      .sort((a, b) => a.staged!.source_id.localeCompare(b.staged!.source_id));
    expect(candidates.map((candidate) => [candidate.staged?.source_id, candidate.survivor.username, candidate.rule])).toEqual([
      ['LA:LA001', 'annv', 'national_id'],
      ['LA:LA002', 'binhlt', 'email'],
      ['LA:LA003', 'cuongpv', 'phone'],
      ['LA:LA004', 'dungtt', 'name_and_unit'],
    ]);
    expect(candidates.every((candidate) => candidate.status === 'pending')).toBe(true);
  });

  it('renames an incoming username taken here by suffixing the source code, and says so in the report', async () => {
    const batch = await world.server.database.db.selectFrom('directory_merge_batches').select('report').where('id', '=', batchId).executeTakeFirstOrThrow();
    expect(batch.report['renames']).toEqual([{ row: 6, source_id: 'LA:LA005', from: 'dungtt', to: 'dungtt.la' }]);
    const created = await world.server.database.db.selectFrom('users').selectAll().where('username', '=', 'dungtt.la').executeTakeFirstOrThrow();
    expect(created).toMatchObject({ full_name: 'Trần Thị Dung', status: 'pending_activation', phone: '+84912345679' });
    // Nobody here is renamed.
    expect((await userRow(dung.id)).username).toBe('dungtt');
  });

  it('numbers a rename whose suffixed name is taken too', () => {
    expect(incomingUsername('hoant', 'LA', new Set(['lan']))).toBe('hoant');
    expect(incomingUsername('dungtt', 'LA', new Set(['dungtt', 'dungtt.la']))).toBe('dungtt.la2');
    expect(incomingUsername('DungTT', 'LA', new Set(['dungtt', 'dungtt.la', 'dungtt.la2']))).toBe('DungTT.la3');
  });

  it('refuses a unit admin, and a source code that is not one', async () => {
    await expectAuditedRefusal(world.superAdmin, await world.caiBeAdmin.api('POST', '/directory-merge/batches?source_code=LA', longAnStaff, { 'content-type': 'text/csv' }), 'directory_merge.stage');
    expectApiError(await world.superAdmin('POST', '/directory-merge/batches?source_code=L%20A', longAnStaff, { 'content-type': 'text/csv' }), 400, 'invalid_input', 'source province code');
  });
});

describe('confirming and dismissing', () => {
  it('confirms one staged row as a person here, and leaves every other candidate as it was', async () => {
    const before = await pendingCandidates();
    const confirmed = await world.superAdmin<Candidate>('POST', `/directory-merge/candidates/${candidates[0]!.id}/confirm`);
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
    expect(confirmed.body).toMatchObject({ status: 'confirmed', survivor: { id: an.id } });
    expect((await pendingCandidates()).map((candidate) => candidate.id)).toEqual(before.map((candidate) => candidate.id).filter((id) => id !== candidates[0]!.id));
    const row = await world.server.database.db.selectFrom('directory_merge_rows').selectAll().where('id', '=', candidates[0]!.staged!.id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'merged', user_id: an.id, source_id: 'LA:LA001' });
    const events = await listAuditEvents(world.server.database.db, { action: 'user.merge', targetId: an.id, subtrees: null, limit: 10 });
    expect(events).toHaveLength(1);
    expect(events[0]!.details).toMatchObject({ source_id: 'LA:LA001', rule: 'national_id' });
  });

  it('makes an account of a staged row once its last candidate is dismissed, under the username rule', async () => {
    const dismissed = await world.superAdmin<Candidate>('POST', `/directory-merge/candidates/${candidates[3]!.id}/dismiss`);
    expect(dismissed.status, JSON.stringify(dismissed.body)).toBe(200);
    const row = await world.server.database.db.selectFrom('directory_merge_rows').selectAll().where('id', '=', candidates[3]!.staged!.id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'created', username: 'dungtt.la2', renamed_from: 'dungtt' });
    expect((await userRow(row.user_id!)).full_name).toBe('Tran Thi Dung');
  });

  it('refuses to dismiss a row that shares an email with someone here, and writes nothing', async () => {
    expectApiError(await world.superAdmin('POST', `/directory-merge/candidates/${candidates[1]!.id}/dismiss`), 409, 'conflict', 'email address');
    expect((await pendingCandidates()).map((candidate) => candidate.id)).toContain(candidates[1]!.id);
    expect(await world.server.database.db.selectFrom('users').select('id').where('full_name', '=', 'Lê Thị Bình').execute()).toHaveLength(1);
    expect(binh.id).toBeTruthy();
  });

  it('refuses to decide a candidate twice', async () => {
    expectApiError(await world.superAdmin('POST', `/directory-merge/candidates/${candidates[0]!.id}/dismiss`), 409, 'conflict', 'already been confirmed');
  });
});

describe('merging two accounts here', () => {
  let merged: User;
  let survivor: User;
  let app: string;
  let reviewedApp: string;

  beforeAll(async () => {
    merged = await createUser(world.server, { username: 'hoa.la', password: 'một mật khẩu đủ dài 2026', fullName: 'Ngô Thị Hoa' });
    survivor = await createUser(world.server, { username: 'hoant', password: 'mật khẩu khác đủ dài 2026', fullName: 'Ngô Thị Hoa' });
    const db = world.server.database.db;
    await db.updateTable('users').set({ primary_org_unit_id: world.tree.anHuu.id, national_id: '080190000222' }).where('id', '=', merged.id).execute();
    await db.updateTable('users').set({ primary_org_unit_id: world.tree.anHuu.id }).where('id', '=', survivor.id).execute();
    app = (await registerTestClient(world.server, { name: 'Phần mềm bệnh viện', redirectUris: ['https://benhvien.tiengiang.gov.vn/cb'] })).clientId;
    expect((await world.superAdmin('PUT', `/apps/${app}/roles`, { roles: [{ name: 'doctor' }, { name: 'pharmacist' }] })).status).toBe(200);
    expect((await world.superAdmin('POST', `/apps/${app}/assignments`, { user_id: merged.id, roles: ['pharmacist'] })).status).toBe(201);
    expect((await world.superAdmin('POST', `/apps/${app}/assignments`, { user_id: survivor.id, roles: ['doctor'] })).status).toBe(201);
    const group = await world.superAdmin<{ id: string }>('POST', '/groups', { org_unit_id: world.tree.anHuu.id, name: 'Trạm y tế An Hữu' });
    expect((await world.superAdmin('PUT', `/groups/${group.body.id}/members/${merged.id}`)).status).toBe(204);
    await db.insertInto('user_org_units').values({ user_id: merged.id, org_unit_id: world.tree.anHuuHealthStation.id }).execute();
    await recordAuditEvent(db, { actor: systemActor, origin: noOrigin, action: 'user.update', target: { type: 'user', id: merged.id }, details: { note: 'before the merge' } });
    // What else is about the person: a review took another app from them, a retirement is due, and they own the hospital app.
    reviewedApp = (await registerTestClient(world.server, { name: 'Hệ thống văn bản', redirectUris: ['https://vanban.tiengiang.gov.vn/cb'] })).clientId;
    await db.insertInto('app_access_exclusions').values({ client_id: reviewedApp, user_id: merged.id, created_by: 'system' }).execute();
    await db.insertInto('personnel_decisions').values({
      kind: 'retirement', decision_number: '123/QĐ-UBND', decision_date: '2026-11-20', effective_date: '2027-01-01', user_id: merged.id,
      org_unit_before_id: world.tree.anHuu.id, org_unit_after_id: null, position: null, note: null, recorded_by: 'system',
    }).execute();
    await db.insertInto('client_owners').values({ client_id: app, user_id: merged.id, added_by: 'system' }).execute();
  });

  it('refuses a unit admin, an account into itself, and into a disabled or merged account, writing nothing', async () => {
    const count = async () => Number((await world.server.database.db.selectFrom('directory_merge_candidates').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);
    const before = await count();
    await expectAuditedRefusal(world.superAdmin, await world.caiBeAdmin.api('POST', '/directory-merge/candidates', { merged_user_id: merged.id, survivor_id: survivor.id }), 'directory_merge.propose');
    expectApiError(await world.superAdmin('POST', '/directory-merge/candidates', { merged_user_id: merged.id, survivor_id: merged.id }), 400, 'invalid_input', 'into itself');
    const leaver = await addPerson(world.server, { fullName: 'Ngô Thị Hoa', username: 'hoant.old', unit: world.tree.anHuu, status: 'disabled' });
    expectApiError(await world.superAdmin('POST', '/directory-merge/candidates', { merged_user_id: merged.id, survivor_id: leaver.id }), 409, 'conflict', 'disabled');
    const absorbed = await addPerson(world.server, { fullName: 'Ngô Thị Hoa', username: 'hoant.gone', unit: world.tree.anHuu });
    await world.server.database.db.updateTable('users').set({ status: 'merged', merged_into: survivor.id }).where('id', '=', absorbed.id).execute();
    expectApiError(await world.superAdmin('POST', '/directory-merge/candidates', { merged_user_id: merged.id, survivor_id: absorbed.id }), 409, 'conflict', 'merged into another');
    expect(await count()).toBe(before);
  });

  it('refuses a confirmation by a unit admin, or into an account disabled since the proposal, and changes nothing', async () => {
    const third = await addPerson(world.server, { fullName: 'Ngô Thị Hoa', username: 'hoant3', unit: world.tree.anHuu });
    const proposed = await world.superAdmin<{ items: Candidate[] }>('POST', '/directory-merge/candidates', { merged_user_id: merged.id, survivor_id: third.id });
    expect(proposed.status).toBe(201);
    const id = proposed.body.items[0]!.id;
    await expectAuditedRefusal(world.superAdmin, await world.caiBeAdmin.api('POST', `/directory-merge/candidates/${id}/confirm`), 'directory_merge.confirm');
    await world.server.database.db.updateTable('users').set({ status: 'disabled' }).where('id', '=', third.id).execute();
    expectApiError(await world.superAdmin('POST', `/directory-merge/candidates/${id}/confirm`), 409, 'conflict', 'disabled');
    expect((await userRow(merged.id)).status).toBe('active');
    expect((await pendingCandidates()).map((candidate) => candidate.id)).toContain(id);
    expect(await world.server.database.db.selectFrom('group_members').select('user_id').where('user_id', '=', merged.id).execute()).toHaveLength(1);
  });

  it('detects likely duplicates of an account here when no survivor is named', async () => {
    const detected = await world.superAdmin<{ items: Candidate[] }>('POST', '/directory-merge/candidates', { merged_user_id: merged.id });
    expect(detected.status).toBe(201);
    // Same name without diacritics, same primary unit; the disabled and merged namesakes too, since only merged accounts are history.
    expect(detected.body.items.map((candidate) => [candidate.survivor.username, candidate.rule])).toContainEqual(['hoant', 'name_and_unit']);
    expect(detected.body.items.map((candidate) => candidate.survivor.username)).not.toContain('hoant.gone');
  });

  let candidate: Candidate;

  it('refuses a merge that would give one person two roles a separation-of-duties rule keeps apart, and changes nothing', async () => {
    const proposed = await world.superAdmin<{ items: Candidate[] }>('POST', '/directory-merge/candidates', { merged_user_id: merged.id, survivor_id: survivor.id });
    candidate = proposed.body.items[0]!;
    const rule = await world.superAdmin<{ id: string }>('POST', '/sod-rules', {
      name: 'Bác sĩ không cấp phát thuốc', first: { client_id: app, role: 'doctor' }, second: { client_id: app, role: 'pharmacist' },
    });
    expect(rule.status).toBe(201);
    const refused = await world.superAdmin('POST', `/directory-merge/candidates/${candidate.id}/confirm`);
    await expectAuditedRefusal(world.superAdmin, refused, 'user.merge');
    expect((refused.body as { message: string }).message).toContain('Bác sĩ không cấp phát thuốc');
    expect((await userRow(merged.id)).status).toBe('active');
    expect((await pendingCandidates()).map((pending) => pending.id)).toContain(candidate.id);
    expect((await world.superAdmin('DELETE', `/sod-rules/${rule.body.id}`)).status).toBe(204);
  });

  it('merges the pair confirmed, moving units, groups and app roles, and keeps the merged-away account as history', async () => {
    expect(candidate.rule).toBe('named_by_admin');
    const unrelated = (await pendingCandidates()).filter((pending) => pending.merged_user?.id !== merged.id && pending.survivor.id !== merged.id);
    const confirmed = await world.superAdmin<Candidate>('POST', `/directory-merge/candidates/${candidate.id}/confirm`);
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);

    const db = world.server.database.db;
    expect(await userRow(merged.id)).toMatchObject({ status: 'merged', merged_into: survivor.id, national_id: null });
    expect(await userRow(survivor.id)).toMatchObject({ status: 'active', national_id: '080190000222', username: 'hoant' });
    expect((await db.selectFrom('user_org_units').select('org_unit_id').where('user_id', '=', survivor.id).execute()).map((row) => row.org_unit_id)).toEqual([world.tree.anHuuHealthStation.id]);
    expect(await db.selectFrom('group_members').select('user_id').where('user_id', 'in', [merged.id, survivor.id]).execute()).toEqual([{ user_id: survivor.id }]);
    const assignments = await db.selectFrom('app_assignments').select(['user_id', 'roles']).where('client_id', '=', app).execute();
    expect(assignments).toEqual([{ user_id: survivor.id, roles: ['doctor', 'pharmacist'] }]);
    // The review's decision, the decision due and the app ownership follow the person.
    expect(await db.selectFrom('app_access_exclusions').select('user_id').where('client_id', '=', reviewedApp).execute()).toEqual([{ user_id: survivor.id }]);
    expect(await db.selectFrom('personnel_decisions').select(['user_id', 'status']).where('decision_number', '=', '123/QĐ-UBND').execute())
      .toEqual([{ user_id: survivor.id, status: 'pending' }]);
    expect(await db.selectFrom('client_owners').select('user_id').where('client_id', '=', app).execute()).toEqual([{ user_id: survivor.id }]);
    // Every other pending candidate is as it was: this merge touched this pair only.
    const stillPending = (await pendingCandidates()).map((pending) => pending.id);
    for (const other of unrelated) expect(stillPending).toContain(other.id);
    expect(stillPending.filter((id) => (unrelated.every((other) => other.id !== id)))).toEqual([]);

    const merges = await listAuditEvents(db, { action: 'user.merge', outcome: 'success', targetId: survivor.id, subtrees: null, limit: 10 });
    expect(merges).toHaveLength(1);
    expect(merges[0]!.details).toMatchObject({ rule: 'named_by_admin', moved: { units: 1, groups: 1, app_assignments: 0 } });
    // The merged-away account's history shows on the survivor's page.
    const history = await listAuditEvents(db, { targetType: 'user', targetId: survivor.id, withMergedAccounts: true, subtrees: null, limit: 50 });
    expect(history.map((event) => [event.target_id, event.action])).toContainEqual([merged.id, 'user.update']);
  });

  it('refuses to enable or disable a merged-away account: it is history', async () => {
    expectApiError(await world.superAdmin('POST', `/users/${merged.id}/enable`), 409, 'conflict', 'merged into another');
    expectApiError(await world.superAdmin('POST', `/users/${merged.id}/disable`), 409, 'conflict', 'merged into another');
    expect((await userRow(merged.id)).status).toBe('merged');
  });
});
