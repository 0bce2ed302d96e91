import { sql, type Kysely } from 'kysely';

import type { Database, UserStatus } from '../schema.ts';
import { orgUnitInSubtrees } from './org-units.ts';
import { userInSubtrees } from './users.ts';

/**
 * The figures on the admin console's dashboard, each limited to the reader's subtrees (null: the
 * whole province). Days are counted in the province's time zone, since that is what "today" means
 * to the people reading it.
 */
export const dashboardTimeZone = 'Asia/Ho_Chi_Minh';

export async function countUsersByStatus(db: Kysely<Database>, subtrees: readonly string[] | null): Promise<Record<UserStatus, number>> {
  let query = db.selectFrom('users').select(['users.status', sql<string>`count(*)`.as('count')]).groupBy('users.status');
  if (subtrees !== null) query = query.where(userInSubtrees(subtrees));
  const counts: Record<UserStatus, number> = { pending_activation: 0, active: 0, suspended: 0, disabled: 0, merged: 0 };
  for (const row of await query.execute()) counts[row.status] = Number(row.count);
  return counts;
}

export interface DailyLogins {
  /** YYYY-MM-DD in the province's time zone, oldest first, one entry per day even when nothing happened. */
  readonly day: string;
  readonly succeeded: number;
  readonly failed: number;
}

/** Sign-ins per day over the last `days` days, today included, from the audit log. */
export async function loginsPerDay(db: Kysely<Database>, subtrees: readonly string[] | null, days: number): Promise<DailyLogins[]> {
  const scope = subtrees === null ? sql<boolean>`true` : orgUnitInSubtrees(sql.ref('e.org_unit_id'), subtrees);
  const { rows } = await sql<{ day: string; succeeded: string; failed: string }>`
    with days as (
      select generate_series(
        (now() at time zone ${dashboardTimeZone})::date - (${days}::int - 1),
        (now() at time zone ${dashboardTimeZone})::date,
        interval '1 day'
      )::date as day
    )
    select to_char(days.day, 'YYYY-MM-DD') as day,
      count(e.id) filter (where e.action = 'login.success') as succeeded,
      count(e.id) filter (where e.action = 'login.failure') as failed
    from days
    left join audit_events e
      on (e.occurred_at at time zone ${dashboardTimeZone})::date = days.day
      and e.action in ('login.success', 'login.failure')
      and e.occurred_at >= now() - make_interval(days => ${days}::int + 1)
      and ${scope}
    group by days.day
    order by days.day`.execute(db);
  return rows.map((row) => ({ day: row.day, succeeded: Number(row.succeeded), failed: Number(row.failed) }));
}

/** Active people whose login name (username or address) is locked now by failed sign-ins. */
export async function countLockedUsers(db: Kysely<Database>, subtrees: readonly string[] | null): Promise<number> {
  let query = db.selectFrom('users').select(sql<string>`count(*)`.as('count'))
    .where('users.status', '=', 'active')
    .where((eb) => eb.exists(eb.selectFrom('login_throttle').select('login_throttle.key')
      .where('login_throttle.locked_until', '>', sql<Date>`now()`)
      .where(sql<boolean>`login_throttle.key in ('login:' || lower(users.username), 'login:' || lower(users.email))`)));
  if (subtrees !== null) query = query.where(userInSubtrees(subtrees));
  return Number((await query.executeTakeFirstOrThrow()).count);
}

/** Active people with no confirmed second factor: who a phishing mail would hurt most. */
export async function countUsersWithoutSecondFactor(db: Kysely<Database>, subtrees: readonly string[] | null): Promise<number> {
  let query = db.selectFrom('users').select(sql<string>`count(*)`.as('count'))
    .where('users.status', '=', 'active')
    .where((eb) => eb.not(eb.exists(eb.selectFrom('user_factors').select('user_factors.id')
      .whereRef('user_factors.user_id', '=', 'users.id').where('user_factors.confirmed_at', 'is not', null))));
  if (subtrees !== null) query = query.where(userInSubtrees(subtrees));
  return Number((await query.executeTakeFirstOrThrow()).count);
}
