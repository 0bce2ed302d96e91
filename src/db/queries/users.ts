import { sql, type Kysely } from 'kysely';

import type { Database, NewUser, User } from '../schema.ts';
import { isUuid } from './ids.ts';

export async function findUserById(db: Kysely<Database>, id: string): Promise<User | undefined> {
  // Ids come from cookies and tokens; a malformed one is "no such user", not a database error.
  if (!isUuid(id)) return undefined;
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

/** A login name is a username or an email address, matched without regard to case. */
export async function findUserByLogin(db: Kysely<Database>, login: string): Promise<User | undefined> {
  // Both sides are lowered by the database, so the comparison uses one case mapping, the indexes'.
  const lowered = sql<string>`lower(${login})`;
  return db
    .selectFrom('users')
    .selectAll()
    .where((eb) => eb.or([eb(sql`lower(username)`, '=', lowered), eb(sql`lower(email)`, '=', lowered)]))
    // A username wins over someone else's identical email address.
    .orderBy(sql`lower(username) = ${lowered}`, 'desc')
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
  await db.updateTable('users').set({ last_login_at: sql<Date>`now()` }).where('id', '=', id).execute();
}
