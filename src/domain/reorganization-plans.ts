import type { Kysely } from 'kysely';
import { z } from 'zod';

import { insertAppAssignment } from '../db/queries/app-access.ts';
import { lockOrgTree } from '../db/queries/org-units.ts';
import { redirectPendingDecisions } from '../db/queries/personnel-decisions.ts';
import {
  deleteAppAssignmentsForPlan, deleteRoleAssignmentsForPlan, dueReorganizationPlanIds, findReorganizationPlan, insertReorganizationPlan,
  insertUnitForPlan, insertUnitHistory, listReorganizationPlans, orgTreeAt, loadReorganizationSnapshot, lockOpenOrgUnits, moveSubtreeUnder,
  endingMemberships, placeGroupForPlan, placePersonForPlan, recordReorganizationFailure, setUnitForPlan, unitStates, updateAppAssignmentForPlan,
  updateReorganizationPlan, updateRoleAssignmentForPlan, type HistoricUnit, type PlanFields,
} from '../db/queries/reorganization-plans.ts';
import { insertRoleAssignment } from '../db/queries/role-assignments.ts';
import { findSodViolations } from '../db/queries/separation-of-duties.ts';
import type { AdminRole, Database, ReorganizationPlan, ReorganizationPlanStatus } from '../db/schema.ts';
import { AppError, assertThat, conflict, invalidInput, localizable } from '../errors.ts';
import { recordAuditEvent, systemActor, noOrigin } from './audit.ts';
import { requirePermission, type AdminContext } from './authorization.ts';
import { auditBase, versionMismatch } from './org-units.ts';
import { computeReorganization, type ReorganizationReport } from './reorganization-report.ts';
import { invalidPlan, reorganizationStepSchema, type ReorganizationStep } from './reorganization-steps.ts';

/**
 * Reorganization plans: a global administrator writes the steps (merge, split, abolish a level,
 * rename, re-code), each from its decision, with one effective date; reads the dry run; schedules
 * the plan, accepting the losses the dry run lists; and on the date the governance job applies it
 * in one transaction. A plan can be cancelled until then.
 *
 * Why global administrators only, not unit admins within their subtree: a reorganization moves
 * app assignments and admin roles that others granted, widens some of them (a merged unit's
 * assignments reach the people of the unit it merged into), and changes what every app is told
 * about where people work. Those are decisions for the province, audited as one; a unit admin's
 * day-to-day changes to their own units stay with the org tree (org-units.ts).
 */
export interface ReorganizationDeps {
  readonly db: Kysely<Database>;
}

export const newReorganizationPlanSchema = z.object({
  name: z.string().trim().min(1, 'a plan needs a name').max(300),
  effective_date: z.iso.date('the effective date is written YYYY-MM-DD'),
  steps: z.array(reorganizationStepSchema).max(100).default([]),
});

export const planNotFound = (id: string) => new AppError('not_found', localizable(`no reorganization plan with id ${id}`, 'problem.plan.not_found', { id }), 404);
const target = (id: string) => ({ type: 'reorganization_plan', id });
const actorOf = (context: AdminContext) => `${context.principal.actor.type}:${context.principal.actor.id ?? ''}`;

function requirePlanner(context: AdminContext, action: string, id?: string): void {
  requirePermission(context.principal, 'org_units.reorganize', null, {
    action, ...(id ? { target: target(id) } : {}), message: localizable('reorganizing the org tree concerns the whole province: it needs a global super administrator', 'problem.plan.needs_super_admin'),
  });
}

function requireReader(context: AdminContext, action: string, id?: string): void {
  requirePermission(context.principal, 'org_units.read', null, {
    action, ...(id ? { target: target(id) } : {}), message: localizable('reorganization plans span the whole province: reading them needs a global role', 'problem.plan.read_needs_global'),
  });
}

export const stepsOf = (plan: ReorganizationPlan): ReorganizationStep[] => z.array(reorganizationStepSchema).parse(plan.steps);

async function loadPlan(db: Kysely<Database>, id: string, options: { forUpdate?: boolean } = {}): Promise<ReorganizationPlan> {
  const plan = await findReorganizationPlan(db, id, options);
  assertThat(plan, () => planNotFound(id));
  return plan;
}

/** The dry run of these steps against the tree as it is now (within the transaction given). */
export async function dryRunSteps(db: Kysely<Database>, steps: readonly ReorganizationStep[]): Promise<ReorganizationReport> {
  return computeReorganization(await loadReorganizationSnapshot(db), steps);
}

export async function createReorganizationPlan(deps: ReorganizationDeps, context: AdminContext, input: z.output<typeof newReorganizationPlanSchema>): Promise<ReorganizationPlan> {
  requirePlanner(context, 'reorganization.create');
  return deps.db.transaction().execute(async (trx) => {
    // A malformed step is refused now, naming it, rather than on the night the plan should apply.
    await dryRunSteps(trx, input.steps);
    const plan = await insertReorganizationPlan(trx, { name: input.name, effective_date: input.effective_date, steps: input.steps, created_by: actorOf(context) });
    await recordAuditEvent(trx, { ...auditBase(context), action: 'reorganization.create', target: target(plan.id), after: { name: plan.name, effective_date: plan.effective_date, steps: input.steps } });
    return plan;
  });
}

/** Adds a step at the end (`step`) or removes one (`removeIndex`, from 0) of a draft plan. */
export async function changeReorganizationSteps(
  deps: ReorganizationDeps,
  context: AdminContext,
  id: string,
  expectedVersion: number | undefined,
  change: { step: ReorganizationStep } | { removeIndex: number },
): Promise<ReorganizationPlan> {
  requirePlanner(context, 'reorganization.update', id);
  return deps.db.transaction().execute(async (trx) => {
    const plan = await loadPlan(trx, id, { forUpdate: true });
    assertThat(plan.status === 'draft', () => conflict(localizable(`the plan is ${plan.status}; only a draft plan's steps can change`, 'problem.plan.not_draft')));
    assertThat(expectedVersion === undefined || expectedVersion === plan.version, versionMismatch('this plan'));
    const steps = stepsOf(plan);
    if ('step' in change) steps.push(change.step);
    else {
      assertThat(change.removeIndex < steps.length, () => new AppError('not_found', localizable(`the plan has no step ${change.removeIndex + 1}`, 'problem.plan.no_such_step', { step: String(change.removeIndex + 1) }), 404));
      steps.splice(change.removeIndex, 1);
    }
    await dryRunSteps(trx, steps);
    const updated = await updateReorganizationPlan(trx, id, plan.version, { steps });
    assertThat(updated, versionMismatch('this plan'));
    await recordAuditEvent(trx, { ...auditBase(context), action: 'reorganization.update', target: target(id), before: { steps: plan.steps }, after: { steps } });
    return updated;
  });
}

export async function getReorganizationPlan(deps: ReorganizationDeps, context: AdminContext, id: string): Promise<ReorganizationPlan> {
  requireReader(context, 'reorganization.read', id);
  return loadPlan(deps.db, id);
}

export async function listReorganizationPlansInScope(
  deps: ReorganizationDeps,
  context: AdminContext,
  filter: { status?: ReorganizationPlanStatus | undefined; afterId?: string | undefined; limit: number },
): Promise<ReorganizationPlan[]> {
  requireReader(context, 'reorganization.read');
  return listReorganizationPlans(deps.db, filter);
}

/**
 * What the plan does: for an applied plan, the report it was carried out by; otherwise the dry run
 * against the tree as it is now.
 */
export async function reorganizationDryRun(deps: ReorganizationDeps, context: AdminContext, id: string): Promise<{ plan: ReorganizationPlan; report: ReorganizationReport }> {
  const plan = await getReorganizationPlan(deps, context, id);
  if (plan.status === 'applied' && plan.applied_report) return { plan, report: plan.applied_report as unknown as ReorganizationReport };
  return { plan, report: await dryRunSteps(deps.db, stepsOf(plan)) };
}

/**
 * Schedules a draft plan (or confirms a scheduled one again): the losses its dry run lists now are
 * the ones the admin accepts. On the day, the job applies it only if it loses nothing more.
 */
export async function scheduleReorganizationPlan(deps: ReorganizationDeps, context: AdminContext, id: string, expectedVersion: number | undefined): Promise<ReorganizationPlan> {
  requirePlanner(context, 'reorganization.schedule', id);
  return deps.db.transaction().execute(async (trx) => {
    const plan = await loadPlan(trx, id, { forUpdate: true });
    assertThat(plan.status === 'draft' || plan.status === 'scheduled', () => conflict(localizable(`the plan is ${plan.status}; only a draft plan can be scheduled`, 'problem.plan.schedule_not_draft')));
    assertThat(expectedVersion === undefined || expectedVersion === plan.version, versionMismatch('this plan'));
    const steps = stepsOf(plan);
    assertThat(steps.length > 0, () => invalidPlan(localizable('the plan has no steps yet', 'problem.plan.no_steps')));
    const report = await dryRunSteps(trx, steps);
    assertNoSodConflicts(report);
    const fields: PlanFields = { status: 'scheduled', scheduled_by: actorOf(context), scheduled_at: new Date(), accepted_losses: report.losses.map((loss) => ({ ...loss })), last_error: null };
    const updated = await updateReorganizationPlan(trx, id, plan.version, fields);
    assertThat(updated, versionMismatch('this plan'));
    await recordAuditEvent(trx, {
      ...auditBase(context), action: 'reorganization.schedule', target: target(id),
      after: { effective_date: plan.effective_date, totals: report.totals, accepted_losses: report.losses.map((loss) => loss.message) },
    });
    return updated;
  });
}

export async function cancelReorganizationPlan(deps: ReorganizationDeps, context: AdminContext, id: string, expectedVersion: number | undefined): Promise<ReorganizationPlan> {
  requirePlanner(context, 'reorganization.cancel', id);
  return deps.db.transaction().execute(async (trx) => {
    const plan = await loadPlan(trx, id, { forUpdate: true });
    assertThat(plan.status === 'draft' || plan.status === 'scheduled', () => conflict(localizable(`the plan is ${plan.status} and can no longer be cancelled`, 'problem.plan.not_cancellable')));
    assertThat(expectedVersion === undefined || expectedVersion === plan.version, versionMismatch('this plan'));
    const updated = await updateReorganizationPlan(trx, id, plan.version, { status: 'cancelled', cancelled_by: actorOf(context), cancelled_at: new Date() });
    assertThat(updated, versionMismatch('this plan'));
    await recordAuditEvent(trx, { ...auditBase(context), action: 'reorganization.cancel', target: target(id), before: { status: plan.status } });
    return updated;
  });
}

/** Enough to hold every violation a province could have standing; the check compares them by rule and person. */
const sodCheckLimit = 100_000;

/** Separation of duties holds through a reorganization too: a plan that would break a rule is not scheduled or applied. */
function assertNoSodConflicts(report: ReorganizationReport): void {
  assertThat(report.sod_conflicts.length === 0, () => invalidPlan(
    `the plan would break separation of duties: ${report.sod_conflicts.map((conflict) => conflict.message).join('; ')}. Change the plan, or the assignments, first`,
  ));
}

/**
 * The whole tree as it stood at `at` (a date: at its end, Vietnam time): for global roles, since
 * it spans the province.
 */
export async function orgTreeAsItStood(deps: ReorganizationDeps, context: AdminContext, at: string): Promise<HistoricUnit[]> {
  requirePermission(context.principal, 'org_units.read', null, { action: 'org_tree.history', message: localizable('the tree\'s history spans the whole province: it needs a global role', 'problem.plan.history_needs_global') });
  // A date means the whole of that day: the tree as it stood when the day ended, Vietnam time.
  const instant = /^\d{4}-\d{2}-\d{2}$/.test(at) ? new Date(Date.parse(`${at}T00:00:00+07:00`) + 24 * 3600 * 1000 - 1) : new Date(at);
  assertThat(!Number.isNaN(instant.getTime()), () => invalidInput(`${at} is not a date (YYYY-MM-DD) or an instant`));
  return orgTreeAt(deps.db, instant);
}

/** Vietnam's calendar date at `now` (UTC+7 all year: no daylight saving). */
export function vietnamDate(now: Date): string {
  return new Date(now.getTime() + 7 * 3600 * 1000).toISOString().slice(0, 10);
}

export interface ReorganizationJobResult {
  readonly applied: string[];
  /** Plans due but not applied, with the reason; they stay scheduled and are tried again on the next run. */
  readonly held: { id: string; error: string }[];
}

/**
 * The scheduled job's step: applies every scheduled plan whose effective date has come, each in
 * its own transaction. A plan is applied once: the job locks its row and applies it only while it
 * is still scheduled, so two nodes, or two runs, cannot both apply it.
 */
export async function applyDueReorganizationPlans(deps: ReorganizationDeps, now: Date): Promise<ReorganizationJobResult> {
  const result: ReorganizationJobResult = { applied: [], held: [] };
  for (const id of await dueReorganizationPlanIds(deps.db, vietnamDate(now))) {
    try {
      if (await deps.db.transaction().execute((trx) => applyPlan(trx, id, vietnamDate(now)))) result.applied.push(id);
    } catch (error) {
      const message = error instanceof AppError && error.expose ? error.message : `the plan could not be applied: ${error instanceof Error ? error.message : String(error)}`;
      await recordReorganizationFailure(deps.db, id, message);
      result.held.push({ id, error: message });
    }
  }
  return result;
}

async function applyPlan(trx: Kysely<Database>, id: string, today: string): Promise<boolean> {
  const plan = await loadPlan(trx, id, { forUpdate: true });
  if (plan.status !== 'scheduled' || plan.effective_date > today) return false;
  await lockOrgTree(trx);
  await lockOpenOrgUnits(trx);
  // The same computation as the dry run, on the tree as it is at this moment, inside the transaction.
  const report = await dryRunSteps(trx, stepsOf(plan));
  const accepted = new Set((plan.accepted_losses ?? []).map((loss) => String(loss['key'])));
  const unforeseen = report.losses.filter((loss) => !accepted.has(loss.key));
  assertThat(unforeseen.length === 0, () => invalidPlan(
    `since the plan was scheduled, its dry run has come to lose more: ${unforeseen.map((loss) => loss.message).join('; ')}. Review the dry run and schedule the plan again, or cancel it`,
  ));
  assertNoSodConflicts(report);
  const breachesBefore = new Set((await findSodViolations(trx, { subtrees: null }, sodCheckLimit)).map((one) => `${one.rule_id} ${one.user_id}`));
  const changedAt = new Date();
  await executeOperations(trx, plan.id, report, changedAt);
  // The database's own reading of the rules, after the change: what the dry run missed is not carried out either.
  const breach = (await findSodViolations(trx, { subtrees: null }, sodCheckLimit)).find((one) => !breachesBefore.has(`${one.rule_id} ${one.user_id}`));
  assertThat(!breach, () => invalidPlan(localizable(`the plan would give ${breach!.full_name} (${breach!.username}) two roles that the separation-of-duties rule "${breach!.rule_name}" forbids`,
    'problem.plan.sod_breach', { person: breach!.full_name, username: breach!.username, rule: breach!.rule_name })));
  await updateReorganizationPlan(trx, id, plan.version, { status: 'applied', applied_at: changedAt, applied_report: report as unknown as Record<string, unknown>, last_error: null });
  await recordAuditEvent(trx, {
    actor: systemActor, origin: noOrigin, action: 'reorganization.apply', target: target(id),
    details: {
      name: plan.name, effective_date: plan.effective_date, scheduled_by: plan.scheduled_by, steps: plan.steps, totals: report.totals,
      losses: report.losses.map((loss) => loss.message),
      units: report.units.map((unit) => ({ id: unit.id, before: unit.before?.code ?? null, after: unit.after.code, status: unit.after.status, successor: unit.successor_code })),
    },
  });
  return true;
}

/** Carries out the report's operations, in its order; units the plan creates get their ids here. */
async function executeOperations(trx: Kysely<Database>, planId: string, report: ReorganizationReport, changedAt: Date): Promise<void> {
  const created = new Map<string, string>();
  const real = (ref: string) => created.get(ref) ?? ref;
  const existing = report.units.filter((unit) => unit.before !== null).map((unit) => unit.id);
  const before = await unitStates(trx, existing);
  for (const operation of report.operations.units) {
    switch (operation.op) {
      case 'create':
        created.set(operation.unit, await insertUnitForPlan(trx, { code: operation.code, name: operation.name, kind: operation.kind, parentId: operation.parent === null ? null : real(operation.parent) }));
        break;
      case 'move': await moveSubtreeUnder(trx, real(operation.unit), real(operation.parent)); break;
      case 'set': await setUnitForPlan(trx, real(operation.unit), { code: operation.code, name: operation.name }); break;
      case 'require_mfa': await setUnitForPlan(trx, real(operation.unit), { mfa_required: true }); break;
      case 'close':
        await setUnitForPlan(trx, real(operation.unit), { status: 'closed', closed_at: changedAt, successor_id: operation.successor === null ? null : real(operation.successor) });
        // A transfer decided before the reform, into a unit the reform closes, lands in its successor.
        if (operation.successor !== null) await redirectPendingDecisions(trx, real(operation.unit), real(operation.successor));
        break;
    }
  }
  // A membership the plan carries to a closed unit's successor keeps its end: a mover's grace period
  // in a unit that merges away ends when it would have, not never.
  const successors = new Map(report.operations.units.flatMap((operation) => (operation.op === 'close' ? [[real(operation.unit), operation.successor === null ? null : real(operation.successor)] as const] : [])));
  const heirOf = (unitId: string) => {
    let unit = unitId;
    for (let hops = 0; successors.get(unit) && hops < successors.size; hops += 1) unit = successors.get(unit)!;
    return unit;
  };
  const ending = await endingMemberships(trx);
  for (const person of report.operations.people) {
    const ends = ending.get(person.user_id);
    const add = person.concurrent_add.map(real).map((unitId) => {
      const from = person.concurrent_remove.filter((removed) => heirOf(removed) === unitId);
      // Permanent if it comes from a permanent membership, or from none (a new appointment the plan makes).
      const endsAt = from.length > 0 && from.every((removed) => ends?.has(removed))
        ? new Date(Math.max(...from.map((removed) => ends!.get(removed)!.getTime())))
        : null;
      return { unitId, endsAt };
    });
    await placePersonForPlan(trx, { userId: person.user_id, primary: person.primary === null ? null : real(person.primary), add, remove: person.concurrent_remove });
  }
  for (const group of report.operations.groups) await placeGroupForPlan(trx, group.group_id, real(group.org_unit), group.name);

  const assignments = report.operations.app_assignments;
  await deleteAppAssignmentsForPlan(trx, assignments.flatMap((one) => (one.op === 'delete' ? [one.id] : [])));
  for (const one of assignments) {
    if (one.op === 'update') await updateAppAssignmentForPlan(trx, one.id, real(one.org_unit), one.roles);
    if (one.op === 'insert') {
      const inserted = await insertAppAssignment(trx, { client_id: one.client_id, org_unit_id: real(one.org_unit), group_id: null, user_id: null, roles: one.roles, granted_by: one.granted_by });
      // The dry run said this unit had no assignment of the app; if one is there, the tree changed under the plan.
      assertThat(inserted, () => conflict(`the assignment of ${one.client_id} could not be carried to ${one.org_unit}: try the plan again`));
    }
  }
  const roles = report.operations.role_assignments;
  await deleteRoleAssignmentsForPlan(trx, roles.flatMap((one) => (one.op === 'delete' ? [one.id] : [])));
  for (const one of roles) {
    if (one.op === 'update') await updateRoleAssignmentForPlan(trx, one.id, real(one.org_unit));
    if (one.op === 'insert') {
      const holder = one.user_id !== null ? { userId: one.user_id } : { clientId: one.client_id! };
      await insertRoleAssignment(trx, holder, { role: one.role as AdminRole, orgUnitId: real(one.org_unit), grantedBy: 'system' });
    }
  }

  const after = await unitStates(trx, existing);
  await insertUnitHistory(trx, existing.map((unitId) => ({ org_unit_id: unitId, plan_id: planId, changed_at: changedAt, before: before.get(unitId)!, after: after.get(unitId)! })));
}
