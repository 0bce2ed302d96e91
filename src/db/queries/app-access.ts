import { sql, type Expression, type Kysely, type SqlBool } from 'kysely';

import type { AppAccessPolicy, AppAssignment, Database } from '../schema.ts';

/**
 * A condition on an app_assignments row `a`: it covers the person whose id is `userId`, being
 * assigned to them, to a group they belong to, or to a unit at or above any unit they serve in
 * (primary or concurrent). What a move left behind counts until its grace period ends (ends_at),
 * even before the governance job gets round to removing it. Sign-in (coveringAppRoles) and SCIM
 * (db/queries/scim.ts) share it.
 */
export function assignmentCoversUser(userId: Expression<string>) {
  return sql<SqlBool>`(
      a.user_id = ${userId}
      or a.group_id in (select m.group_id from group_members m where m.user_id = ${userId} and (m.ends_at is null or m.ends_at > now()))
      or a.org_unit_id in (
        select above.id from org_units above, org_units served
        where served.id in (
          select u.primary_org_unit_id from users u where u.id = ${userId}
          union select c.org_unit_id from user_org_units c where c.user_id = ${userId} and (c.ends_at is null or c.ends_at > now())
        )
        and left(served.path, length(above.path)) = above.path
      ))`;
}

/** A condition: no access review took the person whose id is `userId` out of the app (an exclusion). */
export function notExcludedFromApp(clientId: string, userId: Expression<string>) {
  return sql<SqlBool>`not exists (select 1 from app_access_exclusions x where x.client_id = ${clientId} and x.user_id = ${userId})`;
}

/**
 * Whether an assignment of the app covers a person, and the app roles all covering assignments
 * grant, unless a review revoked their access (an exclusion). One statement.
 */
export async function coveringAppRoles(db: Kysely<Database>, clientId: string, userId: string): Promise<{ covered: boolean; roles: string[] }> {
  const user = sql<string>`${userId}::uuid`;
  const { rows } = await sql<{ roles: string[] | string }>`
    select a.roles from app_assignments a
    where a.client_id = ${clientId} and ${notExcludedFromApp(clientId, user)} and ${assignmentCoversUser(user)}`.execute(db);
  const roles = new Set(rows.flatMap((row) => (typeof row.roles === 'string' ? JSON.parse(row.roles) as string[] : row.roles)));
  return { covered: rows.length > 0, roles: [...roles].sort() };
}

export async function findAppPolicy(db: Kysely<Database>, clientId: string): Promise<AppAccessPolicy | undefined> {
  return (await db.selectFrom('clients').select('access_policy').where('client_id', '=', clientId).executeTakeFirst())?.access_policy;
}

export async function setAppPolicy(db: Kysely<Database>, clientId: string, policy: AppAccessPolicy): Promise<void> {
  await db.updateTable('clients').set({ access_policy: policy, updated_at: sql<Date>`now()` }).where('client_id', '=', clientId).execute();
}

export async function setClientScimAccess(db: Kysely<Database>, clientId: string, scimAccess: boolean): Promise<void> {
  await db.updateTable('clients').set({ scim_access: scimAccess, updated_at: sql<Date>`now()` }).where('client_id', '=', clientId).execute();
}

export async function listAppRoleNames(db: Kysely<Database>, clientId: string): Promise<string[]> {
  return (await db.selectFrom('app_roles').select('name').where('client_id', '=', clientId).orderBy('name').execute()).map((row) => row.name);
}

/** The app's roles with their descriptions, for the developer portal's form. */
export async function listAppRoles(db: Kysely<Database>, clientId: string): Promise<{ name: string; description: string | null }[]> {
  return db.selectFrom('app_roles').select(['name', 'description']).where('client_id', '=', clientId).orderBy('name').execute();
}

/**
 * The app's roles become exactly these; assignments keep only names that still exist. A role kept
 * is updated in place, not deleted and re-added: the separation-of-duties rules naming it stay.
 */
export async function replaceAppRoles(trx: Kysely<Database>, clientId: string, roles: readonly { name: string; description: string | null }[]): Promise<void> {
  let removed = trx.deleteFrom('app_roles').where('client_id', '=', clientId);
  if (roles.length > 0) removed = removed.where('name', 'not in', roles.map((role) => role.name));
  await removed.execute();
  if (roles.length > 0) {
    await trx.insertInto('app_roles').values(roles.map((role) => ({ client_id: clientId, ...role })))
      .onConflict((oc) => oc.columns(['client_id', 'name']).doUpdateSet((eb) => ({ description: eb.ref('excluded.description') })))
      .execute();
  }
  await sql`update app_assignments set roles = coalesce((
      select jsonb_agg(r.value order by r.value) from jsonb_array_elements_text(app_assignments.roles) r
      where r.value in (select name from app_roles where client_id = ${clientId})), '[]'::jsonb)
    where client_id = ${clientId}`.execute(trx);
}

export interface AppAssignmentRow extends AppAssignment {
  /** The path of the unit the assignment names, or of the group's unit, or of the person's primary unit. */
  readonly holder_path: string | null;
  readonly holder_name: string | null;
}

export async function insertAppAssignment(
  trx: Kysely<Database>,
  assignment: { client_id: string; org_unit_id: string | null; group_id: string | null; user_id: string | null; roles: readonly string[]; granted_by: string },
): Promise<string | undefined> {
  const { rows } = await sql<{ id: string }>`
    insert into app_assignments (client_id, org_unit_id, group_id, user_id, roles, granted_by)
    values (${assignment.client_id}, ${assignment.org_unit_id}::uuid, ${assignment.group_id}::uuid, ${assignment.user_id}::uuid,
      ${JSON.stringify(assignment.roles)}::jsonb, ${assignment.granted_by})
    on conflict do nothing
    returning id::text as id`.execute(trx);
  return rows[0]?.id;
}

export async function listAppAssignments(db: Kysely<Database>, filter: { clientId?: string; id?: string }): Promise<AppAssignmentRow[]> {
  let query = db.selectFrom('app_assignments as a')
    .leftJoin('org_units as unit', 'unit.id', 'a.org_unit_id')
    .leftJoin('groups as g', 'g.id', 'a.group_id')
    .leftJoin('org_units as group_unit', 'group_unit.id', 'g.org_unit_id')
    .leftJoin('users as u', 'u.id', 'a.user_id')
    .leftJoin('org_units as user_unit', 'user_unit.id', 'u.primary_org_unit_id')
    .selectAll('a')
    .select([
      sql<string | null>`coalesce(unit.path, group_unit.path, user_unit.path)`.as('holder_path'),
      sql<string | null>`coalesce(unit.name, g.name, u.full_name)`.as('holder_name'),
    ])
    .orderBy('a.created_at');
  if (filter.clientId !== undefined) query = query.where('a.client_id', '=', filter.clientId);
  if (filter.id !== undefined) query = query.where(sql<boolean>`a.id::text = ${filter.id}`);
  return query.execute();
}

export async function deleteAppAssignment(trx: Kysely<Database>, id: string): Promise<void> {
  await trx.deleteFrom('app_assignments').where(sql<boolean>`id::text = ${id}`).execute();
}

/** The unit administrators nearest above a person's unit: whom to ask for access. */
export async function nearestUnitAdmins(db: Kysely<Database>, userId: string, limit = 3): Promise<{ full_name: string; email: string | null }[]> {
  const { rows } = await sql<{ full_name: string; email: string | null }>`
    select admin.full_name, admin.email from role_assignments r
    join org_units scope on scope.id = r.org_unit_id
    join users admin on admin.id = r.user_id and admin.status = 'active'
    join users person on person.id = ${userId}::uuid
    join org_units home on home.id = person.primary_org_unit_id
    where r.role = 'org_admin' and left(home.path, length(scope.path)) = scope.path and admin.id <> person.id
    order by length(scope.path) desc, admin.full_name
    limit ${limit}`.execute(db);
  return rows;
}

/** Every role active apps declare, with the app's name: the choices for a separation-of-duties rule. */
export async function listDeclaredAppRoles(db: Kysely<Database>): Promise<{ client_id: string; app_name: string; name: string }[]> {
  const { rows } = await sql<{ client_id: string; app_name: string; name: string }>`
    select r.client_id, coalesce(c.metadata->>'client_name', c.client_id) as app_name, r.name
    from app_roles r join clients c on c.client_id = r.client_id and c.status = 'active'
    order by app_name, r.name`.execute(db);
  return rows;
}

/** Lets a person a review took out of an app back in (an admin assigned it to them by name). */
export async function liftAppAccessExclusion(trx: Kysely<Database>, clientId: string, userId: string): Promise<boolean> {
  const result = await trx.deleteFrom('app_access_exclusions').where('client_id', '=', clientId).where(sql<boolean>`user_id::text = ${userId}`).executeTakeFirst();
  return result.numDeletedRows > 0n;
}
