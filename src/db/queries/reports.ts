import { sql, type Kysely } from 'kysely';

import type { Database } from '../schema.ts';
import { orgUnitInSubtrees } from './org-units.ts';
import { userInSubtrees } from './users.ts';

/**
 * The governance reports, each limited to the reader's subtrees (null: the whole province) and
 * capped, since they are read by people and filed as spreadsheets.
 */
export const reportRowLimit = 20_000;

export interface PersonReportRow {
  readonly id: string;
  readonly username: string;
  readonly full_name: string;
  readonly status: string;
  readonly unit_code: string | null;
  readonly unit_name: string | null;
  readonly last_login_at: Date | null;
  readonly created_at: Date;
}

const people = (db: Kysely<Database>, subtrees: readonly string[] | null) => {
  let query = db.selectFrom('users')
    .leftJoin('org_units', 'org_units.id', 'users.primary_org_unit_id')
    .select([
      'users.id', 'users.username', 'users.full_name', 'users.status', 'org_units.code as unit_code', 'org_units.name as unit_name',
      'users.last_login_at', 'users.created_at',
    ])
    .orderBy('users.family_name_sort').orderBy('users.id')
    .limit(reportRowLimit);
  if (subtrees !== null) query = query.where(userInSubtrees(subtrees));
  return query;
};

/** Active people who have not signed in for `days` days (or ever, and were created that long ago). */
export function inactivePeople(db: Kysely<Database>, subtrees: readonly string[] | null, days: number): Promise<PersonReportRow[]> {
  return people(db, subtrees)
    .where('users.status', '=', 'active')
    .where(sql<boolean>`coalesce(users.last_login_at, users.created_at) < now() - make_interval(days => ${days})`)
    .execute();
}

export function peopleWithoutSecondFactor(db: Kysely<Database>, subtrees: readonly string[] | null): Promise<PersonReportRow[]> {
  return people(db, subtrees)
    .where('users.status', '=', 'active')
    .where((eb) => eb.not(eb.exists(eb.selectFrom('user_factors').select('user_factors.id')
      .whereRef('user_factors.user_id', '=', 'users.id').where('user_factors.confirmed_at', 'is not', null))))
    .execute();
}

/** People not disabled (nor merged into another) whose primary unit is missing or closed: someone must place them. */
export function peopleWithoutActiveUnit(db: Kysely<Database>, subtrees: readonly string[] | null): Promise<PersonReportRow[]> {
  return people(db, subtrees)
    .where('users.status', 'not in', ['disabled', 'merged'])
    .where((eb) => eb.or([eb('users.primary_org_unit_id', 'is', null), eb('org_units.status', '=', 'closed')]))
    .execute();
}

export interface PrivilegedRow {
  readonly username: string;
  readonly full_name: string;
  readonly status: string;
  readonly role: string;
  readonly scope_code: string | null;
  readonly granted_by: string | null;
  readonly created_at: Date;
}

/** Every admin role held by a person, over the reader's subtrees (global roles only to a global reader). */
export function privilegedPeople(db: Kysely<Database>, subtrees: readonly string[] | null): Promise<PrivilegedRow[]> {
  let query = db.selectFrom('role_assignments')
    .innerJoin('users', 'users.id', 'role_assignments.user_id')
    .leftJoin('org_units', 'org_units.id', 'role_assignments.org_unit_id')
    .select([
      'users.username', 'users.full_name', 'users.status', 'role_assignments.role', 'org_units.code as scope_code',
      'role_assignments.granted_by', 'role_assignments.created_at',
    ])
    .orderBy('role_assignments.role').orderBy('users.username')
    .limit(reportRowLimit);
  if (subtrees !== null) query = query.where(orgUnitInSubtrees(sql.ref('role_assignments.org_unit_id'), subtrees));
  return query.execute();
}

export interface AppAccessRow {
  readonly client_id: string;
  readonly app_name: string;
  readonly access_policy: string;
  readonly holder_kind: 'everyone' | 'unit' | 'group' | 'person';
  readonly holder_name: string | null;
  readonly roles: string;
}

/**
 * Who can use what, and why: an open app is open to everyone; a restricted app to each of its
 * assignments (a unit and below, a group, a person), with the roles they carry.
 */
export async function appAccessMatrix(db: Kysely<Database>, subtrees: readonly string[] | null): Promise<AppAccessRow[]> {
  const scope = subtrees === null ? sql<boolean>`true` : orgUnitInSubtrees(sql.ref('holder_unit.id'), subtrees);
  const { rows } = await sql<AppAccessRow>`
    select c.client_id, coalesce(c.metadata->>'client_name', c.client_id) as app_name, c.access_policy,
      case when a.id is null then 'everyone' when a.org_unit_id is not null then 'unit' when a.group_id is not null then 'group' else 'person' end as holder_kind,
      coalesce(unit.name, g.name, u.full_name) as holder_name,
      coalesce((select string_agg(r.value, ' ' order by r.value) from jsonb_array_elements_text(a.roles) r), '') as roles
    from clients c
    left join app_assignments a on a.client_id = c.client_id and c.access_policy = 'restricted'
    left join org_units unit on unit.id = a.org_unit_id
    left join groups g on g.id = a.group_id
    left join users u on u.id = a.user_id
    left join org_units holder_unit on holder_unit.id = coalesce(a.org_unit_id, g.org_unit_id, u.primary_org_unit_id)
    where c.status = 'active' and c.metadata->>'grant_types' <> '["client_credentials"]'
      and (c.access_policy = 'open' or a.id is null or ${scope})
    order by app_name, holder_kind, holder_name
    limit ${reportRowLimit}`.execute(db);
  return rows;
}
