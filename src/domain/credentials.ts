import { randomUUID } from 'node:crypto';

import { sql, type Kysely } from 'kysely';

import { hasRecentUnusedAccountToken } from '../db/queries/account-tokens.ts';
import { insertOutboxMails } from '../db/queries/mail-outbox.ts';
import { findUserById, findUserByLogin, lockUser } from '../db/queries/users.ts';
import type { AccountTokenPurpose, Database, User } from '../db/schema.ts';
import { issuePasswordResetToken, peekAccountToken, redeemAccountToken } from './account-tokens.ts';
import { recordAuditEvent, type Actor, type RequestOrigin } from './audit.ts';
import { admitLoginAttempt, recordLoginFailure, unlockLogins, type ThrottlePolicy } from './login-throttle.ts';
import { checkPassword, type PasswordPolicy, type PasswordProblem } from './password-policy.ts';
import type { PasswordHasher } from './passwords.ts';
import { endEverything, endSessions, type SessionToNotify } from './sessions.ts';
import type { BackchannelLogout } from './users.ts';

/**
 * What a person does with their own password: activate an account with the mailed link, reset a
 * forgotten password, change it. Each step is audited; a reset ends every session, since whoever
 * knew the old password may be signed in somewhere.
 */
export interface CredentialDeps {
  readonly db: Kysely<Database>;
  readonly passwords: PasswordHasher;
  readonly passwordPolicy: PasswordPolicy;
  readonly masterKey: Buffer;
  readonly backchannelLogout: BackchannelLogout;
  /** Guessing the current password in the console is throttled like guessing it at the login page. */
  readonly throttle?: ThrottlePolicy | undefined;
}

const actorOf = (user: Pick<User, 'id' | 'username'>): Actor => ({ type: 'user', id: user.id, name: user.username });

/** "Your password was changed": if it was not the person, this mail is how they find out. */
async function notifyPasswordChanged(trx: Kysely<Database>, user: Pick<User, 'id' | 'username' | 'full_name' | 'email'>): Promise<void> {
  if (!user.email) return;
  await insertOutboxMails(trx, [{
    id: randomUUID(), recipient: user.email, template: 'password_changed',
    params: { user_id: user.id, username: user.username, full_name: user.full_name }, secret_sealed: null,
  }]);
}

/** One mail per person per window: "forgot password" pressed ten times sends one link, not ten. */
const resetRequestWindowSeconds = 5 * 60;

/**
 * "Forgot password": mails a reset link if the login names an active person with an address. The
 * caller answers the same either way and should not wait for this (see the forgot-password route),
 * so neither the answer nor its timing tells whether the account exists.
 */
export async function requestPasswordReset(deps: Pick<CredentialDeps, 'db' | 'masterKey'>, login: string, origin: RequestOrigin): Promise<void> {
  const trimmed = login.normalize('NFC').trim();
  if (!trimmed || trimmed.length > 320) return;
  const user = await findUserByLogin(deps.db, trimmed);
  if (user?.status !== 'active' || user.email === null) return;
  const email = user.email;
  await deps.db.transaction().execute(async (trx) => {
    // Two clicks at once must not both see "no recent link".
    await lockUser(trx, user.id);
    if (await hasRecentUnusedAccountToken(trx, 'password_reset', user.id, new Date(Date.now() - resetRequestWindowSeconds * 1000))) return;
    await issuePasswordResetToken(trx, { ...user, email }, { masterKey: deps.masterKey });
    await recordAuditEvent(trx, {
      actor: actorOf(user), origin, action: 'password.reset_request', target: { type: 'user', id: user.id }, orgUnitId: user.primary_org_unit_id,
    });
  });
}

/** Whom a mailed link is for, if it still works: the page greets them and checks their new password against their name. */
export async function personForToken(db: Kysely<Database>, purpose: AccountTokenPurpose, token: string): Promise<User | undefined> {
  const userId = await peekAccountToken(db, purpose, token);
  if (!userId) return undefined;
  const user = await findUserById(db, userId);
  const expected = purpose === 'activation' ? 'pending_activation' : 'active';
  return user?.status === expected ? user : undefined;
}

export type SetPasswordResult =
  | { readonly outcome: 'done'; readonly user: User }
  | { readonly outcome: 'invalid_token' }
  | { readonly outcome: 'weak_password'; readonly problems: readonly PasswordProblem[] };

/**
 * Sets a new password with a mailed link: activation (the account becomes active and its address
 * verified, since the link arrived there) or reset (every session and token ends). The password is
 * checked before the link is spent, so a refused password leaves the link usable.
 */
export async function setPasswordWithToken(
  deps: CredentialDeps,
  purpose: AccountTokenPurpose,
  token: string,
  password: string,
  origin: RequestOrigin,
): Promise<SetPasswordResult> {
  const person = await personForToken(deps.db, purpose, token);
  if (!person) return { outcome: 'invalid_token' };
  const problems = checkPassword(password, { username: person.username, fullName: person.full_name, email: person.email }, deps.passwordPolicy);
  if (problems.length > 0) return { outcome: 'weak_password', problems };
  const hash = await deps.passwords.hash(password);

  const result = await deps.db.transaction().execute(async (trx) => {
    const userId = await redeemAccountToken(trx, purpose, token);
    // Spent by a racing request between the look and now.
    if (userId !== person.id) return undefined;
    const updated = await trx
      .updateTable('users')
      .set({
        password_hash: hash,
        password_changed_at: sql<Date>`now()`,
        updated_at: sql<Date>`now()`,
        version: sql<number>`version + 1`,
        ...(purpose === 'activation' ? { status: 'active' as const, email_verified: true, active_since: sql<Date>`now()` } : {}),
      })
      .where('id', '=', person.id)
      .where('status', '=', purpose === 'activation' ? 'pending_activation' : 'active')
      .returningAll()
      .executeTakeFirst();
    if (!updated) return undefined;
    let notify: SessionToNotify[] = [];
    let revoked = 0;
    if (purpose === 'password_reset') {
      ({ notify, revoked } = await endEverything(trx, person.id));
      // Proving control of the mailbox is enough to lift a lock on the person's own names.
      await unlockLogins(trx, [person.username, ...(person.email ? [person.email] : [])]);
    }
    if (purpose === 'password_reset') await notifyPasswordChanged(trx, person);
    if (notify.length > 0) await deps.backchannelLogout(trx, person.id, notify);
    await recordAuditEvent(trx, {
      actor: actorOf(person), origin, action: purpose === 'activation' ? 'user.activate' : 'password.reset',
      target: { type: 'user', id: person.id }, orgUnitId: person.primary_org_unit_id,
      ...(purpose === 'activation' ? { before: { status: person.status }, after: { status: 'active' } } : { details: { revoked_artifacts: revoked } }),
    });
    return { user: updated };
  });
  if (!result) return { outcome: 'invalid_token' };
  return { outcome: 'done', user: result.user };
}

export type ChangePasswordResult =
  | { readonly outcome: 'done'; readonly endedSessions: number }
  | { readonly outcome: 'wrong_password' }
  | { readonly outcome: 'throttled'; readonly retryAfterSeconds: number }
  | { readonly outcome: 'weak_password'; readonly problems: readonly PasswordProblem[] };

/**
 * A signed-in person changes their password: the current one is asked again (a session left open
 * on a shared screen is not enough), and on request every other session ends.
 */
export async function changeOwnPassword(
  deps: CredentialDeps,
  user: User,
  change: { currentPassword: string; newPassword: string; endOtherSessions: boolean; currentSessionUid: string | null },
  origin: RequestOrigin,
): Promise<ChangePasswordResult> {
  // Someone at an unlocked screen must not get unlimited guesses at the current password.
  const source = { login: user.username, ip: origin.ip };
  if (deps.throttle) {
    const admitted = await admitLoginAttempt(deps.db, source, deps.throttle);
    if (!admitted.allowed) return { outcome: 'throttled', retryAfterSeconds: admitted.retryAfterSeconds };
  }
  const verdict = await deps.passwords.verify(user.password_hash, change.currentPassword);
  if (!verdict.ok) {
    if (deps.throttle) await recordLoginFailure(deps.db, source, deps.throttle);
    await recordAuditEvent(deps.db, {
      actor: actorOf(user), origin, action: 'password.change', outcome: 'failure', target: { type: 'user', id: user.id },
      orgUnitId: user.primary_org_unit_id, details: { reason: 'wrong_current_password' },
    });
    return { outcome: 'wrong_password' };
  }
  const problems = checkPassword(change.newPassword, { username: user.username, fullName: user.full_name, email: user.email }, deps.passwordPolicy);
  if (change.newPassword === change.currentPassword) problems.push('same_as_current');
  if (problems.length > 0) return { outcome: 'weak_password', problems };
  const hash = await deps.passwords.hash(change.newPassword);
  const { ended } = await deps.db.transaction().execute(async (trx) => {
    await trx.updateTable('users')
      .set({ password_hash: hash, password_changed_at: sql<Date>`now()`, updated_at: sql<Date>`now()`, version: sql<number>`version + 1` })
      .where('id', '=', user.id)
      .execute();
    const sessions = change.endOtherSessions
      ? await endSessions(trx, user.id, { except: change.currentSessionUid })
      : { ended: 0, notify: [] };
    await notifyPasswordChanged(trx, user);
    if (sessions.notify.length > 0) await deps.backchannelLogout(trx, user.id, sessions.notify);
    await recordAuditEvent(trx, {
      actor: actorOf(user), origin, action: 'password.change', target: { type: 'user', id: user.id },
      orgUnitId: user.primary_org_unit_id, details: { ended_other_sessions: sessions.ended },
    });
    return sessions;
  });
  return { outcome: 'done', endedSessions: ended };
}

/** Whether the periodic change is due: on when `maxAgeDays` > 0, counting from when the password was set. */
export function passwordExpired(user: Pick<User, 'password_changed_at'>, maxAgeDays: number, now = Date.now()): boolean {
  if (maxAgeDays <= 0) return false;
  return user.password_changed_at === null || now - user.password_changed_at.getTime() > maxAgeDays * 24 * 60 * 60 * 1000;
}

/**
 * The periodic change at sign-in, after every factor was shown: a new password that meets the
 * policy and is not the old one again.
 */
export async function replaceExpiredPassword(
  deps: Pick<CredentialDeps, 'db' | 'passwords' | 'passwordPolicy'>,
  user: User,
  password: string,
  origin: RequestOrigin,
): Promise<{ readonly outcome: 'done'; readonly user: User } | { readonly outcome: 'weak_password'; readonly problems: readonly PasswordProblem[] }> {
  const problems = checkPassword(password, { username: user.username, fullName: user.full_name, email: user.email }, deps.passwordPolicy);
  if (problems.length === 0 && (await deps.passwords.verify(user.password_hash, password)).ok) problems.push('same_as_current');
  if (problems.length > 0) return { outcome: 'weak_password', problems };
  const hash = await deps.passwords.hash(password);
  return deps.db.transaction().execute(async (trx) => {
    const updated = await trx.updateTable('users')
      .set({ password_hash: hash, password_changed_at: sql<Date>`now()`, updated_at: sql<Date>`now()`, version: sql<number>`version + 1` })
      .where('id', '=', user.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await notifyPasswordChanged(trx, user);
    await recordAuditEvent(trx, {
      actor: actorOf(user), origin, action: 'password.change', target: { type: 'user', id: user.id },
      orgUnitId: user.primary_org_unit_id, details: { reason: 'expired' },
    });
    return { outcome: 'done' as const, user: updated };
  });
}
