import { sql, type Kysely } from 'kysely';

import type { AdminRole, Database, RoleAssignment } from '../schema.ts';
import { isUuid } from './ids.ts';
import { pathInSubtrees } from './scope.ts';

/** A role assignment with the path of its unit (null for a global one), as authorization needs it. */
export interface ScopedAssignment {
  readonly id: string;
  readonly role: AdminRole;
  readonly org_unit_id: string | null;
  readonly org_unit_path: string | null;
}

export type RoleHolder = { readonly userId: string } | { readonly clientId: string };

export async function insertRoleAssignment(
  db: Kysely<Database>,
  holder: RoleHolder,
  assignment: { role: AdminRole; orgUnitId: string | null; grantedBy: string },
): Promise<RoleAssignment | undefined> {
  return db
    .insertInto('role_assignments')
    .values({
      user_id: 'userId' in holder ? holder.userId : null,
      client_id: 'clientId' in holder ? holder.clientId : null,
      role: assignment.role,
      org_unit_id: assignment.orgUnitId,
      granted_by: assignment.grantedBy,
    })
    // Granting what is already granted changes nothing.
    .onConflict((oc) => oc.doNothing())
    .returningAll()
    .executeTakeFirst();
}

export async function findRoleAssignment(db: Kysely<Database>, id: string): Promise<RoleAssignment | undefined> {
  if (!isUuid(id)) return undefined;
  return db.selectFrom('role_assignments').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function deleteRoleAssignment(db: Kysely<Database>, id: string): Promise<void> {
  await db.deleteFrom('role_assignments').where('id', '=', id).execute();
}

export async function scopedAssignmentsOf(db: Kysely<Database>, holder: RoleHolder): Promise<ScopedAssignment[]> {
  let query = db
    .selectFrom('role_assignments')
    .leftJoin('org_units', 'org_units.id', 'role_assignments.org_unit_id')
    .select(['role_assignments.id', 'role_assignments.role', 'role_assignments.org_unit_id', 'org_units.path as org_unit_path'])
    // A role over a closed unit no longer confers anything.
    .where((eb) => eb.or([eb('role_assignments.org_unit_id', 'is', null), eb('org_units.status', '=', 'active')]))
    // A role a move left behind lasts to the end of its grace period, even before the governance job removes it.
    .where((eb) => eb.or([eb('role_assignments.ends_at', 'is', null), eb('role_assignments.ends_at', '>', sql<Date>`now()`)]));
  query = 'userId' in holder
    ? query.where('role_assignments.user_id', '=', holder.userId)
    : query.where('role_assignments.client_id', '=', holder.clientId);
  return query.execute();
}

/** The assignments of several people at once, by person. */
export async function scopedAssignmentsOfUsers(db: Kysely<Database>, userIds: readonly string[]): Promise<Map<string, ScopedAssignment[]>> {
  const byUser = new Map<string, ScopedAssignment[]>();
  if (userIds.length === 0) return byUser;
  const rows = await db
    .selectFrom('role_assignments')
    .leftJoin('org_units', 'org_units.id', 'role_assignments.org_unit_id')
    .select(['role_assignments.user_id', 'role_assignments.id', 'role_assignments.role', 'role_assignments.org_unit_id', 'org_units.path as org_unit_path'])
    .where('role_assignments.user_id', 'in', userIds)
    .execute();
  for (const { user_id: userId, ...assignment } of rows) {
    if (userId === null) continue;
    byUser.set(userId, [...(byUser.get(userId) ?? []), assignment]);
  }
  return byUser;
}

export interface RoleAssignmentFilter {
  userId?: string | undefined;
  clientId?: string | undefined;
  role?: AdminRole | undefined;
  /** Only assignments over units in these subtrees; null for all (global ones included). */
  subtrees: readonly string[] | null;
  afterId?: string | undefined;
  limit: number;
}

export interface RoleAssignmentRow extends RoleAssignment {
  org_unit_code: string | null;
}

export async function listRoleAssignments(db: Kysely<Database>, filter: RoleAssignmentFilter): Promise<RoleAssignmentRow[]> {
  let query = db
    .selectFrom('role_assignments')
    .leftJoin('org_units', 'org_units.id', 'role_assignments.org_unit_id')
    .selectAll('role_assignments')
    .select('org_units.code as org_unit_code')
    .orderBy('role_assignments.id')
    .limit(filter.limit);
  if (filter.userId !== undefined) query = query.where('role_assignments.user_id', '=', filter.userId);
  if (filter.clientId !== undefined) query = query.where('role_assignments.client_id', '=', filter.clientId);
  if (filter.role !== undefined) query = query.where('role_assignments.role', '=', filter.role);
  if (filter.afterId !== undefined) query = query.where('role_assignments.id', '>', filter.afterId);
  if (filter.subtrees !== null) query = query.where(pathInSubtrees(sql.ref('org_units.path'), filter.subtrees));
  return query.execute();
}

/** People who hold `role` and can sign in (active), optionally leaving one person out of the count. */
export async function countActiveUsersWithRole(db: Kysely<Database>, role: AdminRole, except?: string): Promise<number> {
  let query = db
    .selectFrom('role_assignments')
    .innerJoin('users', 'users.id', 'role_assignments.user_id')
    .select((eb) => eb.fn.count<string>('users.id').distinct().as('count'))
    .where('role_assignments.role', '=', role)
    .where('users.status', '=', 'active');
  if (except !== undefined) query = query.where('users.id', '<>', except);
  const row = await query.executeTakeFirstOrThrow();
  return Number(row.count);
}

/**
 * Serializes changes that could leave the province without a super administrator (revoking the
 * role, disabling a holder): two such changes at once must not each see the other's holder remain.
 */
export async function lockSuperAdministrators(trx: Kysely<Database>): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext('mekong_id.super_admins'))`.execute(trx);
}
