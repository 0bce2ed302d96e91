import { randomBytes } from 'node:crypto';
import fs from 'node:fs';

import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { listUsers } from '../../src/db/queries/users.ts';
import type { OrgUnit } from '../../src/db/schema.ts';
import { authenticateWithPassword } from '../../src/domain/accounts.ts';
import { verifyAuditChain } from '../../src/domain/audit.ts';
import { hashClientSecret } from '../../src/domain/client-secrets.ts';
import { buildDemoTree, generateDemoPeople, parseDemoOrgUnits } from '../../src/domain/demo-province.ts';
import {
  assertDemoSeedAllowed,
  demoOrgUnitsFile,
  describeDemoSeed,
  seedDemoProvince,
  type DemoSeedDeps,
  type DemoSeedReport,
} from '../../src/domain/demo-seed.ts';
import { createPasswordHasher } from '../../src/domain/passwords.ts';
import {
  emailSchema,
  employeeCodeSchema,
  fullNameSchema,
  nationalIdSchema,
  phoneSchema,
  positionSchema,
  usernameSchema,
} from '../../src/domain/person-fields.ts';
import { AppError } from '../../src/errors.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

const csvUnits = parseDemoOrgUnits(fs.readFileSync(demoOrgUnitsFile, 'utf8'));
const people = 400;

let database: TestDatabase;
let deps: DemoSeedDeps;
let first: DemoSeedReport;

beforeAll(async () => {
  database = await createTestDatabase();
  deps = {
    db: database.db,
    passwords: createPasswordHasher({ memoryCost: 8192, timeCost: 1, parallelism: 1, concurrency: 2 }),
    masterKey: randomBytes(32),
    // The provider's own metadata check is the CLI's to wire (its test runs the real one); here the
    // domain's registration rules apply.
    validateClientMetadata: () => Promise.resolve(),
  };
  first = await seedDemoProvince(deps, { people, environment: 'test', force: false });
}, 120_000);

afterAll(async () => {
  await database?.close();
});

const allUnits = () => database.db.selectFrom('org_units').selectAll().execute();
const seededPeople = () => database.db.selectFrom('users').selectAll().where('employee_code', 'like', 'TG-%').orderBy('employee_code').execute();

/** How much of everything the seed writes there is, and the demo accounts' password hashes. */
async function footprint() {
  const count = async (table: 'org_units' | 'users' | 'role_assignments' | 'clients' | 'audit_events' | 'mail_outbox' | 'account_tokens') =>
    Number((await database.db.selectFrom(table).select((eb) => eb.fn.countAll<string>().as('count')).executeTakeFirstOrThrow()).count);
  const versions = await database.db.selectFrom('users').select(sql<string>`coalesce(sum(version), 0)::text`.as('total')).executeTakeFirstOrThrow();
  const hashes = await database.db.selectFrom('users').select(['username', 'password_hash']).where('username', 'like', 'demo.%').orderBy('username').execute();
  return {
    units: await count('org_units'),
    users: await count('users'),
    userVersions: Number(versions.total),
    roles: await count('role_assignments'),
    clients: await count('clients'),
    auditEvents: await count('audit_events'),
    mails: await count('mail_outbox'),
    tokens: await count('account_tokens'),
    hashes,
  };
}

describe('the demo org tree', () => {
  it('holds every unit of the CSV as written there, and generated units below them', async () => {
    expect(csvUnits).toHaveLength(47);
    const units = await allUnits();
    const byCode = new Map(units.map((unit) => [unit.code, unit]));
    for (const { code, parentCode, kind, name } of csvUnits) {
      const unit = byCode.get(code);
      expect(unit, code).toMatchObject({ kind, name, status: 'active' });
      expect(unit!.parent_id === null ? null : units.find((other) => other.id === unit!.parent_id)?.code).toBe(parentCode);
    }
    expect(units.length).toBeGreaterThan(csvUnits.length + 150);
    expect(first.orgUnits).toEqual({ created: units.length, kept: 0, skipped: [] });
  });

  it('is at least four levels deep, and every path is its parent\u2019s path followed by its own id', async () => {
    const units = await allUnits();
    const byId = new Map(units.map((unit) => [unit.id, unit]));
    for (const unit of units) {
      const parent = unit.parent_id === null ? undefined : byId.get(unit.parent_id);
      if (unit.parent_id === null) {
        expect(unit.path).toBe(`/${unit.id}/`);
        expect(unit.depth).toBe(0);
      } else {
        expect(parent, `parent of ${unit.code}`).toBeDefined();
        expect(unit.path).toBe(`${parent!.path}${unit.id}/`);
        expect(unit.depth).toBe(parent!.depth + 1);
      }
    }
    // Four levels: province, district, commune, health station; province, department, hospital, clinical department.
    expect(Math.max(...units.map((unit) => unit.depth)) + 1).toBeGreaterThanOrEqual(4);
    const chain = (unit: OrgUnit): string[] => (unit.parent_id === null ? [unit.kind] : [...chain(byId.get(unit.parent_id)!), unit.kind]);
    const kinds = new Set(units.map((unit) => chain(unit).join(' > ')));
    expect(kinds).toContain('province > district > commune > health_station');
    expect(kinds).toContain('province > department > hospital > unit');
    expect(units.find((unit) => unit.code === 'TG.CAIBE.X01')).toMatchObject({ kind: 'commune', name: 'Ủy ban nhân dân xã An Hữu' });
    expect(units.find((unit) => unit.code === 'TG.CAIBE.X01.TYT')).toMatchObject({ kind: 'health_station', name: 'Trạm Y tế xã An Hữu' });
    expect(units.find((unit) => unit.code === 'TG.SYT.BVDKTT.CC')).toMatchObject({ kind: 'unit', name: 'Khoa Cấp cứu' });
  });

  it('has every commune with its health station, and names stored composed (NFC)', async () => {
    const units = await allUnits();
    for (const unit of units) expect(unit.name).toBe(unit.name.normalize('NFC'));
    const communes = units.filter((unit) => unit.kind === 'commune');
    expect(communes.length).toBeGreaterThanOrEqual(40);
    for (const commune of communes) {
      expect(units.some((unit) => unit.parent_id === commune.id && unit.kind === 'health_station'), commune.code).toBe(true);
    }
  });

  it('is the same tree on every run: generation is deterministic', () => {
    expect(buildDemoTree(csvUnits)).toEqual(buildDemoTree(csvUnits));
  });
});

describe('the demo people', () => {
  it(`are ${people}, each valid by the person-field rules, pending activation, in an existing unit`, async () => {
    const rows = await seededPeople();
    expect(rows).toHaveLength(people);
    expect(first.people).toMatchObject({ created: people, kept: 0, updated: 0, failed: 0 });
    const unitIds = new Set((await allUnits()).map((unit) => unit.id));
    for (const person of rows) {
      expect(fullNameSchema.parse(person.full_name)).toBe(person.full_name);
      expect(person.full_name).toBe(person.full_name.normalize('NFC'));
      expect(usernameSchema.parse(person.username)).toBe(person.username);
      expect(emailSchema.parse(person.email)).toBe(person.email);
      expect(person.email).toBe(`${person.username}@tiengiang.example`);
      expect(phoneSchema.parse(person.phone)).toBe(person.phone);
      expect(person.phone).toMatch(/^\+84[35789]\d{8}$/);
      expect(nationalIdSchema.parse(person.national_id)).toBe(person.national_id);
      expect(person.national_id).toMatch(/^082[0-3]\d{8}$/);
      expect(employeeCodeSchema.parse(person.employee_code)).toMatch(/^TG-\d{6}$/);
      expect(positionSchema.parse(person.position)).toBe(person.position);
      expect(person.status).toBe('pending_activation');
      expect(unitIds).toContain(person.primary_org_unit_id);
    }
  });

  it('have unique employee codes, usernames, emails and CCCDs', async () => {
    const rows = await seededPeople();
    for (const field of ['employee_code', 'username', 'email', 'national_id'] as const) {
      expect(new Set(rows.map((row) => row[field])).size, field).toBe(rows.length);
    }
  });

  it('have Vietnamese names with realistic family names: Nguyễn the most common, by far', async () => {
    const rows = await seededPeople();
    const familyCounts = new Map<string, number>();
    for (const { full_name: name } of rows) familyCounts.set(name.split(' ')[0]!, (familyCounts.get(name.split(' ')[0]!) ?? 0) + 1);
    const ranked = [...familyCounts].sort((a, b) => b[1] - a[1]);
    expect(ranked[0]![0]).toBe('Nguyễn');
    expect(ranked[0]![1] / rows.length).toBeGreaterThan(0.25);
    expect(ranked[0]![1] / rows.length).toBeLessThan(0.5);
    expect(rows.every((row) => row.full_name.split(' ').length >= 3)).toBe(true);
  });

  it('put doctors and nurses in hospitals, health centres and health stations, and spread people over the tree', async () => {
    const units = await allUnits();
    const byId = new Map(units.map((unit) => [unit.id, unit]));
    const medical = new Set(['hospital', 'health_centre', 'health_station']);
    const rows = await seededPeople();
    const clinicians = rows.filter((row) => row.position === 'Bác sĩ' || row.position === 'Điều dưỡng');
    expect(clinicians.length).toBeGreaterThan(20);
    for (const clinician of clinicians) {
      const unit = byId.get(clinician.primary_org_unit_id!)!;
      const parent = unit.parent_id === null ? undefined : byId.get(unit.parent_id);
      expect(medical.has(unit.kind) || medical.has(parent?.kind ?? ''), `${clinician.full_name} in ${unit.code}`).toBe(true);
    }
    expect(new Set(rows.map((row) => row.primary_org_unit_id)).size).toBeGreaterThan(100);
    expect(new Set(rows.map((row) => byId.get(row.primary_org_unit_id!)!.kind))).toEqual(new Set(units.map((unit) => unit.kind)));
  });

  it('are found by their family name typed without diacritics', async () => {
    const rows = await seededPeople();
    for (const familyName of ['Nguyễn', 'Huỳnh', 'Đặng']) {
      const { rows: [key] } = await sql<{ key: string }>`select mekong_search_key(${familyName}) as key`.execute(database.db);
      expect(key!.key).toMatch(/^[a-z]+$/);
      const found = await database.db.selectFrom('users').select('full_name')
        .where('employee_code', 'like', 'TG-%').where('search_text', 'like', `%${key!.key}%`).execute();
      const bearers = rows.filter((row) => row.full_name.split(' ').includes(familyName));
      expect(bearers.length, familyName).toBeGreaterThan(0);
      expect(found.map((row) => row.full_name)).toEqual(expect.arrayContaining(bearers.map((row) => row.full_name)));
    }
    // The admin API's search does the same: "nguyen" finds Nguyễn.
    const listed = await listUsers(database.db, { subtrees: null, q: 'nguyen', sort: 'family_name', limit: 1000 });
    expect(listed.filter((row) => row.full_name.startsWith('Nguyễn ')).length).toBe(rows.filter((row) => row.full_name.startsWith('Nguyễn ')).length);
  });

  it('are the same people whatever the count: the first 50 of 400 are the 50 of a run of 50', () => {
    const tree = buildDemoTree(csvUnits);
    expect(generateDemoPeople(tree, 50)).toEqual(generateDemoPeople(tree, 400).slice(0, 50));
  });
});

describe('the demo accounts', () => {
  it('log in with the passwords the seed printed once, and hold their roles', async () => {
    const expected = [
      { username: 'demo.admin', role: 'super_admin', scope: null },
      { username: 'demo.caibe', role: 'org_admin', scope: 'TG.CAIBE' },
      { username: 'demo.helpdesk', role: 'helpdesk', scope: 'TG.SYT' },
      { username: 'demo.auditor', role: 'auditor', scope: null },
    ];
    expect(first.accounts.map(({ username, role, scope }) => ({ username, role, scope }))).toEqual(expected);
    const passwords = first.accounts.map((account) => account.password);
    expect(new Set(passwords).size).toBe(4);
    for (const account of first.accounts) {
      expect(account.password).toMatch(/^[A-Za-z0-9_-]{24}$/);
      const login = await authenticateWithPassword(deps, account.username, account.password!);
      expect(login.outcome, account.username).toBe('success');
      const roles = await database.db.selectFrom('role_assignments').leftJoin('org_units', 'org_units.id', 'role_assignments.org_unit_id')
        .select(['role_assignments.role', 'org_units.code']).where('role_assignments.user_id', '=', login.outcome === 'success' ? login.user.id : '')
        .execute();
      expect(roles).toEqual([{ role: account.role, code: account.scope }]);
    }
    expect((await authenticateWithPassword(deps, 'demo.admin', 'not the printed password')).outcome).toBe('invalid_credentials');
  });
});

describe('the demo apps', () => {
  it('are registered with their redirect URIs, and only the hash of each secret is stored', async () => {
    expect(first.apps.map((app) => app.name)).toEqual(['Cổng dịch vụ công tỉnh', 'Hệ thống quản lý bệnh viện', 'Hệ thống quản lý văn bản và điều hành']);
    const clients = await database.db.selectFrom('clients').selectAll().execute();
    for (const app of first.apps) {
      const stored = clients.find((client) => client.client_id === app.clientId);
      expect(stored?.metadata['client_name']).toBe(app.name);
      expect(stored?.client_secret_hash).toBe(hashClientSecret(app.clientSecret!));
    }
    const byName = (name: string) => clients.find((client) => client.metadata['client_name'] === name)!;
    expect(byName('Cổng dịch vụ công tỉnh')).toMatchObject({ first_party: true, metadata: { redirect_uris: ['http://localhost:4000/callback'] } });
    expect(byName('Hệ thống quản lý bệnh viện')).toMatchObject({
      first_party: false,
      metadata: { redirect_uris: ['http://localhost:4100/callback'], backchannel_logout_uri: 'http://localhost:4100/backchannel-logout' },
    });
  });

  it('are recorded in an intact audit chain, with every unit, person and account created', async () => {
    const report = await verifyAuditChain(database.db);
    expect(report.ok).toBe(true);
    const actions = await database.db.selectFrom('audit_events').select(['action', (eb) => eb.fn.countAll<string>().as('count')])
      .where('actor_type', '=', 'system').groupBy('action').execute();
    const counts = Object.fromEntries(actions.map((row) => [row.action, Number(row.count)]));
    expect(counts).toMatchObject({ 'org_unit.create': first.orgUnits.created, 'user.create': people + 4, 'client.register': 3, 'users.import': 1 });
  });
});

describe('a second run', () => {
  it('creates nothing, changes no password and writes nothing, and says so', async () => {
    const before = await footprint();
    const second = await seedDemoProvince(deps, { people, environment: 'test', force: false });
    expect(await footprint()).toEqual(before);
    expect(second.orgUnits).toEqual({ created: 0, kept: first.orgUnits.created, skipped: [] });
    expect(second.people).toMatchObject({ created: 0, updated: 0, kept: people, failed: 0 });
    expect(second.accounts.every((account) => account.password === null)).toBe(true);
    expect(second.apps.map((app) => [app.clientId, app.clientSecret, app.created])).toEqual(first.apps.map((app) => [app.clientId, null, false]));
    const summary = describeDemoSeed(second);
    expect(summary).toContain('nothing changed');
    expect(summary).not.toContain('password:');
    expect(summary).not.toContain('client_secret:');
    for (const account of first.accounts) expect((await authenticateWithPassword(deps, account.username, account.password!)).outcome).toBe('success');
  });

  it('with more people adds only the new ones', async () => {
    const larger = await seedDemoProvince(deps, { people: people + 25, environment: 'test', force: false });
    expect(larger.people).toMatchObject({ created: 25, kept: people, updated: 0, failed: 0 });
    expect(await seededPeople()).toHaveLength(people + 25);
  });
});

describe('in production', () => {
  it('refuses to run without --force, naming NODE_ENV, and writes nothing', async () => {
    const before = await footprint();
    const error: unknown = await seedDemoProvince(deps, { people, environment: 'production', force: false }).then(
      () => new Error('expected a refusal'),
      (rejection: unknown) => rejection,
    );
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).message).toContain('NODE_ENV=production');
    expect((error as AppError).message).toContain('--force');
    expect(await footprint()).toEqual(before);
    expect(() => assertDemoSeedAllowed({ environment: 'production', force: true })).not.toThrow();
  });
});
