import { sql, type Expression, type Kysely, type RawBuilder, type SqlBool } from 'kysely';

import type { GroupFilterAttribute, ResolvedFilter, UserFilterAttribute, ValueType } from '../../domain/scim/resolved-filter.ts';
import type { Database, Group, User } from '../schema.ts';
import { assignmentCoversUser, notExcludedFromApp } from './app-access.ts';
import { isUuid } from './ids.ts';
import { escapeLike } from './scope.ts';

/**
 * What a SCIM client reads, and the compilation of its filters into SQL. Every filter arrives
 * resolved (domain/scim/resolved-filter.ts): each attribute one of a fixed list, each value checked
 * against its type. Attributes become the fixed expressions below, values become bound parameters:
 * nothing a client writes is ever spliced into SQL text.
 */

/** Who is reading: the app's client, and whether its access policy is restricted to its assignments. */
export interface ScimAudience {
  readonly clientId: string;
  readonly restricted: boolean;
}

/**
 * The people a SCIM client sees, as a condition on the users row `alias`: everyone the app's
 * policy covers (an open app, everyone; a restricted one, those an assignment covers and no access
 * review took out, exactly whom sign-in lets in), except the disabled. A disabled account is a leaver's, and SCIM says a deleted resource answers 404: DELETE
 * disables, so a disabled person is, for SCIM, deleted. So is an account merged into another: the person lives on as the survivor.
 */
export function userVisibleTo(audience: ScimAudience, alias: string): Expression<SqlBool> {
  const notDisabled = sql<SqlBool>`${sql.ref(`${alias}.status`)} not in ('disabled', 'merged')`;
  if (!audience.restricted) return notDisabled;
  const user = sql.ref<string>(`${alias}.id`);
  return sql<SqlBool>`(${notDisabled} and ${notExcludedFromApp(audience.clientId, user)} and exists (select 1 from app_assignments a
    where a.client_id = ${audience.clientId} and ${assignmentCoversUser(user)}))`;
}

/**
 * The groups a SCIM client sees: every group for an open app; for a restricted one, the groups an
 * assignment names and the groups kept by a unit inside an assigned subtree. A group that merely
 * holds a covered person stays out of sight: its name belongs to another unit.
 */
export function groupVisibleTo(audience: ScimAudience, alias: string): Expression<SqlBool> {
  if (!audience.restricted) return sql<SqlBool>`true`;
  return sql<SqlBool>`exists (select 1 from app_assignments a where a.client_id = ${audience.clientId} and (
    a.group_id = ${sql.ref(`${alias}.id`)}
    or a.org_unit_id in (select above.id from org_units above, org_units kept
      where kept.id = ${sql.ref(`${alias}.org_unit_id`)} and left(kept.path, length(above.path)) = above.path)))`;
}

/** How one filterable attribute reads in SQL: its expression, and for a value of a multi-valued attribute, the attribute. */
interface Column {
  readonly sql: RawBuilder<unknown>;
  /** For sub-attributes of a multi-valued attribute: the condition "some value matches". */
  readonly within?: string;
  /** Names compare without regard to diacritics in co, sw and ew: "nguyen" finds "Nguyễn". */
  readonly folded?: boolean;
  /** What sorting by it orders by, when that differs (the Vietnamese alphabet for names). */
  readonly sortBy?: RawBuilder<unknown>;
}

const userColumns = (audience: ScimAudience): { columns: Record<UserFilterAttribute, Column>; containers: Record<string, (condition: Expression<SqlBool>) => Expression<SqlBool>> } => ({
  columns: {
    'id': { sql: sql`users.id::text` },
    'userName': { sql: sql`users.username` },
    'name.formatted': { sql: sql`users.full_name`, folded: true, sortBy: sql`users.family_name_sort` },
    'displayName': { sql: sql`users.full_name`, folded: true, sortBy: sql`users.family_name_sort` },
    // As vietnamese-names.ts splits: the first word, when there are two or more; the last word.
    'name.familyName': { sql: sql`case when users.full_name like '% %' then split_part(users.full_name, ' ', 1) end`, folded: true, sortBy: sql`users.family_name_sort` },
    'name.givenName': { sql: sql`substring(users.full_name from '(\\S+)\\s*$')`, folded: true, sortBy: sql`users.given_name_sort` },
    'title': { sql: sql`users.position`, folded: true },
    'active': { sql: sql`(users.status = 'active')` },
    'emails.value': { sql: sql`users.email`, within: 'emails' },
    'emails.type': { sql: sql`case when users.email is not null then 'work' end`, within: 'emails' },
    'phoneNumbers.value': { sql: sql`users.phone`, within: 'phoneNumbers' },
    'phoneNumbers.type': { sql: sql`case when users.phone is not null then 'work' end`, within: 'phoneNumbers' },
    'groups.value': { sql: sql`g.id::text`, within: 'groups' },
    'groups.display': { sql: sql`g.name`, within: 'groups', folded: true },
    'meta.created': { sql: sql`users.created_at` },
    'meta.lastModified': { sql: sql`users.updated_at` },
    'employeeNumber': { sql: sql`users.employee_code` },
    'organization': { sql: sql`root.name`, folded: true },
    'department': { sql: sql`unit.name`, folded: true },
    'orgUnit.value': { sql: sql`users.primary_org_unit_id::text` },
    'orgUnit.code': { sql: sql`unit.code` },
  },
  containers: {
    // One address and one number at most: "some value matches" is "there is one, and it matches".
    emails: (condition) => sql<SqlBool>`(users.email is not null and ${condition})`,
    phoneNumbers: (condition) => sql<SqlBool>`(users.phone is not null and ${condition})`,
    groups: (condition) => sql<SqlBool>`exists (select 1 from group_members gm join groups g on g.id = gm.group_id
      where gm.user_id = users.id and ${groupVisibleTo(audience, 'g')} and ${condition})`,
  },
});

const groupColumns = (audience: ScimAudience): { columns: Record<GroupFilterAttribute, Column>; containers: Record<string, (condition: Expression<SqlBool>) => Expression<SqlBool>> } => ({
  columns: {
    'id': { sql: sql`groups.id::text` },
    'displayName': { sql: sql`groups.name`, folded: true },
    'members.value': { sql: sql`gm.user_id::text`, within: 'members' },
    'members.display': { sql: sql`mu.full_name`, within: 'members', folded: true },
    'meta.created': { sql: sql`groups.created_at` },
    'meta.lastModified': { sql: sql`groups.updated_at` },
    'orgUnit.value': { sql: sql`groups.org_unit_id::text` },
    'orgUnit.code': { sql: sql`unit.code` },
  },
  containers: {
    // Only members the client may see: a filter must not tell it who else belongs.
    members: (condition) => sql<SqlBool>`exists (select 1 from group_members gm join users mu on mu.id = gm.user_id
      where gm.group_id = groups.id and ${userVisibleTo(audience, 'mu')} and ${condition})`,
  },
});

const likeOperators = { co: (v: string) => `%${escapeLike(v)}%`, sw: (v: string) => `${escapeLike(v)}%`, ew: (v: string) => `%${escapeLike(v)}` } as const;
const orderOperators = { gt: sql.raw('>'), ge: sql.raw('>='), lt: sql.raw('<'), le: sql.raw('<=') } as const;

function compareCondition(column: Column, type: ValueType, caseExact: boolean, operator: keyof typeof likeOperators | keyof typeof orderOperators | 'eq' | 'ne', value: string | boolean | Date | null): RawBuilder<SqlBool> {
  const expression = column.sql;
  if (value === null) return operator === 'eq' ? sql<SqlBool>`(${expression} is null)` : sql<SqlBool>`(${expression} is not null)`;
  if (type === 'boolean') {
    const equal = sql<SqlBool>`coalesce(${expression} = ${value}, false)`;
    return operator === 'ne' ? sql<SqlBool>`not ${equal}` : equal;
  }
  if (value instanceof Date) {
    // Timestamps are shown to the millisecond, so they are compared to the millisecond.
    const instant = sql`date_trunc('milliseconds', ${expression})`;
    if (operator === 'eq' || operator === 'ne') {
      const equal = sql<SqlBool>`coalesce(${instant} = ${value}, false)`;
      return operator === 'ne' ? sql<SqlBool>`not ${equal}` : equal;
    }
    return sql<SqlBool>`coalesce(${instant} ${orderOperators[operator as keyof typeof orderOperators]} ${value}, false)`;
  }
  const text = value as string;
  if (operator === 'co' || operator === 'sw' || operator === 'ew') {
    const pattern = likeOperators[operator](text);
    if (column.folded) return sql<SqlBool>`coalesce(mekong_search_key(${expression}) like mekong_search_key(${pattern}), false)`;
    return caseExact ? sql<SqlBool>`coalesce(${expression} like ${pattern}, false)` : sql<SqlBool>`coalesce(lower(${expression}) like lower(${pattern}), false)`;
  }
  const left = caseExact ? expression : sql`lower(${expression})`;
  const right = caseExact ? sql`${text}` : sql`lower(${text})`;
  if (operator === 'eq' || operator === 'ne') {
    const equal = sql<SqlBool>`coalesce(${left} = ${right}, false)`;
    return operator === 'ne' ? sql<SqlBool>`not ${equal}` : equal;
  }
  return sql<SqlBool>`coalesce(${left} collate "C" ${orderOperators[operator]} ${right} collate "C", false)`;
}

function presentCondition(column: Column, type: ValueType): RawBuilder<SqlBool> {
  return type === 'string' ? sql<SqlBool>`coalesce(${column.sql} <> '', false)` : sql<SqlBool>`(${column.sql} is not null)`;
}

function compile<A extends string>(
  filter: ResolvedFilter<A>,
  columns: Record<A, Column>,
  containers: Record<string, (condition: Expression<SqlBool>) => Expression<SqlBool>>,
  inside: string | null,
): Expression<SqlBool> {
  switch (filter.kind) {
    case 'and':
      return sql<SqlBool>`(${compile(filter.left, columns, containers, inside)} and ${compile(filter.right, columns, containers, inside)})`;
    case 'or':
      return sql<SqlBool>`(${compile(filter.left, columns, containers, inside)} or ${compile(filter.right, columns, containers, inside)})`;
    case 'not':
      return sql<SqlBool>`(not ${compile(filter.filter, columns, containers, inside)})`;
    case 'any':
      return containers[filter.attribute]!(compile(filter.filter, columns, containers, filter.attribute));
    case 'present':
    case 'compare': {
      const column = columns[filter.attribute];
      const condition = filter.kind === 'present'
        ? presentCondition(column, filter.type)
        : compareCondition(column, filter.type, filter.caseExact, filter.operator, filter.value);
      // A sub-attribute of a multi-valued attribute, named outside "[…]": some value matches.
      return column.within !== undefined && inside === null ? containers[column.within]!(condition) : condition;
    }
  }
}

export interface ScimListOptions<A extends string> {
  readonly filter: ResolvedFilter<A> | null;
  readonly sortBy: A | null;
  readonly descending: boolean;
  /** 1-based, as SCIM counts. */
  readonly startIndex: number;
  readonly count: number;
}

function orderExpression(column: Column | undefined): RawBuilder<unknown> | null {
  if (!column || column.within !== undefined) return null;
  return column.sortBy ?? column.sql;
}

export interface ScimUserRow extends User {
  readonly unit_code: string | null;
  readonly unit_name: string | null;
  readonly organization: string | null;
}

const usersWithUnits = (db: Kysely<Database>) =>
  db.selectFrom('users')
    .leftJoin('org_units as unit', 'unit.id', 'users.primary_org_unit_id')
    // The top unit above the person's: the first id of the unit's path ("/<root>/…/").
    .leftJoin('org_units as root', (join) => join.on(sql<SqlBool>`root.id::text = split_part(unit.path, '/', 2)`));

export async function listScimUsers(db: Kysely<Database>, audience: ScimAudience, options: ScimListOptions<UserFilterAttribute>): Promise<{ total: number; rows: ScimUserRow[] }> {
  const { columns, containers } = userColumns(audience);
  let base = usersWithUnits(db).where(userVisibleTo(audience, 'users'));
  if (options.filter) base = base.where(compile(options.filter, columns, containers, null));
  const counted = await base.select((eb) => eb.fn.countAll<string>().as('total')).executeTakeFirstOrThrow();
  if (options.count === 0) return { total: Number(counted.total), rows: [] };
  const order = orderExpression(options.sortBy === null ? undefined : columns[options.sortBy]) ?? sql`users.created_at`;
  const rows = await base
    .selectAll('users')
    .select(['unit.code as unit_code', 'unit.name as unit_name', 'root.name as organization'])
    .orderBy(sql`${order} ${sql.raw(options.descending ? 'desc nulls last' : 'asc nulls last')}`)
    .orderBy('users.id')
    .offset(options.startIndex - 1)
    .limit(options.count)
    .execute();
  return { total: Number(counted.total), rows };
}

export async function findScimUser(db: Kysely<Database>, audience: ScimAudience, id: string): Promise<ScimUserRow | undefined> {
  if (!isUuid(id)) return undefined;
  return usersWithUnits(db)
    .selectAll('users')
    .select(['unit.code as unit_code', 'unit.name as unit_name', 'root.name as organization'])
    .where(userVisibleTo(audience, 'users'))
    .where('users.id', '=', id)
    .executeTakeFirst();
}

export interface ScimGroupRow extends Group {
  readonly unit_code: string;
  readonly unit_name: string;
}

const groupsWithUnits = (db: Kysely<Database>) => db.selectFrom('groups').innerJoin('org_units as unit', 'unit.id', 'groups.org_unit_id');

export async function listScimGroups(db: Kysely<Database>, audience: ScimAudience, options: ScimListOptions<GroupFilterAttribute>): Promise<{ total: number; rows: ScimGroupRow[] }> {
  const { columns, containers } = groupColumns(audience);
  let base = groupsWithUnits(db).where(groupVisibleTo(audience, 'groups'));
  if (options.filter) base = base.where(compile(options.filter, columns, containers, null));
  const counted = await base.select((eb) => eb.fn.countAll<string>().as('total')).executeTakeFirstOrThrow();
  if (options.count === 0) return { total: Number(counted.total), rows: [] };
  const order = orderExpression(options.sortBy === null ? undefined : columns[options.sortBy]) ?? sql`groups.created_at`;
  const rows = await base
    .selectAll('groups')
    .select(['unit.code as unit_code', 'unit.name as unit_name'])
    .orderBy(sql`${order} ${sql.raw(options.descending ? 'desc nulls last' : 'asc nulls last')}`)
    .orderBy('groups.id')
    .offset(options.startIndex - 1)
    .limit(options.count)
    .execute();
  return { total: Number(counted.total), rows };
}

export async function findScimGroup(db: Kysely<Database>, audience: ScimAudience, id: string): Promise<ScimGroupRow | undefined> {
  if (!isUuid(id)) return undefined;
  return groupsWithUnits(db)
    .selectAll('groups')
    .select(['unit.code as unit_code', 'unit.name as unit_name'])
    .where(groupVisibleTo(audience, 'groups'))
    .where('groups.id', '=', id)
    .executeTakeFirst();
}

/** The groups of each person that the client may see, by name. */
export async function visibleGroupsOfUsers(db: Kysely<Database>, audience: ScimAudience, userIds: readonly string[]): Promise<Map<string, { id: string; name: string }[]>> {
  const groups = new Map<string, { id: string; name: string }[]>(userIds.map((id) => [id, []]));
  if (userIds.length === 0) return groups;
  const rows = await db.selectFrom('group_members as gm').innerJoin('groups as g', 'g.id', 'gm.group_id')
    .select(['gm.user_id', 'g.id', 'g.name'])
    .where('gm.user_id', 'in', userIds)
    .where(groupVisibleTo(audience, 'g'))
    .orderBy('g.name').orderBy('g.id')
    .execute();
  for (const row of rows) groups.get(row.user_id)?.push({ id: row.id, name: row.name });
  return groups;
}

/** The members of each group that the client may see, by name. */
export async function visibleMembersOfGroups(db: Kysely<Database>, audience: ScimAudience, groupIds: readonly string[]): Promise<Map<string, { id: string; full_name: string }[]>> {
  const members = new Map<string, { id: string; full_name: string }[]>(groupIds.map((id) => [id, []]));
  if (groupIds.length === 0) return members;
  const rows = await db.selectFrom('group_members as gm').innerJoin('users as mu', 'mu.id', 'gm.user_id')
    .select(['gm.group_id', 'mu.id', 'mu.full_name'])
    .where('gm.group_id', 'in', groupIds)
    .where(userVisibleTo(audience, 'mu'))
    .orderBy('mu.family_name_sort').orderBy('mu.id')
    .execute();
  for (const row of rows) members.get(row.group_id)?.push({ id: row.id, full_name: row.full_name });
  return members;
}
