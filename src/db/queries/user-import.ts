import { sql, type Kysely, type SqlBool } from 'kysely';

import type { Database, User } from '../schema.ts';

/**
 * The bulk import's SQL: a constant number of statements per batch of rows, whatever its size.
 * Lists travel as arrays (`= any($1)`, `unnest`), which keeps each statement's parameters few.
 */

/** The fields the import reads and writes, and the person's primary unit as scope checks need it. */
export type ImportedUser = Pick<User,
  'id' | 'username' | 'full_name' | 'email' | 'phone' | 'employee_code' | 'national_id' | 'position' | 'primary_org_unit_id' | 'version'
> & { readonly org_unit_path: string | null; readonly org_unit_code: string | null };

export interface ImportLookupKeys {
  /** Upper-cased, as the unique index compares them. */
  readonly employeeCodes: readonly string[];
  /** Lower-cased, as the unique indexes compare them. */
  readonly usernames: readonly string[];
  readonly emails: readonly string[];
  readonly nationalIds: readonly string[];
}

/**
 * Everyone a batch of rows could be about or collide with, in one query. `lock` (inside the batch's
 * transaction) holds their rows until it commits, so no one else changes them between plan and write.
 */
export async function findUsersForImport(
  db: Kysely<Database>,
  keys: ImportLookupKeys,
  options: { readonly lock: boolean },
): Promise<ImportedUser[]> {
  let query = db
    .selectFrom('users')
    .leftJoin('org_units', 'org_units.id', 'users.primary_org_unit_id')
    .select([
      'users.id', 'users.username', 'users.full_name', 'users.email', 'users.phone', 'users.employee_code',
      'users.national_id', 'users.position', 'users.primary_org_unit_id', 'users.version',
      'org_units.path as org_unit_path', 'org_units.code as org_unit_code',
    ])
    .where(sql<SqlBool>`(upper(users.employee_code) = any(${keys.employeeCodes}::text[])
      or lower(users.username) = any(${keys.usernames}::text[])
      or lower(users.email) = any(${keys.emails}::text[])
      or users.national_id = any(${keys.nationalIds}::text[]))`);
  if (options.lock) query = query.forUpdate('users');
  return query.execute();
}

/**
 * The usernames taken among those an import could derive from these bases ("tuyetnta" covers
 * tuyetnta, tuyetnta2, tuyetnta17…), lower-cased.
 */
export async function findUsernamesWithBases(db: Kysely<Database>, bases: readonly string[]): Promise<string[]> {
  if (bases.length === 0) return [];
  const rows = await db
    .selectFrom('users')
    .select(sql<string>`lower(username)`.as('username'))
    .where(sql<SqlBool>`rtrim(lower(username), '0123456789') in (select rtrim(base, '0123456789') from unnest(${bases}::text[]) as base)`)
    .execute();
  return rows.map((row) => row.username);
}

export interface NewImportedUser {
  readonly username: string;
  readonly full_name: string;
  readonly email: string | null;
  readonly phone: string | null;
  readonly employee_code: string | null;
  readonly national_id: string | null;
  readonly position: string | null;
  readonly primary_org_unit_id: string;
}

/** Creates people awaiting activation, without passwords, in one statement. */
export async function insertImportedUsers(
  trx: Kysely<Database>,
  users: readonly NewImportedUser[],
): Promise<Pick<User, 'id' | 'username'>[]> {
  if (users.length === 0) return [];
  const column = <K extends keyof NewImportedUser>(key: K) => users.map((user) => user[key]);
  // unnest rather than a many-row VALUES: ten parameters instead of thousands, and measurably faster on PGlite.
  const { rows } = await sql<Pick<User, 'id' | 'username'>>`
    insert into users (username, full_name, email, phone, employee_code, national_id, position, primary_org_unit_id, status, password_hash)
    select v.*, 'pending_activation', null from unnest(
      ${column('username')}::text[], ${column('full_name')}::text[], ${column('email')}::text[], ${column('phone')}::text[],
      ${column('employee_code')}::text[], ${column('national_id')}::text[], ${column('position')}::text[],
      ${column('primary_org_unit_id')}::uuid[]
    ) as v
    returning id::text as id, username`.execute(trx);
  return rows;
}

/** A person's import-managed fields as they are to be: every one of them, changed or not. */
export interface ImportedUserUpdate extends NewImportedUser {
  readonly id: string;
  /** The version the plan was made from. */
  readonly version: number;
}

/**
 * Rewrites the import-managed fields of many people in one statement, bumping each one's version.
 * Status, password and concurrent units are not the import's and stay as they are. Answers the ids
 * updated: one missing means that person changed since the plan was made.
 */
export async function updateImportedUsers(trx: Kysely<Database>, updates: readonly ImportedUserUpdate[]): Promise<string[]> {
  if (updates.length === 0) return [];
  const column = <K extends keyof ImportedUserUpdate>(key: K) => updates.map((update) => update[key]);
  const { rows } = await sql<{ id: string }>`
    update users set
      username = v.username, full_name = v.full_name, email = v.email, phone = v.phone,
      employee_code = v.employee_code, national_id = v.national_id, position = v.position,
      primary_org_unit_id = v.primary_org_unit_id, version = users.version + 1, updated_at = now(),
      -- A new address is not a verified one.
      email_verified = users.email_verified and lower(users.email) is not distinct from lower(v.email),
      phone_verified = users.phone_verified and users.phone is not distinct from v.phone
    from unnest(
      ${column('id')}::uuid[], ${column('version')}::int[], ${column('username')}::text[], ${column('full_name')}::text[],
      ${column('email')}::text[], ${column('phone')}::text[], ${column('employee_code')}::text[],
      ${column('national_id')}::text[], ${column('position')}::text[], ${column('primary_org_unit_id')}::uuid[]
    ) as v(id, version, username, full_name, email, phone, employee_code, national_id, position, primary_org_unit_id)
    where users.id = v.id and users.version = v.version
    returning users.id::text as id`.execute(trx);
  return rows.map((row) => row.id);
}
