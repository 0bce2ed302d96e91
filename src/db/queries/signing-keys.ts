import { sql, type Kysely } from 'kysely';

import { notificationChannels } from '../notifications.ts';
import type { Database, NewSigningKey, SigningKey } from '../schema.ts';

export async function listSigningKeys(db: Kysely<Database>): Promise<SigningKey[]> {
  return db.selectFrom('signing_keys').selectAll().orderBy('activates_at', 'desc').orderBy('kid').execute();
}

export async function insertSigningKeys(db: Kysely<Database>, keys: NewSigningKey[]): Promise<void> {
  if (keys.length === 0) return;
  await db.insertInto('signing_keys').values(keys).execute();
  await notifyKeysChanged(db);
}

export async function deleteSigningKeys(db: Kysely<Database>, kids: string[]): Promise<void> {
  if (kids.length === 0) return;
  await db.deleteFrom('signing_keys').where('kid', 'in', kids).execute();
  await notifyKeysChanged(db);
}

/** Every node reloads its keys (see LiveProvider); inside a transaction, only once it commits. */
async function notifyKeysChanged(db: Kysely<Database>): Promise<void> {
  await sql`select pg_notify(${notificationChannels.signingKeys}, '')`.execute(db);
}

/** Serializes key generation across nodes for the rest of the transaction. */
export async function lockSigningKeysForUpdate(trx: Kysely<Database>): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext('mekong-id:signing-keys'))`.execute(trx);
}
