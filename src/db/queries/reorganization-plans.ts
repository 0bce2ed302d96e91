import { sql, type Kysely } from 'kysely';

import type { Database, OrgUnitKind, ReorganizationPlan, ReorganizationPlanStatus } from '../schema.ts';
import { isUuid } from './ids.ts';

/** Reorganization plans, the snapshot their dry run reads, and the statements that carry one out. */

const planColumns = [
  'id', 'name', 'status', 'steps', 'created_by', 'created_at', 'updated_at', 'version', 'scheduled_by', 'scheduled_at',
  'accepted_losses', 'cancelled_by', 'cancelled_at', 'applied_at', 'applied_report', 'last_error',
] as const;

// Read as text: pg and PGlite turn a date column into a Date at local midnight otherwise.
const selectPlans = (db: Kysely<Database>) =>
  db.selectFrom('reorganization_plans').select(planColumns).select(sql<string>`effective_date::text`.as('effective_date'));

export async function insertReorganizationPlan(
  db: Kysely<Database>,
  plan: { name: string; effective_date: string; steps: Record<string, unknown>[]; created_by: string },
): Promise<ReorganizationPlan> {
  const { id } = await db.insertInto('reorganization_plans').values({ ...plan, steps: JSON.stringify(plan.steps) as never }).returning('id').executeTakeFirstOrThrow();
  return (await findReorganizationPlan(db, id))!;
}

export async function findReorganizationPlan(db: Kysely<Database>, id: string, options: { forUpdate?: boolean } = {}): Promise<ReorganizationPlan | undefined> {
  if (!isUuid(id)) return undefined;
  const query = selectPlans(db).where('id', '=', id);
  return (options.forUpdate ? query.forUpdate() : query).executeTakeFirst();
}

export async function listReorganizationPlans(db: Kysely<Database>, filter: { status?: ReorganizationPlanStatus | undefined; afterId?: string | undefined; limit: number }): Promise<ReorganizationPlan[]> {
  let query = selectPlans(db).orderBy('id').limit(filter.limit);
  if (filter.status !== undefined) query = query.where('status', '=', filter.status);
  if (filter.afterId !== undefined) query = query.where('id', '>', filter.afterId);
  return query.execute();
}

/** Scheduled plans whose date has come (Vietnam's calendar date `today`), oldest first. */
export async function dueReorganizationPlanIds(db: Kysely<Database>, today: string): Promise<string[]> {
  const rows = await db.selectFrom('reorganization_plans').select('id')
    .where('status', '=', 'scheduled').where('effective_date', '<=', today)
    .orderBy('effective_date').orderBy('created_at').execute();
  return rows.map((row) => row.id);
}

export type PlanFields = Partial<{
  name: string; effective_date: string; steps: Record<string, unknown>[]; status: ReorganizationPlanStatus;
  scheduled_by: string | null; scheduled_at: Date | null; accepted_losses: Record<string, unknown>[] | null;
  cancelled_by: string; cancelled_at: Date; applied_at: Date; applied_report: Record<string, unknown>; last_error: string | null;
}>;

/** Changes a plan if its version is still `expectedVersion` (any version when undefined); undefined when it moved on. */
export async function updateReorganizationPlan(db: Kysely<Database>, id: string, expectedVersion: number | undefined, fields: PlanFields): Promise<ReorganizationPlan | undefined> {
  // pg would send a JS array as a PostgreSQL array, not as JSON: JSON columns are written as JSON text.
  const json = (value: unknown) => (value === undefined ? undefined : value === null ? (null as never) : (JSON.stringify(value) as never));
  let query = db.updateTable('reorganization_plans')
    .set({
      ...fields,
      steps: json(fields.steps),
      accepted_losses: json(fields.accepted_losses),
      applied_report: json(fields.applied_report),
      version: sql<number>`version + 1`,
      updated_at: sql<Date>`now()`,
    })
    .where('id', '=', id);
  if (expectedVersion !== undefined) query = query.where('version', '=', expectedVersion);
  const updated = await query.returning('id').executeTakeFirst();
  return updated ? findReorganizationPlan(db, id) : undefined;
}

/** Records why the job could not apply a plan, outside the transaction that rolled back. */
export async function recordReorganizationFailure(db: Kysely<Database>, id: string, error: string): Promise<void> {
  await db.updateTable('reorganization_plans').set({ last_error: error }).where('id', '=', id).where('status', '=', 'scheduled').execute();
}

// ---- the snapshot a dry run reads ----

export async function loadReorganizationSnapshot(db: Kysely<Database>) {
  const [units, people, concurrent, groups, groupMembers, appAssignments, roleAssignments, exclusions, sodRules] = await Promise.all([
    db.selectFrom('org_units').select(['id', 'code', 'name', 'kind', 'parent_id', 'status', 'mfa_required']).orderBy('path').execute(),
    db.selectFrom('users').select(['id', 'username', 'full_name', 'status', 'primary_org_unit_id']).orderBy('username').execute(),
    db.selectFrom('user_org_units').select(['user_id', 'org_unit_id']).execute(),
    db.selectFrom('groups').select(['id', 'org_unit_id', 'name']).orderBy('id').execute(),
    db.selectFrom('group_members').select(['group_id', 'user_id']).execute(),
    db.selectFrom('app_assignments as a').innerJoin('clients as c', 'c.client_id', 'a.client_id')
      .select(['a.id', 'a.client_id', 'a.org_unit_id', 'a.group_id', 'a.user_id', 'a.roles', 'a.granted_by'])
      .select([sql<string>`coalesce(c.metadata->>'client_name', c.client_id)`.as('client_name'), sql<boolean>`c.access_policy = 'restricted'`.as('client_restricted')])
      .orderBy('a.created_at').orderBy('a.id').execute(),
    db.selectFrom('role_assignments as r').leftJoin('users as u', 'u.id', 'r.user_id').leftJoin('clients as c', 'c.client_id', 'r.client_id')
      .select(['r.id', 'r.user_id', 'r.client_id', 'r.role', 'r.org_unit_id'])
      .select(sql<string>`coalesce(u.full_name || ' (' || u.username || ')', c.metadata->>'client_name', r.client_id)`.as('holder_name'))
      .orderBy('r.id').execute(),
    db.selectFrom('app_access_exclusions').select(['client_id', 'user_id']).execute(),
    db.selectFrom('sod_rules').select(['id', 'name', 'client_a', 'role_a', 'client_b', 'role_b']).orderBy('name').execute(),
  ]);
  return {
    units, people, concurrent, groups, groupMembers, roleAssignments, exclusions, sodRules,
    appAssignments: appAssignments.map((row) => ({ ...row, roles: typeof row.roles === 'string' ? JSON.parse(row.roles) as string[] : row.roles })),
  };
}

// ---- the statements that carry a plan out ----

/**
 * Locks every open unit until the plan commits. Whatever places people or groups in a unit reads
 * it under a share lock (findOrgUnitsForShare), so it waits, and then sees the unit as the plan left it.
 */
export async function lockOpenOrgUnits(trx: Kysely<Database>): Promise<void> {
  await trx.selectFrom('org_units').select('id').where('status', '=', 'active').orderBy('id').forUpdate().execute();
}

export async function insertUnitForPlan(trx: Kysely<Database>, unit: { code: string; name: string; kind: OrgUnitKind; parentId: string | null }): Promise<string> {
  const { rows } = await sql<{ id: string }>`
    with new_id as (select gen_random_uuid() as id), parent as (select path, depth from org_units where id = ${unit.parentId}::uuid)
    insert into org_units (id, code, name, kind, parent_id, path, depth)
    select new_id.id, ${unit.code}, ${unit.name}, ${unit.kind}, ${unit.parentId}::uuid,
      coalesce((select path from parent), '/') || new_id.id::text || '/', coalesce((select depth + 1 from parent), 0)
    from new_id
    returning id::text as id`.execute(trx);
  return rows[0]!.id;
}

/**
 * Moves a unit under a new parent: the unit's path and depth and those of every unit below it are
 * rewritten in one statement, from the paths as they stand in the transaction.
 */
export async function moveSubtreeUnder(trx: Kysely<Database>, unitId: string, parentId: string): Promise<void> {
  await sql`
    with moved as (select id, path, depth from org_units where id = ${unitId}::uuid),
      parent as (select path, depth from org_units where id = ${parentId}::uuid)
    update org_units o set
      path = parent.path || moved.id::text || '/' || substr(o.path, length(moved.path) + 1),
      depth = o.depth + parent.depth + 1 - moved.depth,
      parent_id = case when o.id = moved.id then ${parentId}::uuid else o.parent_id end,
      version = case when o.id = moved.id then o.version + 1 else o.version end,
      updated_at = case when o.id = moved.id then now() else o.updated_at end
    from moved, parent
    where o.path like moved.path || '%'`.execute(trx);
}

export async function setUnitForPlan(
  trx: Kysely<Database>,
  unitId: string,
  fields: { code?: string; name?: string; status?: 'closed'; closed_at?: Date; successor_id?: string | null; mfa_required?: true },
): Promise<void> {
  await trx.updateTable('org_units').set({ ...fields, version: sql<number>`version + 1`, updated_at: sql<Date>`now()` }).where('id', '=', unitId).execute();
}

/** Every column the history keeps of a unit, as it is now in the transaction. */
export async function unitStates(trx: Kysely<Database>, ids: readonly string[]): Promise<Map<string, Record<string, unknown>>> {
  if (ids.length === 0) return new Map();
  const rows = await trx.selectFrom('org_units').select(['id', 'code', 'name', 'kind', 'parent_id', 'path', 'depth', 'status', 'successor_id', 'mfa_required']).where('id', 'in', ids).execute();
  return new Map(rows.map(({ id, ...state }) => [id, state]));
}

export async function insertUnitHistory(trx: Kysely<Database>, rows: readonly { org_unit_id: string; plan_id: string; changed_at: Date; before: Record<string, unknown>; after: Record<string, unknown> }[]): Promise<void> {
  if (rows.length === 0) return;
  await trx.insertInto('org_unit_history').values(rows.map((row) => ({ ...row, before: JSON.stringify(row.before) as never, after: JSON.stringify(row.after) as never }))).execute();
}

export async function placePersonForPlan(
  trx: Kysely<Database>,
  change: { userId: string; primary: string | null; add: readonly { unitId: string; endsAt: Date | null }[]; remove: readonly string[] },
): Promise<void> {
  await trx.updateTable('users').set({ primary_org_unit_id: change.primary, version: sql<number>`version + 1`, updated_at: sql<Date>`now()` }).where('id', '=', change.userId).execute();
  if (change.remove.length > 0) await trx.deleteFrom('user_org_units').where('user_id', '=', change.userId).where('org_unit_id', 'in', change.remove).execute();
  if (change.add.length > 0) {
    await trx.insertInto('user_org_units').values(change.add.map((one) => ({ user_id: change.userId, org_unit_id: one.unitId, ends_at: one.endsAt })))
      .onConflict((oc) => oc.doNothing()).execute();
  }
}

/** Concurrent memberships that end (a mover's grace period), by person and unit. */
export async function endingMemberships(trx: Kysely<Database>): Promise<Map<string, Map<string, Date>>> {
  const rows = await trx.selectFrom('user_org_units').select(['user_id', 'org_unit_id', 'ends_at']).where('ends_at', 'is not', null).execute();
  const byPerson = new Map<string, Map<string, Date>>();
  for (const row of rows) {
    const units = byPerson.get(row.user_id) ?? new Map<string, Date>();
    units.set(row.org_unit_id, row.ends_at!);
    byPerson.set(row.user_id, units);
  }
  return byPerson;
}

export async function placeGroupForPlan(trx: Kysely<Database>, groupId: string, unitId: string, name: string): Promise<void> {
  await trx.updateTable('groups').set({ org_unit_id: unitId, name, version: sql<number>`version + 1`, updated_at: sql<Date>`now()` }).where('id', '=', groupId).execute();
}

export async function updateAppAssignmentForPlan(trx: Kysely<Database>, id: string, unitId: string, roles: readonly string[]): Promise<void> {
  await sql`update app_assignments set org_unit_id = ${unitId}::uuid, roles = ${JSON.stringify(roles)}::jsonb where id = ${id}::uuid`.execute(trx);
}

export async function deleteAppAssignmentsForPlan(trx: Kysely<Database>, ids: readonly string[]): Promise<void> {
  if (ids.length > 0) await trx.deleteFrom('app_assignments').where('id', 'in', ids).execute();
}

export async function updateRoleAssignmentForPlan(trx: Kysely<Database>, id: string, unitId: string): Promise<void> {
  await trx.updateTable('role_assignments').set({ org_unit_id: unitId }).where('id', '=', id).execute();
}

export async function deleteRoleAssignmentsForPlan(trx: Kysely<Database>, ids: readonly string[]): Promise<void> {
  if (ids.length > 0) await trx.deleteFrom('role_assignments').where('id', 'in', ids).execute();
}

// ---- the tree as it stood ----

export interface HistoricUnit {
  id: string; code: string; name: string; kind: OrgUnitKind; parent_id: string | null; path: string; depth: number; status: 'active' | 'closed'; successor_id: string | null;
}

/**
 * The tree as it stood at `at`: every unit that existed then, each as the oldest history row
 * written after `at` remembers it (its state before that change), or as it is now if nothing
 * changed it since. In tree order.
 */
export async function orgTreeAt(db: Kysely<Database>, at: Date): Promise<HistoricUnit[]> {
  const { rows } = await sql<HistoricUnit>`
    select u.id::text as id,
      coalesce(h.before->>'code', u.code) as code, coalesce(h.before->>'name', u.name) as name, coalesce(h.before->>'kind', u.kind) as kind,
      case when h.id is null then u.parent_id::text else h.before->>'parent_id' end as parent_id,
      coalesce(h.before->>'path', u.path) as path, coalesce((h.before->>'depth')::int, u.depth) as depth,
      coalesce(h.before->>'status', u.status) as status,
      case when h.id is null then u.successor_id::text else h.before->>'successor_id' end as successor_id
    from org_units u
    left join lateral (select id, before from org_unit_history where org_unit_id = u.id and changed_at > ${at} order by changed_at, id limit 1) h on true
    where u.created_at <= ${at}
    order by path`.execute(db);
  return rows;
}
