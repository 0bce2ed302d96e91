import type { Kysely } from 'kysely';

import {
  clearThrottles,
  countFailures,
  findThrottles,
  lockThrottle,
  recentPairsOf,
  reservePairAttempt,
} from '../db/queries/login-throttle.ts';
import type { Database, LoginThrottle } from '../db/schema.ts';

/**
 * Brute-force protection for password sign-in. Failures are counted under three keys:
 * - the login name with the source address (a "pair"): after a few failures, each further attempt
 *   from that address must wait twice as long as the last (1 s, 2 s, 4 s, … up to an hour). One
 *   address can guess a few dozen passwords a day, and nobody else is slowed down by it;
 * - the login name alone: enough failures within the window, coming from at least two addresses
 *   (and at least two besides those of the busiest address), lock it for a while.
 *   A single address never locks anyone out: it only slows itself down;
 * - the source address alone: an address that fails against many names (password spraying) waits
 *   for its window to end.
 * Everything is keyed on the name as typed, never on whether an account exists, so an unknown name
 * and a wrong password are throttled, answered and timed alike.
 */
export interface ThrottlePolicy {
  /** Failures from one address against one name before attempts are spaced out. */
  readonly delayAfterFailures: number;
  /** The longest wait between attempts from one address against one name. */
  readonly maxDelaySeconds: number;
  /** Failures against one name, from two or more addresses, that lock it. */
  readonly lockoutThreshold: number;
  readonly lockoutSeconds: number;
  /** A counter with no failure for this long starts again from zero. */
  readonly windowSeconds: number;
  /** Failures from one address, against any names, within the window before it must wait. */
  readonly addressMaxFailures: number;
}

export interface LoginAttemptSource {
  readonly login: string;
  /** The source address; null when unknown (then only the name is counted). */
  readonly ip: string | null;
}

export type ThrottleVerdict =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly reason: 'locked' | 'delayed'; readonly retryAfterSeconds: number };

/** The name as the counters know it: composed, trimmed, lower-cased. */
const foldLogin = (login: string) => login.normalize('NFC').trim().toLowerCase();
const loginKey = (login: string) => `login:${foldLogin(login)}`;
const pairPrefix = (login: string) => `pair:${foldLogin(login)}|`;
const keysOf = (attempt: LoginAttemptSource) => ({
  login: loginKey(attempt.login),
  pair: attempt.ip === null ? null : `${pairPrefix(attempt.login)}${attempt.ip}`,
  address: attempt.ip === null ? null : `address:${attempt.ip}`,
});

/**
 * A pair's count lives until it has been quiet for twice its longest delay: were it forgotten
 * sooner, an address that waited out its delay would start again at full speed.
 */
export const pairWindowSeconds = (policy: ThrottlePolicy) => Math.max(policy.windowSeconds, 2 * policy.maxDelaySeconds);

const secondsUntil = (moment: Date, now: Date) => Math.max(1, Math.ceil((moment.getTime() - now.getTime()) / 1000));

/** The wait the pair owes after `failures` failures, in seconds: 0 below the threshold, then doubling. */
export function pairDelaySeconds(failures: number, policy: ThrottlePolicy): number {
  if (failures < policy.delayAfterFailures) return 0;
  return Math.min(2 ** (failures - policy.delayAfterFailures), policy.maxDelaySeconds);
}

/** Whether an attempt may be checked at all; asked before the password is, so a refused guess costs nothing. */
export async function checkLoginThrottle(db: Kysely<Database>, attempt: LoginAttemptSource, policy: ThrottlePolicy, now = new Date()): Promise<ThrottleVerdict> {
  const keys = keysOf(attempt);
  const rows = new Map((await findThrottles(db, [keys.login, keys.pair, keys.address].filter((key) => key !== null))).map((row) => [row.key, row]));
  const name = rows.get(keys.login);
  if (name?.locked_until && name.locked_until > now) return { allowed: false, reason: 'locked', retryAfterSeconds: secondsUntil(name.locked_until, now) };
  const live = (row: LoginThrottle | undefined, windowSeconds: number) =>
    (row && row.last_failure_at.getTime() >= now.getTime() - windowSeconds * 1000 ? row : undefined);

  const pair = live(keys.pair === null ? undefined : rows.get(keys.pair), pairWindowSeconds(policy));
  // Below the threshold there is no wait at all. A concurrent attempt's reservation can carry an
  // instant a moment after this one's `now` (each request reads the clock itself): that is no reason to wait.
  const pairDelay = pair ? pairDelaySeconds(pair.failures, policy) : 0;
  if (pair && pairDelay > 0) {
    const nextAttempt = new Date(pair.last_failure_at.getTime() + pairDelay * 1000);
    if (nextAttempt > now) return { allowed: false, reason: 'delayed', retryAfterSeconds: secondsUntil(nextAttempt, now) };
  }
  const address = live(keys.address === null ? undefined : rows.get(keys.address), policy.windowSeconds);
  if (address && address.failures >= policy.addressMaxFailures) {
    return { allowed: false, reason: 'delayed', retryAfterSeconds: secondsUntil(new Date(address.window_started_at.getTime() + policy.windowSeconds * 1000), now) };
  }
  return { allowed: true };
}

/**
 * Whether an attempt may be checked, deciding for attempts sent at the same moment too: the
 * attempt is counted against its pair before the (slow) password check, so a burst of guesses from
 * one address gets no more through than the delay allows. Call recordLoginFailure or
 * recordLoginSuccess once the password has been checked.
 */
export async function admitLoginAttempt(db: Kysely<Database>, attempt: LoginAttemptSource, policy: ThrottlePolicy, now = new Date()): Promise<ThrottleVerdict> {
  const verdict = await checkLoginThrottle(db, attempt, policy, now);
  const keys = keysOf(attempt);
  if (!verdict.allowed || keys.pair === null) return verdict;
  if (await reservePairAttempt(db, keys.pair, now, { ...policy, windowSeconds: pairWindowSeconds(policy) })) return verdict;
  // Another attempt from this address got in first: this one waits like any other.
  const again = await checkLoginThrottle(db, attempt, policy, now);
  return again.allowed ? { allowed: false, reason: 'delayed', retryAfterSeconds: 1 } : again;
}

/**
 * Counts a failed attempt (its pair was counted when it was admitted). Returns the lock it set,
 * when this failure locked the name: the caller records that in the audit log.
 */
export async function recordLoginFailure(
  db: Kysely<Database>,
  attempt: LoginAttemptSource,
  policy: ThrottlePolicy,
  now = new Date(),
): Promise<{ lockedUntil: Date; addresses: number; failures: number } | null> {
  const keys = keysOf(attempt);
  const counted = await countFailures(db, [keys.login, keys.address].filter((key) => key !== null), now, policy.windowSeconds);
  const name = counted.find((row) => row.key === keys.login);
  if (!name || name.failures < policy.lockoutThreshold || (name.locked_until && name.locked_until > now)) return null;
  const recent = await recentPairsOf(db, pairPrefix(attempt.login), new Date(now.getTime() - policy.windowSeconds * 1000));
  // One address only slows itself down: a lock needs the failures to come from more than one, and
  // more than a single slip from the others, so that one attacker's address plus the person's own
  // typo cannot lock the person out.
  if (recent.addresses < 2 || recent.failures - recent.busiest < 2) return null;
  const lockedUntil = new Date(now.getTime() + policy.lockoutSeconds * 1000);
  await lockThrottle(db, keys.login, lockedUntil);
  return { lockedUntil, addresses: recent.addresses, failures: name.failures };
}

/** A correct password from this address: its pair and the name's count start over; other addresses' pairs stay. */
export async function recordLoginSuccess(db: Kysely<Database>, attempt: LoginAttemptSource): Promise<void> {
  const keys = keysOf(attempt);
  await clearThrottles(db, [keys.login, ...(keys.pair === null ? [] : [keys.pair])], []);
}

/** The helpdesk's unlock: every counter and lock under these names (a username and an email address). */
export async function unlockLogins(db: Kysely<Database>, logins: readonly string[]): Promise<number> {
  return clearThrottles(db, logins.map(loginKey), logins.map(pairPrefix));
}
