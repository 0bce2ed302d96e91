import { sql, type Kysely } from 'kysely';

import { preparedStatement } from '../prepared-statements.ts';
import type { Database, LoginThrottle } from '../schema.ts';
import { escapeLike } from './scope.ts';

const throttleColumns = ['key', 'failures', 'window_started_at', 'last_failure_at', 'locked_until'] as const satisfies readonly (keyof LoginThrottle)[];

/** Every sign-in reads its keys' counters (one to three keys, so at most three statement texts): prepared. */
export async function findThrottles(db: Kysely<Database>, keys: readonly string[]): Promise<LoginThrottle[]> {
  if (keys.length === 0) return [];
  return db.selectFrom('login_throttle').select(throttleColumns).where('key', 'in', keys).modifyEnd(preparedStatement).execute();
}

/**
 * Counts one failure against each key, atomically: a window older than `windowSeconds` starts
 * again at one. Returns the counters as they now stand.
 */
export async function countFailures(db: Kysely<Database>, keys: readonly string[], now: Date, windowSeconds: number): Promise<LoginThrottle[]> {
  if (keys.length === 0) return [];
  const windowStart = new Date(now.getTime() - windowSeconds * 1000);
  return db
    .insertInto('login_throttle')
    .values(keys.map((key) => ({ key, failures: 1, window_started_at: now, last_failure_at: now, locked_until: null })))
    .onConflict((oc) =>
      oc.column('key').doUpdateSet({
        failures: sql<number>`case when login_throttle.last_failure_at < ${windowStart} then 1 else login_throttle.failures + 1 end`,
        window_started_at: sql<Date>`case when login_throttle.last_failure_at < ${windowStart} then ${now} else login_throttle.window_started_at end`,
        last_failure_at: now,
      }),
    )
    .returningAll()
    .execute();
}

/**
 * Counts an attempt from a name and address before its password is checked, if the pair's delay
 * allows it, in one statement: of attempts sent at the same moment, only as many as the delay
 * allows get through. False when it must wait. A success later forgets the count.
 */
export async function reservePairAttempt(
  db: Kysely<Database>,
  key: string,
  now: Date,
  policy: { delayAfterFailures: number; maxDelaySeconds: number; windowSeconds: number },
): Promise<boolean> {
  const windowStart = new Date(now.getTime() - policy.windowSeconds * 1000);
  const { rows } = await sql<{ key: string }>`
    insert into login_throttle as t (key, failures, window_started_at, last_failure_at) values (${key}, 1, ${now}, ${now})
    on conflict (key) do update set
      failures = case when t.last_failure_at < ${windowStart} then 1 else t.failures + 1 end,
      window_started_at = case when t.last_failure_at < ${windowStart} then ${now} else t.window_started_at end,
      last_failure_at = ${now}
    where t.last_failure_at < ${windowStart}
      or t.failures < ${policy.delayAfterFailures}
      or t.last_failure_at + make_interval(secs => least(power(2, t.failures - ${policy.delayAfterFailures}), ${policy.maxDelaySeconds})) <= ${now}
    returning t.key${preparedStatement}`.execute(db);
  return rows.length > 0;
}

/** Within the window: how many addresses failed against one name, how often in all, and from the busiest one. */
export async function recentPairsOf(
  db: Kysely<Database>,
  loginKeyPrefix: string,
  since: Date,
): Promise<{ addresses: number; failures: number; busiest: number }> {
  const row = await db
    .selectFrom('login_throttle')
    .select((eb) => [
      eb.fn.countAll<string>().as('addresses'),
      eb.fn.coalesce(eb.fn.sum<string>('failures'), sql<string>`0`).as('failures'),
      eb.fn.coalesce(eb.fn.max('failures'), sql<number>`0`).as('busiest'),
    ])
    .where('key', 'like', `${escapeLike(loginKeyPrefix)}%`)
    .where('last_failure_at', '>=', since)
    .executeTakeFirstOrThrow();
  return { addresses: Number(row.addresses), failures: Number(row.failures), busiest: row.busiest };
}

export async function lockThrottle(db: Kysely<Database>, key: string, until: Date): Promise<void> {
  await db.updateTable('login_throttle').set({ locked_until: until }).where('key', '=', key).execute();
}

/**
 * Forgets the counters of these keys, and of every pair under these login names. A successful
 * sign-in names keys only (its name and its pair): that statement is prepared. Never one with prefixes: a plan
 * made once for every value cannot use the index for a `like` pattern it does not know.
 */
export async function clearThrottles(db: Kysely<Database>, keys: readonly string[], pairPrefixes: readonly string[]): Promise<number> {
  if (keys.length === 0 && pairPrefixes.length === 0) return 0;
  const statement = db
    .deleteFrom('login_throttle')
    .where((eb) => eb.or([
      ...(keys.length > 0 ? [eb('key', 'in', keys)] : []),
      ...pairPrefixes.map((prefix) => eb('key', 'like', `${escapeLike(prefix)}%`)),
    ]));
  const result = await (pairPrefixes.length === 0 ? statement.modifyEnd(preparedStatement) : statement).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Counters nobody has failed against for `olderThanSeconds`: the periodic sweep removes them. */
export async function deleteStaleThrottles(db: Kysely<Database>, before: Date): Promise<number> {
  const result = await db
    .deleteFrom('login_throttle')
    .where('last_failure_at', '<', before)
    .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', before)]))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
