import type { OrgUnitKind } from '../db/schema.ts';
import { localizable, said, type Said } from '../errors.ts';
import {
  ReorganizationSimulation,
  type Loss,
  type ReportLine,
  type ReorganizationSnapshot,
  type ReorganizationStep,
  type SimAssignment,
  type UnitOperation,
} from './reorganization-steps.ts';

/**
 * The dry run of a plan: every unit and person it touches, how each person's access maps onto the
 * new units, what is lost and what is gained, and the operations that carry it out. The job
 * applies a plan by computing this same report inside its transaction and executing its
 * `operations`, so what the admin saw is what happens.
 */
export interface ReorganizationReport {
  readonly units: readonly UnitChange[];
  readonly people: readonly PersonChange[];
  readonly groups: readonly { id: string; name_before: string; unit_before: string; name_after: string; unit_after: string }[];
  readonly app_assignments: readonly RightChange[];
  readonly role_assignments: readonly RightChange[];
  readonly losses: readonly Loss[];
  readonly gains: readonly ReportLine[];
  /** Separation-of-duties rules the plan would make someone break: a plan with any cannot be scheduled or applied. */
  readonly sod_conflicts: readonly ReportLine[];
  readonly totals: { units: number; people: number; groups: number; app_assignments: number; role_assignments: number; losses: number; gains: number; sod_conflicts: number };
  readonly operations: ReorganizationOperations;
}

export interface UnitState { code: string; name: string; kind: OrgUnitKind; path_codes: string[]; status: 'active' | 'closed'; mfa_required: boolean }

export interface UnitChange {
  readonly id: string;
  readonly before: UnitState | null;
  readonly after: UnitState;
  readonly successor_code: string | null;
  readonly notes: readonly Said[];
}

export interface AppAccess { client_id: string; client_name: string; before: string[] | null; after: string[] | null }

export interface PersonChange {
  readonly id: string;
  readonly username: string;
  readonly full_name: string;
  readonly status: string;
  readonly unit_before: { code: string; path_codes: string[] } | null;
  readonly unit_after: { code: string; path_codes: string[] } | null;
  readonly concurrent_before: string[];
  readonly concurrent_after: string[];
  /** Every app the person reaches through an assignment, before and after (roles; null: no access). */
  readonly apps: AppAccess[];
  /** Whether a unit's policy makes them sign in with a second factor, before and after. */
  readonly second_factor: { before: boolean; after: boolean };
}

export interface RightChange {
  readonly id: string;
  readonly holder: string;
  readonly what: string;
  readonly unit_before: string;
  readonly units_after: string[];
  readonly notes: readonly Said[];
}

export interface ReorganizationOperations {
  readonly units: readonly UnitOperation[];
  readonly people: readonly { user_id: string; primary: string | null; concurrent_add: string[]; concurrent_remove: string[] }[];
  readonly groups: readonly { group_id: string; org_unit: string; name: string }[];
  readonly app_assignments: readonly (
    | { op: 'update'; id: string; org_unit: string; roles: string[] }
    | { op: 'insert'; client_id: string; org_unit: string; roles: string[]; granted_by: string }
    | { op: 'delete'; id: string }
  )[];
  readonly role_assignments: readonly (
    | { op: 'update'; id: string; org_unit: string }
    | { op: 'insert'; user_id: string | null; client_id: string | null; role: string; org_unit: string }
    | { op: 'delete'; id: string }
  )[];
}

type UnitLike = { code: string; name: string; kind: OrgUnitKind; parent_id: string | null; status: 'active' | 'closed'; mfa_required: boolean };

function pathCodes(units: ReadonlyMap<string, UnitLike>, id: string | null): string[] {
  const codes: string[] = [];
  for (let current = id; current !== null; current = units.get(current)?.parent_id ?? null) codes.unshift(units.get(current)?.code ?? '?');
  return codes;
}

function stateOf(units: ReadonlyMap<string, UnitLike>, id: string): UnitState {
  const unit = units.get(id)!;
  return { code: unit.code, name: unit.name, kind: unit.kind, path_codes: pathCodes(units, id), status: unit.status, mfa_required: unit.mfa_required };
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const sorted = (values: Iterable<string>) => [...values].sort();

/** Runs the steps over the snapshot and reports; throws invalid_plan, naming the step, for a plan that cannot be carried out. */
export function computeReorganization(snapshot: ReorganizationSnapshot, steps: readonly ReorganizationStep[]): ReorganizationReport {
  const sim = new ReorganizationSimulation(snapshot).run(steps);
  const before = new Map<string, UnitLike>(snapshot.units.map((unit) => [unit.id, unit]));
  const after: ReadonlyMap<string, UnitLike> = sim.units;
  const codeAfter = (id: string) => after.get(id)?.code ?? id;

  const units: UnitChange[] = [];
  for (const [id, unit] of sim.units) {
    const was = before.has(id) ? stateOf(before, id) : null;
    const now = stateOf(after, id);
    if (was && sameJson(was, now)) continue;
    units.push({ id, before: was, after: now, successor_code: unit.successor_id ? codeAfter(unit.successor_id) : null, notes: sim.unitChanges.get(id) ?? [] });
  }

  const restricted = new Map(snapshot.appAssignments.map((row) => [row.client_id, row.client_restricted]));
  const memberships = new Map<string, string[]>();
  for (const { group_id: groupId, user_id: userId } of snapshot.groupMembers) memberships.set(userId, [...(memberships.get(userId) ?? []), groupId]);
  const excluded = new Set(snapshot.exclusions.map((row) => `${row.client_id} ${row.user_id}`));
  const accessBefore = accessOf(before, snapshot.appAssignments.map((row) => ({ ...row, origin: row.id, roles: new Set(row.roles) })), memberships, excluded);
  const accessAfter = accessOf(after, sim.assignments, memberships, excluded);
  const sodConflicts: ReportLine[] = [];
  const concurrentBefore = new Map<string, string[]>();
  for (const { user_id: userId, org_unit_id: unitId } of snapshot.concurrent) concurrentBefore.set(userId, [...(concurrentBefore.get(userId) ?? []), unitId]);

  const people: PersonChange[] = [];
  const losses: Loss[] = [...sim.losses];
  const gains: ReportLine[] = [];
  const peopleOperations: ReorganizationOperations['people'][number][] = [];
  for (const person of snapshot.people) {
    const primaryBefore = person.primary_org_unit_id;
    const primaryAfter = sim.primary.get(person.id) ?? null;
    const concBefore = sorted(concurrentBefore.get(person.id) ?? []);
    const concAfter = sorted(sim.concurrent.get(person.id) ?? []);
    const unitBefore = primaryBefore ? { code: before.get(primaryBefore)!.code, path_codes: pathCodes(before, primaryBefore) } : null;
    const unitAfter = primaryAfter ? { code: codeAfter(primaryAfter), path_codes: pathCodes(after, primaryAfter) } : null;
    const servedBefore = [...(primaryBefore ? [primaryBefore] : []), ...concBefore];
    const servedAfter = [...(primaryAfter ? [primaryAfter] : []), ...concAfter];
    const appsBefore = accessBefore(servedBefore, person.id);
    const appsAfter = accessAfter(servedAfter, person.id);
    const breachesBefore = sodBreaches(snapshot.sodRules, accessBefore, person, servedBefore);
    for (const [key, breach] of sodBreaches(snapshot.sodRules, accessAfter, person, servedAfter)) {
      if (breachesBefore.has(key)) continue;
      const who = `${person.full_name} (${person.username})`;
      sodConflicts.push({
        key: `sod:${key}`,
        ...said(breach.unit
          ? localizable(`${who} would hold two roles that the separation-of-duties rule "${breach.rule}" forbids in ${codeAfter(breach.unit)}`, 'reorg.line.sod_conflict_in', { person: who, rule: breach.rule, unit: codeAfter(breach.unit) })
          : localizable(`${who} would hold two roles that the separation-of-duties rule "${breach.rule}" forbids`, 'reorg.line.sod_conflict', { person: who, rule: breach.rule })),
      });
    }
    const clients = sorted(new Set([...appsBefore.keys(), ...appsAfter.keys()]));
    const apps = clients.map((clientId) => ({
      client_id: clientId, client_name: sim.clientName(clientId),
      before: appsBefore.has(clientId) ? sorted(appsBefore.get(clientId)!) : null,
      after: appsAfter.has(clientId) ? sorted(appsAfter.get(clientId)!) : null,
    }));
    const secondFactor = { before: requiresSecondFactor(before, servedBefore), after: requiresSecondFactor(after, servedAfter) };
    const moved = primaryBefore !== primaryAfter || !sameJson(concBefore, concAfter);
    if (!moved && sameJson(unitBefore, unitAfter) && secondFactor.before === secondFactor.after && apps.every((app) => sameJson(app.before, app.after))) continue;
    people.push({
      id: person.id, username: person.username, full_name: person.full_name, status: person.status, unit_before: unitBefore, unit_after: unitAfter,
      concurrent_before: concBefore.map((id) => before.get(id)!.code), concurrent_after: concAfter.map(codeAfter), apps, second_factor: secondFactor,
    });
    if (secondFactor.before && !secondFactor.after) {
      const who = `${person.full_name} (${person.username})`;
      losses.push({
        key: `person_mfa_dropped:${person.id}`, kind: 'person_mfa_dropped',
        ...said(localizable(`${who} would no longer have to sign in with a second factor (no unit above them requires it)`, 'reorg.line.mfa_dropped', { person: who })),
      });
    }
    if (moved) {
      peopleOperations.push({
        user_id: person.id, primary: primaryAfter,
        concurrent_add: concAfter.filter((id) => !concBefore.includes(id)), concurrent_remove: concBefore.filter((id) => !concAfter.includes(id)),
      });
    }
    for (const app of apps) {
      const who = `${person.full_name} (${person.username})`;
      if (app.before && !app.after && restricted.get(app.client_id)) {
        losses.push({ key: `person_app_lost:${person.id}:${app.client_id}`, kind: 'person_app_lost', ...said(localizable(`${who} can no longer use ${app.client_name}`, 'reorg.line.app_lost', { person: who, app: app.client_name })) });
      } else if (!app.before && app.after && restricted.get(app.client_id)) {
        gains.push({ key: `person_app_gained:${person.id}:${app.client_id}`, ...said(localizable(`${who} can now use ${app.client_name}`, 'reorg.line.app_gained', { person: who, app: app.client_name })) });
      }
      for (const role of (app.before ?? []).filter((one) => !(app.after ?? []).includes(one))) {
        losses.push({
          key: `person_app_role_lost:${person.id}:${app.client_id}:${role}`, kind: 'person_app_role_lost',
          ...said(localizable(`${who} loses the role ${role} in ${app.client_name}`, 'reorg.line.app_role_lost', { person: who, role, app: app.client_name })),
        });
      }
      for (const role of (app.after ?? []).filter((one) => !(app.before ?? []).includes(one))) {
        gains.push({
          key: `person_app_role_gained:${person.id}:${app.client_id}:${role}`,
          ...said(localizable(`${who} gains the role ${role} in ${app.client_name}`, 'reorg.line.app_role_gained', { person: who, role, app: app.client_name })),
        });
      }
    }
  }

  const groups = snapshot.groups.flatMap((group) => {
    const now = sim.groups.get(group.id)!;
    if (now.unit === group.org_unit_id && now.name === group.name) return [];
    return [{ id: group.id, name_before: group.name, unit_before: before.get(group.org_unit_id)!.code, name_after: now.name, unit_after: codeAfter(now.unit) }];
  });

  const unitCodeBefore = (id: string) => before.get(id)!.code;
  const rolesOf = (roles: Iterable<string>) => sorted(roles).join(', ');
  const apps = carryOver(snapshot.appAssignments, sim.assignments, sim.assignmentNotes, unitCodeBefore, codeAfter, {
    describe: (row) => ({ holder: row.client_name, what: rolesOf(row.roles) }),
    changedBeyondUnit: (row, first) => (rolesOf(first.roles) === rolesOf(row.roles) ? null : said(localizable(`roles now ${rolesOf(first.roles)}`, 'reorg.note.roles_now', { roles: rolesOf(first.roles) }))),
    update: (row, first): ReorganizationOperations['app_assignments'][number] => ({ op: 'update', id: row.id, org_unit: first.org_unit_id!, roles: sorted(first.roles) }),
    insert: (copy): ReorganizationOperations['app_assignments'][number] => ({ op: 'insert', client_id: copy.client_id, org_unit: copy.org_unit_id!, roles: sorted(copy.roles), granted_by: copy.granted_by }),
  });
  const roles = carryOver(snapshot.roleAssignments, sim.roles, sim.roleNotes, unitCodeBefore, codeAfter, {
    describe: (row) => ({ holder: row.holder_name, what: row.role }),
    changedBeyondUnit: () => null,
    update: (row, first): ReorganizationOperations['role_assignments'][number] => ({ op: 'update', id: row.id, org_unit: first.org_unit_id! }),
    insert: (copy): ReorganizationOperations['role_assignments'][number] => ({ op: 'insert', user_id: copy.user_id, client_id: copy.client_id, role: copy.role, org_unit: copy.org_unit_id! }),
  });

  const report = {
    units, people, groups, app_assignments: apps.changes, role_assignments: roles.changes, losses, gains, sod_conflicts: sodConflicts,
    operations: {
      units: sim.unitOperations,
      people: peopleOperations,
      groups: groups.map((group) => ({ group_id: group.id, org_unit: sim.groups.get(group.id)!.unit, name: group.name_after })),
      app_assignments: apps.operations,
      role_assignments: roles.operations,
    },
  };
  return {
    ...report,
    totals: {
      units: units.length, people: people.length, groups: groups.length, app_assignments: apps.changes.length,
      role_assignments: roles.changes.length, sod_conflicts: sodConflicts.length, losses: losses.length, gains: gains.length,
    },
  };
}

/** Whether a unit at or above any unit served requires a second factor (orgPolicyRequiresSecondFactor in SQL). */
function requiresSecondFactor(units: ReadonlyMap<string, UnitLike>, served: readonly string[]): boolean {
  for (const unitId of served) {
    for (let current: string | null = unitId; current !== null; current = units.get(current)?.parent_id ?? null) {
      if (units.get(current)?.mfa_required) return true;
    }
  }
  return false;
}

/**
 * How stored rights over units (app assignments, admin roles) continue after the steps: the row
 * itself moved (update), copies of it added (insert), or gone, folded into another or lost (delete).
 */
function carryOver<Row extends { id: string; org_unit_id: string | null }, Carried extends { origin: string | null; org_unit_id: string | null }, Operation>(
  rows: readonly Row[],
  carried: readonly Carried[],
  notes: ReadonlyMap<string, Said[]>,
  codeBefore: (id: string) => string,
  codeAfter: (id: string) => string,
  how: {
    describe: (row: Row) => { holder: string; what: string };
    changedBeyondUnit: (row: Row, first: Carried) => Said | null;
    update: (row: Row, first: Carried) => Operation;
    insert: (copy: Carried) => Operation;
  },
): { operations: (Operation | { op: 'delete'; id: string })[]; changes: RightChange[] } {
  const operations: (Operation | { op: 'delete'; id: string })[] = [];
  const changes: RightChange[] = [];
  for (const row of rows) {
    if (row.org_unit_id === null) continue;
    const continued = carried.filter((one) => one.origin === row.id);
    const [first, ...copies] = continued;
    const beyondUnit = first ? how.changedBeyondUnit(row, first) : null;
    if (!first) operations.push({ op: 'delete', id: row.id });
    else if (first.org_unit_id !== row.org_unit_id || beyondUnit !== null) operations.push(how.update(row, first));
    for (const copy of copies) operations.push(how.insert(copy));
    const noted = [...(notes.get(row.id) ?? []), ...(beyondUnit === null ? [] : [beyondUnit])];
    if (noted.length > 0) {
      changes.push({ id: row.id, ...how.describe(row), unit_before: codeBefore(row.org_unit_id), units_after: continued.map((one) => codeAfter(one.org_unit_id!)), notes: noted });
    }
  }
  return { operations, changes };
}

/**
 * The apps a person reaches through assignments, with the roles: to them, to a group they are in,
 * or to a unit at or above a unit they serve in (the same rule as coveringAppRoles in SQL).
 */
function accessOf(
  units: ReadonlyMap<string, UnitLike>,
  assignments: readonly SimAssignment[],
  memberships: ReadonlyMap<string, readonly string[]>,
  excluded: ReadonlySet<string>,
) {
  const byHolder = new Map<string, SimAssignment[]>();
  for (const assignment of assignments) {
    const holder = assignment.org_unit_id ?? assignment.group_id ?? assignment.user_id!;
    byHolder.set(holder, [...(byHolder.get(holder) ?? []), assignment]);
  }
  return (served: readonly (string | null)[], userId: string): Map<string, Set<string>> => {
    const holders = new Set<string>([userId, ...(memberships.get(userId) ?? [])]);
    for (const unitId of served) {
      for (let current = unitId; current !== null; current = units.get(current)?.parent_id ?? null) holders.add(current);
    }
    const access = new Map<string, Set<string>>();
    for (const holder of holders) {
      for (const assignment of byHolder.get(holder) ?? []) {
        // A review that took the person out of the app outweighs every assignment (app_access_exclusions).
        if (excluded.has(`${assignment.client_id} ${userId}`)) continue;
        const roles = access.get(assignment.client_id) ?? new Set<string>();
        for (const role of assignment.roles) roles.add(role);
        access.set(assignment.client_id, roles);
      }
    }
    return access;
  };
}

/**
 * The separation-of-duties rules a person breaks: two ruled roles held in one unit they serve in
 * (the rule of findSodViolations in SQL), by "rule person" key with the rule and unit named.
 */
function sodBreaches(
  rules: ReorganizationSnapshot['sodRules'],
  access: ReturnType<typeof accessOf>,
  person: { id: string; status: string },
  served: readonly string[],
): Map<string, { rule: string; unit: string | null }> {
  const breaches = new Map<string, { rule: string; unit: string | null }>();
  if (person.status === 'disabled' || rules.length === 0) return breaches;
  for (const unit of served.length === 0 ? [null] : served) {
    const held = access([unit], person.id);
    for (const rule of rules) {
      if (held.get(rule.client_a)?.has(rule.role_a) && held.get(rule.client_b)?.has(rule.role_b)) breaches.set(`${rule.id} ${person.id}`, { rule: rule.name, unit });
    }
  }
  return breaches;
}
