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
import { countUnusedRecoveryCodes, findConfirmedFactors, redeemRecoveryCode, verifyTotpCode } from './second-factors.ts';
import { verifyPasskey, type Relying } from './webauthn.ts';
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
 * A complete sign-in with a password alone: the password is checked and, when right, the login is
 * recorded. For people who must also show a second factor, the interaction calls verifyPassword and
 * then completeLogin itself once the factor is checked.
 */
export async function authenticateWithPassword(
  deps: AccountDeps,
  login: string,
  password: string,
  attempt: LoginAttempt = { origin: noOrigin, clientId: null },
): Promise<PasswordLoginResult> {
  const result = await verifyPassword(deps, login, password, attempt);
  if (result.outcome === 'success') await completeLogin(deps, result.user, attempt, { amr: ['pwd'] });
  return result;
}

/**
 * Checks a login name and password: the first factor. An unknown login and a wrong password give
 * the same outcome and cost the same time. Only someone who knows the password learns that an
 * account is not active. Throttling (see login-throttle.ts) is keyed on the name as typed, so it
 * treats both alike too. Records failures; a success is recorded by completeLogin.
 */
export async function verifyPassword(
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
  if (!user || !verdict.ok) {
    await recordFailedAttempt(deps, source, user, attempt, { method: 'password', reason: 'invalid_credentials' }, login);
    return { outcome: 'invalid_credentials' };
  }
  if (verdict.rehashed) await updatePasswordHash(deps.db, user.id, verdict.rehashed);
  // The right password: this address's count starts over, whatever the account's state.
  if (deps.throttle) await recordLoginSuccess(deps.db, source);
  if (user.status !== 'active') {
    await recordAuditEvent(deps.db, {
      actor: actorOf(user), origin: attempt.origin, action: 'login.failure', outcome: 'failure',
      target: { type: 'user', id: user.id }, orgUnitId: user.primary_org_unit_id, details: { client_id: attempt.clientId, method: 'password', reason: user.status },
    });
    return { outcome: 'inactive', status: user.status };
  }
  return { outcome: 'success', user };
}

/**
 * Counts a failed attempt (a wrong password, or a wrong second factor after a right password)
 * against the name and the address, locks the name when the rules say so, and audits both. For a
 * login that matches nobody, only a hint of what was typed is kept: people type their password
 * into the username field, and the audit log can never forget.
 */
async function recordFailedAttempt(
  deps: AccountDeps,
  source: { login: string; ip: string | null },
  user: User | undefined,
  attempt: LoginAttempt,
  details: { method: string; reason: string },
  typedLogin: string,
): Promise<void> {
  const lock = deps.throttle ? await recordLoginFailure(deps.db, source, deps.throttle) : null;
  if (lock) {
    await recordAuditEvent(deps.db, {
      actor: systemActor, origin: attempt.origin, action: 'login.lockout', outcome: 'denied',
      target: user ? { type: 'user', id: user.id } : undefined, orgUnitId: user?.primary_org_unit_id,
      details: { login: user ? user.username : unknownLoginHint(typedLogin), locked_until: lock.lockedUntil.toISOString(), failures: lock.failures, addresses: lock.addresses },
    });
  }
  await recordAuditEvent(deps.db, {
    actor: user ? actorOf(user) : { type: 'anonymous', id: null, name: unknownLoginHint(typedLogin) },
    origin: attempt.origin, action: 'login.failure', outcome: 'failure',
    target: user ? { type: 'user', id: user.id } : undefined, orgUnitId: user?.primary_org_unit_id,
    details: { client_id: attempt.clientId, ...details },
  });
}

/** How a sign-in was completed, in RFC 8176 terms (pwd, otp, pop, mfa…), and with which second factor. */
export interface LoginMethods {
  readonly amr: readonly string[];
  readonly secondFactor?: SecondFactorMethod | undefined;
}

/** Records a completed sign-in: the time on the account and a login.success audit event. */
export async function completeLogin(deps: Pick<AccountDeps, 'db'>, user: User, attempt: LoginAttempt, methods: LoginMethods): Promise<void> {
  await recordLogin(deps.db, user.id);
  await recordAuditEvent(deps.db, {
    actor: actorOf(user), origin: attempt.origin, action: 'login.success',
    target: { type: 'user', id: user.id }, orgUnitId: user.primary_org_unit_id,
    details: {
      client_id: attempt.clientId, method: methods.amr.includes('pwd') ? 'password' : 'passkey', amr: [...methods.amr],
      ...(methods.secondFactor ? { second_factor: methods.secondFactor } : {}),
    },
  });
}

export type SecondFactorMethod = 'totp' | 'recovery_code' | 'passkey';

export type SecondFactorResult =
  | { readonly outcome: 'success'; readonly amr: readonly string[] }
  | { readonly outcome: 'invalid' }
  | { readonly outcome: 'throttled'; readonly retryAfterSeconds: number };

/**
 * Signing in with a passkey alone: the authenticator must have verified its user (PIN or
 * biometrics), which makes the key two factors by itself. Throttled and audited like a password.
 */
export async function verifyPasswordless(
  deps: AccountDeps,
  user: User,
  proof: { readonly response: unknown; readonly challenge: string; readonly relying: Relying },
  attempt: LoginAttempt,
): Promise<SecondFactorResult> {
  const source = { login: user.username, ip: attempt.origin.ip };
  if (deps.throttle) {
    const throttled = await admitLoginAttempt(deps.db, source, deps.throttle);
    if (!throttled.allowed) return { outcome: 'throttled', retryAfterSeconds: throttled.retryAfterSeconds };
  }
  const verdict = await verifyPasskey(deps.db, proof.relying, user.id, { response: proof.response, expectedChallenge: proof.challenge });
  if (!verdict.ok || !verdict.userVerified) {
    await recordFailedAttempt(deps, source, user, attempt, { method: 'passkey', reason: verdict.ok ? 'user_not_verified' : 'invalid_passkey' }, user.username);
    return { outcome: 'invalid' };
  }
  if (deps.throttle) await recordLoginSuccess(deps.db, source);
  return { outcome: 'success', amr: ['pop', 'user', 'mfa'] };
}

/** What the person shows as their second factor. */
export type SecondFactorProof =
  | { readonly method: 'totp' | 'recovery_code'; readonly code: string }
  | { readonly method: 'passkey'; readonly response: unknown; readonly challenge: string; readonly relying: Relying };

/**
 * Checks a second factor from someone who has shown their password (or has a password session, for
 * step-up). A wrong one counts as a failed sign-in for the name and address, so guessing codes is
 * throttled and ends in a lockout just as guessing passwords does.
 */
export async function verifySecondFactor(
  deps: AccountDeps & { readonly masterKey: Buffer },
  user: User,
  proof: SecondFactorProof,
  attempt: LoginAttempt & { readonly login: string },
): Promise<SecondFactorResult> {
  const source = { login: attempt.login.slice(0, 320), ip: attempt.origin.ip };
  if (deps.throttle) {
    const throttled = await admitLoginAttempt(deps.db, source, deps.throttle);
    if (!throttled.allowed) return { outcome: 'throttled', retryAfterSeconds: throttled.retryAfterSeconds };
  }
  let amr: readonly string[] | null = null;
  if (proof.method === 'passkey') {
    const verdict = await verifyPasskey(deps.db, proof.relying, user.id, { response: proof.response, expectedChallenge: proof.challenge });
    // Proof of possession of a key (RFC 8176 "pop"), with the person verified by PIN or biometrics or not.
    if (verdict.ok) amr = verdict.userVerified ? ['pwd', 'pop', 'user', 'mfa'] : ['pwd', 'pop', 'mfa'];
  } else if (proof.method === 'totp') {
    for (const factor of await findConfirmedFactors(deps.db, user.id)) {
      if (factor.kind === 'totp' && (await verifyTotpCode(deps, factor, proof.code))) {
        amr = ['pwd', 'otp', 'mfa'];
        break;
      }
    }
  } else if (await redeemRecoveryCode(deps.db, user.id, proof.code)) {
    amr = ['pwd', 'otp', 'mfa'];
  }
  if (!amr) {
    await recordFailedAttempt(deps, source, user, attempt, { method: proof.method, reason: 'invalid_second_factor' }, attempt.login);
    return { outcome: 'invalid' };
  }
  if (proof.method === 'recovery_code') {
    await recordAuditEvent(deps.db, {
      actor: actorOf(user), origin: attempt.origin, action: 'mfa.recovery_code.use', target: { type: 'user', id: user.id },
      orgUnitId: user.primary_org_unit_id, details: { remaining: await countUnusedRecoveryCodes(deps.db, user.id) },
    });
  }
  return { outcome: 'success', amr };
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
        password_changed_at: new Date(),
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
