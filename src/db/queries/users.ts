import { sql, type Kysely, type RawBuilder, type SqlBool } from 'kysely';

import { preparedStatement } from '../prepared-statements.ts';
import type { Database, NewUser, User, UserStatus } from '../schema.ts';
import { isUuid } from './ids.ts';
import { likeEscapedSearchKey, pathInSubtrees } from './scope.ts';

export async function findUserById(db: Kysely<Database>, id: string): Promise<User | undefined> {
  // Ids come from cookies and tokens; a malformed one is "no such user", not a database error.
  if (!isUuid(id)) return undefined;
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

/** What an OIDC account is made of (oidc/account.ts): who the person is, and whether they may sign in. */
export const accountColumns = [
  'id', 'status', 'username', 'full_name', 'email', 'email_verified', 'phone', 'phone_verified', 'position', 'primary_org_unit_id', 'updated_at',
] as const satisfies readonly (keyof User)[];
export type AccountUser = Pick<User, (typeof accountColumns)[number]>;

export async function findAccountUser(db: Kysely<Database>, id: string): Promise<AccountUser | undefined> {
  if (!isUuid(id)) return undefined;
  return db.selectFrom('users').select(accountColumns).where('id', '=', id).modifyEnd(preparedStatement).executeTakeFirst();
}

/**
 * Every column of a user, named: a statement that selects them can be prepared (prepared-statements.ts),
 * where `select *` cannot. A column added to the table and not here fails the type check of the
 * functions that answer a User.
 */
const userColumns = [
  'id', 'username', 'email', 'email_verified', 'phone', 'phone_verified', 'full_name', 'password_hash', 'status', 'created_at',
  'updated_at', 'last_login_at', 'password_changed_at', 'employee_code', 'national_id', 'position', 'primary_org_unit_id', 'version',
  'search_text', 'family_name_sort', 'given_name_sort', 'active_since', 'inactivity_warned_at', 'merged_into',
] as const satisfies readonly (keyof User)[];

/** A login name is a username or an email address, matched without regard to case. Every sign-in asks: prepared. */
export async function findUserByLogin(db: Kysely<Database>, login: string): Promise<User | undefined> {
  // Both sides are lowered by the database, so the comparison uses one case mapping, the indexes'.
  const lowered = sql<string>`lower(${login})`;
  return db
    .selectFrom('users')
    .select(userColumns)
    .where((eb) => eb.or([eb(sql`lower(username)`, '=', lowered), eb(sql`lower(email)`, '=', lowered)]))
    // A username wins over someone else's identical email address.
    .orderBy(sql`lower(username) = ${lowered}`, 'desc')
    .modifyEnd(preparedStatement)
    .executeTakeFirst();
}

export async function insertUser(db: Kysely<Database>, user: NewUser): Promise<User> {
  return db.insertInto('users').values(user).returningAll().executeTakeFirstOrThrow();
}

export async function updatePasswordHash(db: Kysely<Database>, id: string, passwordHash: string): Promise<void> {
  await db
    .updateTable('users')
    .set({ password_hash: passwordHash, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .execute();
}

export async function recordLogin(db: Kysely<Database>, id: string): Promise<void> {
  await db.updateTable('users').set({ last_login_at: sql<Date>`now()` }).where('id', '=', id).modifyEnd(preparedStatement).execute();
}

export interface UnitRef {
  readonly id: string;
  readonly code: string;
  readonly name: string;
  readonly path: string;
}

/** A person with the units they serve in and the groups they belong to, as admins see them. */
export interface UserDetail extends User {
  readonly org_unit: UnitRef | null;
  readonly concurrent_units: UnitRef[];
  readonly groups: { id: string; name: string; org_unit_id: string }[];
}

/**
 * Locks a person's row until the transaction ends, so that a read-check-write (a version check, a
 * status change) cannot interleave with another; false when there is no such person.
 */
export async function lockUser(trx: Kysely<Database>, id: string): Promise<boolean> {
  if (!isUuid(id)) return false;
  return (await trx.selectFrom('users').select('id').where('id', '=', id).forUpdate().executeTakeFirst()) !== undefined;
}

export async function findUserDetail(db: Kysely<Database>, id: string): Promise<UserDetail | undefined> {
  if (!isUuid(id)) return undefined;
  const user = await db
    .selectFrom('users')
    .leftJoin('org_units', 'org_units.id', 'users.primary_org_unit_id')
    .selectAll('users')
    .select(['org_units.code as unit_code', 'org_units.name as unit_name', 'org_units.path as unit_path'])
    .where('users.id', '=', id)
    .executeTakeFirst();
  if (!user) return undefined;
  const [concurrent, groups] = await Promise.all([
    db.selectFrom('user_org_units').innerJoin('org_units', 'org_units.id', 'user_org_units.org_unit_id')
      .select(['org_units.id', 'org_units.code', 'org_units.name', 'org_units.path'])
      // A unit left behind by a move, kept only for the grace period, is no longer one they serve in.
      .where('user_org_units.user_id', '=', id).where('user_org_units.ends_at', 'is', null).orderBy('org_units.path').execute(),
    db.selectFrom('group_members').innerJoin('groups', 'groups.id', 'group_members.group_id')
      .select(['groups.id', 'groups.name', 'groups.org_unit_id'])
      .where('group_members.user_id', '=', id).orderBy('groups.name').execute(),
  ]);
  const { unit_code: code, unit_name: name, unit_path: path, ...row } = user;
  return {
    ...row,
    org_unit: row.primary_org_unit_id && code !== null && name !== null && path !== null ? { id: row.primary_org_unit_id, code, name, path } : null,
    concurrent_units: concurrent,
    groups,
  };
}

/**
 * A condition on `users`: the person's primary or a concurrent unit lies in one of `subtrees`. A unit
 * a move left behind for its grace period does not count: the old unit's admins no longer manage them.
 */
export function userInSubtrees(subtrees: readonly string[]) {
  if (subtrees.length === 0) return sql<SqlBool>`false`;
  const inSubtree = pathInSubtrees(sql.ref('o.path'), subtrees);
  return sql<SqlBool>`(exists (select 1 from org_units o where o.id = users.primary_org_unit_id and ${inSubtree})
    or exists (select 1 from user_org_units m join org_units o on o.id = m.org_unit_id where m.user_id = users.id and m.ends_at is null and ${inSubtree}))`;
}

export const userSortOrders = ['family_name', 'given_name', 'username', 'created_at', 'newest'] as const;
export type UserSortOrder = (typeof userSortOrders)[number];

/**
 * How each order sorts, and the key a page's cursor carries. The creation orders walk the index on
 * (created_at, id): their cursor is the instant in UTC to the microsecond, compared as a timestamp.
 * A search of a large directory (`q` matching a family name shared by a third of the province) is
 * fast only in an order the words cannot cluster in, which is why a search lists the newest first.
 */
interface SortOrder {
  readonly key: RawBuilder<string>;
  readonly columns: RawBuilder<unknown>;
  readonly descending: boolean;
  /** For keys the database casts: whether a cursor's key is one this order could have given out. */
  readonly keyFits?: (key: string) => boolean;
}

const createdAtKey = sql<string>`to_char(users.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')`;
/** An instant as createdAtKey writes it, one that exists (no 30 February) and is not before 1970. */
const isCreatedAtKey = (key: string): boolean => {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$/u.test(key)) return false;
  const milliseconds = new Date(`${key.slice(0, 23)}Z`);
  return milliseconds.getTime() >= 0 && milliseconds.toISOString().slice(0, 23) === key.slice(0, 23);
};

const sortOrders: Record<UserSortOrder, SortOrder> = {
  family_name: { key: sql<string>`users.family_name_sort`, columns: sql`users.family_name_sort`, descending: false },
  given_name: { key: sql<string>`users.given_name_sort`, columns: sql`users.given_name_sort`, descending: false },
  username: { key: sql<string>`lower(users.username) collate "C"`, columns: sql`lower(users.username) collate "C"`, descending: false },
  created_at: { key: createdAtKey, columns: sql`users.created_at`, descending: false, keyFits: isCreatedAtKey },
  newest: { key: createdAtKey, columns: sql`users.created_at`, descending: true, keyFits: isCreatedAtKey },
};

/** The order a list takes when none is asked for: a search lists the newest first, a browse by family name. */
export function defaultUserSort(q: string | undefined): UserSortOrder {
  return q !== undefined && q.trim() !== '' ? 'newest' : 'family_name';
}

export interface UserListFilter {
  /** The reader's scope: null for everyone, otherwise people serving in these subtrees. */
  subtrees: readonly string[] | null;
  /** Words to find, each ignoring case and diacritics, in name, username, email or employee code. */
  q?: string | undefined;
  /** Exactly this username, without regard to case. */
  username?: string | undefined;
  status?: UserStatus | undefined;
  /** People serving in this subtree (a path). */
  within?: string | undefined;
  groupId?: string | undefined;
  sort: UserSortOrder;
  /** Keyset cursor: the sort key and id of the last row of the previous page. */
  after?: { key: string; id: string } | undefined;
  limit: number;
}

export interface UserListRow extends User {
  readonly sort_key: string;
  readonly org_unit_code: string | null;
  readonly org_unit_name: string | null;
}

/** Whether `key` could be a cursor this order gave out; listUsers trusts that it was asked. */
export function userCursorKeyFits(sort: UserSortOrder, key: string): boolean {
  return sortOrders[sort].keyFits?.(key) ?? true;
}

export async function listUsers(db: Kysely<Database>, filter: UserListFilter): Promise<UserListRow[]> {
  const order = sortOrders[filter.sort];
  const direction = order.descending ? 'desc' : 'asc';
  // First the page's ids, found with what the indexes hold (the creation order's includes the search
  // text, so a search walks it without reading the rows it passes over); then the page's rows.
  let page = db
    .selectFrom('users')
    .select('users.id')
    .orderBy(order.columns, direction)
    .orderBy('users.id', direction)
    .limit(filter.limit);
  if (filter.subtrees !== null) page = page.where(userInSubtrees(filter.subtrees));
  if (filter.within !== undefined) page = page.where(userInSubtrees([filter.within]));
  if (filter.status !== undefined) page = page.where('users.status', '=', filter.status);
  if (filter.username !== undefined) page = page.where(sql`lower(users.username)`, '=', sql<string>`lower(${filter.username})`);
  if (filter.groupId !== undefined) {
    const groupId = filter.groupId;
    page = page.where((eb) => eb.exists(eb.selectFrom('group_members').select('group_members.user_id')
      .whereRef('group_members.user_id', '=', 'users.id').where('group_members.group_id', '=', groupId)));
  }
  for (const word of (filter.q ?? '').split(/\s+/u).filter(Boolean)) {
    page = page.where(sql`users.search_text`, 'like', sql<string>`'%' || ${likeEscapedSearchKey(word)} || '%'`);
  }
  if (filter.after) {
    const { key, id } = filter.after;
    const position = order.keyFits ? sql`(${key}::timestamp at time zone 'UTC')` : sql`${key}`;
    page = page.where(sql<SqlBool>`(${order.columns}, users.id) ${sql.raw(order.descending ? '<' : '>')} (${position}, ${id}::uuid)`);
  }
  return db
    .selectFrom(page.as('page'))
    .innerJoin('users', 'users.id', 'page.id')
    .leftJoin('org_units', 'org_units.id', 'users.primary_org_unit_id')
    .selectAll('users')
    .select([order.key.as('sort_key'), 'org_units.code as org_unit_code', 'org_units.name as org_unit_name'])
    .orderBy(order.columns, direction)
    .orderBy('users.id', direction)
    .execute();
}

export interface UserFieldChanges {
  username?: string;
  full_name?: string;
  email?: string | null;
  phone?: string | null;
  employee_code?: string | null;
  national_id?: string | null;
  position?: string | null;
  primary_org_unit_id?: string | null;
  status?: UserStatus;
}

/** Applies changes if the person's version is still `expectedVersion`; undefined when it moved on. */
export async function updateUserFields(
  db: Kysely<Database>,
  id: string,
  expectedVersion: number,
  changes: UserFieldChanges,
): Promise<User | undefined> {
  return db
    .updateTable('users')
    .set({
      ...changes,
      // A new address is not a verified one.
      ...(changes.email === undefined ? {} : { email_verified: sql<boolean>`email_verified and lower(email) is not distinct from lower(${changes.email})` }),
      ...(changes.phone === undefined ? {} : { phone_verified: sql<boolean>`phone_verified and phone is not distinct from ${changes.phone}` }),
      // Inactivity counts from a re-enabling, not from a login long before the suspension.
      ...(changes.status === 'active' ? { active_since: sql<Date>`now()` } : {}),
      version: sql<number>`version + 1`,
      updated_at: sql<Date>`now()`,
    })
    .where('id', '=', id)
    .where('version', '=', expectedVersion)
    .returningAll()
    .executeTakeFirst();
}

/**
 * The person's concurrent units become exactly these. A unit a move left behind for its grace period
 * (ends_at set) stays until then, unless it is named here: then it is theirs again for good.
 */
export async function replaceConcurrentUnits(db: Kysely<Database>, userId: string, unitIds: readonly string[]): Promise<void> {
  await db.deleteFrom('user_org_units').where('user_id', '=', userId).where('ends_at', 'is', null).execute();
  if (unitIds.length > 0) {
    await db.insertInto('user_org_units').values(unitIds.map((unitId) => ({ user_id: userId, org_unit_id: unitId })))
      .onConflict((oc) => oc.columns(['user_id', 'org_unit_id']).doUpdateSet({ ends_at: null })).execute();
  }
}

/** Usernames already taken among candidates, lowered. */
export async function takenUsernames(db: Kysely<Database>, candidates: readonly string[]): Promise<Set<string>> {
  if (candidates.length === 0) return new Set();
  const rows = await db.selectFrom('users').select(sql<string>`lower(username)`.as('username'))
    .where(sql`lower(username)`, 'in', candidates.map((candidate) => candidate.toLowerCase())).execute();
  return new Set(rows.map((row) => row.username));
}
