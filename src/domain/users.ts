import type { Kysely } from 'kysely';
import { z } from 'zod';

import { isUniqueViolation } from '../db/errors.ts';
import { inTransaction } from '../db/transactions.ts';
import { findOrgUnitById, findOrgUnitsForShare } from '../db/queries/org-units.ts';
import { countActiveUsersWithRole, lockSuperAdministrators, scopedAssignmentsOf } from '../db/queries/role-assignments.ts';
import {
  defaultUserSort,
  findUserDetail,
  insertUser,
  lockUser,
  listUsers,
  replaceConcurrentUnits,
  takenUsernames,
  updateUserFields,
  userCursorKeyFits,
  type UserDetail,
  type UserFieldChanges,
  type UserListRow,
  type UserSortOrder,
} from '../db/queries/users.ts';
import type { Database, OrgUnit, User, UserStatus } from '../db/schema.ts';
import { AppError, assertThat, conflict, invalidCursor, localizable } from '../errors.ts';
import { issueActivationToken, issueActivationTokens } from './account-tokens.ts';
import { recordAuditEvent, type Actor, type RequestOrigin } from './audit.ts';
import { unlockLogins } from './login-throttle.ts';
import { resetSecondFactors } from './second-factors.ts';
import { endEverything, type SessionToNotify } from './sessions.ts';
import { AccessDenied, mayGrantRole, requirePermission, scopeOf, subtreeFilter, type AdminContext, type Permission } from './authorization.ts';
import { auditBase, orgUnitNotFound, versionMismatch } from './org-units.ts';
import {
  emailSchema,
  employeeCodeSchema,
  fullNameSchema,
  idSchema,
  maskNationalId,
  nationalIdSchema,
  phoneSchema,
  positionSchema,
  usernameFromName,
  usernameSchema,
} from './person-fields.ts';

/**
 * Queues back-channel logout calls to the apps of ended sessions, in the caller's transaction (so a
 * committed logout is always told, and a rolled-back one never). Lives in the oidc layer (it knows
 * which apps listen); handed in so that this module stays free of oidc-provider.
 */
export type BackchannelLogout = (
  db: Kysely<Database>,
  accountId: string,
  sessions: readonly SessionToNotify[],
) => Promise<{ clientId: string; deliveryId: string }[]>;

export interface UserAdminDeps {
  readonly db: Kysely<Database>;
  readonly backchannelLogout: BackchannelLogout;
  /** MASTER_KEY: seals activation tokens inside the mails that carry them. */
  readonly masterKey: Buffer;
}

export const userNotFound = (id: string) => new AppError('not_found', localizable(`no user with id ${id}`, 'problem.user.not_found', { id }), 404);

const optional = <T extends z.ZodType>(schema: T) => schema.nullable().optional();

export const newUserSchema = z.object({
  username: usernameSchema.optional(),
  full_name: fullNameSchema,
  email: optional(emailSchema),
  phone: optional(phoneSchema),
  employee_code: optional(employeeCodeSchema),
  national_id: optional(nationalIdSchema),
  position: optional(positionSchema),
  org_unit_id: idSchema,
  concurrent_unit_ids: z.array(idSchema).max(20).optional(),
});

export const userPatchSchema = z.object({
  username: usernameSchema.optional(),
  full_name: fullNameSchema.optional(),
  email: optional(emailSchema),
  phone: optional(phoneSchema),
  employee_code: optional(employeeCodeSchema),
  national_id: optional(nationalIdSchema),
  position: optional(positionSchema),
  org_unit_id: idSchema.optional(),
  concurrent_unit_ids: z.array(idSchema).max(20).optional(),
});

/**
 * Where a page of the user list resumes: the last row's sort key and id. The key is text we wrote;
 * one with a NUL (which PostgreSQL cannot compare against) was forged, and is refused as a bad cursor.
 */
export const userListCursor = z.object({ key: z.string().refine((key) => !key.includes('\u0000')), id: idSchema });

const target = (id: string) => ({ type: 'user', id });

/** The paths of every unit a person serves in; what decides which admins reach them. */
function unitPathsOf(user: UserDetail): (string | null)[] {
  const paths = [user.org_unit?.path ?? null, ...user.concurrent_units.map((unit) => unit.path)];
  return paths.length > 1 ? paths.filter((path) => path !== null) : paths;
}

export async function loadUser(db: Kysely<Database>, id: string): Promise<UserDetail> {
  const user = await findUserDetail(db, id);
  assertThat(user, userNotFound(id));
  return user;
}

/**
 * Loads a person for `permission`: reading needs a scope over any unit they serve in, changing
 * them needs a scope over their primary unit.
 */
export async function loadUserFor(
  db: Kysely<Database>,
  context: AdminContext,
  id: string,
  permission: Permission,
  action: string,
  roleAuthority: 'every_role' | 'global_roles' = 'every_role',
): Promise<UserDetail> {
  // A change reads the row it will write under a lock: concurrent changes queue instead of failing.
  if (permission !== 'users.read' && db.isTransaction) await lockUser(db, id);
  const user = await loadUser(db, id);
  const paths = permission === 'users.read' ? unitPathsOf(user) : [user.org_unit?.path ?? null];
  requirePermission(context.principal, permission, paths, {
    action, target: target(id), orgUnitId: user.primary_org_unit_id, message: localizable('this user is outside the part of the org tree you administer', 'problem.user.outside_scope'),
  });
  if (permission !== 'users.read') await requireAuthorityOverRoles(db, context, user, action, roleAuthority);
  return user;
}

/**
 * Changing an administrator (their details, their status) needs authority over every role they
 * hold: a district's admin must not suspend the super administrator who happens to work in the
 * district. The test is the one for granting: you may act on roles you could have granted.
 * Taking someone out of service asks less (`global_roles`): their home unit's admin must be able to
 * stop a leaver who was made admin of a unit elsewhere; global roles stay protected.
 */
async function requireAuthorityOverRoles(
  db: Kysely<Database>,
  context: AdminContext,
  user: UserDetail,
  action: string,
  roleAuthority: 'every_role' | 'global_roles',
): Promise<void> {
  for (const assignment of await scopedAssignmentsOf(db, { userId: user.id })) {
    if (roleAuthority === 'global_roles' && assignment.org_unit_path !== null) continue;
    if (mayGrantRole(context.principal, assignment.role, assignment.org_unit_path)) continue;
    throw new AccessDenied(
      localizable(`this person holds the role ${assignment.role}${assignment.org_unit_path === null ? ' globally' : ''}, which you could not grant; ask an administrator who can`,
        'problem.user.role_beyond_you', { role: assignment.role }),
      action,
      target(user.id),
      user.primary_org_unit_id,
    );
  }
}

export async function getUser(deps: Pick<UserAdminDeps, 'db'>, context: AdminContext, id: string): Promise<UserDetail> {
  return loadUserFor(deps.db, context, id, 'users.read', 'user.read');
}

export async function listUsersInScope(
  deps: Pick<UserAdminDeps, 'db'>,
  context: AdminContext,
  filter: {
    q?: string | undefined; username?: string | undefined; status?: UserStatus | undefined; withinId?: string | undefined; groupId?: string | undefined;
    /** Unless asked, a search lists the newest first and a browse goes by family name (defaultUserSort). */
    sort?: UserSortOrder | undefined;
    after?: { key: string; id: string } | undefined; limit: number;
  },
): Promise<UserListRow[]> {
  const sort = filter.sort ?? defaultUserSort(filter.q);
  if (filter.after && !userCursorKeyFits(sort, filter.after.key)) throw invalidCursor();
  let within: string | undefined;
  if (filter.withinId !== undefined) {
    const unit = await findOrgUnitById(deps.db, filter.withinId);
    assertThat(unit, orgUnitNotFound(filter.withinId));
    within = unit.path;
  }
  return listUsers(deps.db, {
    subtrees: subtreeFilter(scopeOf(context.principal, 'users.read')),
    q: filter.q,
    username: filter.username,
    status: filter.status,
    within,
    groupId: filter.groupId,
    sort,
    after: filter.after,
    limit: filter.limit,
  });
}

/** A unit someone can be placed in by this admin: it exists, is open, and lies in their scope. */
export async function placeableUnit(db: Kysely<Database>, context: AdminContext, unitId: string, action: string): Promise<OrgUnit> {
  // Held open until the placement commits: a close racing with it waits, then counts this person.
  const [unit] = await findOrgUnitsForShare(db, [unitId]);
  assertThat(unit, () => new AppError('invalid_input', localizable(`there is no org unit with id ${unitId}`, 'problem.org_unit.no_such_unit', { id: unitId }), 400));
  assertThat(unit.status === 'active', () => conflict(localizable(`the org unit ${unit.code} is closed`, 'problem.org_unit.closed', { code: unit.code })));
  requirePermission(context.principal, 'users.write', unit.path, {
    action, target: { type: 'org_unit', id: unitId }, orgUnitId: unitId, message: localizable(`you cannot place people in ${unit.code}: it is outside the part of the org tree you administer`, 'problem.user.place_outside_scope', { code: unit.code }),
  });
  return unit;
}

/** A free username from the person's name: tuyetnta, then tuyetnta2, tuyetnta3, … */
async function deriveUsername(db: Kysely<Database>, fullName: string): Promise<string> {
  const base = usernameFromName(fullName);
  const candidates = [base, ...Array.from({ length: 49 }, (_, index) => `${base}${index + 2}`)];
  const taken = await takenUsernames(db, candidates);
  const free = candidates.find((candidate) => !taken.has(candidate));
  assertThat(free, conflict(localizable(`no free username near "${base}"; choose one`, 'problem.user.no_free_username', { base })));
  return free;
}

/**
 * Creates a person, pending activation: instead of a password they get an activation token, mailed
 * to them when they have an address (the helpdesk can send a new one at any time).
 */
export async function createUser(deps: Pick<UserAdminDeps, 'db' | 'masterKey'>, context: AdminContext, input: z.output<typeof newUserSchema>): Promise<UserDetail> {
  // A derived username can be taken by a namesake created at the same moment: derive again.
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await insertNewUser(deps, context, input);
    } catch (error) {
      const raced = input.username === undefined && isUniqueViolation(error) && (error as { constraint?: unknown }).constraint === 'users_username_key';
      if (!raced || attempt === 5) throw uniqueFieldConflict(error);
    }
  }
}

async function insertNewUser(deps: Pick<UserAdminDeps, 'db' | 'masterKey'>, context: AdminContext, input: z.output<typeof newUserSchema>): Promise<UserDetail> {
  return inTransaction(deps.db, async (trx) => {
    await placeableUnit(trx, context, input.org_unit_id, 'user.create');
    const concurrent = uniqueConcurrentUnits(input.org_unit_id, input.concurrent_unit_ids ?? []);
    for (const unitId of concurrent) await placeableUnit(trx, context, unitId, 'user.create');
    const created = await insertUser(trx, {
      username: input.username ?? (await deriveUsername(trx, input.full_name)),
      full_name: input.full_name,
      email: input.email ?? null,
      phone: input.phone ?? null,
      employee_code: input.employee_code ?? null,
      national_id: input.national_id ?? null,
      position: input.position ?? null,
      primary_org_unit_id: input.org_unit_id,
      status: 'pending_activation',
    });
    await replaceConcurrentUnits(trx, created.id, concurrent);
    await issueActivationTokens(trx, [created], { masterKey: deps.masterKey });
    await recordAuditEvent(trx, {
      ...auditBase(context), action: 'user.create', target: target(created.id), orgUnitId: input.org_unit_id, after: auditView(created),
    });
    return loadUser(trx, created.id);
  });
}

function uniqueConcurrentUnits(primary: string, unitIds: readonly string[]): string[] {
  return [...new Set(unitIds)].filter((unitId) => unitId !== primary);
}

/** What the audit log keeps of a person: their fields, with the national id masked. */
function auditView(user: User | UserDetail): Record<string, unknown> {
  return {
    username: user.username, full_name: user.full_name, email: user.email, phone: user.phone,
    employee_code: user.employee_code, national_id: user.national_id === null ? null : maskNationalId(user.national_id),
    position: user.position, org_unit_id: user.primary_org_unit_id, status: user.status,
  };
}

export async function updateUser(
  deps: Pick<UserAdminDeps, 'db'>,
  context: AdminContext,
  id: string,
  expectedVersion: number | undefined,
  patch: z.output<typeof userPatchSchema>,
): Promise<UserDetail> {
  return withUniqueFields(() => inTransaction(deps.db, async (trx) => {
    const user = await loadUserFor(trx, context, id, 'users.write', 'user.update');
    assertThat(expectedVersion === undefined || expectedVersion === user.version, versionMismatch('this user'));

    const changes: UserFieldChanges = {};
    for (const field of ['username', 'full_name', 'email', 'phone', 'employee_code', 'national_id', 'position'] as const) {
      const value = patch[field];
      if (value !== undefined && value !== user[field]) Object.assign(changes, { [field]: value });
    }
    if (patch.org_unit_id !== undefined && patch.org_unit_id !== user.primary_org_unit_id) {
      await placeableUnit(trx, context, patch.org_unit_id, 'user.move');
      changes.primary_org_unit_id = patch.org_unit_id;
    }
    const primary = changes.primary_org_unit_id ?? user.primary_org_unit_id;
    let concurrentChanged = false;
    if (patch.concurrent_unit_ids !== undefined) {
      const wanted = uniqueConcurrentUnits(primary ?? '', patch.concurrent_unit_ids);
      const current = user.concurrent_units.map((unit) => unit.id);
      const added = wanted.filter((unitId) => !current.includes(unitId));
      const removed = user.concurrent_units.filter((unit) => !wanted.includes(unit.id));
      for (const unitId of added) await placeableUnit(trx, context, unitId, 'user.update');
      for (const unit of removed) {
        requirePermission(context.principal, 'users.write', unit.path, {
          action: 'user.update', target: target(id), message: localizable(`you cannot remove someone from ${unit.code}: it is outside the part of the org tree you administer`, 'problem.user.unplace_outside_scope', { code: unit.code }),
        });
      }
      if (added.length > 0 || removed.length > 0) {
        await replaceConcurrentUnits(trx, id, wanted);
        concurrentChanged = true;
      }
    }
    if (Object.keys(changes).length === 0 && !concurrentChanged) return user;
    // The version moves even when only the concurrent units changed: they are part of the resource.
    const updated = await updateUserFields(trx, id, user.version, changes);
    assertThat(updated, versionMismatch('this user'));
    const after = await loadUser(trx, id);
    await recordAuditEvent(trx, {
      ...auditBase(context),
      action: changes.primary_org_unit_id ? 'user.move' : 'user.update',
      target: target(id),
      orgUnitId: after.primary_org_unit_id,
      before: { ...auditView(user), concurrent_unit_ids: user.concurrent_units.map((unit) => unit.id) },
      after: { ...auditView(after), concurrent_unit_ids: after.concurrent_units.map((unit) => unit.id) },
    });
    return after;
  }));
}

/**
 * A new activation link for someone who has not activated yet; the older link stops working. It is
 * mailed when the person has an address; otherwise the token is returned, this once, for the
 * helpdesk to hand over.
 */
export async function sendActivation(
  deps: Pick<UserAdminDeps, 'db' | 'masterKey'>,
  context: AdminContext,
  id: string,
): Promise<{ mailedTo: string | null; token: string | null }> {
  return inTransaction(deps.db, async (trx) => {
    const user = await loadUserFor(trx, context, id, 'users.activation', 'user.send_activation');
    assertThat(user.status === 'pending_activation', conflict(localizable('this account is already activated; a forgotten password is reset, not re-activated', 'problem.user.already_activated')));
    const token = await issueActivationToken(trx, user, { masterKey: deps.masterKey });
    await recordAuditEvent(trx, {
      ...auditBase(context), action: 'user.send_activation', target: target(id), orgUnitId: user.primary_org_unit_id,
      details: { mailed: user.email !== null },
    });
    return { mailedTo: user.email, token: user.email === null ? token : null };
  });
}

/**
 * Lifts the lock that failed sign-ins put on a person's login names (username and email), and
 * forgets the counts behind it; the person can try again at once.
 */
export async function unlockUser(deps: Pick<UserAdminDeps, 'db'>, context: AdminContext, id: string): Promise<UserDetail> {
  return inTransaction(deps.db, async (trx) => {
    const user = await loadUserFor(trx, context, id, 'users.unlock', 'user.unlock', 'global_roles');
    const cleared = await unlockLogins(trx, [user.username, ...(user.email === null ? [] : [user.email])]);
    await recordAuditEvent(trx, {
      ...auditBase(context), action: 'user.unlock', target: target(id), orgUnitId: user.primary_org_unit_id, details: { cleared_counters: cleared },
    });
    return user;
  });
}

/**
 * The helpdesk's answer to a lost phone: every second factor and recovery code of the person goes,
 * they are told by mail, and at their next sign-in policy takes them through enrolment again.
 */
export async function resetUserFactors(deps: Pick<UserAdminDeps, 'db'>, context: AdminContext, id: string): Promise<number> {
  return inTransaction(deps.db, async (trx) => {
    const user = await loadUserFor(trx, context, id, 'users.reset_factors', 'mfa.reset', 'global_roles');
    return resetSecondFactors(trx, user, auditBase(context));
  });
}

const statusActions: Record<'active' | 'suspended' | 'disabled', string> = {
  active: 'user.enable',
  suspended: 'user.suspend',
  disabled: 'user.disable',
};

/**
 * Suspends, disables or re-enables a person. Suspending and disabling end everything they hold in
 * one transaction (sessions, grants, codes, access and refresh tokens), then tell every app they
 * were signed in to by back-channel logout. A suspension is meant to be lifted; a disabled account
 * is a leaver's, re-enabled only deliberately.
 */
export async function changeUserStatus(
  deps: UserAdminDeps,
  context: AdminContext,
  id: string,
  expectedVersion: number | undefined,
  status: 'active' | 'suspended' | 'disabled',
): Promise<UserDetail> {
  return inTransaction(deps.db, async (trx) => {
    const current = await loadUserFor(trx, context, id, 'users.lifecycle', statusActions[status], status === 'active' ? 'every_role' : 'global_roles');
    assertThat(expectedVersion === undefined || expectedVersion === current.version, versionMismatch('this user'));
    return applyStatusChange(trx, deps, current, status, auditBase(context));
  });
}

/**
 * The one path that changes a person's status, in the caller's transaction, for an admin's request
 * and for the governance job alike (a leaver's decision, the inactivity policy). Suspending and
 * disabling end everything the person holds and queue back-channel logout. `details` joins the
 * audit event: the decision or rule behind a change the job makes.
 */
export async function applyStatusChange(
  trx: Kysely<Database>,
  deps: Pick<UserAdminDeps, 'backchannelLogout'>,
  current: UserDetail,
  status: 'active' | 'suspended' | 'disabled',
  audit: { actor: Actor; origin: RequestOrigin },
  details: Record<string, unknown> = {},
): Promise<UserDetail> {
  const action = statusActions[status];
  const id = current.id;
  assertThat(
    !(status === 'active' && current.status === 'pending_activation'),
    conflict(localizable('this account has not been activated yet: send an activation link instead', 'problem.user.not_activated')),
  );
  // A merged account is history: the person is the survivor now (domain/account-merge.ts).
  assertThat(current.status !== 'merged', conflict('this account has been merged into another; change the account it was merged into'));
  if (current.status === status) return current;
  if (status !== 'active') await keepOneActiveSuperAdministrator(trx, id);
  const updated = await updateUserFields(trx, id, current.version, { status });
  assertThat(updated, versionMismatch('this user'));
  let ended: SessionToNotify[] = [];
  let revoked = 0;
  if (status !== 'active') ({ notify: ended, revoked } = await endEverything(trx, id));
  const extra = Object.keys(details).length > 0 ? details : null;
  await recordAuditEvent(trx, {
    ...audit, action, target: target(id), orgUnitId: current.primary_org_unit_id,
    before: { status: current.status }, after: { status }, details: status === 'active' ? extra : { revoked_artifacts: revoked, ...details },
  });
  // Queued with the change: the access is gone whatever the apps answer; each call's outcome is kept with it.
  const queued = ended.length > 0 ? await deps.backchannelLogout(trx, id, ended) : [];
  if (queued.length > 0) {
    await recordAuditEvent(trx, {
      ...audit, action: 'user.backchannel_logout', target: target(id), orgUnitId: current.primary_org_unit_id,
      details: { queued: queued.map((call) => ({ client_id: call.clientId, delivery_id: call.deliveryId })) },
    });
  }
  return loadUser(trx, id);
}

/** Refuses to take the last active super administrator out of service: someone must be able to undo it. */
async function keepOneActiveSuperAdministrator(trx: Kysely<Database>, userId: string): Promise<void> {
  const holds = (await scopedAssignmentsOf(trx, { userId })).some((assignment) => assignment.role === 'super_admin');
  if (!holds) return;
  await lockSuperAdministrators(trx);
  assertThat((await countActiveUsersWithRole(trx, 'super_admin', userId)) > 0,
    conflict(localizable('this is the last active super administrator; make someone else super administrator first', 'problem.user.last_super_admin')));
}

/** The (client, session id) pairs of live sessions whose apps should hear of the logout. */
/** Turns a unique violation into a conflict that names the field (the index says which). */
async function withUniqueFields<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    throw uniqueFieldConflict(error);
  }
}

function uniqueFieldConflict(error: unknown): unknown {
  if (!isUniqueViolation(error)) return error;
  const { constraint } = error as { constraint?: unknown };
  if (typeof constraint !== 'string') return conflict(localizable('another user already has one of these values', 'problem.user.taken'), error);
  const [field, key] = constraint.includes('username') ? ['username', 'problem.user.taken_username'] as const
    : constraint.includes('email') ? ['email address', 'problem.user.taken_email'] as const
    : constraint.includes('employee_code') ? ['employee code', 'problem.user.taken_employee_code'] as const
    : constraint.includes('national_id') ? ['citizen identity number', 'problem.user.taken_national_id'] as const : ['value', 'problem.user.taken'] as const;
  return conflict(localizable(`another user already has this ${field}`, key), error);
}
