import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

import type { Kysely } from 'kysely';

import { findClientIdsByNames } from '../db/queries/clients.ts';
import { findOrgUnitsByCodes, insertOrgUnit } from '../db/queries/org-units.ts';
import { insertRoleAssignment } from '../db/queries/role-assignments.ts';
import { findUserByLogin, insertUser } from '../db/queries/users.ts';
import type { AdminRole, Database, OrgUnit } from '../db/schema.ts';
import { AppError, assertThat } from '../errors.ts';
import { noOrigin, recordAuditEvent, systemActor } from './audit.ts';
import { registerClient, type ClientDeps, type ClientRegistration } from './clients.ts';
import { buildDemoTree, demoPeopleCsv, generateDemoPeople, parseDemoOrgUnits, type DemoUnit } from './demo-province.ts';
import type { PasswordHasher } from './passwords.ts';
import { importUsers, type ImportReport } from './user-import.ts';

/**
 * `mekong-id seed --demo`: loads the demo province (org tree, people, demo administrators, demo apps)
 * into a database, so that the server has something to show. Idempotent: what exists is kept as it
 * is, a demo account's password included, so a second run changes nothing and says so. Each step
 * commits on its own; an interrupted seed is finished by running it again.
 */

/** The top of the org tree, shipped with the code (DATA_DIR is for the database, not for source data). */
export const demoOrgUnitsFile = fileURLToPath(new URL('../../demo/org-units.csv', import.meta.url));

export interface DemoSeedDeps {
  readonly db: Kysely<Database>;
  readonly passwords: PasswordHasher;
  /** MASTER_KEY: the import seals each person's activation link in the outbox with it. */
  readonly masterKey: Buffer;
  /** Checks a demo app's metadata the way the OIDC provider will read it. */
  readonly validateClientMetadata: ClientDeps['validateMetadata'];
}

export interface DemoSeedOptions {
  /** How many people; the first n are always the same n people. */
  readonly people: number;
  /** NODE_ENV: production refuses without `force`. */
  readonly environment: 'development' | 'production' | 'test';
  readonly force: boolean;
}

export interface DemoSeedReport {
  readonly orgUnits: { readonly created: number; readonly kept: number; readonly skipped: readonly string[] };
  readonly people: { readonly created: number; readonly updated: number; readonly kept: number; readonly failed: number; readonly errors: ImportReport['errors'] };
  /** password is null for an account that already existed: it was left alone. */
  readonly accounts: readonly { readonly username: string; readonly role: AdminRole; readonly scope: string | null; readonly password: string | null }[];
  /** clientSecret is null for an app that already existed. */
  readonly apps: readonly { readonly name: string; readonly clientId: string; readonly clientSecret: string | null; readonly created: boolean }[];
}

/**
 * A demo province in production is a mistake: made-up people and administrator accounts whose
 * passwords were printed to a terminal. Checked before the database is even opened.
 */
export function assertDemoSeedAllowed(options: Pick<DemoSeedOptions, 'environment' | 'force'>): void {
  assertThat(options.environment !== 'production' || options.force, () => new AppError(
    'refused',
    'refusing to load the demo province because NODE_ENV=production: it adds made-up people, demo apps and administrator '
      + 'accounts that can log in. Run it on a development or demo installation, or add --force if this one really is a demo.',
    409,
  ));
}

export async function seedDemoProvince(deps: DemoSeedDeps, options: DemoSeedOptions): Promise<DemoSeedReport> {
  assertDemoSeedAllowed(options);
  assertThat(Number.isInteger(options.people) && options.people >= 0, () => new AppError('invalid_input', 'the number of people must be a whole number, 0 or more'));
  const tree = buildDemoTree(parseDemoOrgUnits(fs.readFileSync(demoOrgUnitsFile, 'utf8')));
  const orgUnits = await seedOrgUnits(deps.db, tree);
  const people = await seedPeople(deps, tree, options.people);
  const accounts = await seedAccounts(deps);
  const apps = await seedApps(deps);
  return { orgUnits, people, accounts, apps };
}

/** Inserts the units that do not exist yet, parents first, in one transaction, each creation audited. */
async function seedOrgUnits(db: Kysely<Database>, tree: readonly DemoUnit[]): Promise<DemoSeedReport['orgUnits']> {
  return db.transaction().execute(async (trx) => {
    const units = new Map<string, OrgUnit>((await findOrgUnitsByCodes(trx, tree.map((unit) => unit.code))).map((unit) => [unit.code.toUpperCase(), unit]));
    let created = 0;
    let kept = 0;
    const skipped: string[] = [];
    for (const { code, parentCode, kind, name } of tree) {
      if (units.has(code)) {
        kept += 1;
        continue;
      }
      const parent = parentCode === null ? null : units.get(parentCode);
      // Someone closed (or never let exist) the demo unit this one belongs under: nothing goes under a closed unit.
      if (parent === undefined || (parent !== null && parent.status !== 'active')) {
        skipped.push(code);
        continue;
      }
      const unit = await insertOrgUnit(trx, { code, name, kind, parent });
      units.set(code, unit);
      created += 1;
      await recordAuditEvent(trx, {
        actor: systemActor, origin: noOrigin, action: 'org_unit.create', target: { type: 'org_unit', id: unit.id }, orgUnitId: unit.id,
        after: { code, name, kind, parent_id: unit.parent_id, status: unit.status }, details: { source: 'demo_seed' },
      });
    }
    return { created, kept, skipped };
  });
}

/**
 * The people go in through the bulk import, as HR's spreadsheet would: the seed exercises the real
 * path, and the import's own idempotence keeps those who exist. A dry run first, so that a run with
 * nothing to add writes nothing at all, not even the import's audit event.
 */
async function seedPeople(deps: DemoSeedDeps, tree: readonly DemoUnit[], count: number): Promise<DemoSeedReport['people']> {
  if (count === 0) return { created: 0, updated: 0, kept: 0, failed: 0, errors: [] };
  const csv = demoPeopleCsv(generateDemoPeople(tree, count));
  const importDeps = { db: deps.db, masterKey: deps.masterKey };
  const options = { actor: systemActor, origin: noOrigin, fileName: 'demo-seed.csv', allowedSubtrees: null };
  let report = await importUsers(importDeps, csv, { ...options, dryRun: true });
  if (report.totals.created + report.totals.updated > 0) report = await importUsers(importDeps, csv, { ...options, dryRun: false });
  const { created, updated, unchanged, failed } = report.totals;
  return { created, updated, kept: unchanged, failed, errors: report.errors };
}

interface DemoAccount {
  readonly username: string;
  readonly fullName: string;
  readonly role: AdminRole;
  /** The unit whose subtree the role covers; null for a global role. */
  readonly scopeCode: string | null;
  readonly unitCode: string;
}

const demoAccounts: readonly DemoAccount[] = [
  { username: 'demo.admin', fullName: 'Tài khoản demo - Quản trị hệ thống', role: 'super_admin', scopeCode: null, unitCode: 'TG.STTTT' },
  { username: 'demo.caibe', fullName: 'Tài khoản demo - Quản trị huyện Cái Bè', role: 'org_admin', scopeCode: 'TG.CAIBE', unitCode: 'TG.CAIBE' },
  { username: 'demo.helpdesk', fullName: 'Tài khoản demo - Hỗ trợ người dùng Sở Y tế', role: 'helpdesk', scopeCode: 'TG.SYT', unitCode: 'TG.SYT' },
  { username: 'demo.auditor', fullName: 'Tài khoản demo - Kiểm tra nhật ký', role: 'auditor', scopeCode: null, unitCode: 'TG.TTR' },
];

/** 144 random bits, URL-safe: typed once from the summary, then changed or thrown away with the demo. */
const newDemoPassword = () => randomBytes(18).toString('base64url');

/** Creates the demo administrators that are missing, active and with a fresh random password each. */
async function seedAccounts(deps: DemoSeedDeps): Promise<DemoSeedReport['accounts']> {
  const results: DemoSeedReport['accounts'][number][] = [];
  for (const account of demoAccounts) {
    const { username, fullName, role, scopeCode, unitCode } = account;
    if (await findUserByLogin(deps.db, username)) {
      results.push({ username, role, scope: scopeCode, password: null });
      continue;
    }
    const password = newDemoPassword();
    const passwordHash = await deps.passwords.hash(password);
    await deps.db.transaction().execute(async (trx) => {
      const units = new Map((await findOrgUnitsByCodes(trx, [unitCode, ...(scopeCode ? [scopeCode] : [])])).map((unit) => [unit.code.toUpperCase(), unit]));
      const unit = units.get(unitCode);
      const scope = scopeCode === null ? null : units.get(scopeCode);
      assertThat(unit && scope !== undefined, () => new Error(`the demo unit ${scope === undefined ? scopeCode! : unitCode} is missing`));
      const user = await insertUser(trx, { username, full_name: fullName, password_hash: passwordHash, status: 'active', primary_org_unit_id: unit.id });
      await insertRoleAssignment(trx, { userId: user.id }, { role, orgUnitId: scope?.id ?? null, grantedBy: 'system' });
      await recordAuditEvent(trx, {
        actor: systemActor, origin: noOrigin, action: 'user.create', target: { type: 'user', id: user.id }, orgUnitId: unit.id,
        after: { username, full_name: fullName, status: 'active', org_unit_code: unit.code, roles: [{ role, org_unit_code: scope?.code ?? null }] },
        details: { source: 'demo_seed' },
      });
    });
    results.push({ username, role, scope: scopeCode, password });
  }
  return results;
}

const demoApps: readonly ClientRegistration[] = [
  { name: 'Cổng dịch vụ công tỉnh', kind: 'web', redirectUris: ['http://localhost:4000/callback'], firstParty: true },
  {
    name: 'Hệ thống quản lý bệnh viện', kind: 'web', redirectUris: ['http://localhost:4100/callback'],
    backchannelLogoutUri: 'http://localhost:4100/backchannel-logout',
  },
  { name: 'Hệ thống quản lý văn bản và điều hành', kind: 'web', redirectUris: ['http://localhost:4200/callback'] },
];

/** Registers the demo apps that are missing (known by client_name); registration audits itself. */
async function seedApps(deps: DemoSeedDeps): Promise<DemoSeedReport['apps']> {
  const existing = await findClientIdsByNames(deps.db, demoApps.map((app) => app.name));
  const results: DemoSeedReport['apps'][number][] = [];
  for (const app of demoApps) {
    const clientId = existing.get(app.name);
    if (clientId !== undefined) {
      results.push({ name: app.name, clientId, clientSecret: null, created: false });
      continue;
    }
    const registered = await registerClient({ db: deps.db, validateMetadata: deps.validateClientMetadata }, app, { actor: systemActor });
    results.push({ name: app.name, clientId: registered.clientId, clientSecret: registered.clientSecret, created: true });
  }
  return results;
}

/** What the seed did, for a person at a terminal; the only place the passwords and secrets ever appear. */
export function describeDemoSeed(report: DemoSeedReport): string {
  const { orgUnits, people, accounts, apps } = report;
  const lines = [
    `org units: ${orgUnits.created} created, ${orgUnits.kept} kept${orgUnits.skipped.length ? `, ${orgUnits.skipped.length} skipped (their parent unit is closed or missing)` : ''}`,
    `people:    ${people.created} created, ${people.kept} kept${people.updated ? `, ${people.updated} restored to their demo values` : ''}`
      + `${people.failed ? `, ${people.failed} failed` : ''}${people.created ? ' (pending activation: their activation mails are in the outbox)' : ''}`,
    ...people.errors.slice(0, 5).map((error) => `  row ${error.row}${error.column ? `, ${error.column}` : ''}: ${error.message}`),
    'demo accounts (passwords are shown only now):',
    ...accounts.map(({ username, role, scope, password }) =>
      `  ${username.padEnd(14)} ${`${role} ${scope ? `over ${scope}` : '(global)'}`.padEnd(26)} ${password === null ? 'kept, password unchanged' : `password: ${password}`}`),
    'demo apps (client secrets are shown only now; only their hashes are stored):',
    ...apps.map(({ name, clientId, clientSecret, created }) =>
      `  ${name}\n    client_id: ${clientId}${created ? `\n    client_secret: ${clientSecret ?? '(public client)'}` : ' (kept, secret unchanged)'}`),
  ];
  const changed = orgUnits.created + people.created + people.updated + accounts.filter((account) => account.password !== null).length
    + apps.filter((app) => app.created).length;
  lines.push(changed === 0 ? 'nothing changed: the demo province was already loaded' : 'the demo province is loaded');
  return lines.join('\n');
}
