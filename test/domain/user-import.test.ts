import { randomBytes } from 'node:crypto';

import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { insertOrgUnit, updateOrgUnitFields } from '../../src/db/queries/org-units.ts';
import { insertRoleAssignment } from '../../src/db/queries/role-assignments.ts';
import { insertUser } from '../../src/db/queries/users.ts';
import type { OrgUnit } from '../../src/db/schema.ts';
import { hashAccountToken, mailSecretSealLabel, redeemAccountToken } from '../../src/domain/account-tokens.ts';
import { noOrigin, verifyAuditChain, type Actor } from '../../src/domain/audit.ts';
import { unseal } from '../../src/domain/sealed-box.ts';
import { importUsers, maxImportRows, type ImportDeps, type ImportOptions, type ImportReport } from '../../src/domain/user-import.ts';
import { AppError } from '../../src/errors.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

/** The problems as the API and the report file say them; the review page's catalog entries are checked where they matter. */
const inEnglish = (errors: ImportReport['errors']) => errors.map(({ row, column, message }) => ({ row, column, message }));

const masterKey = randomBytes(32);
const actor: Actor = { type: 'user', id: '7f1c1b7e-3a52-4c4e-9a7e-2f0d5c1e9b10', name: 'quantri' };
const BOM = '\uFEFF';

let database: TestDatabase;
let deps: ImportDeps;
let province: OrgUnit;
let health: OrgUnit;
let hospital: OrgUnit;
let education: OrgUnit;

beforeAll(async () => {
  database = await createTestDatabase();
  deps = { db: database.db, masterKey };
  province = await insertOrgUnit(database.db, { code: 'TG', name: 'UBND tỉnh Tiền Giang', kind: 'province', parent: null });
  health = await insertOrgUnit(database.db, { code: 'SYT', name: 'Sở Y tế', kind: 'department', parent: province });
  hospital = await insertOrgUnit(database.db, { code: 'BVDK', name: 'Bệnh viện Đa khoa tỉnh', kind: 'hospital', parent: health });
  education = await insertOrgUnit(database.db, { code: 'SGD', name: 'Sở Giáo dục và Đào tạo', kind: 'department', parent: province });
  const closed = await insertOrgUnit(database.db, { code: 'CU', name: 'Phòng đã giải thể', kind: 'office', parent: province });
  await updateOrgUnitFields(database.db, closed.id, closed.version, { status: 'closed', closed_at: new Date() });
});

afterAll(async () => {
  await database.close();
});

const options = (overrides: Partial<ImportOptions> = {}): ImportOptions =>
  ({ dryRun: false, actor, origin: noOrigin, fileName: 'nhansu.csv', allowedSubtrees: null, ...overrides });

const run = (csv: Buffer | string, overrides: Partial<ImportOptions> = {}) => importUsers(deps, csv, options(overrides));

const userByCode = (code: string) =>
  database.db.selectFrom('users').selectAll().where(sql`upper(employee_code)`, '=', code.toUpperCase()).executeTakeFirstOrThrow();

/** How much of everything the import writes there is, to compare before and after. */
async function footprint() {
  const count = async (table: 'users' | 'account_tokens' | 'mail_outbox' | 'audit_events') =>
    Number((await database.db.selectFrom(table).select((eb) => eb.fn.countAll<string>().as('count')).executeTakeFirstOrThrow()).count);
  const versions = await database.db.selectFrom('users').select(sql<string>`coalesce(sum(version), 0)::text`.as('total')).executeTakeFirstOrThrow();
  return {
    users: await count('users'),
    versions: Number(versions.total),
    tokens: await count('account_tokens'),
    mails: await count('mail_outbox'),
    auditEvents: await count('audit_events'),
  };
}

/** Expects `promise` to reject with an invalid_input AppError whose message says each of `messages`. */
async function expectRefusedFile(promise: Promise<unknown>, ...messages: string[]): Promise<void> {
  await expect(promise).rejects.toBeInstanceOf(AppError);
  await expect(promise).rejects.toMatchObject({ code: 'invalid_input', status: 400 });
  for (const message of messages) await expect(promise).rejects.toThrow(message);
}

const outcomes = (report: ImportReport) => report.rows.map((row) => [row.row, row.outcome]);

describe('a messy HR export (BOM, semicolons, Vietnamese headers, decomposed names, blank lines)', () => {
  const tuyet = 'Nguyễn Thị Ánh Tuyết';
  const messy = BOM + [
    'Họ và tên;MÃ CÁN BỘ;Mã đơn vị;Số điện thoại;Thư điện tử;Chức vụ;Số CCCD;Ghi chú',
    `${tuyet.normalize('NFD')};NV001;syt;0912 345 678;Tuyet.NTA@SoYTe.TienGiang.gov.vn;Chuyên viên;082190000123;mới tuyển`,
    'Trần Văn Bình;NV002;BVDK;(0273) 3.873.123;binhtv@bvdk.tiengiang.gov.vn;"Trưởng khoa; kiêm Phó giám đốc";082085000456;',
    '',
    'Lê Văn Cường;NV001;SYT;0987 654 321;cuonglv@soyte.tiengiang.gov.vn;;;',
    'Lê Văn Dũng;NV004;SYT;;dung.le@;;;',
    'Võ Thị Em;NV005;SYT;12345;;;;',
    'Huỳnh Văn Phúc;NV006;SYT;;;;12345;',
    'Đặng Thị Giang;NV007;XYZ;;;;;',
    'Phạm Thị Hoa;NV008;SGD;;;Giáo viên;;',
  ].join('\r\n') + '\r\n';

  let first: ImportReport;

  beforeAll(async () => {
    // As the CLI reads it: bytes. The rerun below passes the same file as a string, as the API receives it.
    first = await run(Buffer.from(messy, 'utf8'));
  });

  it('reports every bad row with its spreadsheet row number and the column as the header names it', () => {
    expect(inEnglish(first.errors)).toEqual([
      { row: 5, column: 'MÃ CÁN BỘ', message: 'the employee code "NV001" is already in row 2' },
      { row: 6, column: 'Thư điện tử', message: 'not a valid email address' },
      { row: 7, column: 'Số điện thoại', message: '"12345" is not a valid phone number (write 0912 345 678 or +84 912 345 678)' },
      { row: 8, column: 'Số CCCD', message: 'a citizen identity number (CCCD) has exactly 12 digits' },
      { row: 9, column: 'Mã đơn vị', message: 'no unit has the code "XYZ"' },
    ]);
    expect(first.warnings).toEqual([{ row: 1, column: 'Ghi chú', message: 'unknown column "Ghi chú" is ignored', localized: { key: 'import.warning.unknown_column', params: { name: 'Ghi chú' } } }]);
  });

  it('creates the valid rows and skips the others, counting each row once and the blank line not at all', () => {
    expect(outcomes(first)).toEqual([
      [2, 'create'], [3, 'create'], [5, 'error'], [6, 'error'], [7, 'error'], [8, 'error'], [9, 'error'], [10, 'create'],
    ]);
    expect(first.totals).toEqual({ rows: 8, created: 3, updated: 0, unchanged: 0, failed: 5 });
    expect(first.rows[0]).toEqual({ row: 2, outcome: 'create', employee_code: 'NV001', username: 'tuyetnta' });
  });

  it('stores names composed (NFC), phones in E.164, emails lower-cased, and a quoted semicolon inside its cell', async () => {
    const created = await userByCode('NV001');
    expect(created).toMatchObject({
      full_name: tuyet.normalize('NFC'),
      username: 'tuyetnta',
      email: 'tuyet.nta@soyte.tiengiang.gov.vn',
      phone: '+84912345678',
      position: 'Chuyên viên',
      national_id: '082190000123',
      primary_org_unit_id: health.id,
      status: 'pending_activation',
      password_hash: null,
      version: 1,
    });
    expect(created.full_name).not.toBe(tuyet.normalize('NFD'));
    expect(await userByCode('NV002')).toMatchObject({
      username: 'binhtv', phone: '+842733873123', position: 'Trưởng khoa; kiêm Phó giám đốc', primary_org_unit_id: hospital.id,
    });
    expect(await userByCode('NV008')).toMatchObject({ username: 'hoapt', email: null, phone: null, primary_org_unit_id: education.id });
  });

  it('writes none of the rows with errors', async () => {
    const codes = await database.db.selectFrom('users').select('employee_code')
      .where('employee_code', 'in', ['NV004', 'NV005', 'NV006', 'NV007']).execute();
    expect(codes).toEqual([]);
    expect((await userByCode('NV001')).full_name).toBe(tuyet.normalize('NFC'));
  });

  it('changes nothing when the same file is imported again, and says every valid row is unchanged', async () => {
    const before = await footprint();
    const again = await run(messy);
    expect(outcomes(again)).toEqual(outcomes(first).map(([row, outcome]) => [row, outcome === 'create' ? 'unchanged' : outcome]));
    expect(again.totals).toEqual({ rows: 8, created: 0, updated: 0, unchanged: 3, failed: 5 });
    expect(again.errors).toEqual(first.errors);
    // Only the import's own audit event is new.
    expect(await footprint()).toEqual({ ...before, auditEvents: before.auditEvents + 1 });
  });
});

describe('updates', () => {
  const header = 'employee_code,full_name,username,email,phone,org_unit_code,position,national_id';

  it('reports a changed row as an update naming the changed fields, bumps the version, and keeps status, password and concurrent units', async () => {
    await run(`${header}\nUP001,Ngô Văn Hải,haingv,,0911 111 111,SYT,Chuyên viên,\n`);
    const stored = await userByCode('UP001');
    await database.db.updateTable('users').set({ status: 'active', password_hash: '$argon2id$kept' }).where('id', '=', stored.id).execute();
    await database.db.insertInto('user_org_units').values({ user_id: stored.id, org_unit_id: education.id }).execute();

    const report = await run(`${header}\nUP001,Ngô Văn Hải,haingv,,0911 222 222,BVDK,Phó trưởng khoa,\n`);
    expect(report.rows).toEqual([
      { row: 2, outcome: 'update', employee_code: 'UP001', username: 'haingv', changes: ['phone', 'position', 'org_unit_code'] },
    ]);
    expect(report.totals).toMatchObject({ updated: 1, created: 0 });
    const updated = await userByCode('UP001');
    expect(updated).toMatchObject({
      phone: '+84911222222', position: 'Phó trưởng khoa', primary_org_unit_id: hospital.id,
      version: stored.version + 1, status: 'active', password_hash: '$argon2id$kept',
    });
    expect(updated.updated_at.getTime()).toBeGreaterThanOrEqual(stored.updated_at.getTime());
    const concurrent = await database.db.selectFrom('user_org_units').select('org_unit_id').where('user_id', '=', stored.id).execute();
    expect(concurrent).toEqual([{ org_unit_id: education.id }]);
  });

  it('leaves a stored value alone when its cell is blank, and treats a case-only difference as no change', async () => {
    await run(`${header}\nUP002,Lý Thị Kim,kimlt,kim.ly@syt.tiengiang.gov.vn,0911 333 333,SYT,Kế toán,\n`);
    const report = await run(`${header}\nup002,Lý Thị Kim,KimLT,KIM.LY@syt.tiengiang.gov.vn,,syt,,\n`);
    expect(report.rows).toEqual([{ row: 2, outcome: 'unchanged', employee_code: 'UP002', username: 'kimlt' }]);
    expect(await userByCode('UP002')).toMatchObject({ phone: '+84911333333', position: 'Kế toán', version: 1 });
  });

  it('finds a row without employee code by its username, in any case', async () => {
    await insertUser(database.db, { username: 'thuynt', email: null, full_name: 'Nguyễn Thị Thủy', password_hash: null, primary_org_unit_id: health.id });
    const report = await run('full_name,username,org_unit_code,position\nNguyễn Thị Thủy,ThuyNT,SYT,Điều dưỡng\n');
    expect(report.rows).toEqual([{ row: 2, outcome: 'update', employee_code: null, username: 'thuynt', changes: ['position'] }]);
  });

  it('gives a person created without an employee code the code the file assigns, recognising them by username', async () => {
    const existing = await insertUser(database.db, {
      username: 'sonhv', email: null, full_name: 'Hồ Văn Sơn', password_hash: null, primary_org_unit_id: health.id,
    });
    const report = await run(`${header}\nUP003,Hồ Văn Sơn,sonhv,,,SYT,,\n`);
    expect(report.rows).toEqual([{ row: 2, outcome: 'update', employee_code: 'UP003', username: 'sonhv', changes: ['employee_code'] }]);
    expect((await userByCode('UP003')).id).toBe(existing.id);
  });

  it('refuses a second row about the same person, naming the first', async () => {
    await run(`${header}\nUP004,Mai Văn Tài,taimv,,,SYT,,\n`);
    const report = await run(`${header}\nUP004,Mai Văn Tài,,,,SYT,Bác sĩ,\n,Mai Văn Tài,taimv,,,SYT,Dược sĩ,\n`);
    expect(outcomes(report)).toEqual([[2, 'update'], [3, 'error']]);
    expect(inEnglish(report.errors)).toEqual([{ row: 3, column: 'username', message: 'this person (taimv) is already in row 2' }]);
    expect((await userByCode('UP004')).position).toBe('Bác sĩ');
  });
});

describe('conflicts', () => {
  const header = 'employee_code,full_name,username,email,org_unit_code,national_id';

  it('refuses an email, username or CCCD that another person already has, and the duplicates within the file', async () => {
    await run(`${header}\nCF001,Trương Văn Lâm,lamtv,lam@syt.tiengiang.gov.vn,SYT,082090000001\n`);
    const report = await run([
      header,
      'CF002,Trương Thị Lan,lantt,LAM@syt.tiengiang.gov.vn,SYT,',
      'CF003,Trương Văn Long,lamtv,,SYT,',
      'CF004,Trương Văn Lực,luctv,,SYT,082 090 000 001',
      'CF005,Trương Văn Minh,minhtv,minh@syt.tiengiang.gov.vn,SYT,082090000005',
      'CF006,Trương Văn Mạnh,MinhTV,Minh@syt.tiengiang.gov.vn,SYT,082090000005',
    ].join('\n'));
    expect(inEnglish(report.errors)).toEqual([
      { row: 2, column: 'email', message: 'the email address is already used by another account (lamtv)' },
      { row: 3, column: 'username', message: 'the username is already used by another account (lamtv)' },
      { row: 4, column: 'national_id', message: 'the citizen identity number (CCCD) is already used by another account (lamtv)' },
      { row: 6, column: 'username', message: 'the username "MinhTV" is already in row 5' },
      { row: 6, column: 'email', message: 'the email address "minh@syt.tiengiang.gov.vn" is already in row 5' },
      { row: 6, column: 'national_id', message: 'the citizen identity number (CCCD) is already in row 5' },
    ]);
    expect(outcomes(report)).toEqual([[2, 'error'], [3, 'error'], [4, 'error'], [5, 'create'], [6, 'error']]);
  });

  it('refuses a unit that is closed', async () => {
    const report = await run(`${header}\nCF010,Bùi Văn Nam,,,CU,\n`);
    expect(inEnglish(report.errors)).toEqual([{ row: 2, column: 'org_unit_code', message: 'the unit "CU" is closed' }]);
    // The console's review page says it in its own language.
    expect(report.errors[0]?.localized).toEqual({ key: 'problem.import.unit_closed', params: { code: 'CU' } });
  });
});

describe('derived usernames', () => {
  it('makes the username from the name, unique against stored usernames and the file\'s own', async () => {
    await insertUser(database.db, { username: 'anhnv', email: null, full_name: 'Nguyễn Văn Anh', password_hash: null });
    const report = await run([
      'employee_code,full_name,username,org_unit_code',
      'DU001,Nguyễn Văn Anh,,SYT',
      'DU002,Ngô Viết Anh,,SYT',
      'DU003,Nông Văn Anh,anhnv3,SYT',
      'DU004,Nghiêm Vũ Anh,,SYT',
    ].join('\n'));
    expect(report.rows.map((row) => row.username)).toEqual(['anhnv2', 'anhnv4', 'anhnv3', 'anhnv5']);
    expect((await userByCode('DU004')).username).toBe('anhnv5');
  });

  it('keeps the derived username on a rerun, without a username column', async () => {
    const csv = 'employee_code,full_name,org_unit_code\nDU010,Phan Thanh Bình,SYT\n';
    const first = await run(csv);
    const again = await run(csv);
    expect(first.rows[0]).toMatchObject({ outcome: 'create', username: 'binhpt' });
    expect(again.rows[0]).toEqual({ row: 2, outcome: 'unchanged', employee_code: 'DU010', username: 'binhpt' });
  });
});

describe('rows named in the report', () => {
  it('names a row whose employee code or username is invalid by the cell as written', async () => {
    const report = await run('employee_code,username,full_name,org_unit_code\nBAD CODE!,ok.user,Tô Văn Án,SYT\n,bad user!,Tô Văn Bảo,SYT\n', { dryRun: true });
    expect(report.rows).toEqual([
      { row: 2, outcome: 'error', employee_code: 'BAD CODE!', username: 'ok.user' },
      { row: 3, outcome: 'error', employee_code: null, username: 'bad user!' },
    ]);
    expect(report.errors.map((error) => [error.row, error.column])).toEqual([[2, 'employee_code'], [3, 'username']]);
  });

  it('counts a line break inside a quoted cell as part of its row, as a spreadsheet does', async () => {
    const report = await run('employee_code,full_name,org_unit_code,position\nQL001,Tô Thị Cúc,SYT,"Chuyên viên\nkiêm thủ quỹ"\n\nQL002,,SYT,\n', { dryRun: true });
    expect(report.rows.map((row) => [row.row, row.outcome])).toEqual([[2, 'create'], [4, 'error']]);
    expect(inEnglish(report.errors)).toEqual([{ row: 4, column: 'full_name', message: 'a full name is required' }]);
  });
});

describe('dry run', () => {
  it('returns the plan and the errors and writes nothing', async () => {
    await run('employee_code,full_name,org_unit_code\nDR001,Tạ Văn Dự,SYT\n');
    const before = await footprint();
    const report = await run('employee_code,full_name,org_unit_code,position\nDR001,Tạ Văn Dự,SYT,Lái xe\nDR002,Tạ Thị Định,SYT,\nDR003,,SYT,\n', { dryRun: true });
    expect(report.dryRun).toBe(true);
    expect(report.rows).toEqual([
      { row: 2, outcome: 'update', employee_code: 'DR001', username: 'dutv', changes: ['position'] },
      { row: 3, outcome: 'create', employee_code: 'DR002', username: 'dinhtt' },
      { row: 4, outcome: 'error', employee_code: 'DR003', username: null },
    ]);
    expect(inEnglish(report.errors)).toEqual([{ row: 4, column: 'full_name', message: 'a full name is required' }]);
    expect(await footprint()).toEqual(before);
  });
});

describe('size', () => {
  it('refuses a file of more than 100,000 people before touching the database, saying how to proceed', async () => {
    const rows = Array.from({ length: maxImportRows + 1 }, (_, index) => `BIG${index},Người Thứ ${index},BVDK`);
    const before = await footprint();
    await expect(run(`employee_code,full_name,org_unit_code\n${rows.join('\n')}\n`)).rejects.toMatchObject({
      code: 'invalid_input', message: `the file has ${maxImportRows + 1} rows; one import takes at most ${maxImportRows}: split it`,
    });
    expect(await footprint()).toEqual(before);
  });
});

describe('scope', () => {
  const header = 'employee_code,full_name,username,org_unit_code';

  it('refuses rows whose unit is outside the allowed subtrees and imports those inside', async () => {
    const report = await run(`${header}\nSC001,Cao Văn Khoa,,BVDK\nSC002,Cao Thị Liên,,SGD\n`, { allowedSubtrees: [health.path] });
    expect(outcomes(report)).toEqual([[2, 'create'], [3, 'error']]);
    expect(inEnglish(report.errors)).toEqual([{ row: 3, column: 'org_unit_code', message: 'the unit "SGD" is outside your scope' }]);
    expect(await database.db.selectFrom('users').select('id').where('employee_code', '=', 'SC002').executeTakeFirst()).toBeUndefined();
    // The import's own event is about the importer's subtree, so that subtree's auditors see it.
    const summary = await database.db.selectFrom('audit_events').select('org_unit_id').where('action', '=', 'users.import')
      .orderBy(sql`id`, 'desc').limit(1).executeTakeFirstOrThrow();
    expect(summary.org_unit_id).toBe(health.id);
  });

  it('refuses to pull a person from a unit outside the scope into one inside it', async () => {
    await run(`${header}\nSC010,Đỗ Văn Quang,,SGD\n`);
    const report = await run(`${header}\nSC010,Đỗ Văn Quang,,SYT\n`, { allowedSubtrees: [health.path] });
    expect(inEnglish(report.errors)).toEqual([{ row: 2, column: 'employee_code', message: 'this person is in a unit outside your scope' }]);
    expect((await userByCode('SC010')).primary_org_unit_id).toBe(education.id);
  });

  it('refuses to change an administrator whose roles the importer could not grant, and changes the others', async () => {
    await run(`${header}\nSC030,Hồ Văn Mạnh,,SYT\nSC031,Hồ Thị Mai,,SYT\n`);
    const boss = await userByCode('SC030');
    await insertRoleAssignment(database.db, { userId: boss.id }, { role: 'super_admin', orgUnitId: null, grantedBy: 'system' });
    // What the admin API passes for an org admin of the health subtree: only scoped roles are theirs to judge.
    const mayChangeHolderOf = (held: readonly { role: string; org_unit_path: string | null }[]) => held.every((role) => role.org_unit_path !== null);
    const report = await run(`employee_code,full_name,email,org_unit_code\nSC030,Kẻ Tấn Công,attacker@evil.example,SYT\nSC031,Hồ Thị Mai,mai@tiengiang.example,SYT\n`,
      { allowedSubtrees: [health.path], mayChangeHolderOf });
    expect(outcomes(report)).toEqual([[2, 'error'], [3, 'update']]);
    expect(inEnglish(report.errors)).toEqual([{ row: 2, column: 'employee_code', message: 'this person holds admin roles you could not grant; ask an administrator who can to change them' }]);
    expect(await userByCode('SC030')).toMatchObject({ full_name: 'Hồ Văn Mạnh', email: null });
    expect((await userByCode('SC031')).email).toBe('mai@tiengiang.example');
  });

  it('does not name the holder of a taken email address to an admin who cannot see them', async () => {
    await run('employee_code,full_name,email,org_unit_code\nSC020,Lâm Văn Sang,sang@sgd.tiengiang.gov.vn,SGD\n');
    const report = await run('employee_code,full_name,email,org_unit_code\nSC021,Lâm Thị Sen,sang@sgd.tiengiang.gov.vn,SYT\n', { allowedSubtrees: [health.path] });
    expect(inEnglish(report.errors)).toEqual([{ row: 2, column: 'email', message: 'the email address is already used by another account' }]);
  });

  it('refuses everything to an admin with no subtree at all', async () => {
    const report = await run(`${header}\nSC030,Kiều Văn Tâm,,SYT\n`, { allowedSubtrees: [] });
    expect(report.totals).toMatchObject({ created: 0, failed: 1 });
  });
});

describe('activation', () => {
  it('gives each new person a hashed, single-use token, and mails it sealed to those with an address', async () => {
    const report = await run('employee_code,full_name,email,org_unit_code\nAC001,Quách Văn Toàn,toan.qv@syt.tiengiang.gov.vn,SYT\nAC002,Quách Thị Uyên,,SYT\n');
    expect(report.totals.created).toBe(2);
    const toan = await userByCode('AC001');
    const uyen = await userByCode('AC002');
    const tokens = await database.db.selectFrom('account_tokens').selectAll().where('user_id', 'in', [toan.id, uyen.id]).execute();
    expect(tokens.map((token) => [token.user_id, token.purpose])).toEqual(expect.arrayContaining([[toan.id, 'activation'], [uyen.id, 'activation']]));
    const mails = await database.db.selectFrom('mail_outbox').selectAll().where('recipient', '=', 'toan.qv@syt.tiengiang.gov.vn').execute();
    expect(mails).toHaveLength(1);
    expect(mails[0]).toMatchObject({ template: 'activation', params: { user_id: toan.id, username: 'toanqv', full_name: 'Quách Văn Toàn' } });

    const token = unseal(masterKey, mailSecretSealLabel(mails[0]!.id), mails[0]!.secret_sealed!);
    const toanToken = tokens.find((row) => row.user_id === toan.id)!;
    expect(toanToken.token_hash).toBe(hashAccountToken(token));
    // The raw token is nowhere in the database.
    const everything = JSON.stringify([
      await database.db.selectFrom('account_tokens').selectAll().execute(),
      await database.db.selectFrom('mail_outbox').selectAll().execute(),
      await database.db.selectFrom('audit_events').selectAll().execute(),
    ]);
    expect(everything).not.toContain(token);
    expect(await redeemAccountToken(database.db, 'activation', token)).toBe(toan.id);
    expect(await redeemAccountToken(database.db, 'activation', token)).toBeUndefined();
  });

  it('lets activation links expire after the configured time', async () => {
    const shortLived = { ...deps, activationTtlSeconds: 60 };
    await importUsers(shortLived, 'employee_code,full_name,email,org_unit_code\nAC010,Văn Thị Vân,van.vt@syt.tiengiang.gov.vn,SYT\n', options());
    const user = await userByCode('AC010');
    const token = await database.db.selectFrom('account_tokens').select(['created_at', 'expires_at']).where('user_id', '=', user.id).executeTakeFirstOrThrow();
    expect(token.expires_at.getTime() - user.created_at.getTime()).toBeGreaterThan(50_000);
    expect(token.expires_at.getTime() - user.created_at.getTime()).toBeLessThan(70_000);
  });

  it('issues no new token to someone the import only updates', async () => {
    await run('employee_code,full_name,org_unit_code\nAC020,Lưu Văn Xuân,SYT\n');
    const user = await userByCode('AC020');
    await run('employee_code,full_name,org_unit_code,position\nAC020,Lưu Văn Xuân,SYT,Bảo vệ\n');
    expect(await database.db.selectFrom('account_tokens').select('id').where('user_id', '=', user.id).execute()).toHaveLength(1);
  });
});

describe('audit', () => {
  it('records one event for the import and one per person created or updated, and the chain verifies', async () => {
    await run('employee_code,full_name,org_unit_code\nAU001,Trịnh Văn Yên,SYT\n');
    const since = (await database.db.selectFrom('audit_events').select(sql<string>`coalesce(max(id), 0)::text`.as('id')).executeTakeFirstOrThrow()).id;
    await run('employee_code,full_name,org_unit_code,national_id,position\nAU001,Trịnh Văn Yên,SYT,,Văn thư\nAU002,Trịnh Thị Ý,BVDK,082190000777,\nAU003,,SYT,,\n', {
      fileName: 'dot2.csv',
      origin: { ip: '10.0.0.7', userAgent: 'mekong-id cli', requestId: 'req-1' },
    });
    const events = await database.db.selectFrom('audit_events').selectAll().where(sql<boolean>`id > ${since}::bigint`).orderBy('id').execute();
    const au001 = await userByCode('AU001');
    const au002 = await userByCode('AU002');
    expect(events.map((event) => [event.action, event.target_id])).toEqual([
      ['user.create', au002.id],
      ['user.update', au001.id],
      ['users.import', null],
    ]);
    expect(events[0]).toMatchObject({
      actor_type: 'user', actor_id: actor.id, actor_name: 'quantri', org_unit_id: hospital.id, ip: '10.0.0.7', request_id: 'req-1',
      after: { username: 'ytt', full_name: 'Trịnh Thị Ý', national_id: '*********777', org_unit_code: 'BVDK', status: 'pending_activation' },
    });
    expect(events[1]).toMatchObject({ before: { position: null }, after: { position: 'Văn thư' }, org_unit_id: health.id });
    expect(events[2]!.details).toEqual({ file_name: 'dot2.csv', rows: 3, created: 1, updated: 1, unchanged: 0, failed: 1 });
    expect(JSON.stringify(events)).not.toContain('082190000777');
    expect(await verifyAuditChain(database.db)).toEqual({ ok: true, checked: expect.any(Number) as number });
  });

  it('records nothing for a dry run', async () => {
    const before = await footprint();
    await run('employee_code,full_name,org_unit_code\nAU010,Âu Văn Bảo,SYT\n', { dryRun: true });
    expect((await footprint()).auditEvents).toBe(before.auditEvents);
  });
});

describe('files that cannot be imported', () => {
  it.each([
    ['a missing required column', 'employee_code,full_name\nX1,Nguyễn Văn A\n', 'no column for org_unit_code ("Mã đơn vị")'],
    ['neither employee code nor username', 'Họ và tên;Mã đơn vị\nNguyễn Văn A;SYT\n', 'no column for employee_code ("Mã cán bộ") or username ("Tên đăng nhập")'],
    ['an empty file', '', 'the file is empty'],
    ['only blank lines', '\n\n;;\n', 'the file is empty'],
    ['a column given twice', 'employee_code,Mã cán bộ,full_name,org_unit_code\n', 'the columns "employee_code" and "Mã cán bộ" are both employee_code'],
    ['text decoded from a file that was not UTF-8', 'employee_code,full_name,org_unit_code\nX1,Nguy\uFFFDn V\uFFFDn A,SYT\n', 'not UTF-8'],
    ['an unclosed quote', 'employee_code,full_name,org_unit_code\nX1,"Nguyễn Văn A,SYT\n', 'the file cannot be read as CSV'],
  ])('refuses %s with invalid_input saying what is wrong', async (_case, csv, message) => {
    await expectRefusedFile(run(csv), message);
  });

  it.each([
    ['Windows-1258 or TCVN3', Buffer.from([0x48, 0xe4, 0x20, 0x4e, 0xf4, 0x69, 0x0a]), 'not UTF-8'],
    ['an Excel workbook', Buffer.from('PK\x03\x04rest of a zip', 'latin1'), 'Excel workbook (.xlsx)'],
    ['UTF-16', Buffer.from('\uFEFFemployee_code', 'utf16le'), 'UTF-16'],
  ])('refuses a file in %s, naming what to save it as', async (_case, bytes, message) => {
    await expectRefusedFile(run(bytes), message, 'CSV UTF-8');
  });

  it('writes nothing for a refused file', async () => {
    const before = await footprint();
    await expectRefusedFile(run('employee_code,full_name\nX1,Nguyễn Văn A\n'), 'no column for org_unit_code');
    expect(await footprint()).toEqual(before);
  });
});

describe('reading', () => {
  it('reads commas, quoted commas and quotes, English headers in any case and order, and a row with too many cells', async () => {
    const report = await run([
      'Org_Unit_Code,Full Name,EMPLOYEE_CODE,Position',
      'SYT,"Đoàn Văn Cảnh",RD001,"Phó phòng, phụ trách ""Kế hoạch"""',
      'SYT,Đoàn Thị Chi,RD002,Chuyên viên,thừa',
      'SYT,Đoàn Văn Công,RD003,,,',
    ].join('\n'));
    expect(inEnglish(report.errors)).toEqual([
      { row: 3, column: null, message: 'the row has 5 cells but the header has 4: a value containing "," must be in double quotes' },
    ]);
    expect(outcomes(report)).toEqual([[2, 'create'], [3, 'error'], [4, 'create']]);
    expect((await userByCode('RD001')).position).toBe('Phó phòng, phụ trách "Kế hoạch"');
  });

  it('counts rows as the spreadsheet does when a quoted cell spans lines', async () => {
    const report = await run('employee_code,full_name,org_unit_code,position\nRD010,Đoàn Văn Đạt,SYT,"Trưởng phòng\nkiêm nhiệm"\nRD011,,SYT,\n');
    expect(inEnglish(report.errors)).toEqual([{ row: 3, column: 'full_name', message: 'a full name is required' }]);
  });

  it('reads lines ended as Windows, Unix and old Mac OS end them in one file, and a line break inside quotes as part of its cell', async () => {
    const report = await run('employee_code,full_name,org_unit_code,position\r\nRD020,Đoàn Văn Đông,SYT,"Trưởng phòng\r\nkiêm nhiệm"\nRD021,,SYT,\rRD022,Đoàn Thị Đào,SYT,\r\n');
    expect(inEnglish(report.errors)).toEqual([{ row: 3, column: 'full_name', message: 'a full name is required' }]);
    expect(outcomes(report)).toEqual([[2, 'create'], [3, 'error'], [4, 'create']]);
    expect((await userByCode('RD020')).position).toBe('Trưởng phòng kiêm nhiệm');
  });

  it('asks for an employee code or a username when a row has neither', async () => {
    const report = await run('employee_code,username,full_name,org_unit_code\n,,Đoàn Văn Đức,SYT\n');
    expect(inEnglish(report.errors)).toEqual([{ row: 2, column: 'employee_code', message: 'an employee code or a username is required' }]);
  });
});

describe('a whole province', () => {
  it('imports 18,000 rows completely, then finds them all unchanged', async () => {
    const units = [health, hospital, education].map((unit) => unit.code);
    // Few distinct names, as in life: each recurs about 60 times, so usernames need suffixes.
    const families = ['Nguyễn', 'Trần', 'Lê', 'Phạm', 'Huỳnh', 'Võ'];
    const middles = ['Văn', 'Thị', 'Minh', 'Ngọc'];
    const givens = ['An', 'Bình', 'Cường', 'Dung', 'Hà', 'Hùng', 'Lan', 'Mai', 'Nam', 'Phúc', 'Tâm', 'Yến'];
    const lines = ['Mã cán bộ;Họ và tên;Mã đơn vị;Thư điện tử;Số điện thoại;Chức vụ'];
    for (let index = 0; index < 18_000; index += 1) {
      const code = `TG${String(index).padStart(5, '0')}`;
      const name = `${families[index % 6]!} ${middles[Math.floor(index / 6) % 4]!} ${givens[Math.floor(index / 24) % 12]!}`.normalize(index % 2 ? 'NFD' : 'NFC');
      lines.push(`${code};${name};${units[index % 3]!};${code.toLowerCase()}@tiengiang.gov.vn;09${String(10_000_000 + index).slice(-8)};Chuyên viên`);
    }
    const csv = BOM + lines.join('\r\n');
    const before = await footprint();
    const started = performance.now();
    const report = await run(csv, { fileName: 'toan-tinh.csv' });
    // Informal: the project's bench measures speed; this only shows it in the log.
    console.log(`18,000 rows imported in ${((performance.now() - started) / 1000).toFixed(1)} s on ${database.kind}`);
    expect(inEnglish(report.errors)).toEqual([]);
    expect(report.totals).toEqual({ rows: 18_000, created: 18_000, updated: 0, unchanged: 0, failed: 0 });
    const after = await footprint();
    expect(after.users - before.users).toBe(18_000);
    expect(after.tokens - before.tokens).toBe(18_000);
    expect(after.mails - before.mails).toBe(18_000);
    expect(after.auditEvents - before.auditEvents).toBe(18_001);
    // Derived usernames are unique although names repeat ("annv", "annv2", …).
    expect(new Set(report.rows.map((row) => row.username)).size).toBe(18_000);

    const rerunStarted = performance.now();
    const again = await run(csv);
    console.log(`18,000 unchanged rows checked in ${((performance.now() - rerunStarted) / 1000).toFixed(1)} s on ${database.kind}`);
    expect(again.totals).toEqual({ rows: 18_000, created: 0, updated: 0, unchanged: 18_000, failed: 0 });
    expect(await footprint()).toEqual({ ...after, auditEvents: after.auditEvents + 1 });
  }, 180_000);
});
