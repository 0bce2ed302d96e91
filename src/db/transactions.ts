import type { Kysely } from 'kysely';

import type { Database } from './schema.ts';

/**
 * Runs `work` in a transaction: a new one, or the caller's when `db` already is one. Domain
 * functions that each make one change atomic use it so that a caller making several (a SCIM PATCH
 * that renames a group and changes its members) can make them all one transaction.
 */
export function inTransaction<T>(db: Kysely<Database>, work: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db) : db.transaction().execute(work);
}
