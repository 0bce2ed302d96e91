import { sql, type Kysely, type SqlBool } from 'kysely';

import type { Database, PersonnelDecisionKind, PersonnelDecisionStatus } from '../schema.ts';
import { isUuid } from './ids.ts';
import { pathInSubtrees } from './scope.ts';

/** A personnel decision with the person and both units named, as admins read it and the job applies it. */
export interface PersonnelDecisionRow {
  readonly id: string;
  readonly kind: PersonnelDecisionKind;
  readonly decision_number: string;
  /** Calendar dates as "YYYY-MM-DD". */
  readonly decision_date: string;
  readonly effective_date: string;
  readonly user_id: string;
  readonly user_username: string;
  readonly user_full_name: string;
  readonly org_unit_before_id: string | null;
  readonly before_code: string | null;
  readonly before_name: string | null;
  readonly before_path: string | null;
  readonly org_unit_after_id: string | null;
  readonly after_code: string | null;
  readonly after_name: string | null;
  readonly after_path: string | null;
  readonly position: string | null;
  readonly note: string | null;
  readonly status: PersonnelDecisionStatus;
  readonly recorded_by: string;
  readonly created_at: Date;
  readonly applied_at: Date | null;
  readonly cancelled_at: Date | null;
  readonly cancelled_by: string | null;
  readonly last_error: string | null;
}

export interface NewPersonnelDecision {
  readonly kind: PersonnelDecisionKind;
  readonly decision_number: string;
  readonly decision_date: string;
  readonly effective_date: string;
  readonly user_id: string;
  readonly org_unit_before_id: string | null;
  readonly org_unit_after_id: string | null;
  readonly position: string | null;
  readonly note: string | null;
  readonly recorded_by: string;
}

export async function insertPersonnelDecision(trx: Kysely<Database>, decision: NewPersonnelDecision): Promise<string> {
  return (await trx.insertInto('personnel_decisions').values(decision).returning('id').executeTakeFirstOrThrow()).id;
}

function decisionsWithNames(db: Kysely<Database>) {
  return db
    .selectFrom('personnel_decisions as d')
    .innerJoin('users as u', 'u.id', 'd.user_id')
    .leftJoin('org_units as before', 'before.id', 'd.org_unit_before_id')
    .leftJoin('org_units as after', 'after.id', 'd.org_unit_after_id')
    .select([
      'd.id', 'd.kind', 'd.decision_number', 'd.user_id', 'd.org_unit_before_id', 'd.org_unit_after_id', 'd.position', 'd.note', 'd.status',
      'd.recorded_by', 'd.created_at', 'd.applied_at', 'd.cancelled_at', 'd.cancelled_by', 'd.last_error',
      // Dates as text: a JS Date would shift them by the server's time zone.
      sql<string>`to_char(d.decision_date, 'YYYY-MM-DD')`.as('decision_date'),
      sql<string>`to_char(d.effective_date, 'YYYY-MM-DD')`.as('effective_date'),
      'u.username as user_username', 'u.full_name as user_full_name',
      'before.code as before_code', 'before.name as before_name', 'before.path as before_path',
      'after.code as after_code', 'after.name as after_name', 'after.path as after_path',
    ]);
}

/** One decision; with `lock`, its row stays locked until the transaction ends (applying and cancelling take turns). */
export async function findPersonnelDecision(db: Kysely<Database>, id: string, options: { lock?: boolean } = {}): Promise<PersonnelDecisionRow | undefined> {
  if (!isUuid(id)) return undefined;
  if (options.lock) await db.selectFrom('personnel_decisions').select('id').where('id', '=', id).forUpdate().execute();
  return decisionsWithNames(db).where('d.id', '=', id).executeTakeFirst();
}

export interface PersonnelDecisionFilter {
  /** The reader's scope: null for everything, otherwise decisions whose unit before or after lies in these subtrees. */
  readonly subtrees: readonly string[] | null;
  readonly status?: PersonnelDecisionStatus | undefined;
  readonly kind?: PersonnelDecisionKind | undefined;
  readonly userId?: string | undefined;
  /** Only those taking effect after this date (future-dated ones: after today). */
  readonly effectiveAfter?: string | undefined;
  /** Keyset cursor: the effective date and id of the last row of the previous page. */
  readonly after?: { readonly effective_date: string; readonly id: string } | undefined;
  readonly limit: number;
}

/** In order of effect: the next to take effect first. */
export async function listPersonnelDecisions(db: Kysely<Database>, filter: PersonnelDecisionFilter): Promise<PersonnelDecisionRow[]> {
  let query = decisionsWithNames(db).orderBy('d.effective_date').orderBy('d.id').limit(filter.limit);
  if (filter.subtrees !== null) {
    const subtrees = filter.subtrees;
    query = query.where(sql<SqlBool>`(${pathInSubtrees(sql.ref('before.path'), subtrees)} or ${pathInSubtrees(sql.ref('after.path'), subtrees)})`);
  }
  if (filter.status !== undefined) query = query.where('d.status', '=', filter.status);
  if (filter.kind !== undefined) query = query.where('d.kind', '=', filter.kind);
  if (filter.userId !== undefined) query = query.where('d.user_id', '=', filter.userId);
  if (filter.effectiveAfter !== undefined) query = query.where(sql<SqlBool>`d.effective_date > ${filter.effectiveAfter}::date`);
  if (filter.after) query = query.where(sql<SqlBool>`(d.effective_date, d.id) > (${filter.after.effective_date}::date, ${filter.after.id}::uuid)`);
  return query.execute();
}

/** Pending decisions whose effective date has come (`today`, the province's date), the earliest first. */
export async function listDuePersonnelDecisionIds(db: Kysely<Database>, today: string): Promise<string[]> {
  const rows = await db.selectFrom('personnel_decisions').select('id')
    .where('status', '=', 'pending').where(sql<SqlBool>`effective_date <= ${today}::date`)
    .orderBy('effective_date').orderBy('created_at').execute();
  return rows.map((row) => row.id);
}

/**
 * Pending decisions that would place someone in a unit a reorganization has just closed place them in
 * its successor instead (the unit that took its people); answers how many. A closed unit without a
 * successor keeps its decisions, which the job then holds with their reason for an administrator.
 */
export async function redirectPendingDecisions(trx: Kysely<Database>, closedUnitId: string, successorId: string): Promise<number> {
  const result = await trx.updateTable('personnel_decisions').set({ org_unit_after_id: successorId })
    .where('status', '=', 'pending').where('org_unit_after_id', '=', closedUnitId).executeTakeFirst();
  return Number(result.numUpdatedRows);
}

export async function markPersonnelDecisionApplied(trx: Kysely<Database>, id: string, at: Date): Promise<void> {
  await trx.updateTable('personnel_decisions').set({ status: 'applied', applied_at: at, last_error: null }).where('id', '=', id).execute();
}

export async function markPersonnelDecisionCancelled(trx: Kysely<Database>, id: string, by: string): Promise<void> {
  await trx.updateTable('personnel_decisions').set({ status: 'cancelled', cancelled_at: sql<Date>`now()`, cancelled_by: by }).where('id', '=', id).execute();
}

export async function recordPersonnelDecisionError(db: Kysely<Database>, id: string, message: string): Promise<void> {
  await db.updateTable('personnel_decisions').set({ last_error: message.slice(0, 1000) }).where('id', '=', id).where('status', '=', 'pending').execute();
}

/** A concurrent unit, or one a move left behind until `endsAt`; naming a unit already theirs for good changes nothing. */
export async function addUnitMembership(trx: Kysely<Database>, userId: string, unitId: string, endsAt: Date | null): Promise<void> {
  await trx.insertInto('user_org_units').values({ user_id: userId, org_unit_id: unitId, ends_at: endsAt })
    .onConflict((oc) => oc.columns(['user_id', 'org_unit_id']).doUpdateSet(endsAt === null ? { ends_at: null } : { ends_at: sql<Date | null>`user_org_units.ends_at` }))
    .execute();
}

export async function removeUnitMembership(trx: Kysely<Database>, userId: string, unitId: string): Promise<void> {
  await trx.deleteFrom('user_org_units').where('user_id', '=', userId).where('org_unit_id', '=', unitId).execute();
}

/** What a person holds through a unit (a group it owns, an admin role over it), with that unit's path. */
export interface UnitBoundAccess {
  readonly kind: 'group' | 'role';
  /** The group's id, or the role assignment's. */
  readonly id: string;
  readonly name: string;
  readonly org_unit_path: string;
}

/** The person's open-ended group memberships and scoped admin roles, with the path of the unit each hangs on. */
export async function unitBoundAccessOf(db: Kysely<Database>, userId: string): Promise<UnitBoundAccess[]> {
  const { rows } = await sql<UnitBoundAccess>`
    select 'group' as kind, g.id::text as id, g.name, o.path as org_unit_path
      from group_members m join groups g on g.id = m.group_id join org_units o on o.id = g.org_unit_id
      where m.user_id = ${userId}::uuid and m.ends_at is null
    union all
    select 'role', r.id::text, r.role, o.path
      from role_assignments r join org_units o on o.id = r.org_unit_id
      where r.user_id = ${userId}::uuid and r.ends_at is null`.execute(db);
  return rows;
}

/** Sets the end of the listed group memberships and role assignments of a person. */
export async function endUnitBoundAccess(trx: Kysely<Database>, userId: string, access: readonly UnitBoundAccess[], endsAt: Date): Promise<void> {
  const groupIds = access.filter((item) => item.kind === 'group').map((item) => item.id);
  const roleIds = access.filter((item) => item.kind === 'role').map((item) => item.id);
  if (groupIds.length > 0) {
    await trx.updateTable('group_members').set({ ends_at: endsAt }).where('user_id', '=', userId).where('group_id', 'in', groupIds).execute();
  }
  if (roleIds.length > 0) await trx.updateTable('role_assignments').set({ ends_at: endsAt }).where('id', 'in', roleIds).execute();
}

/** What one person lost when a grace period ended. */
export interface LapsedAccess {
  readonly user_id: string;
  readonly units: string[];
  readonly groups: string[];
  readonly roles: string[];
}

/** Removes every unit membership, group membership and admin role whose grace period ended by `now`, by person. */
export async function deleteLapsedAccess(trx: Kysely<Database>, now: Date): Promise<LapsedAccess[]> {
  const units = await trx.deleteFrom('user_org_units').where('ends_at', '<=', now).returning(['user_id', 'org_unit_id']).execute();
  const groups = await trx.deleteFrom('group_members').where('ends_at', '<=', now).returning(['user_id', 'group_id']).execute();
  const roles = await trx.deleteFrom('role_assignments').where('ends_at', '<=', now).returning(['user_id', 'id', 'role', 'org_unit_id']).execute();
  const byUser = new Map<string, LapsedAccess>();
  const of = (userId: string) => byUser.get(userId) ?? byUser.set(userId, { user_id: userId, units: [], groups: [], roles: [] }).get(userId)!;
  for (const row of units) of(row.user_id).units.push(row.org_unit_id);
  for (const row of groups) of(row.user_id).groups.push(row.group_id);
  for (const row of roles) if (row.user_id !== null) of(row.user_id).roles.push(`${row.role}@${row.org_unit_id ?? ''}`);
  return [...byUser.values()];
}
