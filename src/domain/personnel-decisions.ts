import type { Kysely } from 'kysely';
import { z } from 'zod';

import { isUniqueViolation } from '../db/errors.ts';
import { findOrgUnitById } from '../db/queries/org-units.ts';
import {
  addUnitMembership, deleteLapsedAccess, endUnitBoundAccess, findPersonnelDecision, insertPersonnelDecision, listDuePersonnelDecisionIds, listPersonnelDecisions,
  markPersonnelDecisionApplied, markPersonnelDecisionCancelled, recordPersonnelDecisionError, removeUnitMembership, unitBoundAccessOf,
  type PersonnelDecisionRow,
} from '../db/queries/personnel-decisions.ts';
import { lockUser, updateUserFields, type UserDetail, type UserFieldChanges } from '../db/queries/users.ts';
import { personnelDecisionKinds, type Database, type PersonnelDecisionKind, type PersonnelDecisionStatus } from '../db/schema.ts';
import { addLocalizedIssue, AppError, assertThat, conflict, invalidInput, localizable } from '../errors.ts';
import { noOrigin, recordAuditEvent, recordAuditEvents, systemActor, type Actor, type RequestOrigin } from './audit.ts';
import { requirePermission, scopeCovers, scopeOf, subtreeFilter, type AdminContext } from './authorization.ts';
import { auditBase, versionMismatch } from './org-units.ts';
import { idSchema, normalizeName, positionSchema } from './person-fields.ts';
import { applyStatusChange, loadUser, loadUserFor, placeableUnit, type UserAdminDeps } from './users.ts';

/**
 * Joiner, mover, leaver: official personnel decisions (quyết định) change who works where, from
 * their effective date. An admin records one; the governance job applies it on its date (at once,
 * when the date has come). A mover keeps what came from their old unit (its app assignments
 * through the old unit, groups owned there, admin roles over it) for a grace period, so that
 * handing over work does not stop on the first morning; a leaver is disabled through the same path
 * as an admin's disable, which ends every session and token and tells the apps.
 */
export interface PersonnelDecisionDeps extends Pick<UserAdminDeps, 'db' | 'backchannelLogout'> {
  /** Days a mover keeps the access that came from their old unit (MOVER_GRACE_DAYS). */
  readonly moverGraceDays: number;
}

/** Decisions that place the person in a unit, and those that end their service. */
const placing: readonly PersonnelDecisionKind[] = ['appointment', 'transfer', 'concurrent_appointment'];
const leaving: readonly PersonnelDecisionKind[] = ['leave', 'retirement', 'dismissal'];

const calendarDate = z.iso.date('a date written YYYY-MM-DD, such as 2026-07-01');

export const newPersonnelDecisionSchema = z.object({
  kind: z.enum(personnelDecisionKinds, `one of ${personnelDecisionKinds.join(', ')}`),
  user_id: idSchema,
  decision_number: z.string().transform(normalizeName)
    .pipe(z.string().min(1, 'the decision number is required, such as 125/QĐ-UBND').max(100, 'a decision number has at most 100 characters')),
  decision_date: calendarDate,
  effective_date: calendarDate,
  org_unit_id: idSchema.optional().describe('the unit the person is appointed, transferred or concurrently appointed to; not for leavers'),
  position: positionSchema.nullable().optional(),
  note: z.string().trim().max(1000, 'a note has at most 1000 characters').nullable().optional(),
}).superRefine((value, ctx) => {
  const needsUnit = placing.includes(value.kind);
  if (needsUnit && value.org_unit_id === undefined) addLocalizedIssue(ctx, localizable(`a ${value.kind} names the unit the person goes to`, 'problem.decision.unit_missing'), ['org_unit_id']);
  if (!needsUnit && value.org_unit_id !== undefined) addLocalizedIssue(ctx, localizable(`a ${value.kind} names no unit to go to`, 'problem.decision.unit_not_wanted'), ['org_unit_id']);
});

export const decisionNotFound = (id: string) => new AppError('not_found', localizable(`no personnel decision with id ${id}`, 'problem.decision.not_found', { id }), 404);

/** The province's calendar date at `now` (Vietnam is GMT+7 all year): effective dates are the province's. */
export function provinceDate(now: Date): string {
  return new Date(now.getTime() + 7 * 3600 * 1000).toISOString().slice(0, 10);
}

const recordedBy = (actor: Actor) => `${actor.type}:${actor.id ?? ''}`;
const userTarget = (id: string) => ({ type: 'user', id });

/** What the audit log attaches to every change a decision makes. */
function decisionReference(decision: PersonnelDecisionRow) {
  return {
    id: decision.id, kind: decision.kind, number: decision.decision_number, date: decision.decision_date, effective_date: decision.effective_date,
  };
}

/**
 * Records a decision for a person in the admin's subtree, placing them (if it does) in a unit in
 * that subtree. One whose effective date has come is applied at once.
 */
export async function recordPersonnelDecision(
  deps: PersonnelDecisionDeps,
  context: AdminContext,
  input: z.output<typeof newPersonnelDecisionSchema>,
  now = new Date(),
): Promise<PersonnelDecisionRow> {
  const action = 'personnel_decision.record';
  const isLeaving = leaving.includes(input.kind);
  const id = await deps.db.transaction().execute(async (trx) => {
    const user = await loadUserFor(trx, context, input.user_id, isLeaving ? 'users.lifecycle' : 'users.write', action, isLeaving ? 'global_roles' : 'every_role');
    if (input.org_unit_id !== undefined) {
      const unit = await placeableUnit(trx, context, input.org_unit_id, action);
      if (input.kind === 'transfer') assertThat(unit.id !== user.primary_org_unit_id, invalidInput(localizable(`org_unit_id: ${user.username} already works in ${unit.code}`, 'problem.decision.already_works_there', { username: user.username, code: unit.code })));
      if (input.kind === 'concurrent_appointment') {
        const serves = unit.id === user.primary_org_unit_id || user.concurrent_units.some((one) => one.id === unit.id);
        assertThat(!serves, invalidInput(localizable(`org_unit_id: ${user.username} already serves in ${unit.code}`, 'problem.decision.already_serves_there', { username: user.username, code: unit.code })));
      }
    }
    if (isLeaving) assertThat(user.status !== 'disabled', conflict(localizable(`${user.username} is already disabled`, 'problem.decision.already_disabled', { username: user.username })));
    let created: string;
    try {
      created = await insertPersonnelDecision(trx, {
        kind: input.kind, decision_number: input.decision_number, decision_date: input.decision_date, effective_date: input.effective_date,
        user_id: user.id, org_unit_before_id: user.primary_org_unit_id, org_unit_after_id: input.org_unit_id ?? null,
        position: input.position ?? null, note: input.note ?? null, recorded_by: recordedBy(context.principal.actor),
      });
    } catch (error) {
      if (isUniqueViolation(error)) throw conflict(localizable(`decision ${input.decision_number} of ${input.decision_date} is already recorded for ${user.username} (${input.kind})`, 'problem.decision.duplicate', { number: input.decision_number, date: input.decision_date, username: user.username }));
      throw error;
    }
    const decision = (await findPersonnelDecision(trx, created))!;
    await recordAuditEvent(trx, {
      ...auditBase(context), action, target: userTarget(user.id), orgUnitId: input.org_unit_id ?? user.primary_org_unit_id,
      after: { ...decisionReference(decision), org_unit_before_id: decision.org_unit_before_id, org_unit_after_id: decision.org_unit_after_id, position: decision.position },
    });
    return created;
  });
  if (input.effective_date <= provinceDate(now)) await applyPersonnelDecision(deps, id, now, auditBase(context));
  return (await findPersonnelDecision(deps.db, id))!;
}

/**
 * Applies one pending decision in its own transaction; false when it was no longer pending (applied
 * or cancelled meanwhile). A failure (the unit closed since, the last super administrator) leaves
 * it pending with the reason, for the next run and for the admins to see.
 */
export async function applyPersonnelDecision(
  deps: PersonnelDecisionDeps,
  id: string,
  now: Date,
  audit: { actor: Actor; origin: RequestOrigin } = { actor: systemActor, origin: noOrigin },
): Promise<boolean> {
  try {
    return await deps.db.transaction().execute(async (trx) => {
      const decision = await findPersonnelDecision(trx, id, { lock: true });
      if (decision?.status !== 'pending') return false;
      await lockUser(trx, decision.user_id);
      const user = await loadUser(trx, decision.user_id);
      const details = await applyToPerson(trx, deps, decision, user, now, audit);
      await markPersonnelDecisionApplied(trx, id, now);
      await recordAuditEvent(trx, {
        ...audit, action: 'personnel_decision.apply', target: userTarget(user.id), orgUnitId: decision.org_unit_after_id ?? user.primary_org_unit_id,
        details: { decision: decisionReference(decision), ...details },
      });
      return true;
    });
  } catch (error) {
    if (!(error instanceof AppError) || error.status >= 500) throw error;
    await recordPersonnelDecisionError(deps.db, id, error.message);
    return false;
  }
}

/** The change itself, by kind; answers what it did, for the audit event. */
async function applyToPerson(
  trx: Kysely<Database>,
  deps: PersonnelDecisionDeps,
  decision: PersonnelDecisionRow,
  user: UserDetail,
  now: Date,
  audit: { actor: Actor; origin: RequestOrigin },
): Promise<Record<string, unknown>> {
  const reference = { decision: decisionReference(decision) };
  if (leaving.includes(decision.kind)) {
    const after = await applyStatusChange(trx, deps, user, 'disabled', audit, reference);
    return { status_before: user.status, status_after: after.status };
  }
  const unitId = decision.org_unit_after_id!;
  const unit = await findOrgUnitById(trx, unitId);
  assertThat(unit?.status === 'active', conflict(localizable(`the unit ${decision.after_code ?? unitId} is closed; record a decision for a unit that is open`, 'problem.decision.unit_closed', { code: decision.after_code ?? unitId })));
  if (decision.kind === 'concurrent_appointment') {
    await addUnitMembership(trx, user.id, unitId, null);
    await bumpVersion(trx, user, {});
    return { concurrent_unit_added: unitId };
  }

  const changes: UserFieldChanges = {};
  if (user.primary_org_unit_id !== unitId) changes.primary_org_unit_id = unitId;
  if (decision.position !== null && decision.position !== user.position) changes.position = decision.position;
  // The unit they now work in is no longer a concurrent one.
  await removeUnitMembership(trx, user.id, unitId);
  await bumpVersion(trx, user, changes);
  const moved = { org_unit_before_id: user.primary_org_unit_id, org_unit_after_id: unitId, position_before: user.position, position_after: changes.position ?? user.position };

  if (decision.kind === 'transfer') {
    return { ...moved, grace: await keepOldUnitAccessForGrace(trx, deps, user, unitId, now) };
  }
  // An appointment brings back someone who had left or been suspended; one still to activate activates with their link.
  if (user.status === 'suspended' || user.status === 'disabled') {
    await applyStatusChange(trx, deps, await loadUser(trx, user.id), 'active', audit, reference);
    return { ...moved, status_before: user.status, status_after: 'active' };
  }
  return moved;
}

async function bumpVersion(trx: Kysely<Database>, user: UserDetail, changes: UserFieldChanges): Promise<void> {
  assertThat(await updateUserFields(trx, user.id, user.version, changes), versionMismatch('this user'));
}

/**
 * A mover's old unit stays one they serve in, and their groups owned in its subtree and admin
 * roles over it stay theirs, until the grace period ends; then the governance job removes them. What
 * also hangs on a unit they still serve in (above or below it) is theirs anyway, and stays.
 */
async function keepOldUnitAccessForGrace(
  trx: Kysely<Database>,
  deps: PersonnelDecisionDeps,
  user: UserDetail,
  newUnitId: string,
  now: Date,
): Promise<Record<string, unknown> | null> {
  if (user.org_unit === null) return null;
  const endsAt = new Date(now.getTime() + deps.moverGraceDays * 24 * 3600 * 1000);
  const oldPath = user.org_unit.path;
  const newUnit = (await findOrgUnitById(trx, newUnitId))!;
  const stillServed = [newUnit.path, ...user.concurrent_units.filter((unit) => unit.id !== newUnitId).map((unit) => unit.path)];
  const related = (path: string) => stillServed.some((served) => served.startsWith(path) || path.startsWith(served));
  const fromOldUnit = (await unitBoundAccessOf(trx, user.id)).filter((item) => item.org_unit_path.startsWith(oldPath) && !related(item.org_unit_path));
  await addUnitMembership(trx, user.id, user.org_unit.id, endsAt);
  await endUnitBoundAccess(trx, user.id, fromOldUnit, endsAt);
  return {
    ends_at: endsAt.toISOString(), old_unit_id: user.org_unit.id,
    groups: fromOldUnit.filter((item) => item.kind === 'group').map((item) => item.name),
    roles: fromOldUnit.filter((item) => item.kind === 'role').map((item) => item.name),
  };
}

/** Applies every pending decision whose date has come; each in its own transaction, so one failure stops no other. */
export async function applyDuePersonnelDecisions(deps: PersonnelDecisionDeps, now: Date): Promise<{ applied: number; failed: number }> {
  let applied = 0;
  let failed = 0;
  for (const id of await listDuePersonnelDecisionIds(deps.db, provinceDate(now))) {
    if (await applyPersonnelDecision(deps, id, now)) applied += 1;
    else failed += 1;
  }
  return { applied, failed };
}

/**
 * Ends what movers kept of their old units once the grace period is over: the old unit's
 * membership, the groups owned there, the admin roles over it. One transaction, one audit event per
 * person. Their next refresh or userinfo call at an app that only the old unit opened fails.
 */
export async function endLapsedMoverAccess(deps: Pick<PersonnelDecisionDeps, 'db'>, now: Date): Promise<{ people: number }> {
  return deps.db.transaction().execute(async (trx) => {
    const lapsed = await deleteLapsedAccess(trx, now);
    await recordAuditEvents(trx, lapsed.map((person) => ({
      actor: systemActor, origin: noOrigin, action: 'user.mover_grace_ended', target: userTarget(person.user_id), orgUnitId: person.units[0] ?? null,
      before: { org_unit_ids: person.units, group_ids: person.groups, roles: person.roles },
    })));
    return { people: lapsed.length };
  });
}

/**
 * Reading a decision needs `users.read` over the unit the person was in or the one they go to (the
 * receiving unit's admins see who is coming). Cancelling one needs `users.write` over both, as
 * recording it did: nobody undoes a decision they could not have made.
 */
function requireOverDecision(context: AdminContext, decision: PersonnelDecisionRow, permission: 'users.read' | 'users.write', action: string): void {
  const paths = [decision.before_path, decision.after_path];
  const refusal = {
    action, target: { type: 'personnel_decision', id: decision.id }, orgUnitId: decision.org_unit_after_id ?? decision.org_unit_before_id,
    message: localizable('this decision concerns units outside the part of the org tree you administer', 'problem.decision.outside_scope'),
  };
  if (permission === 'users.read') requirePermission(context.principal, permission, paths, refusal);
  else for (const path of paths.filter((one, index) => one !== null || index === 0)) requirePermission(context.principal, permission, path, refusal);
}

export async function getPersonnelDecision(deps: Pick<PersonnelDecisionDeps, 'db'>, context: AdminContext, id: string): Promise<PersonnelDecisionRow> {
  const decision = await findPersonnelDecision(deps.db, id);
  assertThat(decision, decisionNotFound(id));
  requireOverDecision(context, decision, 'users.read', 'personnel_decision.read');
  return decision;
}

export async function listPersonnelDecisionsInScope(
  deps: Pick<PersonnelDecisionDeps, 'db'>,
  context: AdminContext,
  filter: {
    status?: PersonnelDecisionStatus | undefined; kind?: PersonnelDecisionKind | undefined; userId?: string | undefined; futureOnly?: boolean | undefined;
    after?: { effective_date: string; id: string } | undefined; limit: number;
  },
  now = new Date(),
): Promise<PersonnelDecisionRow[]> {
  return listPersonnelDecisions(deps.db, {
    subtrees: subtreeFilter(scopeOf(context.principal, 'users.read')),
    status: filter.status, kind: filter.kind, userId: filter.userId,
    effectiveAfter: filter.futureOnly ? provinceDate(now) : undefined,
    after: filter.after, limit: filter.limit,
  });
}

/** Cancels a decision not yet applied; it will never be. */
export async function cancelPersonnelDecision(deps: Pick<PersonnelDecisionDeps, 'db'>, context: AdminContext, id: string): Promise<PersonnelDecisionRow> {
  return deps.db.transaction().execute(async (trx) => {
    const decision = await findPersonnelDecision(trx, id, { lock: true });
    assertThat(decision, decisionNotFound(id));
    requireOverDecision(context, decision, 'users.write', 'personnel_decision.cancel');
    assertThat(decision.status === 'pending', conflict(localizable(`this decision is already ${decision.status}; an applied decision is undone by another decision`, 'problem.decision.not_pending')));
    await markPersonnelDecisionCancelled(trx, id, recordedBy(context.principal.actor));
    await recordAuditEvent(trx, {
      ...auditBase(context), action: 'personnel_decision.cancel', target: userTarget(decision.user_id),
      orgUnitId: decision.org_unit_after_id ?? decision.org_unit_before_id, details: { decision: decisionReference(decision) },
    });
    return (await findPersonnelDecision(trx, id))!;
  });
}

/** Whether the admin may record decisions for people in this unit (the console shows the form only then). */
export function mayRecordDecisions(context: AdminContext, unitPath: string | null): boolean {
  return scopeCovers(scopeOf(context.principal, 'users.write'), unitPath);
}
