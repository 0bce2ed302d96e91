import { sql, type Kysely } from 'kysely';

import type { Database } from '../schema.ts';

/** Days without a login before the warning and before suspension; 0 is off. */
export interface InactivityDays {
  readonly warnDays: number;
  readonly suspendDays: number;
}

/** The nearest unit at or above `home` (a unit id column) with the setting, else the default. */
const nearestSetting = (column: 'inactivity_warn_days' | 'inactivity_suspend_days', home: ReturnType<typeof sql.ref>, fallback: number) => sql<number>`coalesce((
    select above.${sql.ref(column)} from org_units above, org_units here
    where here.id = ${home} and above.${sql.ref(column)} is not null and left(here.path, length(above.path)) = above.path
    order by above.depth desc limit 1), ${fallback}::int)`;

export interface IdleAccount {
  readonly id: string;
  readonly username: string;
  readonly full_name: string;
  readonly email: string | null;
  readonly primary_org_unit_id: string | null;
  /** The last login, or the activation (or re-enabling, or creation) when that came later. */
  readonly idle_since: Date;
  readonly warn_days: number;
  readonly suspend_days: number;
  /** suspend: past the suspension threshold, and warned long enough ago; warn: past the warning one and not yet warned for this stretch. */
  readonly due: 'warn' | 'suspend';
}

/** Active people the inactivity policy has something to say about at `now`. */
export async function listIdleAccounts(db: Kysely<Database>, now: Date, defaults: InactivityDays): Promise<IdleAccount[]> {
  const { rows } = await sql<IdleAccount>`
    with idle as (
      select u.id, u.username, u.full_name, u.email, u.primary_org_unit_id, u.inactivity_warned_at,
        greatest(coalesce(u.last_login_at, u.created_at), coalesce(u.active_since, u.created_at)) as idle_since,
        ${nearestSetting('inactivity_warn_days', sql.ref('u.primary_org_unit_id'), defaults.warnDays)} as warn_days,
        ${nearestSetting('inactivity_suspend_days', sql.ref('u.primary_org_unit_id'), defaults.suspendDays)} as suspend_days
      from users u where u.status = 'active'
    ), judged as (
      select idle.*, case
        -- Nobody is suspended without notice: where the policy warns, the warning for this stretch must
        -- be (suspend - warn) days old. Someone already past both thresholds when the policy first sees
        -- them (an upgrade, a new unit setting) is warned now and suspended after that notice.
        when suspend_days > 0 and idle_since + make_interval(days => suspend_days) <= ${now}
          and (warn_days = 0 or warn_days >= suspend_days
            or (inactivity_warned_at >= idle_since and inactivity_warned_at + make_interval(days => suspend_days - warn_days) <= ${now})) then 'suspend'
        when warn_days > 0 and idle_since + make_interval(days => warn_days) <= ${now}
          and (inactivity_warned_at is null or inactivity_warned_at < idle_since) then 'warn'
      end as due
      from idle
    )
    select id::text as id, username, full_name, email, primary_org_unit_id::text as primary_org_unit_id, idle_since, warn_days, suspend_days, due
    from judged where due is not null order by id`.execute(db);
  return rows.map((row) => ({ ...row, idle_since: new Date(row.idle_since) }));
}

export async function markInactivityWarned(trx: Kysely<Database>, userIds: readonly string[], at: Date): Promise<void> {
  if (userIds.length === 0) return;
  await trx.updateTable('users').set({ inactivity_warned_at: at }).where('id', 'in', userIds).execute();
}

/** A unit's own inactivity settings (null: as the unit above), and what applies there with the unit above and the default. */
export interface UnitInactivityPolicy {
  readonly warn_days: number | null;
  readonly suspend_days: number | null;
  readonly effective_warn_days: number;
  readonly effective_suspend_days: number;
}

export async function findUnitInactivityPolicy(db: Kysely<Database>, unitId: string, defaults: InactivityDays): Promise<UnitInactivityPolicy | undefined> {
  const { rows } = await sql<UnitInactivityPolicy>`
    select u.inactivity_warn_days as warn_days, u.inactivity_suspend_days as suspend_days,
      ${nearestSetting('inactivity_warn_days', sql.ref('u.id'), defaults.warnDays)} as effective_warn_days,
      ${nearestSetting('inactivity_suspend_days', sql.ref('u.id'), defaults.suspendDays)} as effective_suspend_days
    from org_units u where u.id = ${unitId}::uuid`.execute(db);
  return rows[0];
}

export async function setUnitInactivityPolicy(trx: Kysely<Database>, unitId: string, policy: { warnDays: number | null; suspendDays: number | null }): Promise<void> {
  await trx.updateTable('org_units')
    .set({ inactivity_warn_days: policy.warnDays, inactivity_suspend_days: policy.suspendDays, version: sql<number>`version + 1`, updated_at: sql<Date>`now()` })
    .where('id', '=', unitId).execute();
}
