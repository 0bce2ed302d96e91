import { sql, type Kysely } from 'kysely';

// Frozen: never edit once landed; change the schema with a new, later-dated migration.

export async function up(db: Kysely<any>): Promise<void> {
  // Token exchange (RFC 8693): which client may trade a person's access token for a token aimed at
  // which audience (another app's API), and with which scopes at most. Nothing is allowed unless a
  // row says so; an administrator adds and removes rows, and every change is audited.
  await db.schema
    .createTable('token_exchange_permissions')
    .addColumn('client_id', 'text', (col) => col.notNull().references('clients.client_id').onDelete('cascade'))
    .addColumn('audience', 'text', (col) => col.notNull())
    // Space-separated, as OAuth writes scopes; the exchanged token carries these or fewer.
    .addColumn('scope', 'text', (col) => col.notNull())
    .addColumn('granted_by', 'text')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('token_exchange_permissions_pkey', ['client_id', 'audience'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('token_exchange_permissions').execute();
}
