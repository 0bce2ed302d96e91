import { sql, type Insertable, type Kysely } from 'kysely';

import type { Client, ClientOwnersTable, Database, NewClient } from '../schema.ts';

export async function findActiveClient(db: Kysely<Database>, clientId: string): Promise<Client | undefined> {
  return db
    .selectFrom('clients')
    .selectAll()
    .where('client_id', '=', clientId)
    .where('status', '=', 'active')
    .executeTakeFirst();
}

export async function insertClient(db: Kysely<Database>, client: NewClient): Promise<void> {
  await db.insertInto('clients').values(client).execute();
}

/** The ids of the clients registered under each of these names (client_name in their metadata). */
export async function findClientIdsByNames(db: Kysely<Database>, names: readonly string[]): Promise<Map<string, string>> {
  if (names.length === 0) return new Map();
  const rows = await db
    .selectFrom('clients')
    .select(['client_id', sql<string>`metadata->>'client_name'`.as('client_name')])
    .where(sql`metadata->>'client_name'`, 'in', names)
    .orderBy('created_at')
    .execute();
  // The oldest registration answers for a name registered twice.
  const ids = new Map<string, string>();
  for (const row of rows) if (!ids.has(row.client_name)) ids.set(row.client_name, row.client_id);
  return ids;
}

/** Creates or refreshes a client Mekong ID itself owns (its consoles), whose metadata follows the issuer. */
export async function upsertBuiltInClient(db: Kysely<Database>, client: NewClient): Promise<void> {
  await db
    .insertInto('clients')
    .values(client)
    .onConflict((oc) => oc.column('client_id').doUpdateSet({ metadata: client.metadata, first_party: true, status: 'active', updated_at: sql<Date>`now()` }))
    .execute();
}

/** Every registered app, the built-in consoles included, for the admin console's list. */
export async function listClients(db: Kysely<Database>): Promise<Client[]> {
  return db.selectFrom('clients').selectAll().orderBy(sql`lower(coalesce(metadata->>'client_name', client_id))`).execute();
}

export async function findClient(db: Kysely<Database>, clientId: string): Promise<Client | undefined> {
  return db.selectFrom('clients').selectAll().where('client_id', '=', clientId).executeTakeFirst();
}

export async function setClientStatus(db: Kysely<Database>, clientId: string, status: Client['status']): Promise<void> {
  await db.updateTable('clients').set({ status, updated_at: sql<Date>`now()` }).where('client_id', '=', clientId).execute();
}

export async function insertClientOwner(db: Kysely<Database>, owner: Insertable<ClientOwnersTable>): Promise<boolean> {
  const inserted = await db.insertInto('client_owners').values(owner).onConflict((oc) => oc.doNothing()).returning('user_id').executeTakeFirst();
  return inserted !== undefined;
}

export async function isClientOwner(db: Kysely<Database>, clientId: string, userId: string): Promise<boolean> {
  const row = await db.selectFrom('client_owners').select('user_id').where('client_id', '=', clientId).where('user_id', '=', userId).executeTakeFirst();
  return row !== undefined;
}

/** The apps a developer owns, newest first. */
export async function listClientsOwnedBy(db: Kysely<Database>, userId: string): Promise<Client[]> {
  return db
    .selectFrom('clients')
    .innerJoin('client_owners', 'client_owners.client_id', 'clients.client_id')
    .selectAll('clients')
    .where('client_owners.user_id', '=', userId)
    .orderBy('clients.created_at', 'desc')
    .execute();
}

export interface ClientOwner {
  readonly user_id: string;
  readonly username: string;
  readonly full_name: string;
}

export async function listClientOwners(db: Kysely<Database>, clientId: string): Promise<ClientOwner[]> {
  return db
    .selectFrom('client_owners')
    .innerJoin('users', 'users.id', 'client_owners.user_id')
    .select(['client_owners.user_id', 'users.username', 'users.full_name'])
    .where('client_owners.client_id', '=', clientId)
    .orderBy('client_owners.created_at')
    .execute();
}

/** A new secret; the one it replaces keeps working until `previousExpiresAt` (null: at once). */
export async function replaceClientSecret(
  db: Kysely<Database>,
  clientId: string,
  secrets: { hash: string; previousHash: string | null; previousExpiresAt: Date | null },
): Promise<void> {
  await db
    .updateTable('clients')
    .set({
      client_secret_hash: secrets.hash,
      previous_secret_hash: secrets.previousHash,
      previous_secret_expires_at: secrets.previousExpiresAt,
      updated_at: sql<Date>`now()`,
    })
    .where('client_id', '=', clientId)
    .execute();
}

/** The hash of an active client's previous secret, while its overlap lasts. */
export async function findPreviousClientSecretHash(db: Kysely<Database>, clientId: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('clients')
    .select('previous_secret_hash')
    .where('client_id', '=', clientId)
    .where('status', '=', 'active')
    .where('previous_secret_expires_at', '>', sql<Date>`now()`)
    .executeTakeFirst();
  return row?.previous_secret_hash ?? undefined;
}

/** A client's registration changed through RFC 7592 management: its metadata and secret. */
export async function updateClientRegistration(db: Kysely<Database>, clientId: string, change: { metadata: Client['metadata']; clientSecretHash: string | null }): Promise<void> {
  await db
    .updateTable('clients')
    .set({ metadata: change.metadata, client_secret_hash: change.clientSecretHash, updated_at: sql<Date>`now()` })
    .where('client_id', '=', clientId)
    .execute();
}

/**
 * A client as the OIDC provider loads it: the row, and whether the token exchange allow-list names
 * it at all (then its grant types include token exchange; the list itself decides each audience).
 * Active clients only, except that a pending one is found where told (managing a /reg registration).
 */
export async function findClientForProvider(
  db: Kysely<Database>, clientId: string, options: { includePending: boolean },
): Promise<(Client & { may_exchange_tokens: boolean }) | undefined> {
  return db
    .selectFrom('clients')
    .selectAll('clients')
    .select((eb) =>
      eb.exists(eb.selectFrom('token_exchange_permissions').select(sql.lit(1).as('one')).whereRef('token_exchange_permissions.client_id', '=', 'clients.client_id'))
        .$castTo<boolean>().as('may_exchange_tokens'),
    )
    .where('client_id', '=', clientId)
    .where('status', 'in', options.includePending ? ['active', 'pending'] : ['active'])
    .executeTakeFirst();
}
