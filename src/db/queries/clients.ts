import type { Kysely } from 'kysely';

import type { Client, Database, NewClient } from '../schema.ts';

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
