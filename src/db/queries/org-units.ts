import { sql, type Expression, type Kysely, type SqlBool } from 'kysely';

import type { Database, OrgUnit, OrgUnitKind, OrgUnitStatus } from '../schema.ts';
import { isUuid } from './ids.ts';
import { escapeLike, likeEscapedSearchKey, pathInSubtrees } from './scope.ts';

/** A condition: the unit `unitId` lies in one of `subtrees`; an empty list matches nothing. */
export function orgUnitInSubtrees(unitId: Expression<string | null>, subtrees: readonly string[]): Expression<SqlBool> {
  if (subtrees.length === 0) return sql<SqlBool>`false`;
  return sql<SqlBool>`exists (select 1 from org_units scope_unit where scope_unit.id = ${unitId}
    and ${pathInSubtrees(sql.ref('scope_unit.path'), subtrees)})`;
}

/** A unit and every unit above it, the root first (its path names them all). */
export async function unitWithAncestors(db: Kysely<Database>, id: string): Promise<OrgUnit[]> {
  return db.selectFrom('org_units as above').selectAll('above')
    .innerJoin('org_units as unit', (join) => join.on(sql<boolean>`left(unit.path, length(above.path)) = above.path`))
    .where('unit.id', '=', id)
    .orderBy('above.depth')
    .execute();
}

export async function findOrgUnitById(db: Kysely<Database>, id: string): Promise<OrgUnit | undefined> {
  if (!isUuid(id)) return undefined;
  return db.selectFrom('org_units').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Locks a unit's row until the transaction ends, for a read-check-write. */
export async function lockOrgUnit(trx: Kysely<Database>, id: string): Promise<void> {
  if (!isUuid(id)) return;
  await trx.selectFrom('org_units').select('id').where('id', '=', id).forUpdate().execute();
}

/**
 * Reads units under a share lock: what places people or groups in them holds them open until it
 * commits, and a close that comes first is seen.
 */
export async function findOrgUnitsForShare(trx: Kysely<Database>, ids: readonly string[]): Promise<OrgUnit[]> {
  const valid = ids.filter(isUuid);
  if (valid.length === 0) return [];
  return trx.selectFrom('org_units').selectAll().where('id', 'in', valid).orderBy('id').forShare().execute();
}

/**
 * Serializes changes to the tree's shape (create, move, close, reopen, delete): a move computes
 * paths from the new parent's path, which must not move meanwhile. They are rare; one lock is enough.
 */
export async function lockOrgTree(trx: Kysely<Database>): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext('mekong_id.org_tree'))`.execute(trx);
}

export async function findOrgUnitByCode(db: Kysely<Database>, code: string): Promise<OrgUnit | undefined> {
  return db.selectFrom('org_units').selectAll().where(sql`upper(code)`, '=', code.toUpperCase()).executeTakeFirst();
}

export async function findOrgUnitsByCodes(db: Kysely<Database>, codes: readonly string[]): Promise<OrgUnit[]> {
  if (codes.length === 0) return [];
  return db.selectFrom('org_units').selectAll().where(sql`upper(code)`, 'in', codes.map((code) => code.toUpperCase())).execute();
}

export async function insertOrgUnit(
  db: Kysely<Database>,
  unit: { code: string; name: string; kind: OrgUnitKind; parent: Pick<OrgUnit, 'id' | 'path' | 'depth'> | null },
): Promise<OrgUnit> {
  // The id is chosen first because the unit's own path ends with it.
  const { rows } = await sql<{ id: string }>`select gen_random_uuid()::text as id`.execute(db);
  const id = rows[0]!.id;
  return db
    .insertInto('org_units')
    .values({
      id,
      code: unit.code,
      name: unit.name,
      kind: unit.kind,
      parent_id: unit.parent?.id ?? null,
      path: `${unit.parent?.path ?? '/'}${id}/`,
      depth: unit.parent ? unit.parent.depth + 1 : 0,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Changes a unit's own fields if its version is still `expectedVersion`; undefined when it moved on. */
export async function updateOrgUnitFields(
  db: Kysely<Database>,
  id: string,
  expectedVersion: number,
  fields: { name?: string; kind?: OrgUnitKind; code?: string; status?: OrgUnitStatus; closed_at?: Date | null; mfa_required?: boolean },
): Promise<OrgUnit | undefined> {
  return db
    .updateTable('org_units')
    .set({ ...fields, version: sql<number>`version + 1`, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where('version', '=', expectedVersion)
    .returningAll()
    .executeTakeFirst();
}

/**
 * Moves a unit under a new parent: its path and depth and those of everything below it are
 * rewritten in one statement. The caller has checked that the new parent is not inside the unit.
 */
export async function moveOrgUnitSubtree(
  db: Kysely<Database>,
  unit: Pick<OrgUnit, 'id' | 'path' | 'depth' | 'version'>,
  newParent: Pick<OrgUnit, 'id' | 'path' | 'depth'>,
): Promise<OrgUnit | undefined> {
  const newPath = `${newParent.path}${unit.id}/`;
  const depthShift = newParent.depth + 1 - unit.depth;
  const moved = await db
    .updateTable('org_units')
    .set({ parent_id: newParent.id, version: sql<number>`version + 1`, updated_at: sql<Date>`now()` })
    .where('id', '=', unit.id)
    .where('version', '=', unit.version)
    .returning('id')
    .executeTakeFirst();
  if (!moved) return undefined;
  await db
    .updateTable('org_units')
    .set({
      path: sql<string>`${newPath} || substr(path, ${unit.path.length + 1})`,
      depth: sql<number>`depth + ${depthShift}`,
    })
    .where('path', 'like', `${unit.path}%`)
    .execute();
  return db.selectFrom('org_units').selectAll().where('id', '=', unit.id).executeTakeFirstOrThrow();
}

export interface OrgUnitFilter {
  /** Only units in these subtrees; null for all. */
  subtrees: readonly string[] | null;
  parentId?: string | undefined;
  /** Units at and below this path. */
  within?: string | undefined;
  status?: OrgUnitStatus | undefined;
  kind?: OrgUnitKind | undefined;
  q?: string | undefined;
  afterPath?: string | undefined;
  limit: number;
}

export interface OrgUnitWithCounts extends OrgUnit {
  /** People whose primary unit this is. */
  member_count: number;
}

/** Units in tree order (a parent before its children), with how many people each has. */
export async function listOrgUnits(db: Kysely<Database>, filter: OrgUnitFilter): Promise<OrgUnitWithCounts[]> {
  let query = db
    .selectFrom('org_units')
    .selectAll('org_units')
    .select((eb) =>
      eb.selectFrom('users').select((inner) => inner.fn.countAll<string>().as('count'))
        .whereRef('users.primary_org_unit_id', '=', 'org_units.id').as('member_count'),
    )
    .orderBy('org_units.path')
    .limit(filter.limit);
  if (filter.subtrees !== null) query = query.where(pathInSubtrees(sql.ref('org_units.path'), filter.subtrees));
  if (filter.parentId !== undefined) query = query.where('org_units.parent_id', '=', filter.parentId);
  if (filter.within !== undefined) query = query.where('org_units.path', 'like', `${filter.within}%`);
  if (filter.status !== undefined) query = query.where('org_units.status', '=', filter.status);
  if (filter.kind !== undefined) query = query.where('org_units.kind', '=', filter.kind);
  if (filter.q !== undefined) {
    const q = filter.q;
    query = query.where((eb) => eb.or([
      eb(sql`mekong_search_key(org_units.name)`, 'like', sql<string>`'%' || ${likeEscapedSearchKey(q)} || '%'`),
      eb(sql`upper(org_units.code)`, 'like', `${escapeLike(q.toUpperCase())}%`),
    ]));
  }
  if (filter.afterPath !== undefined) query = query.where('org_units.path', '>', filter.afterPath);
  const rows = await query.execute();
  return rows.map((row) => ({ ...row, member_count: Number(row.member_count ?? 0) }));
}

/** Whether anyone has this unit, or a unit below it, as primary or concurrent unit. */
export async function countPeopleInSubtree(db: Kysely<Database>, path: string): Promise<number> {
  const { rows } = await sql<{ count: string }>`
    select count(*)::text as count from (
      select u.id from users u join org_units o on o.id = u.primary_org_unit_id
        where o.path like ${`${path}%`} and u.status not in ('disabled', 'merged')
      union
      select m.user_id from user_org_units m join org_units o on o.id = m.org_unit_id
        join users u on u.id = m.user_id
        where o.path like ${`${path}%`} and u.status not in ('disabled', 'merged')
    ) people`.execute(db);
  return Number(rows[0]!.count);
}

export async function countOpenChildren(db: Kysely<Database>, id: string): Promise<number> {
  const row = await db.selectFrom('org_units').select((eb) => eb.fn.countAll<string>().as('count'))
    .where('parent_id', '=', id).where('status', '=', 'active').executeTakeFirstOrThrow();
  return Number(row.count);
}

export async function deleteOrgUnit(db: Kysely<Database>, id: string): Promise<void> {
  await db.deleteFrom('org_units').where('id', '=', id).execute();
}

export async function hasChildren(db: Kysely<Database>, id: string): Promise<boolean> {
  return (await db.selectFrom('org_units').select('id').where('parent_id', '=', id).limit(1).executeTakeFirst()) !== undefined;
}

/**
 * Whether anything (a person, a group, a role), now or in the audit log's memory, refers to the
 * unit; only the unit's own events (its creation, renames) do not count.
 */
export async function isOrgUnitReferenced(db: Kysely<Database>, id: string): Promise<boolean> {
  const { rows } = await sql<{ referenced: boolean }>`select
    exists (select 1 from users where primary_org_unit_id = ${id})
    or exists (select 1 from user_org_units where org_unit_id = ${id})
    or exists (select 1 from groups where org_unit_id = ${id})
    or exists (select 1 from role_assignments where org_unit_id = ${id})
    or exists (select 1 from audit_events where org_unit_id = ${id} and target_type is distinct from 'org_unit') as referenced`.execute(db);
  return rows[0]!.referenced;
}
