import type { Kysely } from 'kysely';
import { z } from 'zod';

import { isUniqueViolation } from '../db/errors.ts';
import { insertRoleAssignment } from '../db/queries/role-assignments.ts';
import { findUserById, findUserByLogin, insertUser, recordLogin, updatePasswordHash } from '../db/queries/users.ts';
import type { Database, User, UserStatus } from '../db/schema.ts';
import { conflict, invalidInput } from '../errors.ts';
import { noOrigin, recordAuditEvent, systemActor, type Actor, type RequestOrigin } from './audit.ts';
import { admitLoginAttempt, recordLoginFailure, recordLoginSuccess, type ThrottlePolicy } from './login-throttle.ts';
import { passwordProblems, type PasswordPolicy } from './password-policy.ts';
import type { PasswordHasher } from './passwords.ts';
import { fullNameSchema, usernameSchema } from './person-fields.ts';

export interface AccountDeps {
  readonly db: Kysely<Database>;
  readonly passwords: PasswordHasher;
  /** Brute-force protection; the server always has it, a one-off tool may go without. */
  readonly throttle?: ThrottlePolicy | undefined;
  /** What a new password must meet; the configured minimum length (10 when not given). */
  readonly passwordPolicy?: PasswordPolicy | undefined;
}

export const roles = { superAdmin: 'super_admin' } as const;


export type PasswordLoginResult =
  | { readonly outcome: 'success'; readonly user: User }
  | { readonly outcome: 'invalid_credentials' }
  | { readonly outcome: 'inactive'; readonly status: Exclude<UserStatus, 'active'> }
  /** Too many failures: the password was not even checked. The same for known and unknown names. */
  | { readonly outcome: 'throttled'; readonly reason: 'locked' | 'delayed'; readonly retryAfterSeconds: number };

/**
 * Checks a login name and password. An unknown login and a wrong password give the same outcome
 * and cost the same time. Only someone who knows the password learns that an account is not active.
 * Throttling (see login-throttle.ts) is keyed on the name as typed, so it treats both alike too.
 */
export async function authenticateWithPassword(
  deps: AccountDeps,
  login: string,
  password: string,
  attempt: LoginAttempt = { origin: noOrigin, clientId: null },
): Promise<PasswordLoginResult> {
  const source = { login: login.slice(0, 320), ip: attempt.origin.ip };
  if (deps.throttle) {
    const throttled = await admitLoginAttempt(deps.db, source, deps.throttle);
    if (!throttled.allowed) return { outcome: 'throttled', reason: throttled.reason, retryAfterSeconds: throttled.retryAfterSeconds };
  }
  const user = login.length <= 320 ? await findUserByLogin(deps.db, login.normalize('NFC').trim()) : undefined;
  const verdict = await deps.passwords.verify(user?.password_hash ?? null, password);
  const details = { client_id: attempt.clientId, method: 'password' };
  if (!user || !verdict.ok) {
    const lock = deps.throttle ? await recordLoginFailure(deps.db, source, deps.throttle) : null;
    if (lock) {
      await recordAuditEvent(deps.db, {
        actor: systemActor, origin: attempt.origin, action: 'login.lockout', outcome: 'denied',
        target: user ? { type: 'user', id: user.id } : undefined, orgUnitId: user?.primary_org_unit_id,
        details: { login: user ? user.username : unknownLoginHint(login), locked_until: lock.lockedUntil.toISOString(), failures: lock.failures, addresses: lock.addresses },
      });
    }
    // For a login that matches nobody, only a hint of what was typed is kept: people type their
    // password into the username field, and the audit log can never forget.
    await recordAuditEvent(deps.db, {
      actor: user ? actorOf(user) : { type: 'anonymous', id: null, name: unknownLoginHint(login) },
      origin: attempt.origin, action: 'login.failure', outcome: 'failure',
      target: user ? { type: 'user', id: user.id } : undefined, orgUnitId: user?.primary_org_unit_id, details: { ...details, reason: 'invalid_credentials' },
    });
    return { outcome: 'invalid_credentials' };
  }
  if (verdict.rehashed) await updatePasswordHash(deps.db, user.id, verdict.rehashed);
  // The right password: this address's count starts over, whatever the account's state.
  if (deps.throttle) await recordLoginSuccess(deps.db, source);
  if (user.status !== 'active') {
    await recordAuditEvent(deps.db, {
      actor: actorOf(user), origin: attempt.origin, action: 'login.failure', outcome: 'failure',
      target: { type: 'user', id: user.id }, orgUnitId: user.primary_org_unit_id, details: { ...details, reason: user.status },
    });
    return { outcome: 'inactive', status: user.status };
  }
  await recordLogin(deps.db, user.id);
  await recordAuditEvent(deps.db, {
    actor: actorOf(user), origin: attempt.origin, action: 'login.success',
    target: { type: 'user', id: user.id }, orgUnitId: user.primary_org_unit_id, details,
  });
  return { outcome: 'success', user };
}

/** Where a login attempt came from, for the audit log. */
export interface LoginAttempt {
  readonly origin: RequestOrigin;
  readonly clientId: string | null;
}

/** "ngu… (11 characters)": enough to see attempts against one name cluster, too little to be a password. */
function unknownLoginHint(login: string): string {
  const characters = Array.from(new Intl.Segmenter('vi', { granularity: 'grapheme' }).segment(login.normalize('NFC').trim()), (part) => part.segment);
  return `${characters.slice(0, 3).join('')}… (${characters.length} characters)`;
}

const actorOf = (user: User): Actor => ({ type: 'user', id: user.id, name: user.username });

/** The person behind an account id (a session's, a token's); undefined for an unknown or malformed id. */
export async function findAccountHolder(deps: Pick<AccountDeps, 'db'>, id: string): Promise<User | undefined> {
  return findUserById(deps.db, id);
}

const newAdministratorSchema = z.object({
  username: usernameSchema,
  password: z.string(),
  fullName: fullNameSchema,
});

/** Creates an active super administrator; refuses a username that is taken. */
export async function createSuperAdministrator(
  deps: AccountDeps,
  input: { username: string; password: string; fullName?: string },
): Promise<User> {
  const parsed = newAdministratorSchema.safeParse({ ...input, fullName: input.fullName ?? input.username });
  if (!parsed.success) throw invalidInput(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '));
  const { username, password, fullName } = parsed.data;
  const problems = passwordProblems(password, { username, fullName }, deps.passwordPolicy ?? { minLength: 10 });
  if (problems.length > 0) throw invalidInput(`password: ${problems.join('; ')}`);
  const passwordHash = await deps.passwords.hash(password);
  try {
    return await deps.db.transaction().execute(async (trx) => {
      const user = await insertUser(trx, {
        username,
        full_name: fullName,
        password_hash: passwordHash,
        status: 'active',
      });
      await insertRoleAssignment(trx, { userId: user.id }, { role: roles.superAdmin, orgUnitId: null, grantedBy: 'system' });
      await recordAuditEvent(trx, {
        actor: systemActor, origin: noOrigin, action: 'user.create', target: { type: 'user', id: user.id },
        after: { username, full_name: fullName, status: 'active', roles: [roles.superAdmin] },
      });
      return user;
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict(`the username "${username}" is already taken`);
    throw error;
  }
}
