import { sql, type Kysely } from 'kysely';

// Frozen: never edit once landed; change the schema with a new, later-dated migration.

/**
 * Every node keeps the clients oidc-provider reads in memory (oidc/client-cache.ts). Any change to
 * what that cache holds (a client's row, or the token exchange allow-list that decides one of its
 * grant types) announces itself on the channel `mekong_id_clients`, from the transaction that makes
 * it: a rolled-back change tells nobody, and a change made by hand in psql tells everyone. One
 * notification per statement; PostgreSQL folds identical ones within a transaction into one.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function mekong_announce_client_change() returns trigger language plpgsql as $$
    begin
      perform pg_notify('mekong_id_clients', '');
      return null;
    end
    $$`.execute(db);
  for (const table of ['clients', 'token_exchange_permissions']) {
    await sql`
      create trigger ${sql.id(`${table}_announce_change`)}
      after insert or update or delete or truncate on ${sql.table(table)}
      for each statement execute function mekong_announce_client_change()`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['clients', 'token_exchange_permissions']) {
    await sql`drop trigger ${sql.id(`${table}_announce_change`)} on ${sql.table(table)}`.execute(db);
  }
  await sql`drop function mekong_announce_client_change()`.execute(db);
}
