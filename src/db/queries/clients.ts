import { sql, type Kysely } from 'kysely';

import type { Client, Database, NewClient } from '../schema.ts';

export async function findActiveClient(db: Kysely<Database>, clientId: string): Promise<Client | undefined> {
  return db
    .selectFrom('clients')
    .selectAll()
    .where('client_id', '=', clientId)
    .where('status', '=', 'active')
    .executeTakeFirst();
}

/**
 * A client as the OIDC provider loads it: the row, and whether the token exchange allow-list names
 * it at all (then its grant types include token exchange; the list itself decides each audience).
 */
export async function findActiveClientForProvider(db: Kysely<Database>, clientId: string): Promise<(Client & { may_exchange_tokens: boolean }) | undefined> {
  return db
    .selectFrom('clients')
    .selectAll('clients')
    .select((eb) =>
      eb.exists(eb.selectFrom('token_exchange_permissions').select(sql.lit(1).as('one')).whereRef('token_exchange_permissions.client_id', '=', 'clients.client_id'))
        .$castTo<boolean>().as('may_exchange_tokens'),
    )
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
