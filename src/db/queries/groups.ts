import { sql, type Kysely } from 'kysely';

import type { Database, Group } from '../schema.ts';
import { isUuid } from './ids.ts';
import { likeEscapedSearchKey, pathInSubtrees } from './scope.ts';

export interface GroupRow extends Group {
  readonly org_unit_path: string;
  readonly member_count: number;
}

const withUnitAndCount = (db: Kysely<Database>) =>
  db.selectFrom('groups')
    .innerJoin('org_units', 'org_units.id', 'groups.org_unit_id')
    .selectAll('groups')
    .select('org_units.path as org_unit_path')
    .select((eb) => eb.selectFrom('group_members').select((inner) => inner.fn.countAll<string>().as('count'))
      .whereRef('group_members.group_id', '=', 'groups.id').as('member_count'));

const withCount = <T extends { member_count: string | number | null }>(row: T) => ({ ...row, member_count: Number(row.member_count ?? 0) });

export async function findGroup(db: Kysely<Database>, id: string): Promise<GroupRow | undefined> {
  if (!isUuid(id)) return undefined;
  const row = await withUnitAndCount(db).where('groups.id', '=', id).executeTakeFirst();
  return row && withCount(row);
}

export async function insertGroup(db: Kysely<Database>, group: { org_unit_id: string; name: string; description: string | null }): Promise<Group> {
  return db.insertInto('groups').values(group).returningAll().executeTakeFirstOrThrow();
}

export async function updateGroupFields(
  db: Kysely<Database>,
  id: string,
  expectedVersion: number,
  fields: { name?: string; description?: string | null },
): Promise<Group | undefined> {
  return db.updateTable('groups')
    .set({ ...fields, version: sql<number>`version + 1`, updated_at: sql<Date>`now()` })
    .where('id', '=', id).where('version', '=', expectedVersion)
    .returningAll().executeTakeFirst();
}

export async function deleteGroup(db: Kysely<Database>, id: string): Promise<void> {
  await db.deleteFrom('groups').where('id', '=', id).execute();
}

export interface GroupFilter {
  subtrees: readonly string[] | null;
  within?: string | undefined;
  q?: string | undefined;
  afterId?: string | undefined;
  limit: number;
}

export async function listGroups(db: Kysely<Database>, filter: GroupFilter): Promise<GroupRow[]> {
  let query = withUnitAndCount(db).orderBy('groups.id').limit(filter.limit);
  if (filter.subtrees !== null) query = query.where(pathInSubtrees(sql.ref('org_units.path'), filter.subtrees));
  if (filter.within !== undefined) query = query.where('org_units.path', 'like', `${filter.within}%`);
  if (filter.q !== undefined) query = query.where(sql`mekong_search_key(groups.name)`, 'like', sql<string>`'%' || ${likeEscapedSearchKey(filter.q)} || '%'`);
  if (filter.afterId !== undefined) query = query.where('groups.id', '>', filter.afterId);
  return (await query.execute()).map(withCount);
}

/**
 * Adds or removes a member; true when that changed something. The group's version moves with its
 * members: they are part of the group as SCIM shows it, and an ETag must change when they do.
 */
export async function addGroupMember(db: Kysely<Database>, groupId: string, userId: string): Promise<boolean> {
  // A membership a move left ending (ends_at) is the group's for good again once an admin adds the person.
  const inserted = await db.insertInto('group_members').values({ group_id: groupId, user_id: userId })
    .onConflict((oc) => oc.columns(['group_id', 'user_id']).doUpdateSet({ ends_at: null }).where('group_members.ends_at', 'is not', null))
    .returning('user_id').executeTakeFirst();
  if (inserted !== undefined) await bumpGroupVersion(db, groupId);
  return inserted !== undefined;
}

export async function removeGroupMember(db: Kysely<Database>, groupId: string, userId: string): Promise<boolean> {
  const result = await db.deleteFrom('group_members').where('group_id', '=', groupId).where('user_id', '=', userId).executeTakeFirst();
  const removed = Number(result.numDeletedRows) > 0;
  if (removed) await bumpGroupVersion(db, groupId);
  return removed;
}

async function bumpGroupVersion(db: Kysely<Database>, groupId: string): Promise<void> {
  await db.updateTable('groups').set({ version: sql<number>`version + 1`, updated_at: sql<Date>`now()` }).where('id', '=', groupId).execute();
}
