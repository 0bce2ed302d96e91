import * as oidc from 'openid-client';
import { beforeAll, describe, expect, it } from 'vitest';

import { listAuditEvents } from '../../../src/db/queries/audit-events.ts';
import { coveringAppRoles } from '../../../src/db/queries/app-access.ts';
import type { OrgUnit, User } from '../../../src/db/schema.ts';
import { applyDueReorganizationPlans } from '../../../src/domain/reorganization-plans.ts';
import type { ReorganizationReport } from '../../../src/domain/reorganization-report.ts';
import { runGovernanceJobs } from '../../../src/governance-jobs.ts';
import { createLogger } from '../../../src/logger.ts';
import { createBackchannelLogout } from '../../../src/oidc/backchannel.ts';
import { addPerson, expectApiError, expectAuditedRefusal, redeemCode, signInThroughPages, useProvinceServer } from '../../support/admin-api.ts';
import { discoverRelyingParty } from '../../support/relying-party.ts';
import { createUser, registerTestClient } from '../../support/server.ts';

const world = useProvinceServer();
const password = 'tổ chức lại bộ máy 2025';
const hospitalRedirect = 'http://localhost:8096/benh-vien/callback';
const tasksRedirect = 'http://localhost:8097/dieu-hanh/callback';
/** The reform's date, ahead of the test clock: nothing applies until the job is told the day has come. */
const effectiveDate = '2026-12-01';
const dayOfReform = new Date('2026-12-01T00:30:00+07:00');

let hospital: oidc.Configuration;
let tasks: oidc.Configuration;
let hospitalId: string;
let nurse: User;
let communeClerk: User;
let districtClerk: User;
let choGaoClerk: User;
let everyone: User[];

async function staffIn(username: string, unit: OrgUnit, fullName: string): Promise<User> {
  const user = await createUser(world.server, { username, password, fullName });
  await world.server.database.db.updateTable('users').set({ primary_org_unit_id: unit.id }).where('id', '=', user.id).execute();
  return user;
}

const db = () => world.server.database.db;
const unitById = (id: string) => db().selectFrom('org_units').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

/** What every person reaches in the hospital app, by the same SQL that sign-in uses. */
async function hospitalAccess(): Promise<Map<string, string[] | null>> {
  const access = new Map<string, string[] | null>();
  for (const person of everyone) {
    const covered = await coveringAppRoles(db(), hospitalId, person.id);
    access.set(person.id, covered.covered ? covered.roles : null);
  }
  return access;
}

beforeAll(async () => {
  const { tree } = world;
  const registered = await registerTestClient(world.server, { name: 'Phần mềm quản lý bệnh viện', redirectUris: [hospitalRedirect], firstParty: true });
  hospitalId = registered.clientId;
  hospital = await discoverRelyingParty(world.server.issuer, hospitalId, registered.clientSecret);
  const tasksClient = await registerTestClient(world.server, { name: 'Hệ thống quản lý văn bản và điều hành', redirectUris: [tasksRedirect], firstParty: true });
  tasks = await discoverRelyingParty(world.server.issuer, tasksClient.clientId, tasksClient.clientSecret);

  nurse = await staffIn('dieuduongah', tree.anHuuHealthStation, 'Lê Thị Hồng Nhung');
  communeClerk = await staffIn('vanthubp', tree.binhPhan, 'Trần Văn Phúc');
  districtClerk = await staffIn('chuyenviencb', tree.caiBe, 'Nguyễn Thị Thu Hà');
  choGaoClerk = await staffIn('chuyenviencg', tree.choGao, 'Võ Minh Tâm');
  everyone = [nurse, communeClerk, districtClerk, choGaoClerk, world.caiBeAdmin.user];

  expect((await world.superAdmin('PUT', `/apps/${hospitalId}/roles`, { roles: [{ name: 'doctor' }, { name: 'nurse' }] })).status).toBe(200);
  expect((await world.superAdmin('PUT', `/apps/${hospitalId}/access-policy`, { access_policy: 'restricted' })).status).toBe(200);
  expect((await world.superAdmin('POST', `/apps/${hospitalId}/assignments`, { org_unit_id: tree.binhPhan.id, roles: ['doctor'] })).status).toBe(201);
  // Two groups of the same name, in the two communes that will merge.
  for (const unit of [tree.anHuu, tree.binhPhan]) {
    expect((await world.superAdmin('POST', '/groups', { org_unit_id: unit.id, name: 'Tổ công tác cải cách hành chính' })).status).toBe(201);
  }
});

const abolishDistrictsAndMergeCommunes = (name = 'Sắp xếp đơn vị hành chính 2025') => ({
  name,
  effective_date: effectiveDate,
  steps: [
    {
      kind: 'abolish_level', decision_number: '1656/NQ-UBTVQH15', decision_date: '2025-06-16', level_kind: 'district',
      successors: { 'TG.CAIBE': 'TG.CAIBE.ANHUU', 'TG.CHOGAO': 'TG.CHOGAO.BINHPHAN' },
    },
    {
      kind: 'merge', decision_number: '1656/NQ-UBTVQH15', decision_date: '2025-06-16',
      units: ['TG.CHOGAO.BINHPHAN'], into: 'TG.CAIBE.ANHUU', code: 'TG.ANHUU', name: 'Ủy ban nhân dân xã An Hữu',
    },
  ],
});

describe('refusals', () => {
  it('refuses a unit admin, for planning and for reading, and audits both', async () => {
    await expectAuditedRefusal(world.superAdmin, await world.caiBeAdmin.api('POST', '/reorganization-plans', abolishDistrictsAndMergeCommunes()), 'reorganization.create');
    await expectAuditedRefusal(world.superAdmin, await world.caiBeAdmin.api('GET', '/reorganization-plans'), 'reorganization.read');
  });

  it('refuses a malformed plan, naming the step and what is wrong with it', async () => {
    const plan = (step: Record<string, unknown>) => ({ name: 'Sai', effective_date: effectiveDate, steps: [{ decision_number: '1/QĐ', decision_date: '2025-01-01', ...step }] });
    expectApiError(await world.superAdmin('POST', '/reorganization-plans', plan({ kind: 'merge', units: ['TG.CAIBE'], into: 'TG.CAIBE.ANHUU' })),
      422, 'invalid_plan', 'step 1 (merge): TG.CAIBE cannot be merged into TG.CAIBE.ANHUU, which lies inside it');
    expectApiError(await world.superAdmin('POST', '/reorganization-plans', plan({ kind: 'rename', unit: 'TG.KHONGCO', name: 'Không có' })),
      422, 'invalid_plan', 'step 1 (rename): there is no unit with the code TG.KHONGCO');
    expectApiError(await world.superAdmin('POST', '/reorganization-plans', {
      name: 'Hai lần', effective_date: effectiveDate, steps: [
        { kind: 'rename', decision_number: '1/QĐ', decision_date: '2025-01-01', unit: 'TG.CAIBE.ANHUU', name: 'Xã An Hữu' },
        { kind: 'recode', decision_number: '2/QĐ', decision_date: '2025-01-01', unit: 'TG.CAIBE.ANHUU', code: 'TG.AH' },
      ],
    }), 422, 'invalid_plan', 'step 2 (recode): TG.CAIBE.ANHUU is already changed by step 1; a unit may be in one step only');
    expectApiError(await world.superAdmin('POST', '/reorganization-plans', plan({ kind: 'abolish_level', level_kind: 'district' })),
      422, 'invalid_plan', 'has people or groups of its own; name the unit they move to in successors');
    expectApiError(await world.superAdmin('POST', '/reorganization-plans', plan({ kind: 'dissolve', unit: 'TG' })), 400, 'invalid_input', 'body.steps.0.kind');
    expectApiError(await world.superAdmin('POST', '/reorganization-plans', { ...plan({ kind: 'rename', unit: 'TG', name: 'x' }), effective_date: '1/7/2025' }), 400, 'invalid_input', 'body.effective_date');
  });
});

describe('the dry run', () => {
  it('lists a loss when a step drops something: a commune merged across districts leaves the district\'s assignment behind', async () => {
    const assignment = await world.superAdmin<{ id: string }>('POST', `/apps/${hospitalId}/assignments`, { org_unit_id: world.tree.caiBe.id, roles: ['nurse'] });
    const created = await world.superAdmin<{ id: string }>('POST', '/reorganization-plans', {
      name: 'Nhập xã An Hữu vào xã Bình Phan', effective_date: effectiveDate,
      steps: [{ kind: 'merge', decision_number: '9/NQ', decision_date: '2025-06-01', units: ['TG.CAIBE.ANHUU'], into: 'TG.CHOGAO.BINHPHAN' }],
    });
    expect(created.status).toBe(201);
    const dryRun = await world.superAdmin<ReorganizationReport>('GET', `/reorganization-plans/${created.body.id}/dry-run`);
    expect(dryRun.status).toBe(200);
    expect(dryRun.body.losses).toEqual(expect.arrayContaining([
      expect.objectContaining({ kind: 'person_app_role_lost', key: `person_app_role_lost:${nurse.id}:${hospitalId}:nurse`, message: 'Lê Thị Hồng Nhung (dieuduongah) loses the role nurse in Phần mềm quản lý bệnh viện' }),
      expect.objectContaining({ kind: 'group_renamed', message: expect.stringContaining('renamed "Tổ công tác cải cách hành chính (TG.CAIBE.ANHUU)"') as unknown }),
    ]));
    const nurseRow = dryRun.body.people.find((person) => person.id === nurse.id)!;
    expect(nurseRow.unit_after?.path_codes).toEqual(['TG', 'TG.CHOGAO', 'TG.CHOGAO.BINHPHAN', 'TG.CAIBE.ANHUU.TYT']);
    expect(nurseRow.apps).toEqual([{ client_id: hospitalId, client_name: 'Phần mềm quản lý bệnh viện', before: ['nurse'], after: ['doctor'] }]);

    const csv = await world.superAdmin<string>('GET', `/reorganization-plans/${created.body.id}/dry-run/export`);
    expect(csv.headers.get('content-type')).toContain('text/csv');
    expect(csv.body).toContain('loses the role nurse');

    expect((await world.superAdmin('POST', `/reorganization-plans/${created.body.id}/cancel`)).status).toBe(200);
    expect((await world.superAdmin('DELETE', `/app-assignments/${assignment.body.id}`)).status).toBe(204);
  });

  it('lists the admin role and the assignment over a unit closed with nowhere for them to go', async () => {
    const empty = await world.superAdmin<{ id: string }>('POST', '/org-units', { code: 'TG.TANPHUOC', name: 'Ủy ban nhân dân huyện Tân Phước', kind: 'district', parent_id: world.tree.province.id });
    const admin = await addPerson(world.server, { fullName: 'Hồ Văn Phước', username: 'phuochv', unit: world.tree.province });
    const role = await world.superAdmin<{ id: string }>('POST', '/role-assignments', { user_id: admin.id, role: 'org_admin', org_unit_id: empty.body.id });
    const assignment = await world.superAdmin<{ id: string }>('POST', `/apps/${hospitalId}/assignments`, { org_unit_id: empty.body.id, roles: ['doctor'] });
    expect([role.status, assignment.status]).toEqual([201, 201]);
    const created = await world.superAdmin<{ id: string }>('POST', '/reorganization-plans', {
      name: 'Bỏ huyện Tân Phước', effective_date: effectiveDate,
      steps: [{ kind: 'abolish_level', decision_number: '12/NQ', decision_date: '2025-06-01', level_kind: 'district', within: 'TG.TANPHUOC' }],
    });
    const dryRun = await world.superAdmin<ReorganizationReport>('GET', `/reorganization-plans/${created.body.id}/dry-run`);
    expect(dryRun.body.losses).toEqual([
      expect.objectContaining({ key: `assignment_dropped:${assignment.body.id}`, message: 'step 1 (abolish_level): the assignment of Phần mềm quản lý bệnh viện to TG.TANPHUOC has no unit to go to and ends' }),
      expect.objectContaining({ key: `role_assignment_dropped:${role.body.id}`, message: expect.stringContaining('Hồ Văn Phước (phuochv) holds org_admin over TG.TANPHUOC') as unknown }),
    ]);
    expect(dryRun.body.role_assignments).toEqual([expect.objectContaining({ what: 'org_admin', unit_before: 'TG.TANPHUOC', units_after: [], notes: ['step 1 (abolish_level): ends with TG.TANPHUOC'] })]);
    expect((await world.superAdmin('POST', `/reorganization-plans/${created.body.id}/cancel`)).status).toBe(200);
    expect((await world.superAdmin('PATCH', `/org-units/${empty.body.id}`, { status: 'closed' })).status).toBe(200);
  });

  it('holds a scheduled plan whose dry run, on the day, would lose what was not accepted', async () => {
    const created = await world.superAdmin<{ id: string }>('POST', '/reorganization-plans', {
      name: 'Nhập xã An Hữu vào xã Bình Phan (lần hai)', effective_date: '2026-11-30',
      steps: [{ kind: 'merge', decision_number: '10/NQ', decision_date: '2025-06-01', units: ['TG.CAIBE.ANHUU'], into: 'TG.CHOGAO.BINHPHAN' }],
    });
    const scheduled = await world.superAdmin<{ status: string; accepted_losses: { kind: string }[] }>('POST', `/reorganization-plans/${created.body.id}/schedule`);
    expect(scheduled.body.status).toBe('scheduled');
    expect(scheduled.body.accepted_losses.map((loss) => loss.kind)).toEqual(['group_renamed']);
    // Meanwhile the district is given the app: the merge would now take it from An Hữu's people.
    const assignment = await world.superAdmin<{ id: string }>('POST', `/apps/${hospitalId}/assignments`, { org_unit_id: world.tree.caiBe.id, roles: ['nurse'] });

    const result = await applyDueReorganizationPlans({ db: db() }, new Date('2026-11-30T08:00:00+07:00'));
    expect(result.applied).toEqual([]);
    expect(result.held).toEqual([{ id: created.body.id, error: expect.stringContaining('loses the role nurse') as unknown }]);
    const held = await world.superAdmin<{ status: string; last_error: string }>('GET', `/reorganization-plans/${created.body.id}`);
    expect(held.body).toMatchObject({ status: 'scheduled', last_error: expect.stringContaining('schedule the plan again, or cancel it') as unknown });
    expect((await unitById(world.tree.anHuu.id)).status).toBe('active');
    expect((await world.superAdmin('POST', `/reorganization-plans/${created.body.id}/cancel`)).status).toBe(200);
    expectApiError(await world.superAdmin('POST', `/reorganization-plans/${created.body.id}/schedule`), 409, 'conflict', 'cancelled');
    // The district assignment stays for the reform below.
    expect(assignment.status).toBe(201);
  });
});

describe('the second-factor policy through a reorganization', () => {
  it('carries a closing unit\'s requirement to the units that take its people, and lists whoever would no longer be held to it', async () => {
    await db().updateTable('org_units').set({ mfa_required: true }).where('id', '=', world.tree.choGao.id).execute();
    const abolish = await world.superAdmin<{ id: string }>('POST', '/reorganization-plans', { ...abolishDistrictsAndMergeCommunes('Bỏ cấp huyện, giữ xác minh hai bước'), steps: abolishDistrictsAndMergeCommunes().steps.slice(0, 1) });
    const carried = await world.superAdmin<ReorganizationReport>('GET', `/reorganization-plans/${abolish.body.id}/dry-run`);
    expect(carried.body.units.find((unit) => unit.before?.code === 'TG.CHOGAO.BINHPHAN')).toMatchObject({ before: { mfa_required: false }, after: { mfa_required: true, path_codes: ['TG', 'TG.CHOGAO.BINHPHAN'] } });
    expect(carried.body.people.find((person) => person.id === communeClerk.id)?.second_factor).toEqual({ before: true, after: true });
    expect(carried.body.losses.filter((loss) => loss.kind === 'person_mfa_dropped')).toEqual([]);

    const merge = await world.superAdmin<{ id: string }>('POST', '/reorganization-plans', {
      name: 'Nhập xã Bình Phan vào xã An Hữu', effective_date: effectiveDate,
      steps: [{ kind: 'merge', decision_number: '11/NQ', decision_date: '2025-06-01', units: ['TG.CHOGAO.BINHPHAN'], into: 'TG.CAIBE.ANHUU' }],
    });
    const dropped = await world.superAdmin<ReorganizationReport>('GET', `/reorganization-plans/${merge.body.id}/dry-run`);
    expect(dropped.body.losses).toEqual(expect.arrayContaining([expect.objectContaining({
      key: `person_mfa_dropped:${communeClerk.id}`, message: 'Trần Văn Phúc (vanthubp) would no longer have to sign in with a second factor (no unit above them requires it)',
    })]));
    for (const plan of [abolish, merge]) expect((await world.superAdmin('POST', `/reorganization-plans/${plan.body.id}/cancel`)).status).toBe(200);
    await db().updateTable('org_units').set({ mfa_required: false }).where('id', '=', world.tree.choGao.id).execute();
  });
});

describe('separation of duties through a reorganization', () => {
  it('lists the rule a merge would make someone break, and refuses to schedule the plan', async () => {
    const rule = await world.superAdmin<{ id: string }>('POST', '/sod-rules', {
      name: 'Bác sĩ không kiêm điều dưỡng', first: { client_id: hospitalId, role: 'doctor' }, second: { client_id: hospitalId, role: 'nurse' },
    });
    expect(rule.status).toBe(201);
    const created = await world.superAdmin<{ id: string }>('POST', '/reorganization-plans', abolishDistrictsAndMergeCommunes('Sắp xếp, vướng quy tắc'));
    const dryRun = await world.superAdmin<ReorganizationReport>('GET', `/reorganization-plans/${created.body.id}/dry-run`);
    expect(dryRun.body.sod_conflicts).toEqual(expect.arrayContaining([
      expect.objectContaining({ message: 'Lê Thị Hồng Nhung (dieuduongah) would hold two roles that the separation-of-duties rule "Bác sĩ không kiêm điều dưỡng" forbids in TG.CAIBE.ANHUU.TYT' }),
    ]));
    expectApiError(await world.superAdmin('POST', `/reorganization-plans/${created.body.id}/schedule`), 422, 'invalid_plan', 'the plan would break separation of duties');
    expect((await world.superAdmin('POST', `/reorganization-plans/${created.body.id}/cancel`)).status).toBe(200);
    expect((await world.superAdmin('DELETE', `/sod-rules/${rule.body.id}`)).status).toBe(204);
  });
});

describe('abolishing the district level and merging two communes', () => {
  let planId: string;
  let dryRun: ReorganizationReport;
  let accessBefore: Map<string, string[] | null>;
  const subsBefore = new Map<string, string>();
  let nurseTokens: { access_token: string };
  let scheduledAt: Date;
  const graceEnds = new Date('2027-01-15T00:00:00+07:00');

  beforeAll(async () => {
    // People serving in both communes, and the apps' view of them before the reform.
    await db().insertInto('user_org_units').values({ user_id: communeClerk.id, org_unit_id: world.tree.anHuu.id }).execute();
    // The nurse moved from the commune that merges away and keeps it until her grace period ends.
    await db().insertInto('user_org_units').values({ user_id: nurse.id, org_unit_id: world.tree.binhPhan.id, ends_at: graceEnds }).execute();
    // A transfer decided before the reform, due after it, into a commune the reform merges away.
    await db().insertInto('personnel_decisions').values({
      kind: 'transfer', decision_number: '77/QĐ-UBND', decision_date: '2026-11-20', effective_date: '2027-02-01', user_id: communeClerk.id,
      org_unit_before_id: world.tree.anHuu.id, org_unit_after_id: world.tree.binhPhan.id, position: null, note: null, recorded_by: 'system',
    }).execute();
    const signIn = await signInThroughPages(hospital, hospitalRedirect, { login: nurse.username, password }, { scope: 'openid gov' });
    const tokens = await redeemCode(hospital, signIn);
    nurseTokens = tokens;
    subsBefore.set('hospital', tokens.claims()!.sub);
    subsBefore.set('tasks', (await redeemCode(tasks, await signInThroughPages(tasks, tasksRedirect, { login: nurse.username, password }))).claims()!.sub);
    accessBefore = await hospitalAccess();
  });

  it('shows every unit and person affected, and how each person\'s access maps to the new units', async () => {
    const created = await world.superAdmin<{ id: string; status: string }>('POST', '/reorganization-plans', abolishDistrictsAndMergeCommunes());
    expect(created.status).toBe(201);
    expect(created.body.status).toBe('draft');
    planId = created.body.id;
    const response = await world.superAdmin<ReorganizationReport>('GET', `/reorganization-plans/${planId}/dry-run`);
    expect(response.status).toBe(200);
    dryRun = response.body;

    const unit = (code: string) => dryRun.units.find((one) => one.before?.code === code);
    expect(unit('TG.CAIBE')).toMatchObject({ after: { status: 'closed' }, successor_code: 'TG.ANHUU' });
    expect(unit('TG.CHOGAO')).toMatchObject({ after: { status: 'closed' }, successor_code: 'TG.CHOGAO.BINHPHAN' });
    expect(unit('TG.CHOGAO.BINHPHAN')).toMatchObject({ after: { status: 'closed' }, successor_code: 'TG.ANHUU' });
    expect(unit('TG.CAIBE.ANHUU')).toMatchObject({ after: { code: 'TG.ANHUU', path_codes: ['TG', 'TG.ANHUU'], status: 'active' } });
    expect(unit('TG.CAIBE.ANHUU.TYT')?.after.path_codes).toEqual(['TG', 'TG.ANHUU', 'TG.CAIBE.ANHUU.TYT']);

    const person = (user: User) => dryRun.people.find((one) => one.id === user.id)!;
    expect(person(choGaoClerk)).toMatchObject({ unit_before: { code: 'TG.CHOGAO' }, unit_after: { code: 'TG.ANHUU' }, apps: [{ before: null, after: ['doctor', 'nurse'] }] });
    expect(person(districtClerk)).toMatchObject({ unit_after: { code: 'TG.ANHUU' }, apps: [{ before: ['nurse'], after: ['doctor', 'nurse'] }] });
    // Serving in both communes is no longer two appointments once they are one commune.
    expect(person(communeClerk)).toMatchObject({ concurrent_before: ['TG.CAIBE.ANHUU'], concurrent_after: [], unit_after: { code: 'TG.ANHUU' } });
    expect(dryRun.losses).toEqual([expect.objectContaining({ kind: 'group_renamed' })]);
    expect(dryRun.gains.length).toBeGreaterThan(0);
    // The district admin's role goes to the commune that moved up (also the district staff's successor).
    expect(dryRun.role_assignments).toEqual([expect.objectContaining({ what: 'org_admin', unit_before: 'TG.CAIBE', units_after: ['TG.ANHUU'] })]);
  });

  it('does nothing before its date, and nothing while a draft', async () => {
    expect(await applyDueReorganizationPlans({ db: db() }, dayOfReform)).toEqual({ applied: [], held: [] });
    const scheduled = await world.superAdmin<{ status: string; version: number }>('POST', `/reorganization-plans/${planId}/schedule`);
    expect(scheduled.body.status).toBe('scheduled');
    expect(await applyDueReorganizationPlans({ db: db() }, new Date('2026-11-30T23:59:00+07:00'))).toEqual({ applied: [], held: [] });
    expect((await unitById(world.tree.caiBe.id)).status).toBe('active');
    scheduledAt = new Date();
  });

  it('is applied once on its date, in one transaction, as one audited event, doing what the dry run said', async () => {
    // Two runs at once (the governance job on two nodes, or an overlap): the plan is applied by one of them only.
    const job = { db: db(), backchannelLogout: createBackchannelLogout(), config: world.server.config, logger: createLogger('silent') };
    const [byJob, direct] = await Promise.all([runGovernanceJobs(job, dayOfReform), applyDueReorganizationPlans({ db: db() }, dayOfReform)]);
    expect(byJob['reorganization plans']).toEqual({ applied: 1 - direct.applied.length, held: 0 });
    expect(direct.applied).toEqual(direct.applied.length === 0 ? [] : [planId]);
    expect(await applyDueReorganizationPlans({ db: db() }, new Date('2026-12-02T00:00:00+07:00'))).toEqual({ applied: [], held: [] });

    const applied = await world.superAdmin<{ status: string; applied_at: string }>('GET', `/reorganization-plans/${planId}`);
    expect(applied.body.status).toBe('applied');
    const after = await world.superAdmin<ReorganizationReport>('GET', `/reorganization-plans/${planId}/dry-run`);
    expect(after.body).toEqual(dryRun);

    const events = await listAuditEvents(db(), { action: 'reorganization.apply', targetId: planId, subtrees: null, limit: 10 });
    expect(events).toHaveLength(1);
    expect(events[0]!.details).toMatchObject({ steps: [expect.objectContaining({ kind: 'abolish_level' }), expect.objectContaining({ kind: 'merge' })] });
  });

  it('loses nobody an app assignment that the dry run did not list, and gives each what it said', async () => {
    const accessAfter = await hospitalAccess();
    const listed = new Set(dryRun.losses.map((loss) => loss.key));
    for (const person of everyone) {
      const before = accessBefore.get(person.id) ?? null;
      const now = accessAfter.get(person.id) ?? null;
      if (before !== null && now === null) expect(listed).toContain(`person_app_lost:${person.id}:${hospitalId}`);
      for (const role of (before ?? []).filter((one) => !(now ?? []).includes(one))) expect(listed).toContain(`person_app_role_lost:${person.id}:${hospitalId}:${role}`);
      const predicted = dryRun.people.find((one) => one.id === person.id)?.apps.find((app) => app.client_id === hospitalId);
      if (predicted) expect(now, person.username).toEqual(predicted.after);
      else expect(now, person.username).toEqual(before);
    }
  });

  it('keeps the old structure as history: units closed with their successor, and the tree as it stood', async () => {
    const caiBe = await unitById(world.tree.caiBe.id);
    const anHuu = await unitById(world.tree.anHuu.id);
    expect(caiBe).toMatchObject({ status: 'closed', successor_id: anHuu.id });
    expect(caiBe.closed_at).toBeInstanceOf(Date);
    expect(await unitById(world.tree.binhPhan.id)).toMatchObject({ status: 'closed', successor_id: anHuu.id });
    // The nurse's grace period carries over to the commune that took hers: it still ends, on the same day.
    expect(await db().selectFrom('user_org_units').select(['org_unit_id', 'ends_at']).where('user_id', '=', nurse.id).execute())
      .toEqual([{ org_unit_id: anHuu.id, ends_at: graceEnds }]);
    // The transfer into the merged commune now lands in the commune that took its people.
    expect(await db().selectFrom('personnel_decisions').select(['org_unit_after_id', 'status']).where('decision_number', '=', '77/QĐ-UBND').execute())
      .toEqual([{ org_unit_after_id: anHuu.id, status: 'pending' }]);
    expect(anHuu).toMatchObject({ code: 'TG.ANHUU', parent_id: world.tree.province.id, depth: 1, path: `/${world.tree.province.id}/${anHuu.id}/` });
    expect(await unitById(world.tree.anHuuHealthStation.id)).toMatchObject({ depth: 2, path: `/${world.tree.province.id}/${anHuu.id}/${world.tree.anHuuHealthStation.id}/` });

    const then = await world.superAdmin<{ items: { code: string; parent_id: string | null; status: string }[] }>('GET', `/org-tree-history?at=${encodeURIComponent(scheduledAt.toISOString())}`);
    expect(then.status).toBe(200);
    expect(then.body.items.map((unit) => unit.code)).toEqual(expect.arrayContaining(['TG.CAIBE', 'TG.CAIBE.ANHUU', 'TG.CHOGAO.BINHPHAN']));
    expect(then.body.items.find((unit) => unit.code === 'TG.CAIBE.ANHUU')).toMatchObject({ parent_id: world.tree.caiBe.id, status: 'active' });
    expect(then.body.items.find((unit) => unit.code === 'TG.CAIBE')).toMatchObject({ status: 'active' });
    const now = await world.superAdmin<{ items: { code: string; status: string }[] }>('GET', `/org-tree-history?at=${encodeURIComponent(new Date().toISOString())}`);
    expect(now.body.items.find((unit) => unit.code === 'TG.CAIBE')).toMatchObject({ status: 'closed' });
  });

  it('tells apps the new path in the gov scope at once, under the same sub', async () => {
    const expected = { code: 'TG.CAIBE.ANHUU.TYT', level: 2, path_codes: ['TG', 'TG.ANHUU', 'TG.CAIBE.ANHUU.TYT'] };
    // The token issued before the reform already answers with the new structure.
    const claims = await oidc.fetchUserInfo(hospital, nurseTokens.access_token, nurse.id);
    expect(claims).toMatchObject({ sub: subsBefore.get('hospital'), org_unit: expected, app_roles: ['doctor', 'nurse'] });
    const signIn = await signInThroughPages(hospital, hospitalRedirect, { login: nurse.username, password }, { scope: 'openid gov' });
    const fresh = await redeemCode(hospital, signIn);
    expect(fresh.claims()!.sub).toBe(subsBefore.get('hospital'));
    expect(await oidc.fetchUserInfo(hospital, fresh.access_token, nurse.id)).toMatchObject({ org_unit: expected });
    const other = await redeemCode(tasks, await signInThroughPages(tasks, tasksRedirect, { login: nurse.username, password }));
    expect(other.claims()!.sub).toBe(subsBefore.get('tasks'));
    expect(subsBefore.get('tasks')).toBe(nurse.id);
  });

  it('can no longer be cancelled or changed once applied', async () => {
    expectApiError(await world.superAdmin('POST', `/reorganization-plans/${planId}/cancel`), 409, 'conflict', 'applied');
    expectApiError(await world.superAdmin('POST', `/reorganization-plans/${planId}/steps`, { kind: 'rename', decision_number: '1', decision_date: '2025-01-01', unit: 'TG', name: 'Tỉnh Đồng Tháp' }),
      409, 'conflict', 'only a draft');
  });
});

describe('splitting a unit', () => {
  it('sends people by the mapping, the rest to the default part, and carries the unit\'s rights to every part', async () => {
    const office = await world.superAdmin<{ id: string }>('POST', '/org-units', { code: 'TG.VP', name: 'Văn phòng Ủy ban nhân dân tỉnh', kind: 'office', parent_id: world.tree.province.id });
    const first = await addPerson(world.server, { fullName: 'Đặng Văn Lộc', username: 'locdv', unit: await unitById(office.body.id) });
    const second = await addPerson(world.server, { fullName: 'Huỳnh Thị Mai', username: 'maiht', unit: await unitById(office.body.id) });
    expect((await world.superAdmin('POST', `/apps/${hospitalId}/assignments`, { org_unit_id: office.body.id, roles: ['doctor'] })).status).toBe(201);
    const created = await world.superAdmin<{ id: string }>('POST', '/reorganization-plans', { name: 'Tách văn phòng', effective_date: '2026-12-05', steps: [] });
    const added = await world.superAdmin<{ steps: unknown[] }>('POST', `/reorganization-plans/${created.body.id}/steps`, {
      kind: 'split', decision_number: '22/QĐ-UBND', decision_date: '2026-11-01', unit: 'TG.VP',
      parts: [{ code: 'TG.VP.HCTC', name: 'Phòng Hành chính - Tổ chức' }, { code: 'TG.VP.KT', name: 'Phòng Kinh tế' }],
      people: { maiht: 'TG.VP.KT' }, default_part: 'TG.VP.HCTC',
    });
    expect(added.status).toBe(201);
    expect(added.body.steps).toHaveLength(1);
    const dryRun = await world.superAdmin<ReorganizationReport>('GET', `/reorganization-plans/${created.body.id}/dry-run`);
    expect(dryRun.body.losses).toEqual([]);
    expect(dryRun.body.people.find((person) => person.id === first.id)?.unit_after?.code).toBe('TG.VP.HCTC');
    expect(dryRun.body.people.find((person) => person.id === second.id)).toMatchObject({ unit_after: { code: 'TG.VP.KT' }, apps: [{ before: ['doctor'], after: ['doctor'] }] });
    expect(dryRun.body.app_assignments).toEqual([expect.objectContaining({ unit_before: 'TG.VP', units_after: ['TG.VP.HCTC', 'TG.VP.KT'] })]);

    expect((await world.superAdmin('POST', `/reorganization-plans/${created.body.id}/schedule`)).status).toBe(200);
    expect((await applyDueReorganizationPlans({ db: db() }, new Date('2026-12-05T06:00:00+07:00'))).applied).toEqual([created.body.id]);
    const parts = await db().selectFrom('org_units').selectAll().where('code', 'in', ['TG.VP.HCTC', 'TG.VP.KT']).orderBy('code').execute();
    expect(parts.map((part) => part.parent_id)).toEqual([world.tree.province.id, world.tree.province.id]);
    expect((await coveringAppRoles(db(), hospitalId, second.id)).roles).toEqual(['doctor']);
    expect((await db().selectFrom('users').select('primary_org_unit_id').where('id', '=', second.id).executeTakeFirstOrThrow()).primary_org_unit_id).toBe(parts[1]!.id);
    expect((await unitById(office.body.id)).status).toBe('closed');
  });
});
