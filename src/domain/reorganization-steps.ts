import { z } from 'zod';

import { orgUnitKinds, type OrgUnitKind } from '../db/schema.ts';
import { AppError, localizable, said, type LocalizableMessage, type Said } from '../errors.ts';
import type { MessageKey, MessagePlaceholders } from '../i18n/catalog.ts';
import { normalizeName, orgUnitCodeSchema } from './person-fields.ts';

/**
 * The steps of a reorganization plan and what they do to the org tree, computed in memory from a
 * snapshot of the tree, its people and their rights. No SQL here: the dry run shows what this
 * computes, and the apply carries out exactly the operations it lists (reorganization-plans.ts).
 */

const isoDate = z.iso.date('a date is written YYYY-MM-DD');
const unitName = z.string().transform(normalizeName).pipe(z.string().min(1, 'a unit needs a name').max(300, 'a unit name has at most 300 characters'));
const decision = {
  decision_number: z.string().trim().min(1, 'name the decision (its number)').max(100),
  decision_date: isoDate,
};
const codeMap = z.record(z.string().trim().min(1).max(200), orgUnitCodeSchema);

export const reorganizationStepSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('merge'),
    ...decision,
    /** The units merged away: closed, their people, units, groups and rights moving to `into`. */
    units: z.array(orgUnitCodeSchema).min(1).max(200),
    /** The unit that remains, optionally under a new name and code. */
    into: orgUnitCodeSchema,
    name: unitName.optional(),
    code: orgUnitCodeSchema.optional(),
  }),
  z.object({
    kind: z.literal('split'),
    ...decision,
    unit: orgUnitCodeSchema,
    /** The new units, created beside the split one (under its parent). */
    parts: z.array(z.object({ code: orgUnitCodeSchema, name: unitName, kind: z.enum(orgUnitKinds).optional() })).min(2).max(50),
    /** Where people, child units and groups go: by username, by unit code, by group name; the rest go to default_part. */
    people: codeMap.default({}),
    children: codeMap.default({}),
    groups: codeMap.default({}),
    default_part: orgUnitCodeSchema,
  }),
  z.object({
    kind: z.literal('abolish_level'),
    ...decision,
    /** Every open unit of this kind (within `within`, if given) is closed; its child units move up to its parent. */
    level_kind: z.enum(orgUnitKinds),
    within: orgUnitCodeSchema.optional(),
    /** For each abolished unit that has people or groups of its own: the unit they move to. */
    successors: codeMap.default({}),
  }),
  z.object({ kind: z.literal('rename'), ...decision, unit: orgUnitCodeSchema, name: unitName }),
  z.object({ kind: z.literal('recode'), ...decision, unit: orgUnitCodeSchema, code: orgUnitCodeSchema }),
]);
export type ReorganizationStep = z.output<typeof reorganizationStepSchema>;

/** A plan that cannot be carried out as written: 422, naming the step and what is wrong with it. */
export const invalidPlan = (message: string | LocalizableMessage) => new AppError('invalid_plan', message, 422);

/** What the computation reads: the tree and everything that hangs on its units. */
export interface ReorganizationSnapshot {
  readonly units: readonly { id: string; code: string; name: string; kind: OrgUnitKind; parent_id: string | null; status: 'active' | 'closed'; mfa_required: boolean }[];
  readonly people: readonly { id: string; username: string; full_name: string; status: string; primary_org_unit_id: string | null }[];
  readonly concurrent: readonly { user_id: string; org_unit_id: string }[];
  readonly groups: readonly { id: string; org_unit_id: string; name: string }[];
  readonly groupMembers: readonly { group_id: string; user_id: string }[];
  readonly appAssignments: readonly { id: string; client_id: string; client_name: string; client_restricted: boolean; org_unit_id: string | null; group_id: string | null; user_id: string | null; roles: readonly string[]; granted_by: string }[];
  readonly exclusions: readonly { client_id: string; user_id: string }[];
  readonly sodRules: readonly { id: string; name: string; client_a: string; role_a: string; client_b: string; role_b: string }[];
  readonly roleAssignments: readonly { id: string; user_id: string | null; client_id: string | null; holder_name: string; role: string; org_unit_id: string | null }[];
}

/** A unit as the simulation changes it; a unit the plan creates has the id "new:<code>" until applied. */
export interface SimUnit {
  id: string;
  code: string;
  name: string;
  kind: OrgUnitKind;
  parent_id: string | null;
  status: 'active' | 'closed';
  successor_id: string | null;
  /** Everyone in the unit's subtree must sign in with a second factor. */
  mfa_required: boolean;
}

export interface SimAssignment {
  /** The stored row this one continues, or null for a copy the plan adds. */
  origin: string | null;
  client_id: string;
  org_unit_id: string | null;
  group_id: string | null;
  user_id: string | null;
  roles: Set<string>;
  granted_by: string;
}

export interface SimRole {
  origin: string | null;
  user_id: string | null;
  client_id: string | null;
  role: string;
  org_unit_id: string | null;
}

export type UnitOperation =
  | { op: 'create'; unit: string; code: string; name: string; kind: OrgUnitKind; parent: string | null }
  | { op: 'move'; unit: string; parent: string }
  | { op: 'set'; unit: string; code: string; name: string }
  | { op: 'close'; unit: string; successor: string | null }
  | { op: 'require_mfa'; unit: string };

/** A line of the dry run: the English the API and the audit log keep, and the catalog entry pages show. The key is stable between runs. */
export interface ReportLine extends Said {
  readonly key: string;
}

/** What happens to something the plan drops or changes against someone's interest. */
export interface Loss extends ReportLine {
  readonly kind: 'person_app_lost' | 'person_app_role_lost' | 'person_mfa_dropped' | 'assignment_dropped' | 'role_assignment_dropped' | 'group_renamed';
}

export const newUnitId = (code: string) => `new:${code}`;

/**
 * The tree and its rights while the steps run, in order. Each step checks what it names against
 * the state left by the steps before it, so a plan is judged as it will be carried out.
 */
export class ReorganizationSimulation {
  readonly units = new Map<string, SimUnit>();
  readonly primary = new Map<string, string | null>();
  readonly concurrent = new Map<string, Set<string>>();
  readonly groups = new Map<string, { unit: string; name: string }>();
  readonly assignments: SimAssignment[];
  readonly roles: SimRole[];
  readonly unitOperations: UnitOperation[] = [];
  readonly losses: Loss[] = [];
  /** Notes on how rights were carried over, by stored row id. */
  readonly assignmentNotes = new Map<string, Said[]>();
  readonly roleNotes = new Map<string, Said[]>();
  /** Per closed or renamed unit: which step did it, for the report. */
  readonly unitChanges = new Map<string, Said[]>();
  private readonly subjects = new Map<string, number>();
  /** The step being simulated, which a refusal names in the page's language as well as in its English label. */
  private stepNumber = 0;
  private readonly usernames: Map<string, string>;
  private readonly snapshot: ReorganizationSnapshot;

  constructor(snapshot: ReorganizationSnapshot) {
    this.snapshot = snapshot;
    for (const unit of snapshot.units) this.units.set(unit.id, { ...unit, successor_id: null });
    for (const person of snapshot.people) this.primary.set(person.id, person.primary_org_unit_id);
    for (const { user_id: userId, org_unit_id: unitId } of snapshot.concurrent) this.concurrent.set(userId, (this.concurrent.get(userId) ?? new Set()).add(unitId));
    for (const group of snapshot.groups) this.groups.set(group.id, { unit: group.org_unit_id, name: group.name });
    this.assignments = snapshot.appAssignments.map((row) => ({ ...row, origin: row.id, roles: new Set(row.roles) }));
    this.roles = snapshot.roleAssignments.map((row) => ({ origin: row.id, user_id: row.user_id, client_id: row.client_id, role: row.role, org_unit_id: row.org_unit_id }));
    this.usernames = new Map(snapshot.people.map((person) => [person.username.toLowerCase(), person.id]));
  }

  run(steps: readonly ReorganizationStep[]): this {
    steps.forEach((step, index) => {
      const label = `step ${index + 1} (${step.kind})`;
      this.stepNumber = index + 1;
      switch (step.kind) {
        case 'merge': this.merge(label, index, step); break;
        case 'split': this.split(label, index, step); break;
        case 'abolish_level': this.abolishLevel(label, index, step); break;
        case 'rename': this.setFields(label, index, this.openUnit(label, step.unit), { name: step.name }, 'renamed'); break;
        case 'recode': this.setFields(label, index, this.openUnit(label, step.unit), { code: step.code }, 'recoded'); break;
      }
    });
    return this;
  }

  // ---- the steps ----

  private merge(label: string, index: number, step: Extract<ReorganizationStep, { kind: 'merge' }>): void {
    const into = this.openUnit(label, step.into);
    const sources = step.units.map((code) => this.openUnit(label, code));
    for (const source of sources) {
      if (source.id === into.id) throw this.refused(`${label}: ${source.code} cannot be merged into itself`, 'problem.plan.step.merge_into_itself', { code: source.code });
      if (this.isWithin(into.id, source.id)) throw this.refused(`${label}: ${source.code} cannot be merged into ${into.code}, which lies inside it`, 'problem.plan.step.merge_into_inner', { code: source.code, into: into.code });
      for (const other of sources) {
        if (other !== source && this.isWithin(other.id, source.id)) throw this.refused(`${label}: ${other.code} lies inside ${source.code}; name only the outer unit`, 'problem.plan.step.merge_nested', { code: other.code, outer: source.code });
      }
    }
    for (const unit of [into, ...sources]) this.claim(label, index, unit);
    for (const source of sources) {
      for (const child of this.openChildren(source.id)) this.move(child, into.id);
      this.movePeople(source.id, () => into.id);
      this.moveGroups(source.id, () => into.id);
      this.carryRights(label, source, [into.id]);
      this.close(source, into.id, localizable(`${label}: merged into ${into.code}`, 'reorg.note.merged_into', { step: String(this.stepNumber), into: into.code }));
    }
    if (step.name !== undefined || step.code !== undefined) this.setFields(label, null, into, { name: step.name, code: step.code }, 'merged');
    const units = sources.map((unit) => unit.code).join(', ');
    this.note(into.id, localizable(`${label}: ${units} merged into it`, 'reorg.note.merged_from', { step: String(this.stepNumber), units }));
  }

  private split(label: string, index: number, step: Extract<ReorganizationStep, { kind: 'split' }>): void {
    const unit = this.openUnit(label, step.unit);
    this.claim(label, index, unit);
    if (unit.parent_id === null) throw this.refused(`${label}: ${unit.code} is the root of the tree and cannot be split`, 'problem.plan.step.split_root', { code: unit.code });
    const partCodes = new Set(step.parts.map((part) => part.code));
    if (partCodes.size !== step.parts.length) throw this.refused(`${label}: two parts have the same code`, 'problem.plan.step.split_same_code', {});
    const partOf = (code: string, what: string): string => {
      if (!partCodes.has(code)) throw this.refused(`${label}: ${what} goes to ${code}, which is not one of the parts (${[...partCodes].join(', ')})`, 'problem.plan.step.split_not_a_part', { what, code, parts: [...partCodes].join(', ') });
      return newUnitId(code);
    };
    const fallback = partOf(step.default_part, 'the default part');
    for (const part of step.parts) {
      this.assertCodeFree(label, part.code, null);
      const created: SimUnit = { id: newUnitId(part.code), code: part.code, name: part.name, kind: part.kind ?? unit.kind, parent_id: unit.parent_id, status: 'active', successor_id: null, mfa_required: false };
      this.units.set(created.id, created);
      this.unitOperations.push({ op: 'create', unit: created.id, code: created.code, name: created.name, kind: created.kind, parent: created.parent_id });
      this.note(created.id, localizable(`${label}: created from ${unit.code}`, 'reorg.note.created_from', { step: String(this.stepNumber), code: unit.code }));
    }
    const children = new Map(this.openChildren(unit.id).map((child) => [child.code.toUpperCase(), child]));
    for (const code of Object.keys(step.children)) {
      if (!children.has(code.toUpperCase())) throw this.refused(`${label}: ${code} is not an open unit directly below ${unit.code}`, 'problem.plan.step.split_not_a_child', { code, unit: unit.code });
    }
    for (const child of children.values()) this.move(child, step.children[child.code] === undefined ? fallback : partOf(step.children[child.code]!, child.code));
    const peopleTo = new Map<string, string>();
    for (const [username, code] of Object.entries(step.people)) {
      const userId = this.usernames.get(username.toLowerCase());
      if (userId === undefined) throw this.refused(`${label}: there is no person with the username ${username}`, 'problem.plan.step.no_such_person', { username });
      peopleTo.set(userId, partOf(code, username));
    }
    this.movePeople(unit.id, (userId) => peopleTo.get(userId) ?? fallback);
    const groupsTo = new Map(Object.entries(step.groups).map(([name, code]) => [name.toLowerCase(), partOf(code, `the group ${name}`)]));
    this.moveGroups(unit.id, (name) => groupsTo.get(name.toLowerCase()) ?? fallback);
    // Each part is a piece of the old unit, so a right over the whole goes to every part: nobody covered before is left out.
    this.carryRights(label, unit, step.parts.map((part) => newUnitId(part.code)));
    const parts = [...partCodes].join(', ');
    this.close(unit, null, localizable(`${label}: split into ${parts}`, 'reorg.note.split_into', { step: String(this.stepNumber), parts }));
  }

  private abolishLevel(label: string, index: number, step: Extract<ReorganizationStep, { kind: 'abolish_level' }>): void {
    const within = step.within === undefined ? null : this.openUnit(label, step.within);
    const abolished = [...this.units.values()].filter((unit) => unit.status === 'active' && unit.kind === step.level_kind && (!within || this.isWithin(unit.id, within.id)));
    if (abolished.length === 0) throw this.refused(`${label}: there is no open unit of kind ${step.level_kind}${within ? ` within ${within.code}` : ''}`, 'problem.plan.step.abolish_none', { kind: step.level_kind });
    const abolishedCodes = new Set(abolished.map((unit) => unit.code.toUpperCase()));
    for (const code of Object.keys(step.successors)) {
      if (!abolishedCodes.has(code.toUpperCase())) throw this.refused(`${label}: ${code} is not one of the units this step abolishes`, 'problem.plan.step.abolish_not_abolished', { code });
    }
    const successorOf = new Map(Object.entries(step.successors).map(([code, target]) => [code.toUpperCase(), target]));
    for (const unit of abolished) {
      this.claim(label, index, unit);
      if (unit.parent_id === null) throw this.refused(`${label}: ${unit.code} is the root of the tree and cannot be abolished`, 'problem.plan.step.abolish_root', { code: unit.code });
    }
    for (const unit of abolished) {
      const parent = unit.parent_id!;
      const targetCode = successorOf.get(unit.code.toUpperCase());
      const successor = targetCode === undefined ? null : this.openUnit(label, targetCode);
      if (successor && abolishedCodes.has(successor.code.toUpperCase())) throw this.refused(`${label}: ${unit.code}'s successor ${successor.code} is abolished by the same step`, 'problem.plan.step.abolish_successor', { code: unit.code, successor: successor.code });
      const direct = this.directPeople(unit.id).length + [...this.groups.values()].filter((group) => group.unit === unit.id).length;
      if (!successor && direct > 0) {
        throw this.refused(`${label}: ${unit.code} has people or groups of its own; name the unit they move to in successors["${unit.code}"]`, 'problem.plan.step.abolish_needs_successor', { code: unit.code });
      }
      const children = this.openChildren(unit.id);
      for (const child of children) this.move(child, this.units.get(parent)!.status === 'active' ? parent : this.heirOf(parent));
      if (successor) {
        this.movePeople(unit.id, () => successor.id);
        this.moveGroups(unit.id, () => successor.id);
      }
      // A right over the abolished unit reached its people and every unit below it: it goes to each
      // unit that moved up and to the successor, which together hold exactly those people.
      const heirs = [...new Set([...children.map((child) => child.id), ...(successor ? [successor.id] : [])])];
      this.carryRights(label, unit, heirs);
      this.close(unit, successor?.id ?? null, successor
        ? localizable(`${label}: level ${step.level_kind} abolished; its people moved to ${successor.code}`, 'reorg.note.level_abolished_to', { step: String(this.stepNumber), level: step.level_kind, code: successor.code })
        : localizable(`${label}: level ${step.level_kind} abolished`, 'reorg.note.level_abolished', { step: String(this.stepNumber), level: step.level_kind }));
    }
  }

  private setFields(label: string, index: number | null, unit: SimUnit, fields: { name?: string | undefined; code?: string | undefined }, why: 'renamed' | 'recoded' | 'merged'): void {
    if (index !== null) this.claim(label, index, unit);
    if (fields.code !== undefined && fields.code.toUpperCase() !== unit.code.toUpperCase()) this.assertCodeFree(label, fields.code, unit.id);
    const before = `${unit.code} "${unit.name}"`;
    unit.code = fields.code ?? unit.code;
    unit.name = fields.name ?? unit.name;
    this.unitOperations.push({ op: 'set', unit: unit.id, code: unit.code, name: unit.name });
    this.note(unit.id, localizable(`${label}: ${why} (was ${before})`, why === 'merged' ? 'reorg.note.merged_renamed' : `reorg.note.${why}`, { step: String(this.stepNumber), before }));
  }

  // ---- what a step does to the things that hang on a unit ----

  private move(unit: SimUnit, parent: string): void {
    unit.parent_id = parent;
    this.unitOperations.push({ op: 'move', unit: unit.id, parent });
  }

  private close(unit: SimUnit, successor: string | null, why: LocalizableMessage): void {
    unit.status = 'closed';
    unit.successor_id = successor;
    this.unitOperations.push({ op: 'close', unit: unit.id, successor });
    this.note(unit.id, why);
  }

  private movePeople(from: string, to: (userId: string) => string): void {
    for (const [userId, unitId] of this.primary) if (unitId === from) this.primary.set(userId, to(userId));
    for (const [userId, units] of this.concurrent) {
      if (units.delete(from)) units.add(to(userId));
      // Serving concurrently in the unit one now belongs to anyway is no second appointment.
      const primary = this.primary.get(userId);
      if (primary !== undefined && primary !== null) units.delete(primary);
    }
  }

  private moveGroups(from: string, to: (name: string) => string): void {
    const fromCode = this.units.get(from)!.code;
    for (const [groupId, group] of this.groups) {
      if (group.unit !== from) continue;
      const target = to(group.name);
      const taken = (name: string) => [...this.groups].some(([id, other]) => id !== groupId && other.unit === target && other.name.toLowerCase() === name.toLowerCase());
      let name = group.name;
      for (let n = 1; taken(name); n += 1) name = `${group.name} (${fromCode}${n > 1 ? ` ${n}` : ''})`;
      if (name !== group.name) {
        const to = this.units.get(target)!.code;
        this.losses.push({
          key: `group_renamed:${groupId}`, kind: 'group_renamed',
          ...said(localizable(`the group "${group.name}" of ${fromCode} meets a group of the same name in ${to}: it is renamed "${name}"`, 'reorg.line.group_renamed', {
            step: String(this.stepNumber), group: group.name, from: fromCode, to, name,
          })),
        });
      }
      this.groups.set(groupId, { unit: target, name });
    }
  }

  /**
   * App assignments, admin roles and the second-factor requirement over a closing unit go to its
   * heirs; with none, the rights are lost, and listed.
   */
  private carryRights(label: string, unit: SimUnit, heirs: readonly string[]): void {
    for (const heir of unit.mfa_required ? heirs.map((id) => this.units.get(id)!) : []) {
      if (heir.mfa_required) continue;
      heir.mfa_required = true;
      this.unitOperations.push({ op: 'require_mfa', unit: heir.id });
      this.note(heir.id, localizable(`${label}: requires a second factor, as ${unit.code} did`, 'reorg.note.requires_mfa', { step: String(this.stepNumber), code: unit.code }));
    }
    for (const assignment of this.assignments.filter((one) => one.org_unit_id === unit.id)) {
      this.assignments.splice(this.assignments.indexOf(assignment), 1);
      const key = assignment.origin ?? `${assignment.client_id}@${unit.id}`;
      if (heirs.length === 0) {
        const app = this.clientName(assignment.client_id);
        this.losses.push({
          key: `assignment_dropped:${key}`, kind: 'assignment_dropped',
          ...said(localizable(`${label}: the assignment of ${app} to ${unit.code} has no unit to go to and ends`, 'reorg.line.assignment_dropped', { step: String(this.stepNumber), app, unit: unit.code })),
        });
        this.noteOn(this.assignmentNotes, assignment.origin, localizable(`${label}: ends with ${unit.code}`, 'reorg.note.ends_with', { step: String(this.stepNumber), code: unit.code }));
        continue;
      }
      for (const heir of heirs) {
        const existing = this.assignments.find((one) => one.client_id === assignment.client_id && one.org_unit_id === heir);
        if (existing) {
          for (const role of assignment.roles) existing.roles.add(role);
          const code = this.units.get(heir)!.code;
          this.noteOn(this.assignmentNotes, assignment.origin, localizable(`${label}: joined with the assignment to ${code}`, 'reorg.note.joined', { step: String(this.stepNumber), code }));
        } else {
          this.assignments.push({ ...assignment, org_unit_id: heir, roles: new Set(assignment.roles) });
          const to = this.units.get(heir)!.code;
          this.noteOn(this.assignmentNotes, assignment.origin, localizable(`${label}: ${unit.code} → ${to}`, 'reorg.note.moved', { step: String(this.stepNumber), from: unit.code, to }));
        }
      }
    }
    for (const role of this.roles.filter((one) => one.org_unit_id === unit.id)) {
      this.roles.splice(this.roles.indexOf(role), 1);
      if (heirs.length === 0) {
        const holder = this.roleHolderName(role);
        this.losses.push({
          key: `role_assignment_dropped:${role.origin ?? `${role.role}@${unit.id}`}`, kind: 'role_assignment_dropped',
          ...said(localizable(`${label}: ${holder} holds ${role.role} over ${unit.code}, which closes with no unit to take its place: the role ends`, 'reorg.line.role_dropped', {
            step: String(this.stepNumber), holder, role: role.role, unit: unit.code,
          })),
        });
        this.noteOn(this.roleNotes, role.origin, localizable(`${label}: ends with ${unit.code}`, 'reorg.note.ends_with', { step: String(this.stepNumber), code: unit.code }));
        continue;
      }
      for (const heir of heirs) {
        const same = this.roles.some((one) => one.user_id === role.user_id && one.client_id === role.client_id && one.role === role.role && one.org_unit_id === heir);
        if (!same) this.roles.push({ ...role, org_unit_id: heir });
        const to = this.units.get(heir)!.code;
        this.noteOn(this.roleNotes, role.origin, same
          ? localizable(`${label}: ${unit.code} → ${to} (already held there)`, 'reorg.note.moved_already_held', { step: String(this.stepNumber), from: unit.code, to })
          : localizable(`${label}: ${unit.code} → ${to}`, 'reorg.note.moved', { step: String(this.stepNumber), from: unit.code, to }));
      }
    }
  }

  // ---- checks and lookups ----

  /** A step the tree does not allow: its English names the step's label, its catalog entry the step's number. */
  private refused<Key extends MessageKey>(english: string, key: Key, params: Omit<Record<MessagePlaceholders<Key>, string>, 'step'>): AppError {
    return invalidPlan({ english, localized: { key, params: { ...params, step: String(this.stepNumber) } } });
  }

  private claim(label: string, index: number, unit: SimUnit): void {
    const earlier = this.subjects.get(unit.id);
    if (earlier !== undefined && earlier !== index) throw this.refused(`${label}: ${unit.code} is already changed by step ${earlier + 1}; a unit may be in one step only`, 'problem.plan.step.unit_in_two_steps', { code: unit.code, earlier: String(earlier + 1) });
    this.subjects.set(unit.id, index);
  }

  openUnit(label: string, code: string): SimUnit {
    const unit = [...this.units.values()].find((one) => one.code.toUpperCase() === code.toUpperCase());
    if (!unit) throw this.refused(`${label}: there is no unit with the code ${code}`, 'problem.plan.step.no_such_unit', { code });
    if (unit.status !== 'active') throw this.refused(`${label}: the unit ${unit.code} is closed${this.subjects.has(unit.id) ? ` by step ${this.subjects.get(unit.id)! + 1}` : ''}`, 'problem.plan.step.unit_closed', { code: unit.code });
    return unit;
  }

  private assertCodeFree(label: string, code: string, except: string | null): void {
    const holder = [...this.units.values()].find((one) => one.id !== except && one.code.toUpperCase() === code.toUpperCase());
    if (holder) throw this.refused(`${label}: the code ${code} is already the code of ${holder.status === 'closed' ? 'the closed unit ' : ''}${holder.name}`, 'problem.plan.step.code_taken', { code, name: holder.name });
  }

  /** Whether `id` is `ancestor` or lies below it. */
  isWithin(id: string, ancestor: string): boolean {
    for (let current: string | null = id; current !== null; current = this.units.get(current)?.parent_id ?? null) {
      if (current === ancestor) return true;
    }
    return false;
  }

  private heirOf(id: string): string {
    let unit = this.units.get(id)!;
    while (unit.status === 'closed' && unit.successor_id) unit = this.units.get(unit.successor_id)!;
    return unit.id;
  }

  private openChildren(id: string): SimUnit[] {
    return [...this.units.values()].filter((unit) => unit.parent_id === id && unit.status === 'active');
  }

  private directPeople(id: string): string[] {
    return [...this.primary].filter(([, unit]) => unit === id).map(([userId]) => userId)
      .concat([...this.concurrent].filter(([, units]) => units.has(id)).map(([userId]) => userId));
  }

  private note(unitId: string, text: LocalizableMessage): void {
    this.unitChanges.set(unitId, [...(this.unitChanges.get(unitId) ?? []), said(text)]);
  }

  private noteOn(notes: Map<string, Said[]>, origin: string | null, text: LocalizableMessage): void {
    if (origin !== null) notes.set(origin, [...(notes.get(origin) ?? []), said(text)]);
  }

  clientName(clientId: string): string {
    return this.snapshot.appAssignments.find((row) => row.client_id === clientId)?.client_name ?? clientId;
  }

  private roleHolderName(role: SimRole): string {
    return this.snapshot.roleAssignments.find((row) => row.id === role.origin)?.holder_name ?? role.user_id ?? role.client_id ?? '';
  }
}
