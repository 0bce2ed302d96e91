import { randomUUID } from 'node:crypto';

import { z } from 'zod';

import { findUnitInactivityPolicy, listIdleAccounts, markInactivityWarned, setUnitInactivityPolicy, type InactivityDays, type UnitInactivityPolicy } from '../db/queries/inactivity.ts';
import { insertOutboxMails } from '../db/queries/mail-outbox.ts';
import { findOrgUnitById } from '../db/queries/org-units.ts';
import { lockUser } from '../db/queries/users.ts';
import { AppError, assertThat, localizable } from '../errors.ts';
import { noOrigin, recordAuditEvent, recordAuditEvents, systemActor } from './audit.ts';
import { requirePermission, type AdminContext } from './authorization.ts';
import { auditBase, orgUnitNotFound } from './org-units.ts';
import { applyStatusChange, loadUser, type UserAdminDeps } from './users.ts';

/**
 * Accounts nobody uses are accounts someone else may take over. After N days without a login the
 * person is warned by mail (once for each stretch without a login); after M days the account is
 * suspended, through the same path as an admin's suspension. N and M are set per unit: the nearest
 * unit at or above the person's with a setting wins, else the province's default (configuration).
 * People who never signed in count from their activation, or their account's creation.
 */
export interface InactivityDeps extends Pick<UserAdminDeps, 'db' | 'backchannelLogout'> {
  readonly inactivityDefaults: InactivityDays;
}

/** The warning names the day of suspension; where the policy never suspends, the other one only asks to sign in. */
export const inactivityWarningMailTemplates = { suspension: 'inactivity_warning', noSuspension: 'inactivity_reminder' } as const;

const days = z.number().int().min(0, 'days are 0 (off) or more').max(3650, 'at most 3650 days (ten years)');

export const unitInactivityPolicySchema = z.object({
  warn_days: days.nullable().describe('days without a login before the warning mail; 0: no warning here; null: as the unit above'),
  suspend_days: days.nullable().describe('days without a login before suspension; 0: never here; null: as the unit above'),
});

const dayMs = 24 * 3600 * 1000;

/** When someone warned at `now` is suspended if they do not sign in (see listIdleAccounts: never without notice). */
function suspensionDay(person: { idle_since: Date; warn_days: number; suspend_days: number }, now: Date): Date {
  const threshold = person.idle_since.getTime() + person.suspend_days * dayMs;
  const notice = person.warn_days > 0 && person.warn_days < person.suspend_days ? now.getTime() + (person.suspend_days - person.warn_days) * dayMs : 0;
  return new Date(Math.max(threshold, notice));
}

/** Warns and suspends whom the policy says at `now`: warnings in one transaction, each suspension in its own. */
export async function applyInactivityPolicy(deps: InactivityDeps, now: Date): Promise<{ warned: number; suspended: number; failed: number }> {
  const idle = await listIdleAccounts(deps.db, now, deps.inactivityDefaults);
  const toWarn = idle.filter((person) => person.due === 'warn');
  await deps.db.transaction().execute(async (trx) => {
    await insertOutboxMails(trx, toWarn.filter((person) => person.email !== null).map((person) => ({
      id: randomUUID(), recipient: person.email!, secret_sealed: null,
      template: person.suspend_days > 0 ? inactivityWarningMailTemplates.suspension : inactivityWarningMailTemplates.noSuspension,
      params: {
        user_id: person.id, username: person.username, full_name: person.full_name,
        // The day the account will be suspended, if nobody signs in before: the threshold, or the end of
        // the notice this warning gives when the threshold has already passed.
        expires_at: person.suspend_days > 0 ? suspensionDay(person, now).toISOString() : null,
      },
    })));
    await markInactivityWarned(trx, toWarn.map((person) => person.id), now);
    await recordAuditEvents(trx, toWarn.map((person) => ({
      actor: systemActor, origin: noOrigin, action: 'user.inactivity_warning', target: { type: 'user', id: person.id }, orgUnitId: person.primary_org_unit_id,
      details: { idle_since: person.idle_since.toISOString(), warn_days: person.warn_days, suspend_days: person.suspend_days, mailed: person.email !== null },
    })));
  });
  let suspended = 0;
  let failed = 0;
  for (const person of idle.filter((one) => one.due === 'suspend')) {
    try {
      await deps.db.transaction().execute(async (trx) => {
        await lockUser(trx, person.id);
        const current = await loadUser(trx, person.id);
        if (current.status !== 'active') return;
        await applyStatusChange(trx, deps, current, 'suspended', { actor: systemActor, origin: noOrigin }, {
          reason: 'inactivity', idle_since: person.idle_since.toISOString(), suspend_days: person.suspend_days,
        });
      });
      suspended += 1;
    } catch (error) {
      // The last active super administrator is never suspended by a rule; everyone else still is.
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      failed += 1;
    }
  }
  return { warned: toWarn.length, suspended, failed };
}

const policyTarget = (unitId: string) => ({ type: 'org_unit', id: unitId });

async function unitPolicyFor(deps: InactivityDeps, context: AdminContext, unitId: string, permission: 'org_units.read' | 'org_units.write', action: string) {
  const unit = await findOrgUnitById(deps.db, unitId);
  assertThat(unit, orgUnitNotFound(unitId));
  requirePermission(context.principal, permission, unit.path, {
    action, target: policyTarget(unitId), orgUnitId: unitId, message: localizable('this unit is outside the part of the org tree you administer', 'problem.org_unit.outside_scope'),
  });
  return (await findUnitInactivityPolicy(deps.db, unitId, deps.inactivityDefaults))!;
}

export async function getUnitInactivityPolicy(deps: InactivityDeps, context: AdminContext, unitId: string): Promise<UnitInactivityPolicy> {
  return unitPolicyFor(deps, context, unitId, 'org_units.read', 'org_unit.inactivity_policy.read');
}

/** Sets a unit's own settings, for its whole subtree (where no unit below has its own). */
export async function setUnitInactivity(
  deps: InactivityDeps,
  context: AdminContext,
  unitId: string,
  input: z.output<typeof unitInactivityPolicySchema>,
): Promise<UnitInactivityPolicy> {
  const action = 'org_unit.inactivity_policy';
  const before = await unitPolicyFor(deps, context, unitId, 'org_units.write', action);
  return deps.db.transaction().execute(async (trx) => {
    await setUnitInactivityPolicy(trx, unitId, { warnDays: input.warn_days, suspendDays: input.suspend_days });
    await recordAuditEvent(trx, {
      ...auditBase(context), action, target: policyTarget(unitId), orgUnitId: unitId,
      before: { warn_days: before.warn_days, suspend_days: before.suspend_days }, after: { warn_days: input.warn_days, suspend_days: input.suspend_days },
    });
    return (await findUnitInactivityPolicy(trx, unitId, deps.inactivityDefaults))!;
  });
}
