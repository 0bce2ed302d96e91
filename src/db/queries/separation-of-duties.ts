import { sql, type Kysely, type RawBuilder } from 'kysely';

import type { Database, SodRule } from '../schema.ts';
import { pathInSubtrees } from './scope.ts';

export interface SodRuleRow extends SodRule {
  readonly app_a: string;
  readonly app_b: string;
}

const ruleColumns = sql`r.*, coalesce(a.metadata->>'client_name', r.client_a) as app_a, coalesce(b.metadata->>'client_name', r.client_b) as app_b`;

export async function listSodRules(db: Kysely<Database>, filter: { id?: string } = {}): Promise<SodRuleRow[]> {
  const { rows } = await sql<SodRuleRow>`
    select ${ruleColumns} from sod_rules r
    join clients a on a.client_id = r.client_a
    join clients b on b.client_id = r.client_b
    where ${filter.id === undefined ? sql`true` : sql`r.id::text = ${filter.id}`}
    order by r.name, r.created_at`.execute(db);
  return rows;
}

export async function insertSodRule(
  trx: Kysely<Database>,
  rule: { name: string; description: string | null; client_a: string; role_a: string; client_b: string; role_b: string; created_by: string },
): Promise<string | undefined> {
  const { rows } = await sql<{ id: string }>`
    insert into sod_rules (name, description, client_a, role_a, client_b, role_b, created_by)
    values (${rule.name}, ${rule.description}, ${rule.client_a}, ${rule.role_a}, ${rule.client_b}, ${rule.role_b}, ${rule.created_by})
    on conflict do nothing
    returning id::text as id`.execute(trx);
  return rows[0]?.id;
}

export async function deleteSodRule(trx: Kysely<Database>, id: string): Promise<void> {
  await trx.deleteFrom('sod_rules').where(sql<boolean>`id::text = ${id}`).execute();
}

/** Whose roles to look at: the people an assignment reaches, some people, or everyone in some subtrees (null: everyone). */
export type SodFilter = { readonly assignmentId: string } | { readonly userIds: readonly string[] } | { readonly subtrees: readonly string[] | null };

export interface SodViolation {
  readonly rule_id: string;
  readonly rule_name: string;
  readonly user_id: string;
  readonly username: string;
  readonly full_name: string;
  readonly unit_id: string | null;
  readonly unit_name: string | null;
  readonly app_a: string;
  readonly role_a: string;
  readonly app_b: string;
  readonly role_b: string;
}

/** The people a filter names, as a subquery of user ids. */
function peopleOf(filter: SodFilter): RawBuilder<unknown> {
  if ('userIds' in filter) {
    return filter.userIds.length === 0 ? sql`select null::uuid where false` : sql`select unnest(${[...filter.userIds]}::uuid[])`;
  }
  if ('assignmentId' in filter) {
    const id = filter.assignmentId;
    // Everyone the assignment reaches: its person, its group's members, or whoever serves in its unit's subtree.
    return sql`
      select a.user_id from app_assignments a where a.id::text = ${id} and a.user_id is not null
      union select m.user_id from app_assignments a join group_members m on m.group_id = a.group_id where a.id::text = ${id}
      union select s.user_id from app_assignments a join org_units top on top.id = a.org_unit_id
        join org_units below on left(below.path, length(top.path)) = top.path
        join (select id as user_id, primary_org_unit_id as unit_id from users union select user_id, org_unit_id from user_org_units) s on s.unit_id = below.id
        where a.id::text = ${id}`;
  }
  if (filter.subtrees === null) return sql`select id from users`;
  return sql`select u.id from users u join org_units home on home.id = u.primary_org_unit_id where ${pathInSubtrees(sql.ref('home.path'), filter.subtrees)}`;
}

/**
 * Every pair of roles a rule forbids that one person holds in one unit. A person holds an app role
 * in a unit they serve in (primary or concurrent) when an assignment carrying it names that unit or
 * one above it; an assignment to the person or to a group they belong to holds in each of their
 * units (or, for someone with no unit, in none in particular). Disabled people, and people a review
 * took out of the app, hold nothing there.
 */
export async function findSodViolations(db: Kysely<Database>, filter: SodFilter, limit = 1000): Promise<SodViolation[]> {
  const { rows } = await sql<SodViolation>`
    with people as (${peopleOf(filter)}),
    served as (
      select u.id as user_id, u.primary_org_unit_id as unit_id from users u where u.id in (select * from people) and u.status not in ('disabled', 'merged')
      union
      select m.user_id, m.org_unit_id from user_org_units m join users u on u.id = m.user_id and u.status not in ('disabled', 'merged') where m.user_id in (select * from people)
    ),
    ruled as (select client_a as client_id, role_a as role from sod_rules union select client_b, role_b from sod_rules),
    held as (
      select s.user_id, s.unit_id, a.client_id, r.value as role
      from served s
      left join org_units here on here.id = s.unit_id
      join app_assignments a on a.client_id in (select client_id from ruled) and (
        a.user_id = s.user_id
        or a.group_id in (select g.group_id from group_members g where g.user_id = s.user_id)
        or a.org_unit_id in (select above.id from org_units above where left(here.path, length(above.path)) = above.path)
      )
      cross join lateral jsonb_array_elements_text(a.roles) as r(value)
      where (a.client_id, r.value) in (select client_id, role from ruled)
        and not exists (select 1 from app_access_exclusions x where x.client_id = a.client_id and x.user_id = s.user_id)
    )
    select distinct rule.id::text as rule_id, rule.name as rule_name, person.id::text as user_id, person.username, person.full_name,
      one.unit_id::text as unit_id, unit.name as unit_name,
      coalesce(ca.metadata->>'client_name', rule.client_a) as app_a, rule.role_a, coalesce(cb.metadata->>'client_name', rule.client_b) as app_b, rule.role_b
    from sod_rules rule
    join held one on one.client_id = rule.client_a and one.role = rule.role_a
    join held other on other.client_id = rule.client_b and other.role = rule.role_b and other.user_id = one.user_id
      and other.unit_id is not distinct from one.unit_id
    join users person on person.id = one.user_id
    left join org_units unit on unit.id = one.unit_id
    join clients ca on ca.client_id = rule.client_a
    join clients cb on cb.client_id = rule.client_b
    order by rule.name, person.username, unit.name
    limit ${limit}`.execute(db);
  return rows;
}
